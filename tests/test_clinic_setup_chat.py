"""Set-up changes reach patients through the chat API without a restart: the hours quoted,
the slots offered and the profile's answers follow the records; a clinic nobody has set up
starts, says how to set it up, and tells patients booking is not available yet. SQLite."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from serving.app import FIRST_RUN_MESSAGE, NO_ADMIN_MESSAGE, create_app
from serving.clinic_setup.records import ProfileChange
from serving.clinic_setup.service import ClinicSetup
from serving.clinic_setup.weekly import parse_hours
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.conftest import make_settings


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


@pytest.fixture
async def client(database_url: str, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    # The edits below are made beside the app, as by the CLI or another worker: with no copy
    # kept (CLINIC_SETUP_CACHE_SECONDS=0) the next turn reads them.
    settings = make_settings(
        database_url, integration_key=INTEGRATION_KEY, clinic_setup_cache_seconds=0
    )
    async with running(create_app(settings, database=database)) as http:
        yield http


def john(client: httpx.AsyncClient) -> Patient:
    """John, in a new conversation each time (nothing carried over from an earlier ask)."""
    return Patient(client, user_id=f"user-{uuid.uuid4().hex[:8]}", phone=JOHN_PHONE)


async def set_everyones_hours(database: Database, *hours: str) -> None:
    setup = ClinicSetup(database)
    for provider in await setup.providers():
        await setup.set_hours(str(provider.id), parse_hours(hours))


async def test_the_hours_quoted_follow_the_working_hours(
    client: httpx.AsyncClient, database: Database
) -> None:
    before = await john(client).send("what are your opening hours?")
    assert "We are open Sun-Thu 08:00-20:00, Fri 08:00-13:00." in before["reply"]
    await set_everyones_hours(database, "mon-wed 09:00-17:00", "thu 10:00-12:00")
    after = await john(client).send("what are your opening hours?")
    assert "We are open Mon-Wed 09:00-17:00, Thu 10:00-12:00." in after["reply"]
    assert "Sun-Thu" not in after["reply"]
    friday = await john(client).send("are you open on friday?")
    assert "On Friday the clinic is closed." in friday["reply"]


async def test_new_working_hours_change_the_slots_offered(
    client: httpx.AsyncClient, database: Database
) -> None:
    def offered_times(reply: dict[str, object]) -> set[str]:
        buttons = reply["buttons"]
        assert isinstance(buttons, list)
        texts = [b["text"] for b in buttons if b["data"].startswith("slot:")]
        assert texts, reply
        return {re.findall(r"\d\d:\d\d", text)[-1] for text in texts}

    before = offered_times(await john(client).send("I want to book a checkup"))
    assert all("08:00" <= t < "20:00" for t in before)
    await set_everyones_hours(database, "sun-thu 20:30-22:00")
    after = offered_times(await john(client).send("I want to book a checkup"))
    assert all("20:30" <= t < "22:00" for t in after), after


async def test_a_profile_edit_is_in_the_next_answer(
    client: httpx.AsyncClient, database: Database
) -> None:
    before = await john(client).send("where can I park?")
    assert "Herzl 10 car park" in before["reply"]
    await ClinicSetup(database).update_profile(ProfileChange(parking_en="Park on Dizengoff."))
    after = await john(client).send("where can I park?")
    assert "Park on Dizengoff." in after["reply"] and "Herzl 10" not in after["reply"]


async def test_a_clinic_not_set_up_starts_and_says_booking_is_not_available(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(empty_database_url)
    await upgrade_database(database.engine)
    settings = make_settings(empty_database_url, integration_key=INTEGRATION_KEY)
    caplog.set_level(logging.WARNING, logger="serving.app")
    try:
        async with running(create_app(settings, database=database)) as http:
            assert FIRST_RUN_MESSAGE in caplog.text and NO_ADMIN_MESSAGE in caplog.text
            assert (await http.get("/ready")).status_code == 200
            visitor = Patient(http, user_id="first-visitor", phone=None)
            reply = await visitor.send("I want to book an appointment")
            assert "Booking through this chat is not available yet" in reply["reply"]
            assert not reply["buttons"] or all(
                not b["data"].startswith(("treat:", "slot:")) for b in reply["buttons"]
            )
            hours = await visitor.send("what are your opening hours?")
            assert "not published yet" in hours["reply"]
    finally:
        await database.dispose()
