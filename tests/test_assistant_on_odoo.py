"""The assistant end to end through `POST /api/v1/chat` with the clinic's Odoo as its practice
system (PRACTICE_BACKEND=odoo, the Odoo 17 stand-in holding the demo clinic): booking,
rescheduling, cancelling, invoices and the patient's record, in Hebrew and English, for both
architectures. The app database (conversations only) is SQLite: the engines are
tests/test_assistant_flows.py's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from serving.app import create_app
from serving.db.engine import Database
from tests.asgi import running
from tests.assistant_client import DANA_PHONE, INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.chat_app import ARCHITECTURES, CLINIC_MORNING, LANGUAGES
from tests.clinic_time import CLINIC_TZ, today_from
from tests.conftest import make_settings
from tests.odoo_stand_in import OdooStandIn
from tests.practice_backends import SeededStandIns, odoo_stand_ins_fixture  # noqa: F401
from tests.test_assistant_flows import PHRASES
from tests.test_patient_record import ASK, DANAS_NOTE_FOR_HER, DANAS_STAFF_NOTE, kinds

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


@pytest.fixture
def odoo(odoo_stand_ins: SeededStandIns) -> OdooStandIn:
    return odoo_stand_ins.demo("17.0")


@pytest.fixture(params=ARCHITECTURES)
async def client(
    request: pytest.FixtureRequest, odoo: OdooStandIn, database_url: str, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url,
        integration_key=INTEGRATION_KEY,
        agent_architecture=request.param,
        **odoo.app_settings(),
    )
    app = create_app(settings, database=database, clock=today_from(CLINIC_MORNING))
    async with running(app) as http:
        yield http


def patient(client: httpx.AsyncClient, phone: str) -> Patient:
    return Patient(client, user_id=f"user-{uuid.uuid4().hex[:8]}", phone=phone)


def events_of(odoo: OdooStandIn, phone: str) -> list[dict[str, Any]]:
    """The patient's appointments in Odoo, as reception sees them there."""
    [partner] = odoo.execute_kw("res.partner", "search", [[("phone", "=", phone)]])
    rows: list[dict[str, Any]] = odoo.execute_kw(
        "calendar.event",
        "search_read",
        [[("partner_ids", "in", [partner])]],
        {"fields": ["start", "categ_ids"], "order": "start"},
    )
    return rows


@pytest.mark.parametrize("language", LANGUAGES)
async def test_booking_rescheduling_and_cancelling(
    client: httpx.AsyncClient, odoo: OdooStandIn, language: str
) -> None:
    john = patient(client, JOHN_PHONE)
    before = events_of(odoo, JOHN_PHONE)
    offered = await john.send(PHRASES["book_cleaning"][language])
    proposal = await john.press(offered, "slot:")
    assert events_of(odoo, JOHN_PHONE) == before, "nothing booked before confirm"
    booked = await john.press(proposal, "confirm:")
    assert "booked" in [a["type"] for a in booked["actions"]]
    [new] = [e for e in events_of(odoo, JOHN_PHONE) if e not in before]

    offered = await john.send(PHRASES["reschedule"][language])
    moved = await john.press(await john.press(offered, "slot:"), "confirm:")
    assert "rescheduled" in [a["type"] for a in moved["actions"]]
    [after_move] = [e for e in events_of(odoo, JOHN_PHONE) if e["id"] == new["id"]]
    assert after_move["start"] != new["start"]

    asked = await john.send(PHRASES["cancel"][language])
    done = await john.press(asked, "confirm:")
    assert "cancelled" in [a["type"] for a in done["actions"]]
    assert events_of(odoo, JOHN_PHONE) == before, "the cancelled visit is archived in Odoo"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_invoices_and_appointments_come_from_odoo(
    client: httpx.AsyncClient, odoo: OdooStandIn, language: str
) -> None:
    dana = patient(client, DANA_PHONE)
    balance = await dana.send(PHRASES["balance"][language])
    assert "INV/2026/0042" in balance["reply"] and "450.00" in balance["reply"]
    details = await dana.send(PHRASES["invoice"][language])
    assert "Filling (tooth 36)" in details["reply"]
    mine = await dana.send(PHRASES["my_appointments"][language])
    assert mine["intent"] == "my_appointments"
    [visit] = events_of(odoo, DANA_PHONE)
    starts = datetime.strptime(visit["start"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert starts.astimezone(CLINIC_TZ).strftime("%H:%M") in mine["reply"]
    john = patient(client, JOHN_PHONE)
    other = await john.send(PHRASES["invoice"][language])
    assert "450" not in other["reply"] and "Filling" not in other["reply"]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_patients_record_comes_from_odoo(
    client: httpx.AsyncClient, language: str
) -> None:
    """The plan (a confirmed sale order), the allergies (the clinic's x_dental_allergy model)
    and the notes meant for the patient (chatter messages that are not internal notes)."""
    dana = patient(client, DANA_PHONE)
    plan = await dana.send(ASK["plan"][language])
    assert plan["intent"] == "treatment_plan" and "treatment_plan" in kinds(plan), plan
    allergies = await dana.send(ASK["allergies"][language])
    assert "allergies" in kinds(allergies) and "penicillin" in allergies["reply"]
    notes = await dana.send(ASK["notes"][language])
    assert DANAS_NOTE_FOR_HER in notes["reply"]
    assert DANAS_STAFF_NOTE not in notes["reply"]
