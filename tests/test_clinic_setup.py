"""The clinic's set-up without code: the service's checks (nothing written on a refusal), the
`dental clinic` and `dental patients import` commands, the YAML round trip, and the hours the
assistant quotes, written from the working hours. SQLite: nothing here differs by engine."""

from __future__ import annotations

import asyncio
import csv
import time as clock
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from serving.cli import app
from serving.clinic_setup.errors import KeptElsewhere, NotFound, SetupError
from serving.clinic_setup.records import (
    Closure,
    HoursWindow,
    ProfileChange,
    ProviderChange,
    ProviderIn,
    TreatmentIn,
)
from serving.clinic_setup.service import ClinicSetup
from serving.clinic_setup.weekly import format_hours, parse_hours
from serving.db import models as db
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.factory import booking_rules_from_settings
from serving.settings import Settings


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


@pytest.fixture
def setup(database: Database) -> ClinicSetup:
    return ClinicSetup(database)


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


def count(database_url: str, model: type[db.Base]) -> int:
    async def run() -> int:
        database = Database(database_url)
        try:
            async with database.read() as session:
                return int(await session.scalar(select(func.count()).select_from(model)) or 0)
        finally:
            await database.dispose()

    return asyncio.run(run())


# -- weekly hours as written -------------------------------------------------------------------


def test_hours_are_read_and_written_back_the_same() -> None:
    windows = parse_hours(["sun-thu 08:00-16:00", "fri 8:00-13:00", "mon 17:00-19:00"])
    assert [(w.day, f"{w.starts_at:%H:%M}") for w in windows[:3]] == [
        ("sun", "08:00"),
        ("mon", "08:00"),
        ("mon", "17:00"),
    ]
    assert format_hours(windows) == ["sun-thu 08:00-16:00", "mon 17:00-19:00", "fri 08:00-13:00"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (["xyz 08:00-16:00"], "not a day"),
        (["sun 8-16"], "cannot read"),
        (["sun 25:00-26:00"], "not a time"),
        (["sun 16:00-08:00"], "start must be before the end"),
        (["sun 09:00-09:00"], "start must be before the end"),
        (["thu-sun 08:00-12:00"], "runs backwards"),
        (["sun-tue 08:00-12:00", "mon 11:00-14:00"], "overlap"),
    ],
)
def test_bad_hours_are_refused_with_the_reason(spec: list[str], says: str) -> None:
    with pytest.raises(SetupError, match=says):
        parse_hours(spec)


# -- the service -------------------------------------------------------------------------------


async def test_providers_are_added_renamed_and_deactivated(setup: ClinicSetup) -> None:
    added = await setup.add_provider(
        ProviderIn(name="Dr. Noa Levi", name_he="ד״ר נועה לוי", role="dentist")
    )
    assert added.active and added.hours == [] and added.treatments == []
    with pytest.raises(SetupError, match="already called"):
        await setup.add_provider(ProviderIn(name="dr. noa levi", name_he="x", role="dentist"))
    renamed = await setup.update_provider(str(added.id), ProviderChange(name="Dr. Noa Levi-Cohen"))
    assert renamed.name == "Dr. Noa Levi-Cohen"
    hours = await setup.set_hours("Dr. Noa Levi-Cohen", parse_hours(["sun-tue 09:00-12:00"]))
    assert format_hours(hours.hours) == ["sun-tue 09:00-12:00"]
    assert not (await setup.deactivate_provider("ד״ר נועה לוי")).active
    with pytest.raises(NotFound):
        await setup.update_provider("Dr. Nobody", ProviderChange(role="hygienist"))


async def test_overlapping_hours_change_nothing(setup: ClinicSetup) -> None:
    before = {p.id: p.hours for p in await setup.providers()}
    provider = next(iter(before))
    overlapping = [
        HoursWindow(day="mon", starts_at=time(8), ends_at=time(12)),
        HoursWindow(day="mon", starts_at=time(11), ends_at=time(13)),
    ]
    with pytest.raises(SetupError, match="overlap"):
        await setup.set_hours(str(provider), overlapping)
    assert {p.id: p.hours for p in await setup.providers()} == before


async def test_treatments_name_their_performers_all_or_nothing(setup: ClinicSetup) -> None:
    providers = await setup.providers()
    sealant = TreatmentIn(
        code="Sealant_Kids",
        name="Whitening",
        name_he="הלבנה",
        duration_minutes=60,
        price="900",  # as an API body sends it
        providers=[providers[0].name, "Dr. Nobody"],
    )
    with pytest.raises(NotFound, match=r"Dr\. Nobody"):
        await setup.add_treatment(sealant)
    assert "sealant_kids" not in {t.code for t in await setup.treatments()}
    added = await setup.add_treatment(sealant.model_copy(update={"providers": [providers[0].name]}))
    assert (added.code, added.providers, added.currency) == (
        "sealant_kids",
        [providers[0].name],
        "ILS",
    )
    with pytest.raises(SetupError, match="already exists"):
        await setup.add_treatment(sealant)
    await setup.remove_treatment("sealant_kids")
    with pytest.raises(SetupError, match="used by appointments"):
        await setup.remove_treatment("checkup")


