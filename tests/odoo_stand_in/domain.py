"""Odoo search domains: parsing (prefix `&`, `|`, `!`, implicit and) and evaluation on one
record at a time.

Operators: `=`, `!=`, `in`, `not in`, `<`, `<=`, `>`, `>=`, `like`, `not like`, `ilike`,
`not ilike`, `=like`, `=ilike`. As in Odoo: `ilike` wraps the value in `%` without escaping
it; `=ilike` takes it as the whole pattern; `!=` and `not in` also match empty values; a
many2one compares by id, or by display name when given a string; an x2many `in` means "any
linked id in the list", `= False` "nothing linked". Dotted paths are not followed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from tests.odoo_stand_in.errors import OdooError, value_error
from tests.odoo_stand_in.spec import X2MANY, Field

OPERATORS = frozenset(
    {
        "=",
        "!=",
        "in",
        "not in",
        "<",
        "<=",
        ">",
        ">=",
        "like",
        "not like",
        "ilike",
        "not ilike",
        "=like",
        "=ilike",
    }
)
_NEGATIVE = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike"}
_LIKE = ("like", "ilike", "=like", "=ilike")
_NUMERIC = ("integer", "float", "monetary", "many2one_reference")


@dataclass(frozen=True)
class Leaf:
    field: str
    operator: str
    value: Any


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class Both:
    left: Node
    right: Node


@dataclass(frozen=True)
class Either:
    left: Node
    right: Node


Node = Leaf | Constant | Not | Both | Either


class Record(Protocol):
    """What evaluating a leaf needs to know about one record."""

    def field(self, name: str) -> Field: ...

    def value(self, name: str) -> Any:
        """Stored value: many2one → id or False, x2many → ids, translated → in the lang."""

    def display_names(self, relation: str, ids: Sequence[int]) -> list[str]: ...


def parse(domain: Any, model: str, has_field: Callable[[str], bool]) -> Node:
    """The domain as a tree, or Odoo's ValueError for a malformed one."""
    if not isinstance(domain, list | tuple):
        raise OdooError(
            "builtins.AssertionError",
            "Domains to normalize must have a 'domain' form: a list or tuple of domain components",
        )
    stack: list[Node] = []
    for term in reversed(domain):
        if term in ("&", "|", "!"):
            needed = 1 if term == "!" else 2
            if len(stack) < needed:
                raise value_error(f"Domain {list(domain)!r} is syntactically not correct.")
            if term == "!":
                stack.append(Not(stack.pop()))
            else:
                left, right = stack.pop(), stack.pop()
                stack.append(Both(left, right) if term == "&" else Either(left, right))
        else:
            stack.append(_leaf(term, model, has_field))
    node: Node = Constant(True)
    for item in reversed(stack):
        node = item if node == Constant(True) else Both(item, node)
    return node


def _leaf(term: Any, model: str, has_field: Callable[[str], bool]) -> Node:
    if not isinstance(term, list | tuple):
        raise value_error(f"Invalid leaf {term!r}")
    if len(term) != 3:
        detail = f"expected 3, got {len(term)}" if len(term) < 3 else "expected 3"
        many = "not enough" if len(term) < 3 else "too many"
        raise value_error(f"{many} values to unpack ({detail})")
    name, operator, value = term
    shown = tuple(term)
    if name in (0, 1) and operator == "=" and value == 1:
        return Constant(name == 1)
    if not isinstance(name, str) or operator not in OPERATORS:
        raise value_error(f"Invalid leaf {shown!r}")
    if "." in name:
        raise value_error(f"the Odoo stand-in does not follow dotted paths: {shown!r}")
    if not has_field(name):
        raise value_error(f"Invalid field {model}.{name} in leaf {shown!r}")
    if operator in ("in", "not in") and not isinstance(value, list | tuple):
        value = [value]
    return Leaf(name, operator, value)


def fields_of(node: Node) -> set[str]:
    if isinstance(node, Leaf):
        return {node.field}
    if isinstance(node, Not):
        return fields_of(node.node)
    if isinstance(node, Both | Either):
        return fields_of(node.left) | fields_of(node.right)
    return set()


def matches(node: Node, record: Record) -> bool:
    if isinstance(node, Constant):
        return node.value
    if isinstance(node, Not):
        return not matches(node.node, record)
    if isinstance(node, Both):
        return matches(node.left, record) and matches(node.right, record)
    if isinstance(node, Either):
        return matches(node.left, record) or matches(node.right, record)
    if node.operator in _NEGATIVE:
        return not matches(Leaf(node.field, _NEGATIVE[node.operator], node.value), record)
    spec = record.field(node.field)
    value = record.value(node.field)
    if spec.type in X2MANY:
        return _x2many(node, spec, list(value or []), record)
    if spec.type == "many2one" and isinstance(node.value, str):
        names = record.display_names(spec.relation or "", [value] if value else [])
        return _scalar(node.operator, names[0] if names else False, node.value, "char")
    return _scalar(node.operator, value, node.value, spec.type)


def _x2many(node: Leaf, spec: Field, ids: list[int], record: Record) -> bool:
    target = node.value
    if target is False or target is None or target == []:
        return not ids if node.operator in ("=", "in") else False
    if isinstance(target, str) or (
        isinstance(target, list | tuple) and all(isinstance(v, str) for v in target)
    ):
        names = record.display_names(spec.relation or "", ids)
        return any(_scalar(node.operator, name, target, "char") for name in names)
    wanted = list(target) if isinstance(target, list | tuple) else [target]
    if node.operator in ("=", "in"):
        return any(linked in wanted for linked in ids) or (False in wanted and not ids)
    raise value_error(
        f"the Odoo stand-in does not compare x2many {node.field} with {node.operator}"
    )


def _scalar(operator: str, value: Any, target: Any, kind: str) -> bool:
    value = False if value is None else value
    target = _coerce(target, kind)
    if operator == "=":
        return _equal(value, target, kind)
    if operator == "in":
        return any(_equal(value, _coerce(item, kind), kind) for item in target)
    if operator in _LIKE:
        if value is False or target is False:
            return False
        pattern = str(target) if operator.startswith("=") else f"%{target}%"
        return _like(pattern, operator.endswith("ilike")).fullmatch(str(value)) is not None
    if value is False or target is False:
        return False
    left, right = (_number(value), _number(target)) if kind in _NUMERIC else (value, target)
    if kind == "datetime":
        left, right = _moment(str(left)), _moment(str(right))
    return bool(
        {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[operator]
    )


def _equal(value: Any, target: Any, kind: str) -> bool:
    if target is False:
        return value is False or (kind not in ("boolean", *_NUMERIC) and value == "")
    if kind in _NUMERIC and value is not False:
        return _number(value) == _number(target)
    if kind == "datetime" and value is not False:
        return _moment(str(value)) == _moment(str(target))
    return bool(value == target)


def _coerce(target: Any, kind: str) -> Any:
    if isinstance(target, list | tuple):
        return [_coerce(item, kind) for item in target]
    if target is None:
        return False
    if kind == "boolean" and target is not False:
        return bool(target)
    return target


def _number(value: Any) -> float:
    return float(value) if value is not False else 0.0


def _moment(text: str) -> str:
    """A datetime compared with a date counts from that date's midnight."""
    return f"{text} 00:00:00" if len(text) == 10 else text


@cache
def _like(pattern: str, insensitive: bool) -> re.Pattern[str]:
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    flags = re.DOTALL | (re.IGNORECASE if insensitive else 0)
    return re.compile("".join(out), flags)
