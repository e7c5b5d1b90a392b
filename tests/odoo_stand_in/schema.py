"""The models the stand-in serves, for Odoo 16, 17, 18 and 19.

What the practice backend, the demo seeding (serving/practice/odoo/seed.py) and the custom-field
set-up touch, plus what a fresh Odoo needs to answer for itself (users, groups, languages,
currencies, the live schema). Field names, types, labels and selections follow a real Odoo
17's `fields_get`; the version differences are those of real Odoo: `res.partner.mobile` is
gone in 19 (and 18.2+), `sale.order.locked` replaced the state "done" in 17, attendances have
a "lunch" period from 17, products lost `detailed_type` and gained the type "combo" in 18,
`res.users.groups_id` is `group_ids` in 19, `has_access` and `check_access` came in 18.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from tests.odoo_stand_in.spec import (
    FIELD_TYPES,
    Field,
    Model,
    Selection,
    boolean,
    char,
    date,
    datetime_,
    float_,
    html,
    integer,
    magic_fields,
    many2many,
    many2one,
    monetary,
    one2many,
    selection,
    text,
)

VERSIONS = ("16.0", "17.0", "18.0", "19.0")

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
ON_DELETE: Selection = (("cascade", "Cascade"), ("set null", "Set NULL"), ("restrict", "Restrict"))
LINE_DISPLAY: Selection = (("line_section", "Section"), ("line_note", "Note"))


def build_schema(version: str) -> dict[str, Model]:
    """A fresh copy of the models of `version` ("16.0" … "19.0"): the schema is per stand-in,
    since custom models and fields are added to it at run time."""
    if version not in VERSIONS:
        raise ValueError(f"unknown Odoo version {version!r}; one of {VERSIONS}")
    major = int(version.split(".")[0])
    models = [
        *_base(major),
        *_resource(major),
        *_products(major),
        *_calendar(),
        *_accounting(),
        *_sales(major),
        *_mail(),
        *_technical(),
    ]
    # 18 added has_access/check_access and deprecated check_access_rights (still served).
    access = ("check_access_rights", *(("has_access", "check_access") if major >= 18 else ()))
    for model in models:
        model.methods = (*model.methods, *access)
    return {model.name: model for model in models}


def _model(name: str, description: str, fields: dict[str, Field], **kw: Any) -> Model:
    return Model(name, description, {**magic_fields(), **fields}, **kw)


# --- defaults and selections read from the data ----------------------------------------------


def _now(env: Any) -> str:
    return str(env.now_text)


def _today(env: Any) -> str:
    return str(env.now_text[:10])


def _uid(env: Any) -> int:
    return int(env.uid)


def _user_partner(env: Any) -> list[int]:
    return [env.user_partner_id]


def _company_currency(env: Any) -> int:
    return int(env.company_currency_id())


def _languages(env: Any) -> Selection:
    return tuple(env.active_languages())


@cache
def _timezones() -> Selection:
    return tuple((name, name) for name in sorted(zoneinfo.available_timezones()))


def _timezone_options(env: Any) -> Selection:
    return _timezones()


# --- the models, by app -----------------------------------------------------------------------


def _base(major: int) -> list[Model]:
    partner = {
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
        del partner["mobile"]
    groups_field = "group_ids" if major >= 19 else "groups_id"
    return [
        _model("res.partner", "Contact", partner, order="name, id desc", mail_thread=True),
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
                "resource_ids": one2many("resource.resource", "user_id", "Resources"),
                "resource_calendar_id": Field(
                    "many2one",
                    "Default Working Hours",
                    relation="resource.calendar",
                    related=("resource_ids", "calendar_id"),
                ),
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
    ]


def _resource(major: int) -> list[Model]:
    periods: Selection = (("morning", "Morning"), ("lunch", "Break"), ("afternoon", "Afternoon"))
    if major < 17:
        periods = tuple(pair for pair in periods if pair[0] != "lunch")
    return [
        _model(
            "resource.calendar",
            "Resource Working Time",
            {
                "name": char("Name", required=True),
                "tz": selection("Timezone", _timezone_options, default="UTC"),
                "two_weeks_calendar": boolean("Calendar in 2 weeks mode", default=False),
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
                    "resource.calendar", "Resource's Calendar", required=True, ondelete="cascade"
                ),
                "dayofweek": selection("Day of Week", WEEKDAYS, required=True, default="0"),
                "hour_from": float_("Work from", required=True),
                "hour_to": float_("Work to", required=True),
                "day_period": selection("Day Period", periods, required=True, default="morning"),
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
                "tz": selection("Timezone", _timezone_options, default="UTC"),
                "resource_type": selection(
                    "Type", (("user", "Human"), ("material", "Material")), default="user"
                ),
                "active": boolean("Active", default=True),
            },
            order="name",
        ),
    ]


def _products(major: int) -> list[Model]:
    types: Selection = (("consu", "Consumable"), ("service", "Service"))
    template = {
        "name": char("Name", required=True, translate=True),
        "list_price": float_("Sales Price", default=1.0),
        "categ_id": many2one("product.category", "Product Category", required=True, default=1),
        "type": selection("Type", types, default="consu"),
        "detailed_type": selection("Product Type", types, default="consu"),
        "sale_ok": boolean("Can be Sold", default=True),
        "taxes_id": many2many("account.tax", "Customer Taxes"),
        "active": boolean("Active", default=True),
    }
    if major >= 18:
        del template["detailed_type"]
        template["type"] = selection("Type", (*types, ("combo", "Combo")), default="consu")
    return [
        _model(
            "product.category",
            "Product Category",
            {
                "name": char("Name", required=True),
                "parent_id": many2one("product.category", "Parent Category"),
            },
            order="name",
        ),
        _model("product.template", "Product", template, order="name", mail_thread=True),
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
            "product.pricelist",
            "Pricelist",
            {
                "name": char("Pricelist Name", required=True, translate=True),
                "currency_id": many2one(
                    "res.currency", "Currency", required=True, default=_company_currency
                ),
                "active": boolean("Active", default=True),
            },
        ),
    ]


def _calendar() -> list[Model]:
    return [
        _model("calendar.event.type", "Event Meeting Type", {"name": char("Name", required=True)}),
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
    ]


def _accounting() -> list[Model]:
    return [
        _model(
            "account.tax",
            "Tax",
            {
                "name": char("Tax Name", required=True, translate=True),
                "amount": float_("Amount"),
                "type_tax_use": selection(
                    "Tax Type",
                    (("sale", "Sales"), ("purchase", "Purchases"), ("none", "None")),
                    default="sale",
                ),
                "active": boolean("Active", default=True),
            },
        ),
        _model(
            "account.move",
            "Journal Entry",
            {
                "name": char("Number", default="/"),
                "ref": char("Reference"),
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
                    "res.currency", "Currency", required=True, default=_company_currency
                ),
                "amount_total": monetary("Total"),
                "amount_residual": monetary("Amount Due"),
                "payment_state": selection("Payment Status", PAYMENT_STATES, default="not_paid"),
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
                "tax_ids": many2many("account.tax", "Taxes"),
            },
        ),
        _model(
            "account.payment.register",
            "Register Payment",
            {
                "amount": monetary("Amount"),
                "payment_date": date("Payment Date", required=True, default=_today),
                "communication": char("Memo"),
                "line_ids": many2many("account.move.line", "Journal items"),
            },
            rec_name=None,
            methods=("action_create_payments",),
        ),
    ]


def _sales(major: int) -> list[Model]:
    states: Selection = (
        ("draft", "Quotation"),
        ("sent", "Quotation Sent"),
        ("sale", "Sales Order"),
        *((("done", "Locked"),) if major == 16 else ()),
        ("cancel", "Cancelled"),
    )
    order = {
        "name": char("Order Reference", required=True, default="New"),
        "client_order_ref": char("Customer Reference"),
        "partner_id": many2one("res.partner", "Customer", required=True),
        "state": selection("Status", states, default="draft"),
        "locked": boolean("Locked", default=False),
        "date_order": datetime_("Order Date", required=True, default=_now),
        "pricelist_id": many2one("product.pricelist", "Pricelist"),
        "currency_id": many2one("res.currency", "Currency", default=_company_currency),
        "order_line": one2many("sale.order.line", "order_id", "Order Lines"),
        "amount_total": monetary("Total"),
    }
    actions: tuple[str, ...] = ("action_confirm", "action_cancel")
    if major == 16:
        del order["locked"]
        actions += ("action_done",)
    else:
        actions += ("action_lock", "action_unlock")
    return [
        _model(
            "sale.order",
            "Sales Order",
            order,
            order="date_order desc, id desc",
            mail_thread=True,
            methods=actions,
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
                "display_type": selection("Display Type", LINE_DISPLAY),
            },
            order="order_id, id",
        ),
    ]


def _mail() -> list[Model]:
    return [
        _model(
            "mail.message",
            "Message",
            {
                "model": char("Related Document Model"),
                "res_id": Field("many2one_reference", "Related Document ID"),
                "message_type": selection("Type", MESSAGE_TYPES, required=True, default="email"),
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
        ),
    ]


def _technical() -> list[Model]:
    return [
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
                "field_description": char("Field Label", required=True, default="", translate=True),
                "ttype": selection(
                    "Field Type", tuple((kind, kind) for kind in FIELD_TYPES), required=True
                ),
                "relation": char("Related Model"),
                "relation_field": char("Relation Field"),
                "on_delete": selection("On Delete", ON_DELETE, default="set null"),
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
                "field_id": many2one("ir.model.fields", "Field", required=True, ondelete="cascade"),
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
    ]
