"""What particular models do beyond storing values, as a real Odoo 17 was seen doing it:
amounts and numbers of invoices and sale orders, the chatter (`message_post`), event
durations, users' passwords and logins, the standard working hours of a new calendar; and
`BEHAVIOUR`, which plugs these and the live schema (live_schema.py) into the ORM.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from tests.odoo_stand_in import live_schema
from tests.odoo_stand_in.errors import missing_error, user_error, validation_error, value_error
from tests.odoo_stand_in.orm import DATETIME_FORMAT, SUPERUSER, Behaviour, Env

INVOICE_PREFIXES = {"out_invoice": "INV", "out_refund": "RINV"}
_MESSAGE_POST_KEYS = frozenset(
    {
        "body",
        "subject",
        "message_type",
        "subtype_xmlid",
        "subtype_id",
        "partner_ids",
        "author_id",
        "attachment_ids",
        "body_is_html",
        "email_from",
    }
)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


# --- the chatter, invoices, users --------------------------------------------------------------


def message_post(env: Env, model: str, ids: list[int], options: dict[str, Any]) -> int:
    """A message on one record's chatter; a plain-text body is escaped into a paragraph."""
    unknown = sorted(set(options) - _MESSAGE_POST_KEYS)
    if unknown:
        raise value_error(
            f"Those values are not supported when posting or notifying: {', '.join(unknown)}"
        )
    if len(ids) != 1:
        raise value_error(f"Expected singleton: {model}{tuple(ids)!r}")
    if not env.exists(model, ids):
        raise missing_error(model, ids, env.uid)
    body = options.get("body") or ""
    subtype = options.get("subtype_id") or False
    if options.get("subtype_xmlid"):
        subtype = env.ref(str(options["subtype_xmlid"])) or False
    elif not subtype:
        subtype = env.ref("mail.mt_note") or False
    author = options.get("author_id") or env.user_partner_id
    # Real Odoo takes the sender's address from the author and refuses a post without one.
    sender = options.get("email_from") or env.value("res.partner", author, "email")
    if not sender and env.uid != SUPERUSER:
        raise user_error("Unable to send message, please configure the sender's email address.")
    values = {
        "model": model,
        "res_id": ids[0],
        "body": f"<p>{html.escape(str(body), quote=False)}</p>" if body else "",
        "message_type": options.get("message_type", "notification"),
        "subtype_id": subtype,
        "author_id": author,
    }
    if options.get("subject"):
        values["subject"] = options["subject"]
    return env.create("mail.message", [values])[0]


def action_post(env: Env, ids: list[int]) -> bool:
    """Post draft journal entries: dated today if undated, numbered if unnumbered."""
    for rid in ids:
        row = env.db.table("account.move")[rid]
        if row["state"] != "draft":
            raise user_error(f"The entry {row['name']} (id {rid}) must be in draft.")
        if not _lines(env, rid, "product"):
            raise user_error("You need to add a line before posting.")
        invoice_date = row.get("invoice_date") or env.now_text[:10]
        env.write(
            "account.move",
            [rid],
            {
                "state": "posted",
                "invoice_date": invoice_date,
                "invoice_date_due": row.get("invoice_date_due") or invoice_date,
            },
        )
    return False


def confirm_orders(env: Env, ids: list[int]) -> bool:
    for rid in ids:
        if env.db.table("sale.order")[rid]["state"] not in ("draft", "sent"):
            raise user_error("Some orders are not in a state requiring confirmation.")
    env.write("sale.order", ids, {"state": "sale"})
    return True


def set_orders(env: Env, ids: list[int], values: dict[str, Any]) -> None:
    """An order action that only sets `values` (lock, unlock: Odoo's return nothing)."""
    env.write("sale.order", ids, values)


def cancel_orders(env: Env, ids: list[int]) -> bool:
    """Cancelled (Odoo asks through a wizard first when the order was sent or confirmed; the
    stand-in cancels at once)."""
    if any(env.db.table("sale.order")[rid].get("locked") for rid in ids):
        raise user_error("You cannot cancel a locked order. Please unlock it first.")
    env.write("sale.order", ids, {"state": "cancel"})
    return True


