"""The demo clinic written into Odoo (`seed_demo_clinic`, `dental odoo seed-demo`) against the
wire-level stand-in: what one run creates, read back as the assistant's API user; a second
run changing nothing; a run cut short finished by the next; the API user refused before
anything is written; the command's output and exit codes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from serving.cli import app
from serving.demo import demo_clinic_data
from serving.practice.errors import PracticeMisconfigured, PracticeUnavailable
from serving.practice.odoo.connection import OdooAddress, OdooConnection
from serving.practice.odoo.seed import SeedReport, seed_demo_clinic
from serving.scheduling.request import WEEKDAY_CODES
from tests.odoo_stand_in import VERSIONS, OdooStandIn, odoo_fixture, running_odoo  # noqa: F401

TODAY = date(2026, 12, 6)  # a Sunday
CLINIC_TZ = ZoneInfo("Asia/Jerusalem")
DEMO = demo_clinic_data()
WRITES = ("create", "write", "unlink", "action_post", "message_post", "action_confirm")


def connect(odoo: OdooStandIn, *, admin: bool = True) -> OdooConnection:
    login, key = (
        (odoo.admin_login, odoo.admin_password) if admin else (odoo.api_login, odoo.api_key)
    )
    return OdooConnection(
        OdooAddress(url=odoo.url, database=odoo.database, login=login, api_key=key), timeout=10
    )


def seed(odoo: OdooStandIn, data: dict[str, Any] | None = None) -> SeedReport:
    return seed_demo_clinic(connect(odoo), data or DEMO, today=TODAY)


def read(
    odoo: OdooStandIn, model: str, domain: list[Any], fields: list[str], **context: Any
) -> list[dict[str, Any]]:
    """search_read as the assistant's API user, as the backend reads."""
    return odoo.execute_kw(
        model, "search_read", [domain], {"fields": fields, "context": context}, uid=odoo.api_uid
    )


def writes(odoo: OdooStandIn) -> int:
    return sum(odoo.count(method=method) for method in WRITES)


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


@pytest.fixture(params=VERSIONS)
def any_odoo(request: pytest.FixtureRequest) -> Iterator[OdooStandIn]:
    with running_odoo(request.param) as stand_in:
        yield stand_in


CLOSED_DAY = date(2026, 12, 13)
"""Cohen's first Sunday in the visits' range, closed in the seeded clinic: the visits that
would have fallen on it move on."""


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[OdooStandIn, SeedReport]]:
    """An Odoo 17 stand-in with the demo clinic (and a closed day), seeded once."""
    data = copy.deepcopy(DEMO)
    data["closures"] = [{"day": CLOSED_DAY.isoformat(), "reason": "Staff training"}]
    with running_odoo("17.0") as stand_in:
        yield stand_in, seed(stand_in, data)


@pytest.fixture
def clinic(seeded: tuple[OdooStandIn, SeedReport]) -> OdooStandIn:
    return seeded[0]


def test_one_run_reports_everything_created(seeded: tuple[OdooStandIn, SeedReport]) -> None:
    odoo, report = seeded
    # A fresh stand-in, like an Odoo set up in Israel, already has Hebrew and the shekel.
    assert report.present == {"languages": 1, "currencies": 1}
    assert (report.created["patients"], report.created["appointments"]) == (20, 11)
    assert (report.created["invoices"], report.created["payments"]) == (20, 13)
    assert report.created["custom fields"] == 9 and report.created["access rights"] == 3
    # Every call but the login's context_get is the seed's.
    assert report.calls == odoo.count() - odoo.count("res.users", "context_get")


def test_providers_are_users_with_their_hours_and_tags(clinic: OdooStandIn) -> None:
    providers = read(
        clinic,
        "res.users",
        [["login", "=ilike", "%@smile-clinic.example"], ["id", "!=", clinic.api_uid]],
        ["login", "partner_id", "resource_calendar_id"],
    )
    assert sorted(p["login"].split("@")[0] for p in providers) == ["cohen", "mizrahi", "peretz"]
    assert all(p["resource_calendar_id"] for p in providers), "each has its working hours"
    [cohen] = [p for p in providers if p["login"].startswith("cohen")]
    hours = read(
        clinic,
        "resource.calendar.attendance",
        [["calendar_id", "=", cohen["resource_calendar_id"][0]]],
        ["dayofweek", "hour_from", "hour_to"],
    )
    assert sorted((h["dayofweek"], h["hour_from"], h["hour_to"]) for h in hours) == [
        ("0", 8.0, 16.0),
        ("1", 8.0, 16.0),
        ("2", 12.0, 20.0),
        ("3", 8.0, 16.0),
        ("6", 8.0, 16.0),
    ]
    [partner] = read(
        clinic, "res.partner", [["id", "=", cohen["partner_id"][0]]], ["category_id", "x_name_he"]
    )
    assert partner["x_name_he"] == 'ד"ר אבי כהן'
    tags = read(clinic, "res.partner.category", [["id", "in", partner["category_id"]]], ["name"])
    assert [tag["name"] for tag in tags] == ["Dentist"]


