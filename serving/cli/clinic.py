"""`dental clinic ...`: the clinic's set-up without code (providers, working hours,
treatments, closures, the public profile, the whole clinic as YAML); `dental patients
import`: patients from a CSV file (docs/CLINIC_SETUP.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml

from serving.cli.support import fail, on_migrated_database
from serving.clinic_setup.errors import KeptElsewhere, SetupError, validated
from serving.clinic_setup.patients_import import (
    COLUMNS,
    PatientsReport,
    import_patients,
    read_rows,
)
from serving.clinic_setup.records import (
    ClinicFile,
    Closure,
    ProfileChange,
    ProviderChange,
    ProviderIn,
    ProviderOut,
    TreatmentChange,
    TreatmentIn,
    TreatmentOut,
)
from serving.clinic_setup.service import ClinicSetup
from serving.clinic_setup.weekly import format_hours, parse_hours
from serving.db.engine import Database
from serving.practice.factory import schedule_kept_in
from serving.settings import Settings

T = TypeVar("T")

clinic_app = typer.Typer(
    help="Set the clinic up: providers, working hours, treatments, closed days and the public "
    "profile, or the whole clinic from a YAML file. The assistant uses every change on its "
    "next message. See docs/CLINIC_SETUP.md.",
    no_args_is_help=True,
)
providers_app = typer.Typer(help="Dentists and hygienists.", no_args_is_help=True)
hours_app = typer.Typer(help="Providers' weekly working hours.", no_args_is_help=True)
treatments_app = typer.Typer(help="Treatments patients can book.", no_args_is_help=True)
closures_app = typer.Typer(
    help="Whole days the clinic is closed (Shabbat and public holidays close by themselves).",
    no_args_is_help=True,
)
profile_app = typer.Typer(
    help="Name, phones, address, parking, payment, insurance, location.", no_args_is_help=True
)
patients_app = typer.Typer(
    help="Patients, for clinics without a practice system.", no_args_is_help=True
)
clinic_app.add_typer(providers_app, name="providers")
clinic_app.add_typer(hours_app, name="hours")
clinic_app.add_typer(treatments_app, name="treatments")
clinic_app.add_typer(closures_app, name="closures")
clinic_app.add_typer(profile_app, name="profile")


def _run(work: Callable[[ClinicSetup], Awaitable[T]]) -> T:
    """`work` on the set-up of the configured database; a refusal is one line and exit 1."""
    return on_migrated_database(
        lambda database, settings: work(
            ClinicSetup(
                database,
                phone_region=settings.default_phone_region,
                schedule_kept_in=schedule_kept_in(settings),
            )
        ),
        refusals=(SetupError,),
    )


def _provider_line(p: ProviderOut) -> str:
    hours = ", ".join(format_hours(p.hours)) or "no hours"
    state = "" if p.active else "  (inactive)"
    treatments = ", ".join(p.treatments) or "no treatments"
    return f"{p.id}  {p.name} / {p.name_he}  {p.role}{state}  [{hours}]  [{treatments}]"


def _treatment_line(t: TreatmentOut) -> str:
    performers = ", ".join(t.providers) or "nobody performs it"
    return (
        f"{t.code}  {t.name} / {t.name_he}  {t.duration_minutes} min  {t.price} {t.currency}  "
        f"[{performers}]"
    )


# --- providers ------------------------------------------------------------------------------


@providers_app.command("list")
def providers_list() -> None:
    """Every provider with their hours and treatments."""
    providers = _run(lambda setup: setup.providers())
    if not providers:
        typer.echo("no providers yet (`dental clinic providers add`)")
    for provider in providers:
        typer.echo(_provider_line(provider))


@providers_app.command("add")
def providers_add(
    name: Annotated[str, typer.Option(help="In English, as patients know them; unique.")],
    name_he: Annotated[str, typer.Option(help="In Hebrew.")],
    role: Annotated[str, typer.Option(help="dentist or hygienist.")] = "dentist",
) -> None:
    """Add a provider (then give them hours and treatments)."""
    provider = _run(
        lambda setup: setup.add_provider(
            validated(ProviderIn, {"name": name, "name_he": name_he, "role": role})
        )
    )
    typer.echo(f"added: {_provider_line(provider)}")


@providers_app.command("update")
def providers_update(
    provider: Annotated[str, typer.Argument(help="Id or name.")],
    name: Annotated[str | None, typer.Option(help="New English name.")] = None,
    name_he: Annotated[str | None, typer.Option(help="New Hebrew name.")] = None,
    role: Annotated[str | None, typer.Option(help="dentist or hygienist.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Offered to patients or not.")
    ] = None,
) -> None:
    """Rename a provider, change their role, or (re)activate them."""
    change: dict[str, Any] = {"name": name, "name_he": name_he, "role": role, "active": active}
    updated = _run(lambda setup: setup.update_provider(provider, validated(ProviderChange, change)))
    typer.echo(f"updated: {_provider_line(updated)}")


@providers_app.command("remove")
def providers_remove(provider: Annotated[str, typer.Argument(help="Id or name.")]) -> None:
    """Deactivate a provider: no new appointments; those booked stay on the calendar."""
    removed = _run(lambda setup: setup.deactivate_provider(provider))
    typer.echo(f"deactivated: {removed.name}")


# --- hours ----------------------------------------------------------------------------------


@hours_app.command("set")
def hours_set(
    provider: Annotated[str, typer.Argument(help="Id or name.")],
    hours: Annotated[
        list[str] | None,
        typer.Argument(
            help='Weekly windows in clinic time, e.g. "sun-thu 08:00-16:00" "fri 08:00-13:00"; '
            "none clears the provider's hours."
        ),
    ] = None,
) -> None:
    """Replace a provider's weekly working hours: the slots the assistant offers and the
    hours it quotes follow at once."""

    async def work(setup: ClinicSetup) -> ProviderOut:
        return await setup.set_hours(provider, parse_hours(hours or []))

    typer.echo(f"hours set: {_provider_line(_run(work))}")


# --- treatments -----------------------------------------------------------------------------


def _price(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        fail("price: not a number (e.g. 350 or 350.50)")


@treatments_app.command("list")
def treatments_list() -> None:
    """Every treatment with its length, price and who performs it."""
    treatments = _run(lambda setup: setup.treatments())
    if not treatments:
        typer.echo("no treatments yet (`dental clinic treatments add`)")
    for treatment in treatments:
        typer.echo(_treatment_line(treatment))


@treatments_app.command("add")
def treatments_add(
    code: Annotated[str, typer.Argument(help="Short code: letters, digits, _ (e.g. cleaning).")],
    name: Annotated[str, typer.Option(help="In English.")],
    name_he: Annotated[str, typer.Option(help="In Hebrew.")],
    duration: Annotated[int, typer.Option(help="Minutes (5-480).")],
    price: Annotated[str, typer.Option(help="e.g. 350 or 350.50.")],
    currency: Annotated[str, typer.Option(help="ISO code.")] = "ILS",
    provider: Annotated[
        list[str] | None, typer.Option(help="A provider who performs it (id or name); repeat.")
    ] = None,
) -> None:
    """Add a treatment patients can book."""
    data = {
        "code": code,
        "name": name,
        "name_he": name_he,
        "duration_minutes": duration,
        "price": _price(price),
        "currency": currency,
        "providers": provider or [],
    }
    added = _run(lambda setup: setup.add_treatment(validated(TreatmentIn, data)))
    typer.echo(f"added: {_treatment_line(added)}")


@treatments_app.command("update")
def treatments_update(
    code: Annotated[str, typer.Argument()],
    name: Annotated[str | None, typer.Option()] = None,
    name_he: Annotated[str | None, typer.Option()] = None,
    duration: Annotated[int | None, typer.Option(help="Minutes (5-480).")] = None,
    price: Annotated[str | None, typer.Option()] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(help="Who performs it, replacing the list (id or name); repeat."),
    ] = None,
) -> None:
    """Change a treatment's names, length, price or performers."""
    data = {
        "name": name,
        "name_he": name_he,
        "duration_minutes": duration,
        "price": _price(price),
        "currency": currency,
        "providers": provider,
    }
    updated = _run(lambda setup: setup.update_treatment(code, validated(TreatmentChange, data)))
    typer.echo(f"updated: {_treatment_line(updated)}")


