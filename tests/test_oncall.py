"""The on-call rota: `dental oncall add|list|remove`, weekly shifts (overnight ones too), the
fallback dentist, and who is alerted at a given moment. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from serving.cli import app
from serving.db.engine import Database
from serving.escalation.rota import OnCallRota, RotaError, Shift, parse_shift

CLINIC = ZoneInfo("Asia/Jerusalem")


@pytest.fixture
def operator_env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    yield


def dental(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def on_call_at(database_url: str, local: datetime) -> list[str]:
    async def names() -> list[str]:
        database = Database(database_url)
        try:
            rota = OnCallRota(database, timezone="Asia/Jerusalem")
            return [d.name for d in await rota.on_call(local.replace(tzinfo=CLINIC))]
        finally:
            await database.dispose()

    return asyncio.run(names())


def test_a_shift_names_its_days_and_hours() -> None:
    week = parse_shift("Sun-Thu 8:00-18:00")
    assert [s.weekday for s in week] == [6, 0, 1, 2, 3]
    assert {(s.starts, s.ends) for s in week} == {(time(8), time(18))}
    assert [s.weekday for s in parse_shift("fri-sun 20:00-08:00")] == [4, 5, 6]
    for bad in ("someday 08:00-18:00", "mon 8-18", "mon 25:00-26:00", "mon 09:00-09:00", ""):
        with pytest.raises(RotaError):
            parse_shift(bad)


def test_an_overnight_shift_covers_the_small_hours_of_the_next_day() -> None:
    [friday_night] = parse_shift("fri 18:00-08:00")
    friday_evening = datetime(2026, 12, 11, 22, 0, tzinfo=CLINIC)  # a Friday
    saturday_dawn = datetime(2026, 12, 12, 7, 59, tzinfo=CLINIC)
    saturday_morning = datetime(2026, 12, 12, 8, 0, tzinfo=CLINIC)
    friday_noon = datetime(2026, 12, 11, 12, 0, tzinfo=CLINIC)
    assert friday_night.covers(friday_evening)
    assert friday_night.covers(saturday_dawn)
    assert not friday_night.covers(saturday_morning)
    assert not friday_night.covers(friday_noon)
    assert Shift(0, time(8), time(16)).label() == "mon 08:00-16:00"


@pytest.mark.usefixtures("operator_env")
def test_the_demo_clinic_has_its_on_call_dentist() -> None:
    listed = dental("oncall", "list")

    assert listed.exit_code == 0, listed.output
    assert "Dr. Avi Cohen (fallback)" in listed.output
    assert "doctor@smile-clinic.example" in listed.output
    assert "+972500000001" in listed.output
    assert "telegram 9001" in listed.output


@pytest.mark.usefixtures("operator_env")
def test_shifts_decide_who_is_alerted_and_the_fallback_covers_the_gaps(
    database_url: str,
) -> None:
    added = dental(
        "oncall", "add", "--name", "Dr. Rivka Mizrahi", "--email", "Rivka@Smile-Clinic.example",
        "--phone", "052-765-4321", "--language", "en", "--shift", "sun-thu 08:00-18:00",
        "--shift", "fri 18:00-08:00",
    )  # fmt: skip

    assert added.exit_code == 0, added.output
    assert "rivka@smile-clinic.example  +972527654321" in added.output
    tuesday_morning = datetime(2026, 12, 8, 10, 0)
    saturday_dawn = datetime(2026, 12, 12, 3, 0)
    tuesday_night = datetime(2026, 12, 8, 23, 0)
    assert on_call_at(database_url, tuesday_morning) == ["Dr. Rivka Mizrahi"]
    assert on_call_at(database_url, saturday_dawn) == ["Dr. Rivka Mizrahi"]
    assert on_call_at(database_url, tuesday_night) == ["Dr. Avi Cohen"]  # the fallback

    removed = dental("oncall", "remove", "dr.nobody@example.com")
    assert removed.exit_code == 1 and "no dentist" in removed.output
    assert dental("oncall", "remove", "doctor@smile-clinic.example").exit_code == 0
    assert on_call_at(database_url, tuesday_night) == []  # a gap nobody covers
    assert "warning: no fallback dentist" in dental("oncall", "list").output


@pytest.mark.usefixtures("operator_env")
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--email", "not-an-address", "--phone", "+972521111111"], "not a valid e-mail"),
        (["--email", "a@b.example", "--phone", "12"], "not a valid phone number"),
        (["--email", "doctor@smile-clinic.example", "--phone", "+972521111111"], "already on"),
        (["--email", "a@b.example", "--phone", "+972521111111", "--shift", "mon"], "shift"),
        (["--email", "a@b.example", "--phone", "+972521111111", "--language", "fr"], "language"),
    ],
)
def test_a_bad_rota_entry_is_refused_clearly_and_changes_nothing(
    options: list[str], message: str
) -> None:
    before = dental("oncall", "list").output

    refused = dental("oncall", "add", "--name", "Dr. Test", *options)

    assert refused.exit_code == 1
    assert message in refused.output
    assert "Traceback" not in refused.output
    assert dental("oncall", "list").output == before


def test_with_no_shifts_at_all_every_dentist_on_the_rota_is_alerted(database: Database) -> None:
    async def check() -> list[str]:
        rota = OnCallRota(database, timezone="Asia/Jerusalem")
        await rota.remove("doctor@smile-clinic.example")
        await rota.add(name="Dr. A", email="a@x.example", phone="+972521111111")
        await rota.add(name="Dr. B", email="b@x.example", phone="+972521111112")
        return [d.name for d in await rota.on_call(datetime(2026, 12, 8, 20, 0, tzinfo=UTC))]

    assert asyncio.run(check()) == ["Dr. A", "Dr. B"]