async def test_closures_and_the_profile(setup: ClinicSetup) -> None:
    day = date(2031, 3, 3)
    await setup.add_closure(Closure(day=day, reason="staff training"))
    with pytest.raises(SetupError, match="already a closed day"):
        await setup.add_closure(Closure(day=day, reason="again"))
    assert Closure(day=day, reason="staff training") in await setup.closures()
    await setup.remove_closure(day)
    with pytest.raises(NotFound):
        await setup.remove_closure(day)
    before = await setup.profile()
    with pytest.raises(SetupError, match="phone"):
        await setup.update_profile(ProfileChange(phone="12"))
    with pytest.raises(SetupError, match="together"):
        await setup.update_profile(ProfileChange(latitude=32.1))
    assert await setup.profile() == before
    after = await setup.update_profile(ProfileChange(phone="03-555-0111", parking_en="Street only"))
    assert after.profile.phone == "+97235550111" and after.profile.parking("en") == "Street only"
    assert after.profile.parking("he") == before.profile.parking("he")
    assert after.version == before.version + 1


async def test_a_clinic_not_set_up_needs_its_name_first(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        await upgrade_database(database.engine)
        setup = ClinicSetup(database)
        assert not (await setup.profile()).set_up
        with pytest.raises(SetupError, match="name first"):
            await setup.update_profile(ProfileChange(phone="03-555-0111"))
        saved = await setup.update_profile(ProfileChange(name_en="Bright Smile", name_he="חיוך"))
        assert saved.set_up and saved.profile.name("en") == "Bright Smile"
    finally:
        await database.dispose()


# -- the hours the assistant quotes --------------------------------------------------------------


async def test_the_hours_follow_the_working_hours(
    setup: ClinicSetup, backend: BuiltinPracticeBackend
) -> None:
    hours = await backend.clinic_hours()
    regular = [hours.regular(weekday) for weekday in range(7)]
    assert regular == [((time(8), time(20)),)] * 4 + [
        ((time(8), time(13)),),
        (),
        ((time(8), time(20)),),
    ]
    for provider in await setup.providers():
        await setup.set_hours(
            str(provider.id), parse_hours(["mon-wed 09:00-12:00", "fri 10:00-16:00"])
        )
    hours = await backend.clinic_hours()
    # Shabbat starts at 14:00 on Friday: the slot search offers nothing later, nor do the hours.
    assert hours.week() == [([0, 1, 2], ((time(9), time(12)),)), ([4], ((time(10), time(14)),))]
    await setup.add_closure(Closure(day=date(2031, 3, 3), reason="staff day"))  # a Monday
    assert (await backend.clinic_hours()).on(date(2031, 3, 3)) == ()
    assert (await backend.clinic_hours()).on(date(2031, 3, 10)) == ((time(9), time(12)),)


# -- the CLI and the whole clinic as YAML ------------------------------------------------------


def test_the_commands_set_the_clinic_up(operator_env: None, tmp_path: Path) -> None:
    result = dental("clinic", "providers", "add", "--name", "Dr. Tal Ben", "--name-he", "ד״ר טל בן")
    assert result.exit_code == 0, result.output
    result = dental(
        "clinic", "hours", "set", "Dr. Tal Ben", "sun-thu 08:00-16:00", "fri 08:00-12:00"
    )
    assert result.exit_code == 0 and "sun-thu 08:00-16:00, fri 08:00-12:00" in result.output
    result = dental(
        "clinic", "treatments", "add", "implant_consult", "--name", "Implant consultation",
        "--name-he", "ייעוץ שתלים", "--duration", "30", "--price", "250",
        "--provider", "Dr. Tal Ben",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = dental("clinic", "treatments", "list").output
    assert (
        "implant_consult  Implant consultation / ייעוץ שתלים  30 min  250.00 ILS  [Dr. Tal Ben]"
        in listed
    )
    assert dental("clinic", "closures", "add", "2031-03-03", "staff day").exit_code == 0
    assert "2031-03-03  staff day" in dental("clinic", "closures", "list").output
    assert dental("clinic", "profile", "set", "--parking-en", "Blue-white street").exit_code == 0
    assert "Blue-white street" in dental("clinic", "show").output
    assert dental("clinic", "providers", "remove", "Dr. Tal Ben").exit_code == 0
    assert "(inactive)" in dental("clinic", "providers", "list").output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["clinic", "hours", "set", "Dr. Avi Cohen", "mon 18:00-09:00"], "start must be before"),
        (["clinic", "hours", "set", "Dr. Nobody", "mon 08:00-09:00"], "no provider"),
        (["clinic", "providers", "add", "--name", "", "--name-he", "x"], "name"),
        (["clinic", "providers", "add", "--name", "A", "--name-he", "B", "--role", "nurse"],
         "role"),
        (["clinic", "treatments", "add", "x", "--name", "X", "--name-he", "X", "--duration", "2",
          "--price", "1"], "duration_minutes"),
        (["clinic", "treatments", "add", "x", "--name", "X", "--name-he", "X", "--duration", "20",
          "--price", "ten"], "price"),
        (["clinic", "closures", "add", "3 March", "staff day"], "not a date"),
        (["clinic", "closures", "add", "2031-03-03", "   "], "reason"),
        (["clinic", "profile", "set"], "nothing to set"),
        (["clinic", "profile", "set", "--urgent-line", "12"], "urgent_line"),
    ],
)  # fmt: skip
def test_a_bad_command_says_why_in_one_line_and_changes_nothing(
    operator_env: None, database_url: str, args: list[str], says: str
) -> None:
    before = dental("clinic", "export").output
    result = dental(*args)
    assert result.exit_code == 1
    assert says in result.output and "Traceback" not in result.output
    assert dental("clinic", "export").output == before