def payment_wizard_defaults(env: Env, vals: dict[str, Any]) -> None:
    """The wizard pays the invoices of the context's `active_ids`, by default in full."""
    if env.context.get("active_model") != "account.move" or "line_ids" in vals:
        return
    moves = env.exists("account.move", env.context.get("active_ids") or [])
    if any(env.db.table("account.move")[rid]["state"] != "posted" for rid in moves):
        raise user_error("You can only register payment for posted journal entries.")
    terms = [
        lid
        for lid, line in env.db.table("account.move.line").items()
        if line["move_id"] in moves and line["display_type"] == "payment_term"
    ]
    vals["line_ids"] = [[6, 0, terms]]
    if "amount" not in vals:
        vals["amount"] = sum(env.db.table("account.move")[rid]["amount_residual"] for rid in moves)


def create_payments(env: Env, ids: list[int]) -> bool:
    """Each wizard's amount paid on its invoices, oldest first: a posted payment entry per
    invoice (PBNK1/<year>/<n>, the invoice's reference) and the invoice's amount due and
    payment status updated, as reconciliation leaves them."""
    moves = env.db.table("account.move")
    for wizard_id in ids:
        wizard = env.db.table("account.payment.register")[wizard_id]
        lines = env.db.table("account.move.line")
        invoices = sorted({lines[line]["move_id"] for line in wizard["line_ids"] if line in lines})
        remaining = float(wizard["amount"] or 0.0)
        for rid in invoices:
            invoice = moves[rid]
            paid = round(min(remaining, invoice["amount_residual"] or 0.0), 2)
            if paid <= 0:
                continue
            remaining -= paid
            year = wizard["payment_date"][:4]
            taken = [row.get("name") or "" for row in moves.values()]
            entry = {
                "move_type": "entry",
                "name": _next_number(taken, f"PBNK1/{year}/", 5),
                "ref": invoice.get("ref") or invoice["name"],
                "partner_id": invoice["partner_id"],
                "date": wizard["payment_date"],
                "currency_id": invoice["currency_id"],
                "state": "posted",
                "amount_total": paid,
                "amount_residual": 0.0,
            }
            env.create("account.move", [entry])
            due = round((invoice["amount_residual"] or 0.0) - paid, 2)
            state = "paid" if due <= 0 else "partial"
            env.write("account.move", [rid], {"amount_residual": due, "payment_state": state})
    return True


def context_get(env: Env) -> dict[str, Any]:
    return {
        "lang": env.value("res.users", env.uid, "lang") or "en_US",
        "tz": env.value("res.users", env.uid, "tz") or False,
        "uid": env.uid,
    }


def _lines(env: Env, move_id: int, kind: str) -> list[dict[str, Any]]:
    rows = env.db.table("account.move.line").values()
    return [row for row in rows if row["move_id"] == move_id and row["display_type"] == kind]


def _next_number(names: list[str], prefix: str, width: int) -> str:
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    used = [int(m.group(1)) for name in names if (m := pattern.match(name or ""))]
    return f"{prefix}{max(used, default=0) + 1:0{width}d}"


def _move_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    table = env.db.table("account.move")
    for rid in ids:
        row = table[rid]
        partner = row.get("partner_id")
        parent = env.db.table("res.partner").get(partner, {}).get("parent_id") if partner else False
        row["commercial_partner_id"] = parent or partner or False
        prefix = INVOICE_PREFIXES.get(row["move_type"])
        if prefix and row.get("name") in ("/", False):
            year = (row.get("invoice_date") or row["date"])[:4]
            taken = [r.get("name") or "" for r in table.values()]
            row["name"] = _next_number(taken, f"{prefix}/{year}/", 5)
        products = _lines(env, rid, "product")
        if prefix and products and not _lines(env, rid, "payment_term"):
            env.db.insert(
                "account.move.line",
                {
                    "move_id": rid,
                    "display_type": "payment_term",
                    "name": False,
                    "product_id": False,
                    "quantity": 0.0,
                    "price_unit": 0.0,
                    "price_subtotal": 0.0,
                    "create_uid": env.uid,
                    "write_uid": env.uid,
                    "create_date": env.now_text,
                    "write_date": env.now_text,
                },
                env.db.new_id("account.move.line"),
            )
        for term in _lines(env, rid, "payment_term"):
            term["name"] = row["name"] if row["name"] != "/" else False
        if not prefix:
            continue  # a payment's entry keeps the amounts it was given
        row["amount_total"] = round(sum(line["price_subtotal"] or 0.0 for line in products), 2)
        if "amount_residual" not in names:
            state = row.get("payment_state") or "not_paid"
            if state == "not_paid":
                row["amount_residual"] = row["amount_total"]
            elif state in ("paid", "in_payment", "reversed"):
                row["amount_residual"] = 0.0


