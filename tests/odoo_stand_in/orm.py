"""A small in-memory ORM with Odoo's semantics on the wire: records per model, defaults,
required fields, many2one/x2many values and commands, `_inherits` delegation, translated
fields per language, `active_test`, ordering, and the read format (`false` for empty,
`[id, name]` for a many2one).

`Database` holds the state (snapshotted around each mutating call, so a failed call leaves
nothing half-done, as Odoo's transaction would); `Env` is one call's view of it (user,
context, clock) and carries the CRUD operations. Model-specific behaviour (computed amounts,
the live schema, invoice numbers) plugs in through `Behaviour`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.odoo_stand_in import domain as domains
from tests.odoo_stand_in.errors import (
    invalid_field,
    mandatory_field,
    missing_error,
    user_error,
    value_error,
)
from tests.odoo_stand_in.spec import X2MANY, Field, Model

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
MAGIC = ("id", "display_name", "create_uid", "create_date", "write_uid", "write_date")
SUPERUSER = 1


@dataclass
class Credentials:
    """How a user may log in: a password (both routes) and API keys (non-interactive only)."""

    password: str | None = None
    api_keys: list[str] = field(default_factory=list)


@dataclass
class Behaviour:
    """Model-specific rules, keyed by model name (see business.py)."""

    before_create: dict[str, Callable[[Env, dict[str, Any]], None]] = field(default_factory=dict)
    before_write: dict[str, Callable[[Env, list[int], dict[str, Any]], None]] = field(
        default_factory=dict
    )
    after_save: dict[str, Callable[[Env, list[int], set[str], bool], None]] = field(
        default_factory=dict
    )
    """Called with the ids, the field names given and whether they were just created."""
    before_unlink: dict[str, Callable[[Env, list[int]], None]] = field(default_factory=dict)
    after_unlink: dict[str, Callable[[Env, dict[int, dict[str, Any]]], None]] = field(
        default_factory=dict
    )
    display: dict[str, Callable[[Env, int], str]] = field(default_factory=dict)


@dataclass
class Database:
    version: str
    schema: dict[str, Model]
    behaviour: Behaviour
    tables: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    credentials: dict[int, Credentials] = field(default_factory=dict)

    def table(self, model: str) -> dict[int, dict[str, Any]]:
        return self.tables.setdefault(model, {})

    def insert(self, model: str, row: dict[str, Any], record_id: int | None = None) -> int:
        """Store `row` as it is (no defaults, no hooks): for the fresh database's content."""
        rid = record_id if record_id is not None else self.next_ids.get(model, 1)
        self.next_ids[model] = max(self.next_ids.get(model, 1), rid + 1)
        self.table(model)[rid] = dict(row)
        return rid

    def credentials_of(self, uid: int) -> Credentials:
        return self.credentials.setdefault(uid, Credentials())

    def new_id(self, model: str) -> int:
        rid = self.next_ids.get(model, 1)
        self.next_ids[model] = rid + 1
        return rid

    def snapshot(self) -> Any:
        return copy.deepcopy((self.schema, self.tables, self.next_ids, self.credentials))

    def restore(self, state: Any) -> None:
        self.schema, self.tables, self.next_ids, self.credentials = state


