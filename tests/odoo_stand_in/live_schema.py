"""The live schema: ir.model and ir.model.fields rows describe every model and field, and
creating them (as an administrator) adds a custom model or field that every later call sees,
with a real Odoo 17's checks and messages. Custom fields must be named `x_…`, models `x_…`;
a new model gets the `x_name` field unless its fields are given.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from tests.odoo_stand_in.errors import mandatory_field, user_error, validation_error
from tests.odoo_stand_in.orm import Database, Env
from tests.odoo_stand_in.spec import (
    FIELD_TYPES,
    RELATIONAL,
    Field,
    custom_model,
    magic_fields,
    with_field,
    without_field,
)

CUSTOM_TYPES = tuple(kind for kind in FIELD_TYPES if kind != "many2one_reference")


def reflect_schema(db: Database) -> None:
    """ir.model and ir.model.fields rows for every model and field the stand-in starts with."""
    for name, spec in db.schema.items():
        model_id = db.insert(
            "ir.model",
            {
                "name": {"en_US": spec.description},
                "model": name,
                "order": spec.order,
                "info": False,
                "state": "base",
                "transient": False,
            },
        )
        _reflect_fields(db, model_id, name, spec.fields)


def _reflect_fields(db: Database, model_id: int, model: str, fields: dict[str, Field]) -> None:
    for name, spec in fields.items():
        db.insert(
            "ir.model.fields",
            {
                "name": name,
                "model": model,
                "model_id": model_id,
                "field_description": {"en_US": spec.string},
                "ttype": spec.type,
                "relation": spec.relation or False,
                "relation_field": spec.inverse or False,
                "selection": False,
                "required": spec.required,
                "readonly": False,
                "translate": spec.translate,
                "store": name != "display_name",
                "index": False,
                "state": "manual" if spec.manual else "base",
            },
        )


def model_checked(env: Env, vals: dict[str, Any]) -> None:
    """Odoo's checks on a new model; a custom one joins the schema at once, named `x_…`."""
    name = vals.get("model", "x_")
    vals.setdefault("state", "manual")
    if vals["state"] == "manual" and not str(name).startswith("x_"):
        raise validation_error("The model name must start with 'x_'.")
    if not re.fullmatch(r"[a-z0-9_.]+", str(name)):
        raise validation_error(
            "The model name can only contain lowercase characters, digits, underscores and dots."
        )
    if name in env.db.schema:
        raise validation_error(
            "The operation cannot be completed: Each model must have a unique name."
        )
    env.db.schema[name] = custom_model(name, str(vals.get("name") or name))
    if "field_id" not in vals:
        vals["field_id"] = [
            [0, 0, {"name": "x_name", "field_description": "Name", "ttype": "char"}]
        ]


def model_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    for rid in ids:
        row = env.db.table("ir.model")[rid]
        spec = env.db.schema.get(row["model"])
        if spec is None:
            continue
        if created and spec.custom:
            _reflect_fields(env.db, rid, row["model"], magic_fields())
        if "name" in names:
            spec.description = str(env.value("ir.model", rid, "name"))


def model_refused(env: Env, ids: list[int]) -> None:
    for rid in ids:
        row = env.db.table("ir.model")[rid]
        if row["state"] != "manual":
            raise user_error(
                f"Model {env.value('ir.model', rid, 'name')!r} contains module data and cannot be "
                "removed."
            )


def models_dropped(env: Env, removed: dict[int, dict[str, Any]]) -> None:
    for row in removed.values():
        env.db.schema.pop(row["model"], None)
        env.db.tables.pop(row["model"], None)


def field_checked(env: Env, vals: dict[str, Any]) -> None:
    """Odoo's checks on a new field: `x_` name, unique per model, a known relation."""
    model_id = vals.get("model_id")
    model_row = env.db.table("ir.model").get(model_id) if model_id else None
    if model_row is None:
        raise mandatory_field("Fields", "ir.model.fields", "Model", "model_id")
    model = model_row["model"]
    vals["model"] = model
    vals.setdefault("state", "manual")
    name = str(vals.get("name", "x_"))
    if vals["state"] == "manual" and not name.startswith("x_"):
        raise validation_error(
            "The operation cannot be completed: Custom fields must have a name that starts "
            "with 'x_'!"
        )
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise validation_error(
            "Field names can only contain characters, digits and underscores (up to 63)."
        )
    if name in env.model(model).fields:
        raise validation_error(
            "The operation cannot be completed: Field names must be unique per model."
        )
    ttype = vals.get("ttype")
    if not ttype:
        raise mandatory_field("Fields", "ir.model.fields", "Field Type", "ttype")
    if ttype not in CUSTOM_TYPES:
        raise user_error(f"the Odoo stand-in does not serve custom {ttype} fields")
    if ttype in RELATIONAL:
        _relation_checked(env, model, ttype, vals)
    if not vals.get("field_description"):
        vals["field_description"] = name.replace("_", " ").title()