def test_export_then_import_changes_nothing(operator_env: None, tmp_path: Path) -> None:
    exported = tmp_path / "clinic.yaml"
    assert dental("clinic", "export", str(exported)).exit_code == 0
    data = yaml.safe_load(exported.read_text(encoding="utf-8"))
    assert data["profile"]["name"]["en"] == "Smile Dental Clinic"
    assert {"name", "name_he", "role", "active", "hours"} <= set(data["providers"][0])
    result = dental("clinic", "import", str(exported))
    assert result.exit_code == 0 and "nothing to change" in result.output
    assert dental("clinic", "export").output == exported.read_text(encoding="utf-8")


def test_an_import_is_checked_whole_before_anything_is_written(
    operator_env: None, tmp_path: Path
) -> None:
    exported = tmp_path / "clinic.yaml"
    dental("clinic", "export", str(exported))
    data = yaml.safe_load(exported.read_text(encoding="utf-8"))
    data["providers"][0]["hours"] = ["sun-thu 09:00-17:00"]
    data["profile"]["parking"]["en"] = "Changed"
    data["treatments"][0]["providers"] = ["Dr. Nobody"]  # the last part to be written is bad
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = dental("clinic", "import", str(bad))
    assert result.exit_code == 1 and "Dr. Nobody" in result.output
    assert dental("clinic", "export").output == exported.read_text(encoding="utf-8")
    data["treatments"][0]["providers"] = [data["providers"][0]["name"]]
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = dental("clinic", "import", str(bad))
    assert result.exit_code == 0, result.output
    assert "profile replaced" in result.output and "provider updated" in result.output
    assert "sun-thu 09:00-17:00" in dental("clinic", "providers", "list").output