class Env:
    """One call's view of the database: who calls, with which context, at what time."""

    def __init__(
        self, db: Database, uid: int, context: dict[str, Any] | None, now: datetime
    ) -> None:
        self.db = db
        self.uid = uid
        self.context = dict(context or {})
        self.now = now.astimezone(UTC).replace(microsecond=0)

    # --- what defaults and rules ask -------------------------------------------------------

    @property
    def now_text(self) -> str:
        return self.now.strftime(DATETIME_FORMAT)

    @property
    def lang(self) -> str:
        """The context's language if it is an active one, else en_US (as Odoo)."""
        wanted = self.context.get("lang")
        codes = {code for code, _ in self.active_languages()}
        return wanted if isinstance(wanted, str) and wanted in codes else "en_US"

    @property
    def active_test(self) -> bool:
        return self.context.get("active_test", True) is not False

    def active_languages(self) -> list[tuple[str, str]]:
        rows = self.db.table("res.lang").values()
        return sorted(((r["code"], r["name"]) for r in rows if r.get("active")), key=lambda p: p[1])

    @property
    def user_partner_id(self) -> int:
        return int(self.db.table("res.users")[self.uid]["partner_id"])

    def ref(self, xmlid: str) -> int | None:
        module, _, name = xmlid.partition(".")
        for row in self.db.table("ir.model.data").values():
            if row["module"] == module and row["name"] == name:
                return int(row["res_id"])
        return None

    def default_group_ids(self) -> list[int]:
        group = self.ref("base.group_user")
        return [group] if group else []

    def company_currency_id(self) -> int:
        return int(self.db.table("res.company")[1]["currency_id"])

    # --- the schema --------------------------------------------------------------------------

    def model(self, name: str) -> Model:
        spec = self.db.schema.get(name) if isinstance(name, str) else None
        if spec is None:
            raise user_error(f"Object {name} doesn't exist")
        return spec

    def resolve(self, model: str, name: str) -> tuple[str, Field] | None:
        """The model that stores `name` (itself or an `_inherits` parent) and its spec."""
        spec = self.model(model)
        if name in spec.fields:
            return model, spec.fields[name]
        if spec.inherits:
            return self.resolve(spec.inherits[0], name)
        return None

    def all_fields(self, model: str) -> dict[str, tuple[str, Field]]:
        spec = self.model(model)
        inherited = self.all_fields(spec.inherits[0]) if spec.inherits else {}
        own = {name: (model, f) for name, f in spec.fields.items()}
        return {**inherited, **own}

    def field(self, model: str, name: str) -> Field:
        found = self.resolve(model, name)
        if found is None:
            raise invalid_field(model, name)
        return found[1]

    # --- reading ------------------------------------------------------------------------------

    def exists(self, model: str, ids: Iterable[int]) -> list[int]:
        table = self.db.table(model)
        return [rid for rid in ids if rid in table]

    def value(self, model: str, rid: int, name: str) -> Any:
        """The stored value: a many2one as an id, an x2many as ids, a translated field in the
        context's language (falling back to en_US), False when empty."""
        owner, spec = self.resolve(model, name) or (None, None)
        if spec is None or owner is None:
            raise invalid_field(model, name)
        if owner != model:
            parent_link = self.model(model).inherits
            assert parent_link is not None
            parent_id = self.db.table(model)[rid][parent_link[1]]
            return self.value(owner, parent_id, name)
        if name == "id":
            return rid
        if name == "display_name":
            return self.display_name(model, rid)
        if spec.related:
            link, target = spec.related
            first = self._first_linked(model, rid, link)
            return (
                self.value(self.field(model, link).relation or "", first, target)
                if first
                else False
            )
        if spec.type == "one2many":
            return self._one2many_ids(spec, rid)
        raw = self.db.table(model)[rid].get(name, False)
        if spec.type == "many2many":
            return self._visible(spec.relation or "", raw or [])
        if spec.translate and isinstance(raw, dict):
            return raw.get(self.lang) or raw.get("en_US") or False
        return raw

    def _first_linked(self, model: str, rid: int, link: str) -> int | None:
        linked = self.value(model, rid, link)
        if isinstance(linked, list):
            return linked[0] if linked else None
        return int(linked) if linked else None

    def _write_related(self, model: str, rid: int, f: Field, value: Any) -> None:
        """A related field is written on the record it reads from (none: nothing to write)."""
        assert f.related is not None
        link, target = f.related
        first = self._first_linked(model, rid, link)
        if first:
            self.write(self.field(model, link).relation or "", [first], {target: value})

    def _one2many_ids(self, spec: Field, rid: int) -> list[int]:
        relation, inverse = spec.relation or "", spec.inverse or ""
        linked = [
            other for other, row in self.db.table(relation).items() if row.get(inverse) == rid
        ]
        if spec.domain:
            node = domains.parse(list(spec.domain), relation, lambda n: True)
            linked = [
                other for other in linked if domains.matches(node, _View(self, relation, other))
            ]
        return self._sorted(relation, self._visible(relation, linked), None)

    def _visible(self, model: str, ids: Sequence[int]) -> list[int]:
        """Linked records as Odoo shows them: existing, and active unless active_test is off."""
        table = self.db.table(model)
        has_active = self.resolve(model, "active") is not None
        return [
            rid
            for rid in ids
            if rid in table
            and (not self.active_test or not has_active or self.value(model, rid, "active"))
        ]

    def display_name(self, model: str, rid: int) -> str:
        rule = self.db.behaviour.display.get(model)
        if rule is not None:
            return rule(self, rid)
        rec_name = self.model(model).rec_name
        if rec_name and self.resolve(model, rec_name):
            return str(self.value(model, rid, rec_name) or "")
        return f"{model},{rid}"

    def render(self, model: str, rid: int, name: str) -> Any:
        """A field's value as `read` answers it."""
        spec = self.field(model, name)
        value = self.value(model, rid, name)
        if spec.type == "many2one":
            target = spec.relation or ""
            if value and value in self.db.table(target):
                return [value, self.display_name(target, value)]
            return False
        if spec.type in X2MANY:
            return list(value)
        if spec.type in ("integer", "many2one_reference"):
            return int(value) if value is not False else 0
        if spec.type in ("float", "monetary"):
            return float(value) if value is not False else 0.0
        if spec.type == "boolean":
            return bool(value)
        if name == "password":
            return ""
        return value if value is not None else False

    def read(
        self, model: str, ids: Iterable[int], names: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        self.model(model)
        wanted = list(names) if names else list(self.all_fields(model))
        for name in wanted:
            self.field(model, name)
        table = self.db.table(model)
        rows = []
        for rid in ids:
            if rid not in table:
                continue  # Odoo 17 leaves deleted records out of read()
            row: dict[str, Any] = {"id": rid}
            for name in wanted:
                if name != "id":
                    row[name] = self.render(model, rid, name)
            rows.append(row)
        return rows

    def search(
        self,
        model: str,
        domain: Any,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[int]:
        self.model(model)
        node = domains.parse(domain, model, lambda name: self.resolve(model, name) is not None)
        if (
            self.active_test
            and self.resolve(model, "active") is not None
            and "active" not in domains.fields_of(node)
        ):
            node = domains.Both(domains.Leaf("active", "=", True), node)
        found = [
            rid for rid in self.db.table(model) if domains.matches(node, _View(self, model, rid))
        ]
        found = self._sorted(model, found, order)
        start = int(offset or 0)
        return found[start : start + int(limit)] if limit else found[start:]

    def _sorted(self, model: str, ids: list[int], order: str | None) -> list[int]:
        keys = self._order_keys(model, order or self.model(model).order)
        ordered = sorted(ids)
        for name, descending in reversed(keys):
            values = {rid: self._sort_key(model, rid, name) for rid in ordered}
            ordered.sort(key=values.__getitem__, reverse=descending)
        return ordered

    def _order_keys(self, model: str, order: str) -> list[tuple[str, bool]]:
        keys = []
        for part in order.split(","):
            words = part.split()
            if (
                not words
                or len(words) > 2
                or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
            ):
                raise user_error(
                    f'Invalid "order" specified ({order}). A valid "order" specification is a '
                    "comma-separated list of valid field names (optionally followed by asc/desc "
                    "for the direction)"
                )
            self.field(model, words[0])
            keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
        return keys

    def _sort_key(self, model: str, rid: int, name: str) -> tuple[bool, Any]:
        spec = self.field(model, name)
        value = self.value(model, rid, name)
        if spec.type == "many2one" and value:
            value = self.display_name(spec.relation or "", value)
        if spec.type in X2MANY:
            value = False
        if value is False or value is None:
            return (True, 0)
        if isinstance(value, str):
            return (False, value.casefold())
        return (False, value)

    # --- writing ------------------------------------------------------------------------------

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> list[int]:
        return [self._create_one(model, vals) for vals in vals_list]

    def _create_one(self, model: str, given: dict[str, Any]) -> int:
        spec = self.model(model)
        if not isinstance(given, dict):
            raise value_error(f"create() of {model} takes a dict of values, got {given!r}")
        vals = dict(given)
        self._check_names(model, vals)
        hook = self.db.behaviour.before_create.get(model)
        if hook is not None:
            hook(self, vals)
        own, inherited = self._split(model, vals)
        if spec.inherits:
            parent, link = spec.inherits
            if own.get(link):
                if inherited:
                    self.write(parent, [own[link]], inherited)
            else:
                own[link] = self._create_one(parent, inherited)
        rid = self.db.new_id(model)
        row: dict[str, Any] = {}
        for name, f in spec.fields.items():
            if name in MAGIC or f.type == "one2many" or f.related:
                continue
            row[name] = (
                self._to_store(model, name, f, own[name], False)
                if name in own
                else self._default(f)
            )
        row.update(create_uid=self.uid, write_uid=self.uid)
        row.update(create_date=self.now_text, write_date=self.now_text)
        self.db.table(model)[rid] = row
        for name, f in spec.fields.items():
            if name not in own:
                continue
            if f.type == "one2many":
                self._apply_one2many(model, rid, f, own[name])
            elif f.related:
                self._write_related(model, rid, f, own[name])
        self._check_required(model, [rid])
        self._after_save(model, [rid], set(given), created=True)
        return rid

    def write(self, model: str, ids: list[int], given: dict[str, Any]) -> None:
        spec = self.model(model)
        ids = list(dict.fromkeys(ids))
        missing = [rid for rid in ids if rid not in self.db.table(model)]
        if missing:
            raise missing_error(model, missing, self.uid)
        vals = dict(given)
        self._check_names(model, vals)
        hook = self.db.behaviour.before_write.get(model)
        if hook is not None:
            hook(self, ids, vals)
        own, inherited = self._split(model, vals)
        if inherited and spec.inherits:
            parent, link = spec.inherits
            self.write(parent, [self.db.table(model)[rid][link] for rid in ids], inherited)
        for rid in ids:
            row = self.db.table(model)[rid]
            for name, value in own.items():
                f = spec.fields[name]
                if name in MAGIC:
                    continue
                if f.type == "one2many":
                    self._apply_one2many(model, rid, f, value)
                elif f.related:
                    self._write_related(model, rid, f, value)
                else:
                    row[name] = self._to_store(model, name, f, value, row.get(name, False))
            row.update(write_uid=self.uid, write_date=self.now_text)
        self._check_required(model, ids)
        self._after_save(model, ids, set(given), created=False)

    def unlink(self, model: str, ids: list[int]) -> None:
        spec = self.model(model)
        ids = list(dict.fromkeys(ids))
        table = self.db.table(model)
        missing = [rid for rid in ids if rid not in table]
        if missing:
            raise missing_error(model, missing, self.uid)
        hook = self.db.behaviour.before_unlink.get(model)
        if hook is not None:
            hook(self, ids)
        removed = {rid: table.pop(rid) for rid in ids if rid in table}
        cascades: list[tuple[str, list[int]]] = []
        for other, other_spec in list(self.db.schema.items()):
            for name, f in other_spec.fields.items():
                if f.relation != model or f.type not in ("many2one", "many2many"):
                    continue
                doomed = []
                for other_id, row in self.db.table(other).items():
                    if f.type == "many2many":
                        row[name] = [rid for rid in row.get(name) or [] if rid not in removed]
                    elif row.get(name) in removed:
                        if f.ondelete == "cascade":
                            doomed.append(other_id)
                        else:
                            row[name] = False
                if doomed:
                    cascades.append((other, doomed))
        if spec.mail_thread:
            messages = self.db.table("mail.message")
            for mid in [
                m for m, r in messages.items() if r["model"] == model and r["res_id"] in removed
            ]:
                del messages[mid]
        for other, doomed in cascades:
            if other in self.db.schema:
                self.unlink(other, self.exists(other, doomed))
        after = self.db.behaviour.after_unlink.get(model)
        if after is not None:
            after(self, removed)

    def _check_names(self, model: str, vals: dict[str, Any]) -> None:
        for name in vals:
            if self.resolve(model, name) is None:
                raise invalid_field(model, name)

    def _split(self, model: str, vals: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        spec = self.model(model)
        own = {name: value for name, value in vals.items() if name in spec.fields}
        inherited = {name: value for name, value in vals.items() if name not in spec.fields}
        return own, inherited

    def _default(self, f: Field) -> Any:
        value = f.default(self) if callable(f.default) else f.default
        if value is None:
            return [] if f.type == "many2many" else False
        if f.translate and isinstance(value, str):
            return {"en_US": value}
        return copy.copy(value)

    def _after_save(self, model: str, ids: list[int], names: set[str], created: bool) -> None:
        hook = self.db.behaviour.after_save.get(model)
        if hook is not None:
            hook(self, ids, names, created)

    def _check_required(self, model: str, ids: list[int]) -> None:
        spec = self.model(model)
        for name, f in spec.fields.items():
            if not f.required or f.type in X2MANY or name in MAGIC:
                continue
            for rid in ids:
                value = self.db.table(model)[rid].get(name, False)
                target = f.relation or ""
                dangling = f.type == "many2one" and value and value not in self.db.table(target)
                if value is False or value is None or dangling:
                    raise mandatory_field(spec.description, model, f.string, name)

    def _to_store(self, model: str, name: str, f: Field, value: Any, current: Any) -> Any:
        """`value` as given on the wire, checked and converted for storage."""
        if value is None:
            value = False
        if f.type in ("char", "text", "selection"):
            if f.type == "selection" and value is not False:
                options = f.selection(self) if callable(f.selection) else (f.selection or ())
                if value not in {key for key, _ in options}:
                    raise value_error(f"Wrong value for {model}.{name}: {value!r}")
            text = str(value) if value is not False else False
            return self._translated(text, current) if f.translate else text
        if f.type == "html":
            return _sanitized(value) if value is not False else False
        if f.type in ("integer", "many2one_reference"):
            return int(value) if value is not False else False
        if f.type in ("float", "monetary"):
            return float(value) if value is not False else False
        if f.type == "boolean":
            return bool(value)
        if f.type == "date":
            return _parsed(value, DATE_FORMAT, 10)
        if f.type == "datetime":
            return _parsed(value, DATETIME_FORMAT, 19)
        if f.type == "many2one":
            if value is False:
                return False
            if not isinstance(value, int) or isinstance(value, bool):
                raise value_error(f"Wrong value for {model}.{name}: {value!r}")
            return value
        if f.type == "many2many":
            return self._many2many(f, list(current or []), value)
        raise value_error(f"the Odoo stand-in cannot store a {f.type} field ({model}.{name})")

    def _translated(self, text: str | bool, current: Any) -> Any:
        if text is False:
            return False
        values = dict(current) if isinstance(current, dict) else {}
        values[self.lang] = text
        values.setdefault("en_US", text)
        return values

    def _many2many(self, f: Field, ids: list[int], value: Any) -> list[int]:
        relation = f.relation or ""
        for command in _commands(value):
            code = command[0]
            if code == 0:
                ids.append(self._create_one(relation, command[2]))
            elif code == 1:
                self.write(relation, [command[1]], command[2])
            elif code == 2:
                self.unlink(relation, self.exists(relation, [command[1]]))
                ids = [rid for rid in ids if rid != command[1]]
            elif code == 3:
                ids = [rid for rid in ids if rid != command[1]]
            elif code == 4:
                if command[1] not in ids:
                    ids.append(command[1])
            elif code == 5:
                ids = []
            elif code == 6:
                ids = list(dict.fromkeys(command[2]))
        return ids

    def _apply_one2many(self, model: str, rid: int, f: Field, value: Any) -> None:
        relation, inverse = f.relation or "", f.inverse or ""
        required = self.field(relation, inverse).required

        def detach(other: int) -> None:
            if required:
                self.unlink(relation, self.exists(relation, [other]))
            else:
                self.write(relation, [other], {inverse: False})

        for command in _commands(value):
            code = command[0]
            if code == 0:
                self._create_one(relation, {**command[2], inverse: rid})
            elif code == 1:
                self.write(relation, [command[1]], command[2])
            elif code == 2:
                self.unlink(relation, self.exists(relation, [command[1]]))
            elif code == 3:
                detach(command[1])
            elif code == 4:
                self.write(relation, [command[1]], {inverse: rid})
            elif code in (5, 6):
                keep = set(command[2]) if code == 6 else set()
                for other in self._one2many_ids(f, rid):
                    if other not in keep:
                        detach(other)
                for other in keep:
                    self.write(relation, [other], {inverse: rid})

    # --- description --------------------------------------------------------------------------

    def fields_get(
        self, model: str, names: Sequence[str] | None, attributes: Sequence[str] | None
    ) -> dict[str, dict[str, Any]]:
        described = {}
        for name, (_owner, f) in self.all_fields(model).items():
            if names and name not in names:
                continue
            info: dict[str, Any] = {
                "change_default": False,
                "company_dependent": False,
                "depends": [],
                "exportable": True,
                "manual": f.manual,
                "name": name,
                "readonly": name in MAGIC,
                "required": f.required,
                "searchable": True,
                "sortable": f.type not in X2MANY,
                "store": name != "display_name",
                "string": f.string,
                "type": f.type,
            }
            if f.relation:
                info["relation"] = f.relation
            if f.inverse:
                info["relation_field"] = f.inverse
            if f.related:
                info["related"] = ".".join(f.related)
            if f.type == "selection":
                options = f.selection(self) if callable(f.selection) else (f.selection or ())
                info["selection"] = [list(pair) for pair in options]
            if f.type in ("char", "text", "html"):
                info["translate"] = f.translate
            if attributes:
                info = {key: info[key] for key in attributes if key in info}
            described[name] = info
        return described


class _View:
    """One record as the domain evaluator sees it."""

    def __init__(self, env: Env, model: str, rid: int) -> None:
        self.env, self.model, self.rid = env, model, rid

    def field(self, name: str) -> Field:
        return self.env.field(self.model, name)

    def value(self, name: str) -> Any:
        return self.env.value(self.model, self.rid, name)

    def display_names(self, relation: str, ids: Sequence[int]) -> list[str]:
        return [self.env.display_name(relation, rid) for rid in self.env.exists(relation, ids)]


def _commands(value: Any) -> list[list[Any]]:
    """x2many commands; a plain list of ids means "replace with these"."""
    if value is False:
        return [[5]]
    if not isinstance(value, list | tuple):
        raise value_error(f"x2many values are lists of commands, got {value!r}")
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return [[6, 0, list(value)]]
    commands = []
    for item in value:
        if not isinstance(item, list | tuple) or not item or item[0] not in range(7):
            raise value_error(f"Invalid x2many command {item!r}")
        padded = [*item, False, False][:3]
        if padded[0] in (0, 1) and not isinstance(padded[2], dict):
            raise value_error(f"Invalid x2many command {item!r}")
        if padded[0] == 6 and not isinstance(padded[2], list | tuple):
            raise value_error(f"Invalid x2many command {item!r}")
        commands.append(padded)
    return commands


def _parsed(value: Any, fmt: str, length: int) -> str | bool:
    """A date or datetime as Odoo accepts it: its own format, a datetime also as a date."""
    if value is False:
        return False
    text = str(value)
    if length == 19 and len(text) == 10:
        text = f"{text} 00:00:00"
    if length == 10 and len(text) > 10:
        text = text[:10]
    try:
        return datetime.strptime(text, fmt).strftime(fmt)  # naive UTC, as on the wire
    except ValueError:
        raise value_error(f"time data {str(value)!r} does not match format {fmt!r}") from None


_BARE_AMPERSAND = re.compile(r"&(?!#?\w+;)")


def _sanitized(value: Any) -> str:
    """As Odoo's HTML sanitizer: inline content goes in a paragraph, a bare & is escaped."""
    text = _BARE_AMPERSAND.sub("&amp;", str(value))
    if not text or text.lstrip().startswith("<"):
        return text
    return f"<p>{text}</p>"
