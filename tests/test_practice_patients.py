"""Phone numbers in E.164 form, and the built-in demo clinic's patients. What every backend
does with patients, invoices and notes is tests/test_practice_contract.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from serving.db import models as db
from serving.db.engine import Database
from serving.practice import InvalidRequest
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


async def test_demo_clinic_has_twenty_bilingual_patients(database: Database) -> None:
    async with database.transaction() as session:
        patients = (await session.scalars(select(db.Patient))).all()
    assert len(patients) >= 20
    assert {p.language for p in patients} == {"he", "en"}
