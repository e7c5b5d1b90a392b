"""The models the stand-in serves, as field specs, for Odoo 16, 17, 18 and 19.

Only what the practice backend, the demo seeding and the custom-field set-up touch is here
(docs: /work/briefs/odoo_spec.md's table), plus what a fresh Odoo needs to answer for itself
(users, groups, languages, currencies, the live schema). Field names, types, labels and
selections follow a real Odoo 17's `fields_get`; the version differences are those of real
Odoo: `res.partner.mobile` is gone in 19 (and 18.2+), `sale.order.locked` replaced the state
"done" in 17, attendances have a "lunch" period from 17, `res.users.groups_id` is `group_ids`
in 19, products gained the type "combo" in 18.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

VERSIONS = ("16.0", "17.0", "18.0", "19.0")

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


def _now(env: Any) -> str:
    return str(env.now_text)


def _today(env: Any) -> str:
    return str(env.now_text[:10])


def _uid(env: Any) -> int:
    return int(env.uid)


def _user_partner(env: Any) -> list[int]:
    return [env.user_partner_id]


def _languages(env: Any) -> Selection:
    return tuple(env.active_languages())


@cache
def _timezones() -> Selection:
    return tuple((name, name) for name in sorted(zoneinfo.available_timezones()))


def _timezone_options(env: Any) -> Selection:
    return _timezones()


def _day_periods(major: int) -> Selection:
    if major >= 17:
        return (("morning", "Morning"), ("lunch", "Break"), ("afternoon", "Afternoon"))
    return (("morning", "Morning"), ("afternoon", "Afternoon"))


def _sale_states(major: int) -> Selection:
    states = [
        ("draft", "Quotation"),
        ("sent", "Quotation Sent"),
        ("sale", "Sales Order"),
    ]
    if major == 16:
        states.append(("done", "Locked"))
    states.append(("cancel", "Cancelled"))
    return tuple(states)


def _product_types(major: int) -> Selection:
    types = [("consu", "Consumable"), ("service", "Service")]
    if major >= 18:
        types.append(("combo", "Combo"))
    return tuple(types)


WEEKDAYS: Selection = (
    ("0", "Monday"),
    ("1", "Tuesday"),
    ("2", "Wednesday"),
    ("3", "Thursday"),
    ("4", "Friday"),
    ("5", "Saturday"),
    ("6", "Sunday"),
)
MOVE_TYPES: Selection = (
    ("entry", "Journal Entry"),
    ("out_invoice", "Customer Invoice"),
    ("out_refund", "Customer Credit Note"),
    ("in_invoice", "Vendor Bill"),
    ("in_refund", "Vendor Credit Note"),
    ("out_receipt", "Sales Receipt"),
    ("in_receipt", "Purchase Receipt"),
)
PAYMENT_STATES: Selection = (
    ("not_paid", "Not Paid"),
    ("in_payment", "In Payment"),
    ("paid", "Paid"),
    ("partial", "Partially Paid"),
    ("reversed", "Reversed"),
    ("invoicing_legacy", "Invoicing App Legacy"),
)
MOVE_LINE_TYPES: Selection = (
    ("product", "Product"),
    ("cogs", "Cost of Goods Sold"),
    ("tax", "Tax"),
    ("discount", "Discount"),
    ("rounding", "Rounding"),
    ("payment_term", "Payment Term"),
    ("line_section", "Section"),
    ("line_note", "Note"),
    ("epd", "Early Payment Discount"),
)
MESSAGE_TYPES: Selection = (
    ("email", "Incoming Email"),
    ("comment", "Comment"),
    ("email_outgoing", "Outgoing Email"),
    ("notification", "System notification"),
    ("auto_comment", "Automated Targeted Notification"),
    ("user_notification", "User Specific Notification"),
)
CUSTOM_FIELD_TYPES: Selection = tuple((name, name) for name in FIELD_TYPES)


def _model(name: str, description: str, fields: dict[str, Field], **kw: Any) -> tuple[str, Model]:
    return name, Model(name, description, {**magic_fields(), **fields}, **kw)


def _partners(major: int) -> dict[str, Field]:
    fields = {
        "name": char("Name"),
        "parent_id": many2one("res.partner", "Related Company"),
        "phone": char("Phone"),
        "mobile": char("Mobile"),
        "email": char("Email"),
        "lang": selection("Language", _languages, default=lambda env: env.lang),
        "tz": selection("Timezone", _timezone_options),
        "is_company": boolean("Is a Company", default=False),
        "active": boolean("Active", default=True),
        "user_ids": one2many("res.users", "partner_id", "Users"),
        "category_id": many2many("res.partner.category", "Tags"),
        "company_id": many2one("res.company", "Company"),
    }
    if major >= 19:
        del fields["mobile"]
    return fields


def build_schema(version: str) -> dict[str, Model]:
    """A fresh copy of the models of `version` ("16.0" … "19.0"): the schema is per stand-in,
    since custom models and fields are added to it at run time."""
    if version not in VERSIONS:
        raise ValueError(f"unknown Odoo version {version!r}; one of {VERSIONS}")
    major = int(version.split(".")[0])
    groups_field = "group_ids" if major >= 19 else "groups_id"
    sale_order = {
        "name": char("Order Reference", required=True, default="New"),
        "client_order_ref": char("Customer Reference"),
        "partner_id": many2one("res.partner", "Customer", required=True),
        "state": selection("Status", _sale_states(major), default="draft"),
        "locked": boolean("Locked", default=False),
        "date_order": datetime_("Order Date", required=True, default=_now),
        "order_line": one2many("sale.order.line", "order_id", "Order Lines"),
        "amount_total": monetary("Total"),
    }
    if major < 17:
        del sale_order["locked"]
    models = dict(
        [
            _model(
                "res.partner",
                "Contact",
                _partners(major),
                order="name, id desc",
                mail_thread=True,
            ),
            _model(
                "res.partner.category",
                "Partner Tags",
                {
                    "name": char("Tag Name", required=True, translate=True),
                    "active": boolean("Active", default=True),
                },
                order="name",
            ),
            _model(
                "res.users",
                "User",
                {
                    "login": char("Login", required=True),
                    "password": char("Password", default=""),
                    "partner_id": many2one(
                        "res.partner", "Related Partner", required=True, ondelete="cascade"
                    ),
                    "active": boolean("Active", default=True),
                    "share": boolean("Share User", default=False),
                    "company_id": many2one("res.company", "Company", default=1),
                    "resource_calendar_id": many2one("resource.calendar", "Default Working Hours"),
                    groups_field: many2many(
                        "res.groups", "Groups", default=lambda env: env.default_group_ids()
                    ),
                },
                order="name, login",
                inherits=("res.partner", "partner_id"),
                mail_thread=True,
                methods=("context_get",),
            ),
            _model("res.groups", "Access Groups", {"name": char("Name", required=True)}),
            _model(
                "res.company",
                "Companies",
                {
                    "name": char("Company Name", required=True),
                    "partner_id": many2one("res.partner", "Partner", required=True),
                    "currency_id": many2one("res.currency", "Currency", required=True),
                    "resource_calendar_id": many2one("resource.calendar", "Default Working Hours"),
                },
            ),
            _model(
                "res.currency",
                "Currency",
                {
                    "name": char("Currency", required=True),
                    "symbol": char("Symbol", required=True),
                    "full_name": char("Name"),
                    "active": boolean("Active", default=True),
                },
                order="active desc, name",
            ),
            _model(
                "res.lang",
                "Languages",
                {
                    "name": char("Name", required=True),
                    "code": char("Locale Code", required=True),
                    "iso_code": char("ISO code"),
                    "direction": selection(
                        "Direction", (("ltr", "Left-to-Right"), ("rtl", "Right-to-Left"))
                    ),
                    "active": boolean("Active", default=False),
                },
                order="active desc, name",
            ),
            _model(
                "resource.calendar",
                "Resource Working Time",
                {
                    "name": char("Name", required=True),
                    "tz": selection("Timezone", _timezone_options, default="UTC"),
                    "attendance_ids": one2many(
                        "resource.calendar.attendance", "calendar_id", "Working Time"
                    ),
                    "company_id": many2one("res.company", "Company", default=1),
                    "hours_per_day": float_("Average Hour per Day", default=8.0),
                    "active": boolean("Active", default=True),
                },
            ),
            _model(
                "resource.calendar.attendance",
                "Work Detail",
                {
                    "name": char("Name", required=True),
                    "calendar_id": many2one(
                        "resource.calendar",
                        "Resource's Calendar",
                        required=True,
                        ondelete="cascade",
                    ),
                    "dayofweek": selection("Day of Week", WEEKDAYS, required=True, default="0"),
                    "hour_from": float_("Work from", required=True),
                    "hour_to": float_("Work to", required=True),
                    "day_period": selection(
                        "Day Period", _day_periods(major), required=True, default="morning"
                    ),
                    "display_type": selection("Display Type", (("line_section", "Section"),)),
                    "date_from": date("Starting Date"),
                    "date_to": date("End Date"),
                    "resource_id": many2one("resource.resource", "Resource"),
                },
                order="dayofweek, hour_from",
            ),
            _model(
                "resource.calendar.leaves",
                "Resource Time Off Detail",
                {
                    "name": char("Reason"),
                    "calendar_id": many2one("resource.calendar", "Working Hours"),
                    "resource_id": many2one("resource.resource", "Resource"),
                    "company_id": many2one("res.company", "Company", default=1),
                    "date_from": datetime_("Start Date", required=True),
                    "date_to": datetime_("End Date", required=True),
                    "time_type": selection(
                        "Time Type", (("leave", "Time Off"), ("other", "Other")), default="leave"
                    ),
                },
                order="date_from",
            ),
            _model(
                "resource.resource",
                "Resources",
                {
                    "name": char("Name", required=True),
                    "user_id": many2one("res.users", "User"),
                    "calendar_id": many2one("resource.calendar", "Working Time"),
                    "resource_type": selection(
                        "Type", (("user", "Human"), ("material", "Material")), default="user"
                    ),
                    "active": boolean("Active", default=True),
                },
                order="name",
            ),
            _model(
                "product.category",
                "Product Category",
                {
                    "name": char("Name", required=True),
                    "parent_id": many2one("product.category", "Parent Category"),
                },
                order="name",
            ),
            _model(
                "product.template",
                "Product",
                {
                    "name": char("Name", required=True, translate=True),
                    "list_price": float_("Sales Price", default=1.0),
                    "categ_id": many2one(
                        "product.category", "Product Category", required=True, default=1
                    ),
                    "type": selection("Type", _product_types(major), default="consu"),
                    "active": boolean("Active", default=True),
                },
                order="name",
                mail_thread=True,
            ),
            _model(
                "product.product",
                "Product Variant",
                {
                    "product_tmpl_id": many2one(
                        "product.template", "Product Template", required=True, ondelete="cascade"
                    ),
                    "default_code": char("Internal Reference"),
                    "active": boolean("Active", default=True),
                },
                order="default_code, name, id",
                inherits=("product.template", "product_tmpl_id"),
                mail_thread=True,
            ),
            _model(
                "calendar.event.type", "Event Meeting Type", {"name": char("Name", required=True)}
            ),
            _model(
                "calendar.event",
                "Calendar Event",
                {
                    "name": char("Meeting Subject", required=True),
                    "start": datetime_("Start", required=True),
                    "stop": datetime_("Stop", required=True),
                    "allday": boolean("All Day", default=False),
                    "duration": float_("Duration"),
                    "user_id": many2one("res.users", "Organizer", default=_uid),
                    "partner_ids": many2many("res.partner", "Attendees", default=_user_partner),
                    "show_as": selection(
                        "Show as",
                        (("free", "Available"), ("busy", "Busy")),
                        required=True,
                        default="busy",
                    ),
                    "categ_ids": many2many("calendar.event.type", "Tags"),
                    "description": html("Description"),
                    "active": boolean("Active", default=True),
                },
                order="start desc",
                mail_thread=True,
            ),
            _model(
                "account.move",
                "Journal Entry",
                {
                    "name": char("Number", default="/"),
                    "move_type": selection("Type", MOVE_TYPES, required=True, default="entry"),
                    "state": selection(
                        "Status",
                        (("draft", "Draft"), ("posted", "Posted"), ("cancel", "Cancelled")),
                        required=True,
                        default="draft",
                    ),
                    "partner_id": many2one("res.partner", "Partner"),
                    "commercial_partner_id": many2one("res.partner", "Commercial Entity"),
                    "date": date("Date", required=True, default=_today),
                    "invoice_date": date("Invoice/Bill Date"),
                    "invoice_date_due": date("Due Date"),
                    "currency_id": many2one(
                        "res.currency",
                        "Currency",
                        required=True,
                        default=lambda env: env.company_currency_id(),
                    ),
                    "amount_total": monetary("Total"),
                    "amount_residual": monetary("Amount Due"),
                    "payment_state": selection(
                        "Payment Status", PAYMENT_STATES, default="not_paid"
                    ),
                    "line_ids": one2many("account.move.line", "move_id", "Journal Items"),
                    "invoice_line_ids": one2many(
                        "account.move.line",
                        "move_id",
                        "Invoice lines",
                        domain=(("display_type", "in", ["product", "line_section", "line_note"]),),
                    ),
                },
                order="date desc, name desc, id desc",
                mail_thread=True,
                methods=("action_post",),
            ),
            _model(
                "account.move.line",
                "Journal Item",
                {
                    "move_id": many2one(
                        "account.move", "Journal Entry", required=True, ondelete="cascade"
                    ),
                    "display_type": selection("Display Type", MOVE_LINE_TYPES, default="product"),
                    "name": char("Label"),
                    "product_id": many2one("product.product", "Product"),
                    "quantity": float_("Quantity", default=1.0),
                    "price_unit": float_("Unit Price"),
                    "price_subtotal": monetary("Subtotal"),
                },
                order="id",
                rec_name="name",
            ),
            _model(
                "mail.message",
                "Message",
                {
                    "model": char("Related Document Model"),
                    "res_id": Field("many2one_reference", "Related Document ID"),
                    "message_type": selection(
                        "Type", MESSAGE_TYPES, required=True, default="email"
                    ),
                    "subtype_id": many2one("mail.message.subtype", "Subtype"),
                    "subject": char("Subject"),
                    "body": html("Contents", default=""),
                    "author_id": many2one("res.partner", "Author"),
                    "date": datetime_("Date", default=_now),
                    "is_internal": boolean("Employee Only", default=False),
                },
                order="id desc",
                rec_name=None,
            ),
            _model(
                "mail.message.subtype",
                "Message subtypes",
                {
                    "name": char("Message Type", required=True, translate=True),
                    "internal": boolean("Internal Only", default=False),
                    "default": boolean("Default", default=True),
                    "res_model": char("Model"),
                },
                order="id",
            ),
            _model(
                "ir.model.data",
                "Model Data",
                {
                    "name": char("External Identifier", required=True),
                    "module": char("Module", required=True, default=""),
                    "model": char("Model Name", required=True),
                    "res_id": Field("many2one_reference", "Record ID"),
                },
                order="module, model, name",
                rec_name=None,
            ),
            _model(
                "ir.model",
                "Models",
                {
                    "name": char("Model Description", required=True, translate=True),
                    "model": char("Model", required=True, default="x_"),
                    "order": char("Order", required=True, default="id"),
                    "info": text("Information"),
                    "field_id": one2many("ir.model.fields", "model_id", "Fields"),
                    "state": selection(
                        "Type",
                        (("manual", "Custom Object"), ("base", "Base Object")),
                        default="manual",
                    ),
                    "transient": boolean("Transient Model", default=False),
                },
                order="model",
            ),
            _model(
                "ir.model.fields",
                "Fields",
                {
                    "name": char("Field Name", required=True, default="x_"),
                    "model": char("Model Name", required=True),
                    "model_id": many2one("ir.model", "Model", required=True, ondelete="cascade"),
                    "field_description": char(
                        "Field Label", required=True, default="", translate=True
                    ),
                    "ttype": selection("Field Type", CUSTOM_FIELD_TYPES, required=True),
                    "relation": char("Related Model"),
                    "relation_field": char("Relation Field"),
                    "selection": char("Selection Options (Deprecated)"),
                    "selection_ids": one2many(
                        "ir.model.fields.selection", "field_id", "Selection Options"
                    ),
                    "required": boolean("Required", default=False),
                    "readonly": boolean("Readonly", default=False),
                    "translate": boolean("Translatable", default=False),
                    "store": boolean("Stored", default=True),
                    "index": boolean("Indexed", default=False),
                    "state": selection(
                        "Type",
                        (("manual", "Custom Field"), ("base", "Base Field")),
                        required=True,
                        default="manual",
                    ),
                },
                order="name",
                rec_name="field_description",
            ),
            _model(
                "ir.model.fields.selection",
                "Fields Selection",
                {
                    "field_id": many2one(
                        "ir.model.fields", "Field", required=True, ondelete="cascade"
                    ),
                    "value": char("Value", required=True),
                    "name": char("Name", required=True, translate=True),
                    "sequence": integer("Sequence", default=1000),
                },
                order="sequence, id",
            ),
            _model(
                "ir.model.access",
                "Model Access",
                {
                    "name": char("Name", required=True),
                    "active": boolean("Active", default=True),
                    "model_id": many2one("ir.model", "Model", required=True, ondelete="cascade"),
                    "group_id": many2one("res.groups", "Group", ondelete="cascade"),
                    "perm_read": boolean("Read Access", default=False),
                    "perm_write": boolean("Write Access", default=False),
                    "perm_create": boolean("Create Access", default=False),
                    "perm_unlink": boolean("Delete Access", default=False),
                },
            ),
            _model(
                "sale.order",
                "Sales Order",
                sale_order,
                order="date_order desc, id desc",
                mail_thread=True,
            ),
            _model(
                "sale.order.line",
                "Sales Order Line",
                {
                    "order_id": many2one(
                        "sale.order", "Order Reference", required=True, ondelete="cascade"
                    ),
                    "product_id": many2one("product.product", "Product"),
                    "name": text("Description"),
                    "price_unit": float_("Unit Price"),
                    "product_uom_qty": float_("Quantity", default=1.0),
                    "qty_delivered": float_("Delivery Quantity", default=0.0),
                    "price_subtotal": monetary("Subtotal"),
                    "display_type": selection(
                        "Display Type", (("line_section", "Section"), ("line_note", "Note"))
                    ),
                },
                order="order_id, id",
            ),
        ]
    )
    return models


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
