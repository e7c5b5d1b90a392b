"""`dental odoo ...`: the clinic's own Odoo as the practice system (PRACTICE_BACKEND=odoo).

`check` says whether the assistant can work on an Odoo and what to fix; `seed-demo` writes the
fictional demo clinic into an Odoo database, so the assistant can be tried on Odoo. The server,
database and login default to ODOO_URL, ODOO_DB and ODOO_USERNAME, the key to ODOO_API_KEY (a
secret); `--api-key-stdin` reads it from standard input instead, never from an argument, which
would stay in the shell history and the process list.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from typing import Annotated

import typer

from serving.cli.support import fail, operator_settings
from serving.demo import demo_clinic_data
from serving.practice.errors import PracticeError
from serving.practice.factory import booking_rules_from_settings
from serving.practice.odoo.backend import OdooPracticeBackend
from serving.practice.odoo.check import OdooCheck, check_odoo
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.connection import OdooAddress, OdooConnection
from serving.practice.odoo.seed import SeedReport, seed_demo_clinic
from serving.settings import Settings

SEED_TIMEOUT_SECONDS = 300.0
"""Per call while seeding: installing Hebrew makes Odoo load its translations."""

odoo_app = typer.Typer(
    help="The clinic's Odoo as the practice system (PRACTICE_BACKEND=odoo, ODOO_URL, ODOO_DB, "
    "ODOO_USERNAME, ODOO_API_KEY).",
    no_args_is_help=True,
)

Url = Annotated[
    str | None, typer.Option("--url", help="The Odoo server, e.g. http://127.0.0.1:8069 "
    "(default: ODOO_URL).")
]  # fmt: skip
Database = Annotated[str | None, typer.Option("--db", help="The database (default: ODOO_DB).")]
ApiKeyStdin = Annotated[
    bool,
    typer.Option(
        "--api-key-stdin",
        help="Read the API key (or the password) from standard input, first line "
        "(default: ODOO_API_KEY).",
    ),
]


def odoo_address(
    settings: Settings,
    *,
    url: str | None,
    database: str | None,
    login: str | None,
    api_key_stdin: bool,
) -> OdooAddress:
    """Where Odoo is and who to be there: the options, else the settings; one line naming
    what is missing."""
    key = settings.odoo_api_key.get_secret_value() if settings.odoo_api_key else None
    if api_key_stdin:
        key = sys.stdin.readline().rstrip("\r\n")
        if not key:
            fail("no API key on standard input")
    values = {
        "ODOO_URL (--url)": url or settings.odoo_url,
        "ODOO_DB (--db)": database or settings.odoo_db,
        "ODOO_USERNAME (--login)": login or settings.odoo_username,
        "ODOO_API_KEY (--api-key-stdin)": key,
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        fail(f"set {', '.join(missing)}")
    url, database, login, key = (str(value) for value in values.values())
    return OdooAddress(url=url, database=database, login=login, api_key=key)


@odoo_app.command("check")
def check(
    url: Url = None,
    db: Database = None,
    login: Annotated[
        str | None,
        typer.Option("--login", help="The assistant's Odoo user (default: ODOO_USERNAME)."),
    ] = None,
    api_key_stdin: ApiKeyStdin = False,
) -> None:
    """Connect as the assistant's user and say what it can use: the server's version, where
    patients, appointments, invoices, notes, allergies and plans are read from, the rights it
    lacks and what is missing, each with its fix. Exit 1 when the assistant could not book."""
    settings = operator_settings()
    address = odoo_address(settings, url=url, database=db, login=login, api_key_stdin=api_key_stdin)
    backend = OdooPracticeBackend(
        OdooClient(address, timeout=settings.odoo_timeout_seconds, connections=1),
        booking_rules_from_settings(settings),
        default_phone_region=settings.default_phone_region,
        default_duration_minutes=settings.odoo_default_duration_minutes,
    )
    try:
        found = asyncio.run(
            check_odoo(backend, default_duration_minutes=settings.odoo_default_duration_minutes)
        )
    except PracticeError as error:
        fail(str(error))
    typer.echo(f"Odoo {found.server_version} at {address.host}, database {address.database}, "
               f"as {address.login}")  # fmt: skip
    for line in check_lines(found):
        typer.echo(line)
    if not found.ready:
        fail("the assistant cannot work on this Odoo yet: fix the problems above")


def check_lines(found: OdooCheck) -> list[str]:
    mapping = found.mapping
    allergies = {
        "model": "the model x_dental_allergy",
        "partner_text": "Contacts' x_allergies text",
        "none": "nowhere",
    }[mapping.allergies]
    plans = "Sales quotations and orders" if mapping.plans else "nowhere"
    if mapping.plans and mapping.plan_tooth:
        plans += " (tooth: x_tooth)"
    lines = [
        "Read from:",
        f"  patients          Contacts by {' and '.join(mapping.phone_fields) or 'no phone'}, "
        "e-mail, name",
        "  appointments      Calendar events of the providers",
        "  invoices          posted customer invoices and credit notes",
        "  notes             the contact's chatter",
        f"  allergies         {allergies}",
        f"  treatment plans   {plans}",
    ]
    if found.providers:
        names = ", ".join(f"{p.name} ({p.role})" for p in found.providers)
        lines.append(f"Providers ({len(found.providers)}): {names}")
    if found.treatments:
        codes = ", ".join(t.code for t in found.treatments)
        lines.append(f"Treatments ({len(found.treatments)}): {codes}")
    for title, items in (("Refused", found.refused), ("Cannot book", found.problems)):
        lines += [f"{title}:", *(f"  - {item}" for item in items)] if items else []
    if found.missing:
        lines.append("Missing (the assistant works without these):")
        for item in found.missing:
            lines.append(f"  - {item.what}: {item.effect}. Fix: {item.fix}")
    lines.append("Ready." if found.ready else "Not ready.")
    return lines


@odoo_app.command("seed-demo")
def seed_demo(
    url: Url = None,
    db: Database = None,
    login: Annotated[
        str | None,
        typer.Option(
            "--login",
            help="An Odoo administrator: the demo adds custom fields and a model "
            "(default: ODOO_USERNAME).",
        ),
    ] = None,
    api_key_stdin: ApiKeyStdin = False,
) -> None:
    """Write the fictional demo clinic into an Odoo database: custom fields, the allergy model
    and Hebrew when missing, then providers with their working hours, treatments, patients,
    allergies, invoices (paid as the demo says), notes, a treatment plan and appointments from
    today on. Safe to run again: what is there is left alone. Never in production."""
    settings = operator_settings()
    if settings.environment == "production":
        fail("the demo clinic is never written from a production environment (ENVIRONMENT)")
    address = odoo_address(settings, url=url, database=db, login=login, api_key_stdin=api_key_stdin)
    rules = booking_rules_from_settings(settings)
    try:
        connection = OdooConnection(address, timeout=SEED_TIMEOUT_SECONDS)
        typer.echo(
            f"Odoo {connection.server_version} at {address.host}, database "
            f"{address.database}, as {address.login}"
        )
        report = seed_demo_clinic(
            connection,
            demo_clinic_data(),
            today=datetime.now(rules.calendar.tz).date(),
            rules=rules,
        )
    except PracticeError as error:
        fail(str(error))
    for line in report_lines(report):
        typer.echo(line)


def report_lines(report: SeedReport) -> list[str]:
    width = max(len(kind) for kind, _, _ in report.rows())
    lines = [
        f"  {kind:<{width}}  {created:>3} created  {present:>3} already present"
        for kind, created, present in report.rows()
    ]
    present = sum(report.present.values())
    lines.append(
        f"{report.created_total} created, {present} already present "
        f"({report.calls} calls to Odoo, {report.seconds:.1f} s)"
    )
    return lines