def _line_defaults(env: Env, vals: dict[str, Any], label: str) -> None:
    """A line for a product takes its price and, unless given, its name."""
    product = vals.get("product_id")
    if not product or product not in env.db.table("product.product"):
        return
    vals.setdefault("price_unit", env.value("product.product", product, "list_price"))
    if not vals.get(label):
        vals[label] = env.display_name("product.product", product)


def _subtotals(env: Env, model: str, ids: list[int], quantity: str, parent: str) -> list[int]:
    table = env.db.table(model)
    for rid in ids:
        row = table[rid]
        row["price_subtotal"] = round(
            (row.get(quantity) or 0.0) * (row.get("price_unit") or 0.0), 2
        )
    return sorted({table[rid][parent] for rid in ids})


def _move_line_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    moves = _subtotals(env, "account.move.line", ids, "quantity", "move_id")
    _move_saved(env, env.exists("account.move", moves), set(), False)


def _order_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    table = env.db.table("sale.order")
    for rid in ids:
        row = table[rid]
        if row.get("name") in ("New", "/", False):
            row["name"] = _next_number([r.get("name") or "" for r in table.values()], "S", 5)
        lines = env.db.table("sale.order.line").values()
        row["amount_total"] = round(
            sum(line["price_subtotal"] or 0.0 for line in lines if line["order_id"] == rid), 2
        )


def _order_line_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    orders = _subtotals(env, "sale.order.line", ids, "product_uom_qty", "order_id")
    _order_saved(env, env.exists("sale.order", orders), set(), False)


def _unlinked_lines(parent: str, link: str, saved: Any) -> Any:
    def after(env: Env, removed: dict[int, dict[str, Any]]) -> None:
        saved(env, env.exists(parent, {row[link] for row in removed.values()}), set(), False)

    return after


def _refuse_posted(env: Env, ids: list[int]) -> None:
    if any(env.db.table("account.move")[rid]["state"] == "posted" for rid in ids):
        raise user_error(
            "You can't delete a posted journal item. Don’t play games with your accounting "
            "records; reset the journal entry to draft before deleting it."
        )


def _event_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    for rid in ids:
        row = env.db.table("calendar.event")[rid]
        start = datetime.strptime(row["start"], DATETIME_FORMAT)  # naive UTC, as on the wire
        stop = datetime.strptime(row["stop"], DATETIME_FORMAT)  # naive UTC, as on the wire
        if stop < start:
            raise validation_error(
                "The ending date and time cannot be earlier than the starting date and time.\n"
                f"Meeting '{row['name']}' starts '{row['start']}' and ends '{row['stop']}'"
            )
        row["duration"] = (stop - start).total_seconds() / 3600


def _partner_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    if created and not env.context.get("mail_create_nolog"):
        for rid in ids:
            env.create(
                "mail.message",
                [
                    {
                        "model": "res.partner",
                        "res_id": rid,
                        "message_type": "notification",
                        "subtype_id": env.ref("mail.mt_note") or False,
                        "body": "<p>Contact created</p>",
                        "author_id": env.user_partner_id,
                    }
                ],
            )


def _user_checked(env: Env, vals: dict[str, Any], ids: list[int] | None = None) -> None:
    login = vals.get("login")
    if login is None:
        return
    others = [
        rid
        for rid, row in env.db.table("res.users").items()
        if row.get("login") == login and rid not in (ids or [])
    ]
    if others:
        raise validation_error("You can not have two users with the same login!")


def _user_saved(env: Env, ids: list[int], names: set[str], created: bool) -> None:
    """A password given on create/write becomes a credential; `read` never shows it."""
    for rid in ids:
        row = env.db.table("res.users")[rid]
        if row.get("password"):
            env.db.credentials_of(rid).password = row["password"]
        row["password"] = ""


