"""Odoo's values as the practice boundary's records, and back.

On the wire an empty field is `false`, a many2one is `[id, "display name"]`, a datetime is a
naive "YYYY-MM-DD HH:MM:SS" in UTC and html fields are html.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

from serving.practice import models as rec
from serving.practice.errors import InvalidRequest, PracticeUnavailable
from serving.practice.odoo.mapping import OdooMapping
from serving.practice.phone import normalize_phone

Row = dict[str, Any]
ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
SIGNATURE = "— "
"""Starts the last paragraph of a note the assistant wrote: who it was written for/by."""
_BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_EMPTY_LINES = re.compile(r"\n{3,}")


def value(raw: Any) -> Any:
    """Odoo's `false` for an empty (non-boolean) field as None."""
    return None if raw is False else raw


def text(raw: Any) -> str | None:
    """A char/text field, None when empty."""
    if raw is False or raw is None:
        return None
    return str(raw).strip() or None


def ref_id(raw: Any) -> int | None:
    """The id of a many2one value (`[id, name]` or `false`)."""
    return int(raw[0]) if isinstance(raw, list | tuple) and raw else None


def ref_name(raw: Any) -> str:
    """The display name of a many2one value ("" when empty)."""
    return str(raw[1]) if isinstance(raw, list | tuple) and len(raw) > 1 else ""


def utc(raw: Any) -> datetime:
    """An Odoo datetime as an aware datetime in UTC."""
    return datetime.strptime(str(raw), ODOO_DATETIME).replace(tzinfo=UTC)


def odoo_datetime(moment: datetime) -> str:
    """An aware datetime as Odoo writes it (naive UTC)."""
    return moment.astimezone(UTC).strftime(ODOO_DATETIME)


def day(raw: Any) -> date | None:
    return date.fromisoformat(str(raw)[:10]) if raw else None


def hours(raw: Any) -> time:
    """An attendance's float hour (8.5 = 08:30) as a time; 24.0 is midnight, the day's last."""
    minutes = round(float(raw) * 60)
    if minutes >= 24 * 60:
        return time.max
    return time(minutes // 60, minutes % 60)


def money(raw: Any) -> Decimal:
    """A monetary or float value, to the cent (floats on the wire)."""
    return Decimal(str(raw or 0)).quantize(Decimal("0.01"))


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS and tag != "br":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(raw: Any) -> str:
    """The text of an html field (or of plain text, which Odoo 17+ stores escaped): line
    breaks kept, paragraphs apart by one empty line, spaces collapsed."""
    if not raw:
        return ""
    parser = _TextOf()
    parser.feed(str(raw))
    parser.close()
    lines = [_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return _EMPTY_LINES.sub("\n\n", text).strip("\n")


def text_html(*paragraphs: str) -> str:
    """Plain text as html paragraphs, each line break kept."""
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in paragraph.splitlines()) + "</p>"
        for paragraph in paragraphs
    )


# --- patients ---------------------------------------------------------------------------------


def patient(row: Row, mapping: OdooMapping, region: str) -> rec.Patient:
    first, _, last = str(row["name"] or "").strip().partition(" ")
    phones = patient_phones(row, mapping, region)
    return rec.Patient(
        id=row["id"],
        first_name=first,
        last_name=last.strip(),
        name_he=text(row.get("x_name_he")),
        phone=phones[0] if phones else "",
        email=text(row.get("email")),
        language="he" if str(row.get("lang") or "").startswith("he") else "en",
        date_of_birth=day(row.get("x_date_of_birth")),
    )


def patient_phones(row: Row, mapping: OdooMapping, region: str) -> list[str]:
    """The partner's phone numbers in E.164 form (any that is not a number is left out)."""
    phones: list[str] = []
    for field in mapping.phone_fields:
        raw = text(row.get(field))
        if raw is None:
            continue
        try:
            phones.append(normalize_phone(raw, region))
        except InvalidRequest:
            continue
    return phones


# --- invoices ---------------------------------------------------------------------------------


def is_refund(row: Row) -> bool:
    return row.get("move_type") == "out_refund"


def invoice_summary(row: Row) -> rec.InvoiceSummary:
    """An account.move; a refund's amounts are negative."""
    sign = -1 if is_refund(row) else 1
    total, residual = money(row["amount_total"]), money(row["amount_residual"])
    # Posting gives a customer invoice its date; the due date is the fallback for one without.
    due = day(row["invoice_date_due"])
    issued = day(row["invoice_date"]) or due
    if issued is None or due is None:
        raise PracticeUnavailable("an invoice in Odoo has neither a date nor a due date")
    return rec.InvoiceSummary(
        number=str(row["name"]),
        issued_on=issued,
        due_on=due,
        currency=ref_name(row["currency_id"]),
        amount_total=sign * total,
        amount_paid=sign * (total - residual),
    )


def invoice_line(row: Row, *, refund: bool) -> rec.InvoiceLine:
    quantity = float(row["quantity"] or 0)
    return rec.InvoiceLine(
        description=html_text(row["name"]) or "",
        quantity=round(quantity),
        unit_price=(-1 if refund else 1) * money(row["price_unit"]),
    )


# --- notes and allergies ----------------------------------------------------------------------


def note_body(body: str, author: str) -> str:
    """A note as the assistant posts it to the chatter: the text, then who wrote it. Plain
    text: Odoo 17+ escapes a posted body that is not markup, and shows it as written."""
    return f"{body}\n{SIGNATURE}{author}"


NOTE_FIELDS = ["body", "author_id", "date", "subtype_id", "is_internal"]


def note(row: Row, internal_subtypes: frozenset[int]) -> rec.PatientNote:
    """A chatter message; an author signed in the last line (`note_body`) is taken from there,
    else the message's author. It is for the patient only when its subtype is known and not
    internal and the message is not marked for employees only: a message without a subtype
    (as written through the ORM) is staff's."""
    body = html_text(row["body"])
    subtype = ref_id(row.get("subtype_id"))
    author = ref_name(row.get("author_id")) or "Odoo"
    lines = body.split("\n")
    if len(lines) > 1 and lines[-1].startswith(SIGNATURE):
        author, body = lines[-1][len(SIGNATURE) :].strip(), "\n".join(lines[:-1]).strip()
    return rec.PatientNote(
        id=row["id"],
        author=author,
        body=body,
        created_at=utc(row["date"]),
        for_patient=subtype is not None
        and subtype not in internal_subtypes
        and not row.get("is_internal"),
    )


_SEVERITY = re.compile(r"\(([^)]*)\)\s*$")


def allergies_text(raw: Any) -> list[rec.Allergy]:
    """Allergies written one per line as "substance: reaction (severity)" (reaction and
    severity optional)."""
    found: list[rec.Allergy] = []
    for line in html_text(raw).splitlines():
        entry = line.strip(" -•*\t")
        severity = _SEVERITY.search(entry)
        if severity:
            entry = entry[: severity.start()]
        substance, _, reaction = entry.partition(":")
        if not substance.strip():
            continue
        found.append(
            rec.Allergy(
                substance=substance.strip(),
                reaction=reaction.strip() or None,
                severity=(severity[1].strip().lower() if severity else "") or "unknown",
            )
        )
    return found


def allergy(row: Row) -> rec.Allergy:
    return rec.Allergy(
        substance=str(row["x_name"]).strip(),
        reaction=text(row.get("x_reaction")),
        severity=(text(row.get("x_severity")) or "unknown").lower(),
    )