def test_an_import_of_an_unreadable_file_says_so(operator_env: None, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("providers:\n  - name: A\n    role: surgeon\n", encoding="utf-8")
    result = dental("clinic", "import", str(wrong))
    assert result.exit_code == 1 and "providers.0" in result.output


# -- patients from a CSV file --------------------------------------------------------------------


def write_patients(path: Path, rows: int, bad: dict[int, dict[str, str]]) -> None:
    """`rows` patients; `bad` replaces cells of some, by row number (the header is row 1)."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["first_name", "last_name", "name_he", "phone", "email", "language", "date_of_birth"]
        )
        for number in range(2, rows + 2):
            row = {
                "first_name": f"First{number}",
                "last_name": f"Last{number}",
                "name_he": "",
                "phone": f"+9725{number:08d}",
                "email": f"p{number}@example.com" if number % 3 else "",
                "language": "en" if number % 2 else "he",
                "date_of_birth": "1980-05-17",
            }
            row.update(bad.get(number, {}))
            writer.writerow(row.values())


def test_a_bad_csv_names_every_bad_row_and_writes_nothing(
    operator_env: None, database_url: str, tmp_path: Path
) -> None:
    before = count(database_url, db.Patient)
    file = tmp_path / "patients.csv"
    bad = {
        17: {"phone": "7777"},
        2500: {"email": "not-an-email"},
        3000: {"phone": "+972500002000"},  # row 2000's phone
        4999: {"date_of_birth": "17/05/1980"},
    }
    write_patients(file, 5000, bad)
    result = dental("patients", "import", str(file))
    assert result.exit_code == 1
    assert "row 17: phone: not a valid phone number" in result.output
    assert "row 2500: email: not an e-mail address" in result.output
    assert "row 3000: phone: the same as row 2000" in result.output
    assert "row 4999: date_of_birth: not a date in the form YYYY-MM-DD" in result.output
    assert "4 problem(s) in 5000 rows; nothing was imported" in result.output
    assert "First17" not in result.output and "7777" not in result.output
    assert count(database_url, db.Patient) == before

    write_patients(file, 5000, {2: {"phone": "050-123-4567"}})  # Dana Levi's, already stored
    result = dental("patients", "import", str(file), "--dry-run")
    assert (
        result.exit_code == 1
        and "row 2: phone: a patient with it is already stored" in result.output
    )

    write_patients(file, 5000, {})
    result = dental("patients", "import", str(file), "--dry-run")
    assert result.exit_code == 0 and "5000 rows are valid; nothing written" in result.output
    assert count(database_url, db.Patient) == before
    started = clock.monotonic()
    result = dental("patients", "import", str(file))
    took = clock.monotonic() - started
    assert result.exit_code == 0 and "imported 5000 patients" in result.output
    assert count(database_url, db.Patient) == before + 5000
    assert took < 20, f"5,000 patients took {took:.1f} s"


def test_a_csv_with_wrong_columns_is_refused(operator_env: None, tmp_path: Path) -> None:
    file = tmp_path / "patients.csv"
    file.write_text("first_name,surname,phone\nA,B,+972501111111\n", encoding="utf-8")
    result = dental("patients", "import", str(file))
    assert result.exit_code == 1
    assert (
        "unknown column 'surname'" in result.output
        and "missing column 'last_name'" in result.output
    )


async def test_a_process_sees_its_own_set_up_changes_at_once_and_others_within_its_cache(
    database: Database, settings: Settings
) -> None:
    """Providers are read on nearly every turn, so a serving process keeps a copy: a change
    made through its own set-up service drops the copy at once; one made by another process
    (the CLI) shows once the copy is older than CLINIC_SETUP_CACHE_SECONDS, or forgotten."""
    backend = BuiltinPracticeBackend(
        database, booking_rules_from_settings(settings), setup_cache_seconds=3600
    )
    own = ClinicSetup(database, on_change=backend.forget_setup)
    other = ClinicSetup(database)
    before = {p.name for p in await backend.list_providers()}
    await other.add_provider(
        ProviderIn(name="Dr. Other Process", name_he="ד״ר אחר", role="dentist")
    )
    assert {p.name for p in await backend.list_providers()} == before, "the copy is kept"
    await own.add_provider(ProviderIn(name="Dr. This Process", name_he="ד״ר זה", role="dentist"))
    assert {p.name for p in await backend.list_providers()} == before | {
        "Dr. Other Process",
        "Dr. This Process",
    }
    uncached = BuiltinPracticeBackend(database, booking_rules_from_settings(settings))
    await other.deactivate_provider("Dr. Other Process")
    assert "Dr. Other Process" not in {p.name for p in await uncached.list_providers()}


# -- a clinic whose schedule lives in its own Odoo ---------------------------------------------


async def test_a_clinic_on_odoo_changes_its_schedule_there_and_only_its_profile_here(
    database: Database,
) -> None:
    setup = ClinicSetup(database, schedule_kept_in="Odoo")
    refusals = [
        setup.providers(),
        setup.add_closure(Closure(day=date(2031, 3, 3), reason="staff day")),
        setup.treatments(),
        setup.export_clinic(),
    ]
    for refused in refusals:
        with pytest.raises(KeptElsewhere, match="kept in Odoo: change them there"):
            await refused
    async with database.read() as session:
        assert not await session.scalar(select(func.count()).select_from(db.ClinicClosure))
    assert (await setup.profile()).set_up


def test_the_commands_send_a_clinic_on_odoo_to_odoo(
    operator_env: None, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRACTICE_BACKEND", "odoo")
    file = tmp_path / "patients.csv"
    file.write_text("first_name,last_name,phone\nTal,Ben,+972501111111\n", encoding="utf-8")
    closures = count(database_url, db.ClinicClosure)
    patients = count(database_url, db.Patient)
    for command in (
        ("clinic", "providers", "list"),
        ("clinic", "closures", "add", "2031-03-03", "staff day"),
        ("patients", "import", str(file)),
    ):
        result = dental(*command)
        assert result.exit_code == 1, command
        assert "kept in Odoo: change them there" in result.output
    assert count(database_url, db.ClinicClosure) == closures
    assert count(database_url, db.Patient) == patients