def standard_attendances(version: str) -> list[dict[str, Any]]:
    """Monday to Friday 8-12 and 13-17, with the lunch hour as its own line from 17."""
    lunch = int(version.split(".")[0]) >= 17
    lines = []
    for day, weekday in enumerate(WEEKDAY_NAMES):
        periods = [("Morning", 8.0, 12.0, "morning")]
        if lunch:
            periods.append(("Lunch", 12.0, 13.0, "lunch"))
        periods.append(("Afternoon", 13.0, 17.0, "afternoon"))
        for label, start, stop, period in periods:
            lines.append(
                {
                    "name": f"{weekday} {label}",
                    "dayofweek": str(day),
                    "hour_from": start,
                    "hour_to": stop,
                    "day_period": period,
                }
            )
    return lines


def _calendar_defaults(env: Env, vals: dict[str, Any]) -> None:
    if "attendance_ids" not in vals:
        vals["attendance_ids"] = [[0, 0, line] for line in standard_attendances(env.db.version)]


def _templates_orphaned(env: Env, removed: dict[int, dict[str, Any]]) -> None:
    """Deleting a product's last variant deletes its template, as in Odoo."""
    variants = env.db.table("product.product").values()
    used = {row["product_tmpl_id"] for row in variants}
    orphans = {row["product_tmpl_id"] for row in removed.values()} - used
    env.unlink("product.template", env.exists("product.template", sorted(orphans)))


# --- display names ----------------------------------------------------------------------------


def _product_name(env: Env, rid: int) -> str:
    name = env.value("product.product", rid, "name") or ""
    code = env.value("product.product", rid, "default_code")
    return f"[{code}] {name}" if code else str(name)


def _category_name(env: Env, rid: int) -> str:
    parts, current, seen = [], rid, set()
    while current and current not in seen:
        seen.add(current)
        parts.append(str(env.value("product.category", current, "name") or ""))
        current = env.value("product.category", current, "parent_id")
    return " / ".join(reversed(parts))


def _move_name(env: Env, rid: int) -> str:
    row = env.db.table("account.move")[rid]
    if row["state"] == "posted":
        return str(row["name"])
    kind = {"out_invoice": "Invoice", "out_refund": "Credit Note"}.get(row["move_type"], "Entry")
    return f"Draft {kind} {row['name']}" if row["name"] != "/" else f"Draft {kind} (* {rid})"


def _xmlid_name(env: Env, rid: int) -> str:
    row = env.db.table("ir.model.data")[rid]
    return f"{row['module']}.{row['name']}"


BEHAVIOUR = Behaviour(
    before_create={
        "ir.model": live_schema.model_checked,
        "ir.model.fields": live_schema.field_checked,
        "res.users": lambda env, vals: _user_checked(env, vals),
        "resource.calendar": _calendar_defaults,
        "sale.order.line": lambda env, vals: _line_defaults(env, vals, "name"),
        "account.move.line": lambda env, vals: _line_defaults(env, vals, "name"),
        "account.payment.register": payment_wizard_defaults,
    },
    before_write={
        "ir.model.fields": live_schema.field_changed,
        "res.users": lambda env, ids, vals: _user_checked(env, vals, ids),
    },
    after_save={
        "account.move": _move_saved,
        "account.move.line": _move_line_saved,
        "sale.order": _order_saved,
        "sale.order.line": _order_line_saved,
        "calendar.event": _event_saved,
        "res.partner": _partner_saved,
        "res.users": _user_saved,
        "ir.model": live_schema.model_saved,
        "ir.model.fields": live_schema.field_saved,
    },
    before_unlink={
        "account.move": _refuse_posted,
        "ir.model": live_schema.model_refused,
        "ir.model.fields": live_schema.field_refused,
    },
    after_unlink={
        "ir.model": live_schema.models_dropped,
        "ir.model.fields": live_schema.fields_dropped,
        "product.product": _templates_orphaned,
        "account.move.line": _unlinked_lines("account.move", "move_id", _move_saved),
        "sale.order.line": _unlinked_lines("sale.order", "order_id", _order_saved),
    },
    display={
        "product.product": _product_name,
        "product.category": _category_name,
        "account.move": _move_name,
        "ir.model.fields": live_schema.field_name,
        "ir.model.data": _xmlid_name,
    },
)
