"""Patients, invoices, notes and the demo clinic's fixed records, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from serving.db import models as db
from serving.db.engine import Database
from serving.practice import InvalidRequest, InvoiceNotFound, PatientNotFound
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.phone import normalize_phone

DANA_PHONE = "+972501234567"
JOHN_PHONE = "+12025550143"


@pytest.mark.parametrize(
    "raw",
    ["050-123-4567", "0501234567", "+972 50 123 4567", "00972501234567", "(050) 1234567"],
)
def test_israeli_forms_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == DANA_PHONE


def test_foreign_number_keeps_its_country() -> None:
    assert normalize_phone("+1 (202) 555-0143") == JOHN_PHONE


@pytest.mark.parametrize(
    "raw", ["", "   ", "12", "abc", "050-12", "+97250", "1" * 40, "05O1234567"]
)
def test_malformed_phone_is_refused_without_echoing_it(raw: str) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        normalize_phone(raw)
    # One fixed message per kind of fault: the (possibly personal) input is never echoed.
    assert str(excinfo.value) in {
        "not a valid phone number: use the international form (+972501234567) "
        "or the Israeli local form (050-123-4567)",
        "a phone number is required (at most 32 characters)",
    }


async def test_demo_clinic_has_its_fixed_records(backend: BuiltinPracticeBackend) -> None:
    [dana] = await backend.search_patient(phone=DANA_PHONE)
    assert (dana.full_name, dana.name_he, dana.language) == ("Dana Levi", "דנה לוי", "he")
    assert [a.substance for a in await backend.get_patient_allergies(dana.id)] == ["penicillin"]
    [dana_invoice] = await backend.get_patient_invoices(dana.id)
    assert dana_invoice.number == "INV/2026/0042"
    assert dana_invoice.amount_total == Decimal("450.00")
    assert (dana_invoice.status, dana_invoice.currency) == ("unpaid", "ILS")
    assert len(await backend.list_patient_appointments(dana.id)) == 1

    [john] = await backend.search_patient(phone=JOHN_PHONE)
    assert (john.full_name, john.language) == ("John Smith", "en")
    [john_invoice] = await backend.get_patient_invoices(john.id)
    assert (john_invoice.number, john_invoice.amount_total) == ("INV/2026/0017", Decimal("1200"))
    assert john_invoice.status == "paid"
    assert await backend.list_patient_appointments(john.id) == []

    providers = await backend.list_providers()
    assert len(providers) >= 3
    assert any("Cohen" in p.name and "כהן" in p.name_he for p in providers)
    assert {t.code for t in await backend.list_treatment_types()} == {
        "cleaning",
        "checkup",
        "filling",
        "root_canal",
        "extraction",
        "whitening",
        "implant_consultation",
        "emergency_visit",
    }


async def test_demo_clinic_has_twenty_bilingual_patients(database: Database) -> None:
    async with database.transaction() as session:
        patients = (await session.scalars(select(db.Patient))).all()
    assert len(patients) >= 20
    assert {p.language for p in patients} == {"he", "en"}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"phone": "050-123-4567"}, ["Dana Levi"]),
        ({"name": "levi"}, ["Dana Levi"]),
        ({"name": "דנה"}, ["Dana Levi"]),
        ({"name": "john SMITH"}, ["John Smith"]),
        ({"email": "John.Smith@Example.com"}, ["John Smith"]),
        ({"name": "Dana", "phone": JOHN_PHONE}, []),
        ({"phone": "+972599999999"}, []),
    ],
)
async def test_search_patient(
    backend: BuiltinPracticeBackend, criteria: dict[str, str], expected: list[str]
) -> None:
    assert [p.full_name for p in await backend.search_patient(**criteria)] == expected


@pytest.mark.parametrize(
    "criteria", [{}, {"name": "  "}, {"name": "x" * 121}, {"email": "not-an-email"}, {"phone": "1"}]
)
async def test_bad_search_is_refused(
    backend: BuiltinPracticeBackend, criteria: dict[str, str]
) -> None:
    with pytest.raises(InvalidRequest):
        await backend.search_patient(**criteria)


async def test_unknown_patient_is_a_typed_error(backend: BuiltinPracticeBackend) -> None:
    with pytest.raises(PatientNotFound, match="no patient with id 999999"):
        await backend.get_patient_invoices(999_999)
    with pytest.raises(PatientNotFound):
        await backend.add_patient_note(999_999, "hello", author="test")


async def test_invoice_details_only_for_its_own_patient(backend: BuiltinPracticeBackend) -> None:
    [dana] = await backend.search_patient(phone=DANA_PHONE)
    [john] = await backend.search_patient(phone=JOHN_PHONE)
    details = await backend.get_invoice_details(dana.id, " inv/2026/0042 ")
    assert details.amount_due == Decimal("450.00")
    assert [(line.description, line.subtotal) for line in details.lines] == [
        ("Filling (tooth 36)", Decimal("450.00"))
    ]
    with pytest.raises(InvoiceNotFound):
        await backend.get_invoice_details(john.id, "INV/2026/0042")
    with pytest.raises(InvalidRequest):
        await backend.get_invoice_details(john.id, "")


async def test_notes_and_treatment_plan(backend: BuiltinPracticeBackend) -> None:
    [dana] = await backend.search_patient(phone=DANA_PHONE)
    before = await backend.get_patient_notes(dana.id)
    note = await backend.add_patient_note(dana.id, "  Prefers SMS reminders. ", author="reception")
    assert note.body == "Prefers SMS reminders."
    assert await backend.get_patient_notes(dana.id) == [*before, note]
    plan = await backend.get_treatment_plan(dana.id)
    assert plan is not None and plan.status == "active"
    assert [(i.tooth, i.status) for i in plan.items] == [("36", "done"), ("37", "planned")]
    [john] = await backend.search_patient(phone=JOHN_PHONE)
    assert await backend.get_treatment_plan(john.id) is None


@pytest.mark.parametrize(
    ("body", "author"), [("", "reception"), ("   ", "reception"), ("x" * 4001, "r"), ("ok", " ")]
)
async def test_bad_note_writes_nothing(
    backend: BuiltinPracticeBackend, database: Database, body: str, author: str
) -> None:
    [dana] = await backend.search_patient(phone=DANA_PHONE)
    async with database.transaction() as session:
        before = await session.scalar(select(func.count()).select_from(db.PatientNote))
    with pytest.raises(InvalidRequest):
        await backend.add_patient_note(dana.id, body, author=author)
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(db.PatientNote)) == before
