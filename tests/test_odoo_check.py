"""`dental odoo check` against the Odoo stand-in: what it reads from, what the assistant's
user may not do, what is missing, each with its fix, and one-line failures; and the word the
service says of its Odoo at start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from serving.app import create_app
from serving.cli import app
from serving.db.engine import Database
from serving.practice.odoo.connection import OdooConnection
from serving.practice.odoo.seed import seed_demo_clinic
from tests.asgi import running
from tests.conftest import make_settings
from tests.odoo_stand_in import OdooStandIn, running_odoo
from tests.practice_backends import admin_address, demo_data, today


@pytest.fixture(scope="module")
def seeded_odoo() -> Iterator[OdooStandIn]:
    with running_odoo("17.0") as odoo:
        seed_demo_clinic(
            OdooConnection(admin_address(odoo), timeout=30), demo_data(), today=today()
        )
        yield odoo


@pytest.fixture
def clinic_odoo(seeded_odoo: OdooStandIn) -> Iterator[OdooStandIn]:
    state = seeded_odoo.snapshot()
    yield seeded_odoo
    seeded_odoo.restore(state)


def as_assistant(odoo: OdooStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("ODOO_URL", odoo.url)
    monkeypatch.setenv("ODOO_DB", odoo.database)
    monkeypatch.setenv("ODOO_USERNAME", odoo.api_login)
    monkeypatch.setenv("ODOO_API_KEY", odoo.api_key)


def check(stdin: str | None = None, *args: str) -> Result:
    return CliRunner().invoke(app, ["odoo", "check", *args], input=stdin)


def test_a_seeded_odoo_is_ready_and_says_where_everything_is_read_from(
    clinic_odoo: OdooStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_assistant(clinic_odoo, monkeypatch, tmp_path)

    result = check()

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"Odoo {clinic_odoo.version}")
    assert f"as {clinic_odoo.api_login}" in lines[0]
    assert "  patients          Contacts by phone and mobile, e-mail, name" in lines
    assert "  allergies         the model x_dental_allergy" in lines
    assert "  treatment plans   Sales quotations and orders (tooth: x_tooth)" in lines
    assert any(line.startswith("Providers (3): Dr. Avi Cohen (dentist)") for line in lines)
    assert any(line.startswith("Treatments (8): cleaning, checkup") for line in lines)
    assert "Missing" not in result.output
    assert lines[-1] == "Ready."
    assert clinic_odoo.api_key not in result.output


def test_a_fresh_odoo_names_what_is_missing_with_the_fix_and_cannot_book(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with running_odoo("19.0") as odoo:
        as_assistant(odoo, monkeypatch, tmp_path)

        result = check()

    assert result.exit_code == 1
    assert "  patients          Contacts by phone, e-mail, name" in result.output  # no mobile
    assert "  allergies         nowhere" in result.output
    assert (
        "  - allergies: the assistant cannot tell a patient which allergies are on file. "
        "Fix: create the model x_dental_allergy"
    ) in result.output
    assert (
        "  - treatment durations: every treatment is booked for 30 minutes. "
        "Fix: add an Integer field x_duration_minutes to Products"
    ) in result.output
    assert "no providers: tag the dentists" in result.output
    assert "no treatments: put the bookable services" in result.output
    assert "Not ready." in result.output
    assert result.output.splitlines()[-1].startswith("Error: the assistant cannot work")


def test_a_right_the_assistant_lacks_is_named_with_its_fix(
    clinic_odoo: OdooStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_assistant(clinic_odoo, monkeypatch, tmp_path)
    clinic_odoo.deny("account.move", "read")
    clinic_odoo.deny("calendar.event", "create")
    try:
        result = check()
    finally:
        clinic_odoo.allow("account.move", "read")
        clinic_odoo.allow("calendar.event", "create")

    assert result.exit_code == 1
    assert "Refused:" in result.output
    assert (
        "may not read account.move: the Odoo user assistant@smile-clinic.example may not read"
        in result.output
    )
    assert "may not create calendar.event: give the user the Calendar rights" in result.output


def test_working_schedules_the_assistant_would_misread_are_problems(
    clinic_odoo: OdooStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_assistant(clinic_odoo, monkeypatch, tmp_path)
    calendars = clinic_odoo.execute_kw("resource.calendar", "search", [[]])
    clinic_odoo.execute_kw(
        "resource.calendar",
        "write",
        [calendars, {"tz": "Europe/Paris", "two_weeks_calendar": True}],
    )

    result = check()

    assert result.exit_code == 1, result.output
    assert "is in the time zone Europe/Paris, not the clinic's Asia/Jerusalem" in result.output
    assert "alternates two weeks" in result.output
    assert "Not ready." in result.output


def test_a_missing_calendar_tag_the_user_may_not_create_is_a_problem(
    clinic_odoo: OdooStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_assistant(clinic_odoo, monkeypatch, tmp_path)
    clinic_odoo.deny("calendar.event.type", "create")
    clinic_odoo.deny("res.partner.category", "read")
    try:
        with_every_tag = check()
        clinic_odoo.allow("res.partner.category", "read")
        tags = clinic_odoo.execute_kw("calendar.event.type", "search", [[("name", "=", "filling")]])
        clinic_odoo.execute_kw("calendar.event.type", "unlink", [tags])
        without_one = check()
    finally:
        clinic_odoo.allow("calendar.event.type", "create")
        clinic_odoo.allow("res.partner.category", "read")

    assert "may not read res.partner.category" in with_every_tag.output
    assert "calendar tag" not in with_every_tag.output
    assert without_one.exit_code == 1
    assert "no calendar tag for filling, and the user may not create" in without_one.output


@pytest.mark.parametrize(
    ("stdin", "env", "message"),
    [
        ("wrong-key\n", {}, "refused assistant@smile-clinic.example with that API key"),
        (None, {"ODOO_URL": "http://127.0.0.1:9"}, "is unreachable"),
        (None, {"ODOO_USERNAME": ""}, "set ODOO_USERNAME (--login)"),
    ],
)
def test_a_check_that_cannot_connect_fails_in_one_line(
    clinic_odoo: OdooStandIn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    stdin: str | None,
    env: dict[str, str],
    message: str,
) -> None:
    as_assistant(clinic_odoo, monkeypatch, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = check(stdin, *(("--api-key-stdin",) if stdin else ()))

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        line for line in result.output.strip().splitlines() if line.startswith("Error: ")
    ]
    assert message in result.output and "Traceback" not in result.output


# -- the word at start-up ----------------------------------------------------------------------


async def _start_and_listen(
    settings_overrides: dict[str, object], database_url: str, caplog: pytest.LogCaptureFixture
) -> list[str]:
    """Start the app on the clinic's Odoo and return what serving.app said of it."""
    settings = make_settings(
        database_url,
        practice_backend="odoo",
        odoo_db="dental",
        odoo_username="assistant@smile-clinic.example",
        **settings_overrides,
    )
    database = Database(database_url)
    said: list[str] = []
    try:
        with caplog.at_level(logging.INFO, logger="serving.app"):
            async with running(create_app(settings, database=database)):
                for _ in range(100):
                    said = [
                        r.getMessage()
                        for r in caplog.records
                        if r.name == "serving.app" and "Odoo" in r.getMessage()
                    ]
                    if said:
                        break
                    await asyncio.sleep(0.05)
    finally:
        await database.dispose()
    return said


async def test_start_up_says_what_the_clinics_odoo_lacks(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with running_odoo("19.0") as odoo:
        said = await _start_and_listen(
            {"odoo_url": odoo.url, "odoo_api_key": odoo.api_key}, database_url, caplog
        )

    assert said[0] == f"practice system: Odoo {odoo.version} at 127.0.0.1"
    assert any(line.startswith("Odoo lacks allergies: ") for line in said), said
    assert all(odoo.api_key not in line for line in said)


async def test_start_up_goes_on_while_odoo_is_down_and_says_so(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    said = await _start_and_listen(
        {"odoo_url": "http://127.0.0.1:9", "odoo_api_key": "not-a-real-key"}, database_url, caplog
    )

    assert said == [
        "the clinic's Odoo is not usable yet: Odoo at 127.0.0.1 is unreachable "
        "(URLError); try again shortly"
    ], said
