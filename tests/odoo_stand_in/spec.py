"""Field and model specs: what the in-memory ORM knows of a model (its fields' types, labels,
relations, defaults, selections) and how the live schema adds or drops a custom field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

FIELD_TYPES = (
    "char",
    "text",
    "html",
    "integer",
    "float",
    "monetary",
    "boolean",
    "date",
    "datetime",
    "selection",
    "many2one",
    "one2many",
    "many2many",
    "many2one_reference",
)
RELATIONAL = ("many2one", "one2many", "many2many")
X2MANY = ("one2many", "many2many")

Selection = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Field:
    """One field of a model. `default` is a value or a callable taking the ORM's `Env`;
    `selection` is the options or a callable taking the `Env` (options read from data)."""

    type: str
    string: str
    relation: str | None = None
    inverse: str | None = None
    """one2many: the many2one on `relation` pointing back."""
    required: bool = False
    default: Any = None
    selection: Selection | Callable[[Any], Selection] | None = None
    translate: bool = False
    ondelete: str = "set null"
    """many2one: what deleting the target does ("set null", "cascade")."""
    domain: tuple[tuple[str, str, Any], ...] = ()
    """one2many: which of the linked records the field shows."""
    related: tuple[str, str] | None = None
    """(relational field, field of its first record): read and written through that record,
    as `res.users.resource_calendar_id` is its first resource's calendar."""
    manual: bool = False
    """Created through ir.model.fields (a custom `x_` field)."""


@dataclass
class Model:
    name: str
    description: str
    fields: dict[str, Field]
    order: str = "id"
    rec_name: str | None = "name"
    inherits: tuple[str, str] | None = None
    """(parent model, many2one to it): the parent's fields are read and written through the
    child, as Odoo's `_inherits` (res.users → res.partner, product.product → template)."""
    mail_thread: bool = False
    custom: bool = False
    methods: tuple[str, ...] = ()
    """Public methods beyond the CRUD ones every model has."""


def char(string: str, **kw: Any) -> Field:
    return Field("char", string, **kw)


def text(string: str, **kw: Any) -> Field:
    return Field("text", string, **kw)


def html(string: str, **kw: Any) -> Field:
    return Field("html", string, **kw)


def integer(string: str, **kw: Any) -> Field:
    return Field("integer", string, **kw)


def float_(string: str, **kw: Any) -> Field:
    return Field("float", string, **kw)


def monetary(string: str, **kw: Any) -> Field:
    return Field("monetary", string, **kw)


def boolean(string: str, **kw: Any) -> Field:
    return Field("boolean", string, **kw)


def date(string: str, **kw: Any) -> Field:
    return Field("date", string, **kw)


def datetime_(string: str, **kw: Any) -> Field:
    return Field("datetime", string, **kw)


def selection(string: str, options: Any, **kw: Any) -> Field:
    return Field("selection", string, selection=options, **kw)


def many2one(relation: str, string: str, **kw: Any) -> Field:
    return Field("many2one", string, relation=relation, **kw)


def one2many(relation: str, inverse: str, string: str, **kw: Any) -> Field:
    return Field("one2many", string, relation=relation, inverse=inverse, **kw)


def many2many(relation: str, string: str, **kw: Any) -> Field:
    return Field("many2many", string, relation=relation, **kw)


def magic_fields() -> dict[str, Field]:
    """What every model has, custom ones included."""
    return {
        "id": integer("ID"),
        "display_name": char("Display Name"),
        "create_uid": many2one("res.users", "Created by"),
        "create_date": datetime_("Created on"),
        "write_uid": many2one("res.users", "Last Updated by"),
        "write_date": datetime_("Last Updated on"),
    }


def custom_model(name: str, description: str) -> Model:
    """A model created through ir.model: only the magic fields until fields are added."""
    return Model(name, description, magic_fields(), custom=True, rec_name=None)


def with_field(model: Model, name: str, spec: Field) -> Model:
    """`model` with `name` added (or replaced); custom models name records by `x_name`."""
    fields = {**model.fields, name: spec}
    rec_name = "x_name" if model.custom and "x_name" in fields else model.rec_name
    return replace(model, fields=fields, rec_name=rec_name)


def without_field(model: Model, name: str) -> Model:
    fields = {key: spec for key, spec in model.fields.items() if key != name}
    rec_name = model.rec_name if model.rec_name != name else None
    return replace(model, fields=fields, rec_name=rec_name)