def test_treatments_are_services_named_in_both_languages(clinic: OdooStandIn) -> None:
    fields = ["default_code", "name", "list_price", "x_duration_minutes", "x_provider_ids"]
    english = {p["default_code"]: p for p in read(clinic, "product.product", [], fields)}
    hebrew = {
        p["default_code"]: p["name"]
        for p in read(clinic, "product.product", [], ["default_code", "name"], lang="he_IL")
    }
    assert set(english) == {t["code"] for t in DEMO["treatment_types"]}
    canal = english["root_canal"]
    assert (canal["name"], canal["list_price"], canal["x_duration_minutes"]) == (
        "Root canal treatment",
        2200.0,
        90,
    )
    assert hebrew["root_canal"] == "טיפול שורש"
    performers = read(
        clinic, "res.users", [["id", "in", english["cleaning"]["x_provider_ids"]]], ["login"]
    )
    assert sorted(u["login"].split("@")[0] for u in performers) == ["mizrahi", "peretz"]
    tags = read(clinic, "calendar.event.type", [], ["name"])
    assert sorted(t["name"] for t in tags) == sorted(english)


def test_patients_with_their_allergies(clinic: OdooStandIn) -> None:
    patients = read(
        clinic,
        "res.partner",
        [["email", "=ilike", "%@example.com"], ["user_ids", "=", False]],
        ["name", "phone", "lang", "x_name_he", "x_date_of_birth"],
    )
    assert len(patients) == 20
    dana = next(p for p in patients if p["name"] == "Dana Levi")
    assert [dana[key] for key in ("phone", "lang", "x_name_he", "x_date_of_birth")] == [
        "+972501234567",
        "he_IL",
        "דנה לוי",
        "1988-04-12",
    ]
    john = next(p for p in patients if p["name"] == "John Smith")
    assert (john["lang"], john["x_name_he"]) == ("en_US", False)
    allergies = read(clinic, "x_dental_allergy", [], ["x_name", "x_partner_id", "x_severity"])
    assert len(allergies) == 7
    assert [
        (a["x_name"], a["x_severity"]) for a in allergies if a["x_partner_id"][0] == dana["id"]
    ] == [("penicillin", "severe")]


def test_invoices_are_posted_and_paid_as_the_demo_says(clinic: OdooStandIn) -> None:
    invoices = read(
        clinic,
        "account.move",
        [["move_type", "=", "out_invoice"]],
        ["name", "state", "amount_total", "amount_residual", "payment_state"],
    )
    by_number = {i["name"]: i for i in invoices}
    demo = [invoice for patient in DEMO["patients"] for invoice in patient["invoices"]]
    assert set(by_number) == {invoice["number"] for invoice in demo}
    for invoice in demo:
        total = sum(line["quantity"] * float(line["unit_price"]) for line in invoice["lines"])
        odoo = by_number[invoice["number"]]
        assert odoo["state"] == "posted"
        assert (odoo["amount_total"], odoo["amount_residual"]) == (
            total,
            total - float(invoice["amount_paid"]),
        )
    assert by_number["INV/2026/0017"]["payment_state"] == "paid"
    assert by_number["INV/2026/0042"]["payment_state"] == "not_paid"


def test_notes_are_chatter_by_their_authors(clinic: OdooStandIn) -> None:
    [dana] = read(clinic, "res.partner", [["email", "=", "dana.levi@example.com"]], ["id"])
    notes = read(
        clinic,
        "mail.message",
        [["model", "=", "res.partner"], ["res_id", "=", dana["id"]]],
        ["subtype_id", "body", "author_id"],
    )
    assert {(n["body"], n["subtype_id"][1], n["author_id"][1]) for n in notes} == {
        ("<p>Anxious about injections; prefers morning visits.</p>", "Note", "Dr. Avi Cohen"),
        (
            "<p>נא להביא לביקור הבא את צילומי הרנטגן מהמרפאה הקודמת.</p>",
            "Discussions",
            "My Company",
        ),
    }


def test_the_plan_is_a_confirmed_sale_order(clinic: OdooStandIn) -> None:
    [dana] = read(clinic, "res.partner", [["email", "=", "dana.levi@example.com"]], ["id"])
    [plan] = read(
        clinic, "sale.order", [["partner_id", "=", dana["id"]]], ["client_order_ref", "state"]
    )
    assert (plan["client_order_ref"], plan["state"]) == ("Restore lower left molars", "sale")
    lines = read(
        clinic,
        "sale.order.line",
        [["order_id", "=", plan["id"]]],
        ["x_tooth", "qty_delivered", "price_subtotal"],
    )
    delivered = sorted((ln["x_tooth"], ln["qty_delivered"], ln["price_subtotal"]) for ln in lines)
    assert delivered == [("36", 1.0, 450.0), ("37", 0.0, 450.0)]