@treatments_app.command("remove")
def treatments_remove(code: Annotated[str, typer.Argument()]) -> None:
    """Remove a treatment no appointment or treatment plan uses."""
    _run(lambda setup: setup.remove_treatment(code))
    typer.echo(f"removed: {code}")


# --- closures -------------------------------------------------------------------------------


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date (YYYY-MM-DD)")


@closures_app.command("list")
def closures_list(
    all_: Annotated[bool, typer.Option("--all", help="Past days too.")] = False,
) -> None:
    """The closed days from today on."""
    closures = _run(lambda setup: setup.closures(since=None if all_ else date.today()))
    if not closures:
        typer.echo("no closed days")
    for closure in closures:
        typer.echo(f"{closure.day}  {closure.reason}")


@closures_app.command("add")
def closures_add(
    day: Annotated[str, typer.Argument(help="YYYY-MM-DD.")],
    reason: Annotated[str, typer.Argument(help='e.g. "staff training".')],
) -> None:
    """Close the clinic for a whole day: no slot is offered on it."""
    closure = _run(
        lambda setup: setup.add_closure(validated(Closure, {"day": _day(day), "reason": reason}))
    )
    typer.echo(f"closed: {closure.day}")


@closures_app.command("remove")
def closures_remove(day: Annotated[str, typer.Argument(help="YYYY-MM-DD.")]) -> None:
    """Open a closed day again."""
    when = _day(day)
    _run(lambda setup: setup.remove_closure(when))
    typer.echo(f"open again: {when}")