def _relation_checked(env: Env, model: str, ttype: str, vals: dict[str, Any]) -> None:
    relation = vals.get("relation")
    if not relation:
        # Real Odoo stores the relation "_unknown" and then fails on every read of the model.
        raise user_error(f"the Odoo stand-in needs a relation for a custom {ttype} field")
    if relation not in env.db.schema:
        raise validation_error(f"Unknown model name '{relation}' in Related Model")
    if ttype == "one2many":
        inverse = env.model(relation).fields.get(vals.get("relation_field") or "")
        if inverse is None or inverse.type != "many2one" or inverse.relation != model:
            raise user_error(
                f"Many2one {vals.get('relation_field')} on model {relation} does not exist!"
            )


def field_changed(env: Env, ids: list[int], vals: dict[str, Any]) -> None:
    for rid in ids:
        row = env.db.table("ir.model.fields")[rid]
        if row["state"] != "manual":
            raise user_error(
                "Properties of base fields cannot be altered in this manner! Please modify them "
                "through Python code, preferably through a custom addon!"
            )
        if vals.get("ttype", row["ttype"]) != row["ttype"]:
            raise user_error(
                "Changing the type of a field is not yet supported. Please drop it and create "
                "it again!"
            )
        if vals.get("model_id", row["model_id"]) != row["model_id"]:
            raise user_error("Changing the model of a field is forbidden!")
        new_name = vals.get("name", row["name"])
        if new_name != row["name"]:
            _rename_field(env, row["model"], row["name"], str(new_name))


def _rename_field(env: Env, model: str, old: str, new: str) -> None:
    if not new.startswith("x_") or new in env.model(model).fields:
        raise validation_error(f"Cannot rename field {old!r} to {new!r} on {model}")
    spec = env.model(model)
    env.db.schema[model] = without_field(spec, old)
    for row in env.db.table(model).values():
        if old in row:
            row[new] = row.pop(old)


def field_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    """The field joins (or is updated in) its model's schema."""
    for rid in ids:
        row = env.db.table("ir.model.fields")[rid]
        if row["state"] != "manual" or row["model"] not in env.db.schema:
            continue
        if created and row.get("selection") and not row.get("selection_ids"):
            _selection_from_text(env, rid, row["selection"])
        spec = Field(
            type=row["ttype"],
            string=str(env.value("ir.model.fields", rid, "field_description")),
            relation=row.get("relation") or None,
            inverse=row.get("relation_field") or None,
            required=bool(row.get("required")),
            translate=bool(row.get("translate")) and row["ttype"] in ("char", "text", "html"),
            selection=_custom_selection(rid) if row["ttype"] == "selection" else None,
            manual=True,
        )
        model = env.model(row["model"])
        env.db.schema[row["model"]] = with_field(model, row["name"], spec)
        if created:
            default: Any = [] if spec.type == "many2many" else False
            for record in env.db.table(row["model"]).values():
                record.setdefault(row["name"], default)


def _custom_selection(field_id: int) -> Any:
    def options(env: Env) -> tuple[tuple[str, str], ...]:
        rows = env.db.table("ir.model.fields.selection")
        ids = env.search("ir.model.fields.selection", [["field_id", "=", field_id]])
        return tuple(
            (rows[rid]["value"], str(env.value("ir.model.fields.selection", rid, "name")))
            for rid in ids
        )

    return options


def _selection_from_text(env: Env, field_id: int, text: str) -> None:
    """The deprecated `selection` text, e.g. "[('mild', 'Mild'), ('severe', 'Severe')]"."""
    try:
        pairs = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise validation_error(
            f"The Selection Options expression is not a valid Pythonic expression: {text}"
        ) from None
    for sequence, (value, label) in enumerate(pairs):
        env.create(
            "ir.model.fields.selection",
            [{"field_id": field_id, "value": value, "name": label, "sequence": sequence}],
        )


def field_refused(env: Env, ids: list[int]) -> None:
    models = env.db.table("ir.model")
    for rid in ids:
        row = env.db.table("ir.model.fields")[rid]
        if row["state"] != "manual" and row["model_id"] in models:
            raise user_error("This column contains module data and cannot be removed!")


def fields_dropped(env: Env, removed: dict[int, dict[str, Any]]) -> None:
    for row in removed.values():
        if row["state"] == "manual" and row["model"] in env.db.schema:
            env.db.schema[row["model"]] = without_field(env.model(row["model"]), row["name"])
            for record in env.db.table(row["model"]).values():
                record.pop(row["name"], None)


def field_name(env: Env, rid: int) -> str:
    row = env.db.table("ir.model.fields")[rid]
    label = env.value("ir.model.fields", rid, "field_description")
    return f"{label} ({env.value('ir.model', row['model_id'], 'name')})"