def test_visits_go_to_free_slots_in_the_providers_hours(clinic: OdooStandIn) -> None:
    [leave] = read(
        clinic, "resource.calendar.leaves", [], ["name", "calendar_id", "resource_id", "date_from"]
    )
    assert (leave["name"], leave["calendar_id"], leave["resource_id"]) == (
        "Staff training",
        False,
        False,
    )
    assert utc(leave["date_from"]) == datetime.combine(CLOSED_DAY, time.min, CLINIC_TZ)
    users = {u["id"]: u["login"].split("@")[0] for u in read(clinic, "res.users", [], ["login"])}
    events = read(
        clinic,
        "calendar.event",
        [["start", ">=", "2026-12-06 00:00:00"]],
        ["start", "stop", "user_id", "categ_ids", "partner_ids", "show_as", "description"],
    )
    assert len(events) == 6
    hours = {p["key"]: p["hours"] for p in DEMO["providers"]}
    taken: list[tuple[int, datetime, datetime]] = []
    for event in events:
        start, stop = (utc(event[key]).astimezone(CLINIC_TZ) for key in ("start", "stop"))
        opens, closes = hours[users[event["user_id"][0]]][WEEKDAY_CODES[start.weekday()]]
        assert time.fromisoformat(opens) <= start.time()
        assert stop.time() <= time.fromisoformat(closes)
        assert start.date() != CLOSED_DAY and start.date() >= TODAY + timedelta(days=3)
        assert event["show_as"] == "busy" and len(event["partner_ids"]) == 2
        assert len(event["categ_ids"]) == 1 and "dental-booking:" in event["description"]
        for uid, other_start, other_stop in taken:
            assert uid != event["user_id"][0] or stop <= other_start or other_stop <= start
        taken.append((event["user_id"][0], start, stop))


def test_a_second_run_changes_nothing(any_odoo: OdooStandIn) -> None:
    first = seed(any_odoo)
    any_odoo.reset_calls()

    second = seed(any_odoo)

    assert second.created_total == 0
    assert second.present == first.created + first.present
    assert writes(any_odoo) == 0
    assert second.calls < first.calls / 2


def test_a_run_cut_short_is_finished_by_the_next(odoo: OdooStandIn) -> None:
    odoo.fail_next(1, "down", model="account.move", method="action_post")
    with pytest.raises(PracticeUnavailable, match="unreachable"):
        seed(odoo)

    finished = seed(odoo)

    assert finished.created["invoices"] == 0 and finished.present["invoices"] == 20
    assert finished.created["payments"] == 13
    posted = read(
        odoo, "account.move", [["move_type", "=", "out_invoice"]], ["state", "amount_residual"]
    )
    assert {row["state"] for row in posted} == {"posted"}
    owed = [
        sum(line["quantity"] * float(line["unit_price"]) for line in invoice["lines"])
        - float(invoice["amount_paid"])
        for patient in DEMO["patients"]
        for invoice in patient["invoices"]
    ]
    assert sum(row["amount_residual"] for row in posted) == sum(owed)
    assert seed(odoo).created_total == 0


def test_the_api_user_is_refused_before_anything_is_written(odoo: OdooStandIn) -> None:
    with pytest.raises(PracticeMisconfigured, match="is not an administrator"):
        seed_demo_clinic(connect(odoo, admin=False), DEMO, today=TODAY)

    assert writes(odoo) == 0


# -- dental odoo seed-demo ---------------------------------------------------------------


@pytest.fixture
def odoo_env(odoo: OdooStandIn, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> OdooStandIn:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("ODOO_URL", odoo.url)
    monkeypatch.setenv("ODOO_DB", odoo.database)
    monkeypatch.setenv("ODOO_USERNAME", odoo.admin_login)
    monkeypatch.setenv("ODOO_API_KEY", odoo.admin_password)
    return odoo


def dental(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["odoo", "seed-demo", *args], input=stdin)


def test_the_command_reports_what_it_created_then_what_was_there(odoo_env: OdooStandIn) -> None:
    first = dental()
    second = dental()

    assert first.exit_code == 0, first.output
    assert f"Odoo {odoo_env.version}" in first.output
    assert "patients                 20 created    0 already present" in first.output
    assert second.exit_code == 0, second.output
    assert "patients                  0 created   20 already present" in second.output
    assert second.output.splitlines()[-1].startswith("0 created, ")


@pytest.mark.parametrize(
    ("args", "stdin", "env", "message"),
    [
        ((), None, {"ENVIRONMENT": "production"}, "never written from a production"),
        (("--api-key-stdin",), "not-the-password\n", {}, "refused admin with that API key"),
        (("--login", "assistant@smile-clinic.example", "--api-key-stdin"), "{api_key}\n", {},
         "is not an administrator"),
        (("--url", "http://127.0.0.1:9"), None, {}, "is unreachable"),
        (("--db", "elsewhere"), None, {}, "has no database 'elsewhere'"),
        ((), None, {"ODOO_URL": "", "ODOO_DB": ""}, "set ODOO_URL (--url), ODOO_DB (--db)"),
        (("--api-key-stdin",), "\n", {}, "no API key on standard input"),
    ],
)  # fmt: skip
def test_the_command_fails_in_one_line(
    odoo_env: OdooStandIn,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    stdin: str | None,
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = dental(*args, stdin=stdin.format(api_key=odoo_env.api_key) if stdin else None)

    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output
    assert odoo_env.admin_password not in result.output and odoo_env.api_key not in result.output
    assert writes(odoo_env) == 0