# --- profile --------------------------------------------------------------------------------


@profile_app.command("set")
def profile_set(
    name_en: Annotated[str | None, typer.Option()] = None,
    name_he: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option(help="The clinic's phone.")] = None,
    urgent_line: Annotated[str | None, typer.Option(help="For urgent dental problems.")] = None,
    address_en: Annotated[str | None, typer.Option()] = None,
    address_he: Annotated[str | None, typer.Option()] = None,
    parking_en: Annotated[str | None, typer.Option()] = None,
    parking_he: Annotated[str | None, typer.Option()] = None,
    payment_en: Annotated[str | None, typer.Option()] = None,
    payment_he: Annotated[str | None, typer.Option()] = None,
    insurance_en: Annotated[str | None, typer.Option()] = None,
    insurance_he: Annotated[str | None, typer.Option()] = None,
    latitude: Annotated[float | None, typer.Option(help="With --longitude (WGS 84).")] = None,
    longitude: Annotated[float | None, typer.Option()] = None,
) -> None:
    """Set fields of the public profile; the others keep their values."""
    change = validated(
        ProfileChange,
        {
            key: value
            for key, value in {
                "name_en": name_en,
                "name_he": name_he,
                "phone": phone,
                "urgent_line": urgent_line,
                "address_en": address_en,
                "address_he": address_he,
                "parking_en": parking_en,
                "parking_he": parking_he,
                "payment_en": payment_en,
                "payment_he": payment_he,
                "insurance_en": insurance_en,
                "insurance_he": insurance_he,
                "latitude": latitude,
                "longitude": longitude,
            }.items()
            if value is not None
        },
    )
    if change == ProfileChange():
        fail("nothing to set: give at least one field (see --help)")
    profile = _run(lambda setup: setup.update_profile(change))
    typer.echo(f"profile saved (version {profile.version})")


# --- the whole clinic -----------------------------------------------------------------------


def _yaml(clinic: ClinicFile) -> str:
    data = clinic.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


@clinic_app.command("show")
def show() -> None:
    """The whole clinic, as `dental clinic export` writes it."""
    typer.echo(_yaml(_run(lambda setup: setup.export_clinic())), nl=False)


@clinic_app.command("export")
def export(
    file: Annotated[Path | None, typer.Argument(help="Where to write; stdout if left out.")] = None,
) -> None:
    """Write the whole clinic (profile, providers with hours, treatments with performers,
    closed days) as YAML: a backup of the set-up, or a file to edit and import."""
    text = _yaml(_run(lambda setup: setup.export_clinic()))
    if file is None:
        typer.echo(text, nl=False)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {file}: {type(exc).__name__}")
    typer.echo(f"exported to {file}")


@clinic_app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="A YAML file like the export.")]) -> None:
    """Make the clinic what FILE says, all or nothing: every part is checked before anything
    is written. Providers missing from the file are deactivated, treatments missing from it
    removed, closed days and the profile replaced. Importing an export changes nothing."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {type(exc).__name__}")
    except yaml.YAMLError as exc:
        fail(f"{file} is not YAML: {exc}")
    changes = _run(
        lambda setup: setup.import_clinic(validated(ClinicFile, data if data is not None else {}))
    )
    for change in changes:
        typer.echo(change)
    typer.echo(f"imported {file}: {len(changes)} change(s)" if changes else "nothing to change")


# --- patients -------------------------------------------------------------------------------


@patients_app.command("import")
def patients_import(
    file: Annotated[Path, typer.Argument(help=f"CSV with a header: {', '.join(COLUMNS)}.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file only; write nothing.")
    ] = False,
) -> None:
    """Import patients from a CSV file, all or nothing: any bad row (phone, e-mail, date,
    language, a phone or e-mail repeated or already stored) is reported by row number and
    field, and nothing is written. Row 1 is the header."""
    try:
        rows = read_rows(file)
    except SetupError as error:
        fail(str(error))

    async def work(database: Database, settings: Settings) -> PatientsReport:
        if (system := schedule_kept_in(settings)) is not None:
            raise KeptElsewhere(system)
        return await import_patients(
            database, rows, dry_run=dry_run, phone_region=settings.default_phone_region
        )

    report = on_migrated_database(work, refusals=(SetupError,))
    for problem in report.problems:
        typer.echo(str(problem), err=True)
    if not report.ok:
        fail(f"{len(report.problems)} problem(s) in {report.rows} rows; nothing was imported")
    if dry_run:
        typer.echo(f"{report.rows} rows are valid; nothing written (dry run)")
    else:
        typer.echo(f"imported {report.imported} patients")
