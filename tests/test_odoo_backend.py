"""What only the Odoo backend has: its settings, Odoo's refusals and outages as practice errors
with nothing half-made, the mapping it detects, the copy of the set-up it keeps, and how Odoo's
records (leaves, all-day events, refunds, html) become the clinic's. What every backend does is
tests/test_practice_contract.py.

The Odoo here is the stand-in (tests/odoo_stand_in) holding the demo clinic, or a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import time as wall
from collections.abc import Callable
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from serving.practice import (
    AppointmentNotFound,
    InvalidRequest,
    PatientNotFound,
    PracticeMisconfigured,
    PracticeUnavailable,
    SlotUnavailable,
)
from serving.practice.factory import create_practice_backend
from serving.practice.odoo import bookings
from serving.practice.odoo.backend import OdooPracticeBackend
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.connection import NoSuchModel, OdooAddress
from serving.practice.odoo.mapping import detect_mapping
from serving.practice.odoo.records import odoo_datetime
from serving.practice.odoo.schedule import load_attendances
from serving.scheduling.slots import WeeklyWindow
from tests.clinic_time import MONDAY, local, next_weekday, today_from
from tests.conftest import make_settings
from tests.odoo_stand_in import OdooStandIn, running_odoo
from tests.practice_backends import (  # noqa: F401
    CLOCK_HOUR,
    Call,
    SeededStandIns,
    admin_address,
    api_address,
    odoo_backend,
    odoo_client,
    odoo_stand_ins_fixture,
)

DANA, JOHN = "+972501234567", "+12025550143"
QUIET = {"mail_create_nolog": True, "no_mail_to_attendees": True}
SLOW_ODOO_DONE = 0.3
"""Seconds after a 0.5 s timeout by which a request the stand-in held 0.7 s has been carried
out: the test then sees whether the backend undid it."""


@pytest.fixture
def odoo(odoo_stand_ins: SeededStandIns) -> OdooStandIn:
    """The Odoo 17 stand-in holding the demo clinic."""
    return odoo_stand_ins.demo("17.0")


@pytest.fixture
def calls() -> list[Call]:
    return []


def backend_on(
    stand_in: OdooStandIn, calls: list[Call] | None = None, **overrides: object
) -> OdooPracticeBackend:
    return odoo_backend(
        odoo_client(api_address(stand_in), [] if calls is None else calls),
        today_from(CLOCK_HOUR),
        **overrides,
    )


@pytest.fixture
def backend(odoo: OdooStandIn, calls: list[Call]) -> OdooPracticeBackend:
    return backend_on(odoo, calls)


def admin(stand_in: OdooStandIn, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """A call as Odoo's administrator, to arrange the clinic."""
    return stand_in.execute_kw(model, method, list(args), kwargs)


def free_monday() -> date:
    return next_weekday(MONDAY, at_least_days=28)


async def event_count(stand_in: OdooStandIn) -> int:
    return int(
        admin(stand_in, "calendar.event", "search_count", [], context={"active_test": False})
    )


# --- settings and connections -----------------------------------------------------------------


def test_settings_choose_the_odoo_backend_and_name_what_is_missing() -> None:
    settings = make_settings(
        "sqlite+aiosqlite://",
        practice_backend="odoo",
        odoo_url="http://127.0.0.1:9",
        odoo_db="clinic",
        odoo_username="assistant@clinic.example",
        odoo_api_key="not-a-real-key",
    )
    backend = create_practice_backend(settings, database=None)  # type: ignore[arg-type]
    assert isinstance(backend, OdooPracticeBackend)
    without = make_settings(
        "sqlite+aiosqlite://", practice_backend="odoo", odoo_url="http://odoo.example"
    )
    with pytest.raises(PracticeMisconfigured) as refused:
        create_practice_backend(without, database=None)  # type: ignore[arg-type]
    assert "ODOO_DB, ODOO_USERNAME, ODOO_API_KEY" in str(refused.value)


async def test_the_backend_starts_while_odoo_is_down_and_connects_when_it_is_back(
    calls: list[Call],
) -> None:
    key = "k" * 40
    with running_odoo("17.0", api_key=key) as stand_in:
        port, address = stand_in.port, api_address(stand_in)
    backend = odoo_backend(odoo_client(address, calls), today_from(CLOCK_HOUR))
    with pytest.raises(PracticeUnavailable, match="unreachable"):
        await backend.list_providers()
    with (
        running_odoo("17.0", port=port, api_key=key),
        pytest.raises(PracticeMisconfigured, match="Dental treatments"),
    ):
        await backend.list_providers()
    logins = [c.outcome for c in calls if (c.model, c.method) == ("common", "login")]
    assert logins[0] == "practice_unavailable" and logins[-1] == "ok"


async def test_a_refused_key_names_the_login_and_not_the_key(odoo: OdooStandIn) -> None:
    address = OdooAddress(odoo.url, odoo.database, odoo.api_login, "wrong-key-1234")
    backend = odoo_backend(OdooClient(address, timeout=5), today_from(CLOCK_HOUR))
    with pytest.raises(PracticeMisconfigured) as refused:
        await backend.search_patient(phone=DANA)
    assert odoo.api_login in str(refused.value)
    assert "wrong-key" not in str(refused.value)


async def test_a_dropped_connection_is_opened_again(
    odoo: OdooStandIn, backend: OdooPracticeBackend, calls: list[Call]
) -> None:
    [dana] = await backend.search_patient(phone=DANA)
    opened = sum(1 for c in calls if c.method == "login")
    odoo.fail_next(1, "down")
    with pytest.raises(PracticeUnavailable):
        await backend.get_patient(dana.id)
    assert await backend.get_patient(dana.id) == dana
    assert sum(1 for c in calls if c.method == "login") == opened + 1


async def test_a_slow_odoo_is_given_up_after_the_timeout(odoo: OdooStandIn) -> None:
    client = OdooClient(api_address(odoo), timeout=0.5)
    backend = odoo_backend(client, today_from(CLOCK_HOUR))
    await backend.list_providers()
    odoo.fail_next(1, "slow", model="res.partner", delay=3)
    started = wall.monotonic()
    with pytest.raises(PracticeUnavailable, match="unreachable"):
        await backend.search_patient(phone=DANA)
    assert wall.monotonic() - started < 2


# --- refusals and outages: typed, and nothing half-made ----------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ({"kind": "access_error", "method": "create"}, PracticeMisconfigured, "may not write"),
        (
            {"kind": "user_error", "method": "create"},
            InvalidRequest,
            r"^the clinic's system refused the change \(UserError on calendar.event.create\)$",
        ),
        (
            {"kind": "validation_error", "method": "create", "message": "Dana Levi is booked"},
            InvalidRequest,
            r"^the clinic's system refused the change \(ValidationError on calendar.event.create\)",
        ),
        ({"kind": "down", "method": "create"}, PracticeUnavailable, "unreachable"),
        ({"kind": "slow", "method": "create", "delay": 0.7}, PracticeUnavailable, "unreachable"),
        ({"kind": "html", "method": "search_read"}, PracticeUnavailable, "unreachable"),
        # the booking made, then the read that checks it fails: the booking is taken back
        ({"kind": "down", "method": "search_read", "after": 1}, PracticeUnavailable, None),
        ({"kind": "access_error", "method": "search_read", "after": 1}, PracticeUnavailable, None),
    ],
)
async def test_a_booking_odoo_refuses_or_loses_is_not_made(
    odoo: OdooStandIn, fault: dict[str, Any], error: type[Exception], message: str | None
) -> None:
    backend = odoo_backend(OdooClient(api_address(odoo), timeout=0.5), today_from(CLOCK_HOUR))
    [john] = await backend.search_patient(phone=JOHN)
    before = await event_count(odoo)
    odoo.fail_next(1, model="calendar.event", **fault)
    with pytest.raises(error, match=message):
        await backend.create_appointment(john.id, "checkup", local(free_monday(), 9))
    await asyncio.sleep(SLOW_ODOO_DONE)
    # A slow Odoo makes the booking after the backend gave up: it looked again and removed it.
    assert await event_count(odoo) == before
    assert await backend.list_patient_appointments(john.id) == []


async def test_a_reschedule_odoo_loses_is_moved_back(odoo: OdooStandIn) -> None:
    backend = odoo_backend(OdooClient(api_address(odoo), timeout=0.5), today_from(CLOCK_HOUR))
    [john] = await backend.search_patient(phone=JOHN)
    monday = free_monday()
    booked = await backend.create_appointment(john.id, "checkup", local(monday, 9))
    odoo.fail_next(1, "slow", model="calendar.event", method="write", delay=0.7)
    with pytest.raises(PracticeUnavailable):
        await backend.reschedule_appointment(john.id, booked.id, local(monday, 11))
    await asyncio.sleep(SLOW_ODOO_DONE)
    assert await backend.list_patient_appointments(john.id) == [booked]


@pytest.mark.parametrize(
    ("model", "operation", "call", "message"),
    [
        ("account.move", "read", "get_patient_invoices", "may not read account.move"),
        ("mail.message", "read", "get_patient_notes", "may not read mail.message"),
        ("res.partner", "write", "add_patient_note", "may not write res.partner"),
        ("x_dental_allergy", "read", "get_patient_allergies", "may not read x_dental_allergy"),
    ],
)
async def test_missing_access_rights_are_a_configuration_error(
    odoo: OdooStandIn,
    backend: OdooPracticeBackend,
    model: str,
    operation: str,
    call: str,
    message: str,
) -> None:
    [dana] = await backend.search_patient(phone=DANA)
    odoo.deny(model, operation)
    arguments: dict[str, Any] = (
        {"body": "x", "author": "test"} if call == "add_patient_note" else {}
    )
    with pytest.raises(PracticeMisconfigured, match=message):
        await getattr(backend, call)(dana.id, **arguments)


async def test_an_assistant_without_an_e_mail_address_cannot_post_notes(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [dana] = await backend.search_patient(phone=DANA)
    [user] = admin(odoo, "res.users", "read", [odoo.api_uid], fields=["partner_id"])
    admin(odoo, "res.partner", "write", [user["partner_id"][0]], {"email": False})
    with pytest.raises(PracticeMisconfigured, match="e-mail address"):
        await backend.add_patient_note(dana.id, "Prefers mornings.", author="reception")


# --- the mapping ------------------------------------------------------------------------------


async def test_the_demo_clinic_maps_everything(backend: OdooPracticeBackend) -> None:
    mapping = await backend.mapping()
    assert mapping.allergies == "model"
    assert (mapping.name_he, mapping.date_of_birth, mapping.duration) == (True, True, True)
    assert (mapping.treatment_providers, mapping.plans, mapping.plan_tooth) == (True, True, True)
    assert mapping.phone_fields == ("phone", "mobile")
    assert mapping.missing(default_duration_minutes=30) == []


@pytest.mark.parametrize(("version", "mobile"), [("16.0", True), ("18.0", True), ("19.0", False)])
async def test_phones_are_searched_in_the_fields_that_exist(
    odoo_stand_ins: SeededStandIns, version: str, mobile: bool
) -> None:
    stand_in = odoo_stand_ins.demo(version)
    backend = backend_on(stand_in)
    assert (await backend.mapping()).phone_fields == (("phone", "mobile") if mobile else ("phone",))
    assert (await backend.mapping()).plan_locked is (version != "16.0")
    values = (
        {"name": "Mobile Only", "phone": False, "mobile": "052-999-8877"}
        if mobile
        else {"name": "Mobile Only", "phone": "052 999 8877"}
    )
    admin(stand_in, "res.partner", "create", values)
    [found] = await backend.search_patient(phone="+972529998877")
    assert (found.full_name, found.phone) == ("Mobile Only", "+972529998877")


async def test_allergies_written_on_the_contact(calls: list[Call]) -> None:
    with running_odoo("17.0") as stand_in:
        admin(
            stand_in,
            "ir.model.fields",
            "create",
            {
                "model_id": admin(stand_in, "ir.model", "search", [("model", "=", "res.partner")])[
                    0
                ],
                "name": "x_allergies",
                "ttype": "text",
                "field_description": "Allergies",
            },
        )
        patient = admin(
            stand_in,
            "res.partner",
            "create",
            {
                "name": "Tal Oren",
                "phone": "+972501112233",
                "x_allergies": "penicillin: rash (severe)\nlatex",
            },
        )
        backend = backend_on(stand_in, calls)
        mapping = await backend.mapping()
        assert mapping.allergies == "partner_text"
        assert [item.what for item in mapping.missing(default_duration_minutes=30)] == [
            "treatment durations",
            "who performs each treatment",
            "Hebrew names",
            "dates of birth",
            "the tooth of a planned treatment",
        ]
        allergies = await backend.get_patient_allergies(patient)
        assert [(a.substance, a.reaction, a.severity) for a in allergies] == [
            ("penicillin", "rash", "severe"),
            ("latex", None, "unknown"),
        ]
        with pytest.raises(PracticeMisconfigured, match="Dental treatments"):
            await backend.list_treatment_types()


async def test_no_allergies_anywhere_is_a_configuration_error() -> None:
    with running_odoo("17.0") as stand_in:
        patient = admin(stand_in, "res.partner", "create", {"name": "Tal Oren"})
        backend = backend_on(stand_in)
        with pytest.raises(
            PracticeMisconfigured, match="x_dental_allergy or a Text field x_allergies"
        ):
            await backend.get_patient_allergies(patient)
        assert (await backend.mapping()).missing(default_duration_minutes=30)[0].what == "allergies"


class _OdooWithoutSales:
    """A client whose Odoo lacks Sales and the allergy model: only `fields_get` answers."""

    def __init__(self) -> None:
        self.address = OdooAddress("http://odoo.example", "clinic", "assistant", "key")
        self.timeout = 1.0

    async def call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        assert method == "fields_get"
        if model in ("sale.order", "sale.order.line", "x_dental_allergy"):
            raise NoSuchModel(f"no model {model}")
        return {"name": {"type": "char"}, "phone": {"type": "char"}}


async def test_no_sales_means_no_plans() -> None:
    client: Any = _OdooWithoutSales()
    mapping = await detect_mapping(client)
    assert (mapping.plans, mapping.plan_tooth, mapping.phone_fields) == (False, False, ("phone",))
    assert "install Sales" in [i.fix for i in mapping.missing(default_duration_minutes=30)][1]
    backend = odoo_backend(client, today_from(CLOCK_HOUR))
    with pytest.raises(PracticeMisconfigured, match="install Sales"):
        await backend.get_treatment_plan(1)


# --- the copy of the set-up ---------------------------------------------------------------------


async def test_the_set_up_is_read_once_until_forgotten(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    providers = await backend.list_providers()
    await backend.list_treatment_types()
    await backend.clinic_hours()
    odoo.reset_calls()
    assert await backend.list_providers() == providers
    await backend.list_treatment_types()
    assert odoo.count() == 0
    await backend.clinic_hours()
    assert odoo.count() == 1, "the leaves are read fresh"
    backend.forget_setup()
    odoo.reset_calls()
    await backend.list_providers()
    assert odoo.count("res.users", "search_read") == 1
    assert odoo.count(method="fields_get") == 5, "the mapping is detected again"


async def test_without_a_cache_every_read_goes_to_odoo(odoo: OdooStandIn) -> None:
    backend = backend_on(odoo, odoo_cache_seconds=0)
    await backend.list_providers()
    odoo.reset_calls()
    await backend.list_providers()
    assert odoo.count("res.users", "search_read") == 1


# --- how Odoo's records read --------------------------------------------------------------------


async def test_the_calls_each_operation_makes(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    """The figures docs/ODOO.md gives, with the set-up already read."""
    [dana] = await backend.search_patient(phone=DANA)
    await backend.list_providers()
    monday = free_monday()
    counted = {}
    for name, operation in (
        ("search_patient", backend.search_patient(phone=DANA)),
        ("get_available_slots", backend.get_available_slots("checkup", monday, monday)),
        ("create_appointment", backend.create_appointment(dana.id, "checkup", local(monday, 9))),
        ("get_patient_invoices", backend.get_patient_invoices(dana.id)),
        ("get_invoice_details", backend.get_invoice_details(dana.id, "INV/2026/0042")),
        ("get_patient_notes", backend.get_patient_notes(dana.id)),
    ):
        odoo.reset_calls()
        await operation
        counted[name] = odoo.count()
    assert counted == {
        "search_patient": 1,
        "get_available_slots": 2,
        "create_appointment": 5,
        "get_patient_invoices": 2,
        "get_invoice_details": 3,
        "get_patient_notes": 2,
    }


async def test_a_booking_in_odoo(odoo: OdooStandIn, backend: OdooPracticeBackend) -> None:
    [dana] = await backend.search_patient(phone=DANA)
    booked = await backend.create_appointment(
        dana.id, "filling", local(free_monday(), 9), notes="tooth 37 <left>"
    )
    [event] = admin(
        odoo,
        "calendar.event",
        "read",
        [booked.id],
        fields=["name", "user_id", "partner_ids", "show_as", "categ_ids", "description"],
    )
    [tag] = admin(odoo, "calendar.event.type", "search", [("name", "=", "filling")])
    cohen = await backend.list_providers()
    [partner] = admin(odoo, "res.users", "read", [booked.provider_id], fields=["partner_id"])
    assert event["name"] == "Filling: Dana Levi"
    assert event["user_id"][0] == booked.provider_id == cohen[0].id
    assert set(event["partner_ids"]) == {dana.id, partner["partner_id"][0]}
    assert (event["show_as"], event["categ_ids"]) == ("busy", [tag])
    assert "tooth 37 &lt;left&gt;" in event["description"]
    assert "dental-booking:" in event["description"]
    await backend.cancel_appointment(dana.id, booked.id, reason="feeling better")
    [archived] = admin(
        odoo,
        "calendar.event",
        "read",
        [booked.id],
        fields=["active"],
        context={"active_test": False},
    )
    assert archived["active"] is False
    notes = admin(
        odoo,
        "mail.message",
        "search_read",
        [("model", "=", "calendar.event"), ("res_id", "=", booked.id)],
        fields=["body"],
    )
    assert any("feeling better" in n["body"] for n in notes)


async def test_two_backends_racing_for_one_slot_never_book_it_twice(odoo: OdooStandIn) -> None:
    first, second = backend_on(odoo), backend_on(odoo)
    [dana] = await first.search_patient(phone=DANA)
    [john] = await second.search_patient(phone=JOHN)
    cohen = (await first.list_providers())[0]
    monday = free_monday()
    results = await asyncio.gather(
        first.create_appointment(dana.id, "checkup", local(monday, 9), provider_id=cohen.id),
        second.create_appointment(john.id, "checkup", local(monday, 9), provider_id=cohen.id),
        return_exceptions=True,
    )
    booked = [r for r in results if not isinstance(r, SlotUnavailable)]
    assert len(booked) <= 1, results
    assert all(type(r).__name__ == "Appointment" for r in booked), results
    kept = await first.appointments_between(local(monday, 9), local(monday, 10))
    assert [a.id for a in kept] == [a.id for a in booked]


def intercept(
    backend: OdooPracticeBackend, model: str, method: str, meanwhile: Callable[[], object]
) -> None:
    """Run `meanwhile` once, right after the backend's first `model.method` call (as reception
    or another process would act between two of the backend's calls)."""
    real = backend.client.call
    done = False

    async def call(
        called_model: str,
        called_method: str,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        nonlocal done
        result = await real(called_model, called_method, args, kwargs)
        if (called_model, called_method) == (model, method) and not done:
            done = True
            meanwhile()
        return result

    backend.client.call = call  # type: ignore[method-assign]


async def test_a_booking_yields_to_an_event_reception_writes_meanwhile(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [john] = await backend.search_patient(phone=JOHN)
    cohen = (await backend.list_providers())[0]
    monday = free_monday()
    reception = {
        "name": "Booked at the desk",
        "start": odoo_datetime(local(monday, 9, 15)),
        "stop": odoo_datetime(local(monday, 9, 45)),
        "user_id": cohen.id,
        "show_as": "busy",
    }
    intercept(
        backend,
        "calendar.event",
        "create",
        lambda: admin(odoo, "calendar.event", "create", reception, context=QUIET),
    )
    with pytest.raises(SlotUnavailable):
        await backend.create_appointment(john.id, "checkup", local(monday, 9), provider_id=cohen.id)
    left = admin(
        odoo,
        "calendar.event",
        "search_read",
        [("user_id", "=", cohen.id), ("start", ">=", odoo_datetime(local(monday, 8)))],
        fields=["name"],
        context={"active_test": False},
    )
    assert [row["name"] for row in left] == ["Booked at the desk"]


async def test_a_moved_event_keeping_its_old_id_yields_and_goes_back(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [john] = await backend.search_patient(phone=JOHN)
    cohen = (await backend.list_providers())[0]
    monday = free_monday()
    booked = await backend.create_appointment(
        john.id, "checkup", local(monday, 9), provider_id=cohen.id
    )
    newer = {  # a higher id than the moved event's
        "name": "Booked at the desk",
        "start": odoo_datetime(local(monday, 11)),
        "stop": odoo_datetime(local(monday, 11, 30)),
        "user_id": cohen.id,
        "show_as": "busy",
    }
    intercept(
        backend,
        "calendar.event",
        "write",
        lambda: admin(odoo, "calendar.event", "create", newer, context=QUIET),
    )
    with pytest.raises(SlotUnavailable):
        await backend.reschedule_appointment(john.id, booked.id, local(monday, 11))
    assert await backend.list_patient_appointments(john.id) == [booked]


@pytest.mark.parametrize("failures", [1, 2])
async def test_an_undo_that_fails_is_tried_again_then_left_to_an_operator(
    odoo: OdooStandIn,
    backend: OdooPracticeBackend,
    failures: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(bookings, "UNDO_RETRY_SECONDS", 0.0)
    [john] = await backend.search_patient(phone=JOHN)
    cohen = (await backend.list_providers())[0]
    monday = free_monday()
    busy = {"name": "Desk", "user_id": cohen.id, "show_as": "busy"}
    times = {"start": odoo_datetime(local(monday, 9)), "stop": odoo_datetime(local(monday, 10))}
    intercept(
        backend,
        "calendar.event",
        "create",
        lambda: admin(odoo, "calendar.event", "create", busy | times, context=QUIET),
    )
    odoo.fail_next(failures, "down", model="calendar.event", method="unlink")
    expected = SlotUnavailable if failures == 1 else PracticeUnavailable
    with caplog.at_level(logging.ERROR), pytest.raises(expected):
        await backend.create_appointment(john.id, "checkup", local(monday, 9), provider_id=cohen.id)
    mine = await backend.list_patient_appointments(john.id)
    logged = [r.getMessage() for r in caplog.records if r.name == bookings.__name__]
    if failures == 1:
        assert mine == [] and logged == []
    else:
        [left] = mine
        [line] = logged
        assert f"calendar.event {left.id}" in line and "dental-booking:" in line
        assert "John" not in line


async def test_a_record_removed_in_odoo_meanwhile_is_not_found(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [john] = await backend.search_patient(phone=JOHN)
    booked = await backend.create_appointment(john.id, "checkup", local(free_monday(), 9))
    intercept(
        backend,
        "calendar.event",
        "search_read",
        lambda: admin(odoo, "calendar.event", "unlink", [booked.id]),
    )
    with pytest.raises(AppointmentNotFound, match=f"no appointment {booked.id} for this patient"):
        await backend.cancel_appointment(john.id, booked.id)
    passing = admin(odoo, "res.partner", "create", {"name": "Ora Tal", "phone": "+972521112233"})
    intercept(
        backend,
        "res.partner",
        "search_read",
        lambda: admin(odoo, "res.partner", "unlink", [passing]),
    )
    with pytest.raises(PatientNotFound):
        await backend.add_patient_note(passing, "Asked about whitening.", author="assistant")


async def test_leaves_and_all_day_events_take_time(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    cohen, mizrahi, _ = await backend.list_providers()
    monday = free_monday()
    [resource] = admin(odoo, "resource.resource", "search", [("user_id", "=", cohen.id)])
    morning = local(monday, 8), local(monday, 12)
    admin(
        odoo,
        "resource.calendar.leaves",
        "create",
        {
            "name": "dentist's appointment",
            "resource_id": resource,
            "date_from": odoo_datetime(morning[0]),
            "date_to": odoo_datetime(morning[1]),
        },
    )
    slots = await backend.get_available_slots("checkup", monday, monday, provider_id=cohen.id)
    assert slots[0].starts_at == local(monday, 12)
    admin(
        odoo,
        "calendar.event",
        "create",
        {
            "name": "Conference",
            "allday": True,
            "start": f"{monday} 08:00:00",
            "stop": f"{monday} 18:00:00",
            "user_id": mizrahi.id,
            "show_as": "busy",
        },
        context=QUIET,
    )
    assert (
        await backend.get_available_slots("checkup", monday, monday, provider_id=mizrahi.id) == []
    )
    tuesday = monday + timedelta(days=1)
    admin(
        odoo,
        "resource.calendar.leaves",
        "create",
        {
            "name": "clinic meeting",
            "date_from": odoo_datetime(local(tuesday, 12)),
            "date_to": odoo_datetime(local(tuesday, 14)),
        },
    )
    slots = await backend.get_available_slots("checkup", tuesday, tuesday, limit=100)
    assert not any(local(tuesday, 11, 45) < s.starts_at < local(tuesday, 14) for s in slots)
    assert (await backend.clinic_hours()).on(tuesday) != (), "half a day off is not a closure"


async def test_a_refund_counts_down(odoo: OdooStandIn, backend: OdooPracticeBackend) -> None:
    [dana] = await backend.search_patient(phone=DANA)
    refund = admin(
        odoo,
        "account.move",
        "create",
        {
            "move_type": "out_refund",
            "partner_id": dana.id,
            "invoice_date": "2026-11-01",
            "invoice_date_due": "2026-11-01",
            "invoice_line_ids": [
                [0, 0, {"name": "Refund: missed filling", "quantity": 1, "price_unit": 150}]
            ],
        },
    )
    admin(odoo, "account.move", "action_post", [refund])
    invoices = {i.number: i for i in await backend.get_patient_invoices(dana.id)}
    [number] = [n for n in invoices if n != "INV/2026/0042"]
    assert (invoices[number].amount_total, invoices[number].amount_due) == (
        Decimal("-150.00"),
        Decimal("-150.00"),
    )
    assert invoices[number].status == "unpaid"
    details = await backend.get_invoice_details(dana.id, number)
    assert [(line.description, line.subtotal) for line in details.lines] == [
        ("Refund: missed filling", Decimal("-150.00"))
    ]


async def test_notes_written_in_odoo_read_as_text(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [john] = await backend.search_patient(phone=JOHN)
    [note_subtype] = admin(odoo, "mail.message.subtype", "search", [("name", "=", "Note")])
    admin(
        odoo,
        "mail.message",
        "create",
        {
            "model": "res.partner",
            "res_id": john.id,
            "message_type": "comment",
            "subtype_id": note_subtype,
            "author_id": admin(odoo, "res.users", "read", [2], fields=["partner_id"])[0][
                "partner_id"
            ][0],
            "body": "<p>Called about the <b>bill</b> &amp; paid.</p><p>All settled.</p>",
        },
    )
    note = (await backend.get_patient_notes(john.id))[-1]
    assert (note.body, note.for_patient, note.author) == (
        "Called about the bill & paid.\n\nAll settled.",
        False,
        "Administrator",
    )


async def test_patients_are_people_without_a_user(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [partner] = admin(odoo, "res.users", "read", [odoo.api_uid], fields=["partner_id"])
    company = admin(odoo, "res.partner", "search", [("is_company", "=", True)])[0]
    for not_a_patient in (partner["partner_id"][0], company):
        with pytest.raises(PatientNotFound):
            await backend.get_patient(not_a_patient)
    assert await backend.search_patient(name="Dental assistant") == []


async def test_working_hours_leave_out_lunch_and_lines_out_of_date() -> None:
    with running_odoo("17.0") as stand_in:
        [calendar] = admin(stand_in, "resource.calendar", "search", [])
        client = OdooClient(api_address(stand_in), timeout=5)
        hours = (await load_attendances(client, [calendar]))[calendar]
        monday = [a.window for a in hours if a.window.weekday == 0]
        assert monday == [WeeklyWindow(0, time(8), time(12)), WeeklyWindow(0, time(13), time(17))]
        admin(
            stand_in,
            "resource.calendar.attendance",
            "create",
            {
                "calendar_id": calendar,
                "name": "Sunday (from next year)",
                "dayofweek": "6",
                "hour_from": 9.5,
                "hour_to": 12.25,
                "day_period": "morning",
                "date_from": "2030-01-01",
            },
        )
        [sunday] = [
            a
            for a in (await load_attendances(client, [calendar]))[calendar]
            if a.window.weekday == 6
        ]
        assert sunday.window == WeeklyWindow(6, time(9, 30), time(12, 15))
        assert not sunday.valid_on(date(2029, 12, 31)) and sunday.valid_on(date(2030, 1, 6))


async def test_a_portal_users_contact_is_a_patient(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [dana] = await backend.search_patient(phone=DANA)
    admin(
        odoo,
        "res.users",
        "create",
        {"name": "Dana Levi", "login": "dana-portal", "partner_id": dana.id, "share": True},
    )
    backend.forget_setup()
    assert await backend.search_patient(phone=DANA) == [dana]
    assert await backend.get_patient(dana.id) == dana
    booked = await backend.create_appointment(dana.id, "checkup", local(free_monday(), 9))
    assert booked in await backend.list_patient_appointments(dana.id)


async def test_notes_without_a_subtype_or_for_employees_only_are_not_the_patients(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [john] = await backend.search_patient(phone=JOHN)
    [discussion] = admin(odoo, "mail.message.subtype", "search", [("name", "=", "Discussions")])
    message = {"model": "res.partner", "res_id": john.id, "message_type": "comment"}
    for body, extra in (
        ("No subtype at all.", {}),
        ("Sent, but for employees only.", {"subtype_id": discussion, "is_internal": True}),
        ("Sent to the patient.", {"subtype_id": discussion}),
    ):
        admin(odoo, "mail.message", "create", message | extra | {"body": f"<p>{body}</p>"})
    notes = {n.body: n.for_patient for n in await backend.get_patient_notes(john.id)}
    assert notes["No subtype at all."] is False
    assert notes["Sent, but for employees only."] is False
    assert notes["Sent to the patient."] is True


async def test_a_family_members_invoices_and_visits_are_not_the_patients(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [dana] = await backend.search_patient(phone=DANA)
    cohen = (await backend.list_providers())[0]
    child = admin(odoo, "res.partner", "create", {"name": "Noam Levi", "parent_id": dana.id})
    invoice = admin(
        odoo,
        "account.move",
        "create",
        {
            "move_type": "out_invoice",
            "partner_id": child,
            "invoice_date": "2026-11-02",
            "invoice_date_due": "2026-11-30",
            "invoice_line_ids": [[0, 0, {"name": "Sealants", "quantity": 1, "price_unit": 90}]],
        },
    )
    admin(odoo, "account.move", "action_post", [invoice])
    [number] = admin(odoo, "account.move", "read", [invoice], fields=["name"])
    assert number["name"] not in {i.number for i in await backend.get_patient_invoices(dana.id)}
    assert [i.number for i in await backend.get_patient_invoices(child)] == [number["name"]]
    [tag] = admin(odoo, "calendar.event.type", "search", [("name", "=", "checkup")])
    monday = free_monday()
    visit = admin(
        odoo,
        "calendar.event",
        "create",
        {
            "name": "Noam's check-up",
            "start": odoo_datetime(local(monday, 9)),
            "stop": odoo_datetime(local(monday, 9, 30)),
            "user_id": cohen.id,
            "partner_ids": [[6, 0, [child, dana.id, odoo_partner_of(odoo, cohen.id)]]],
            "categ_ids": [[6, 0, [tag]]],
            "show_as": "busy",
        },
        context=QUIET,
    )
    assert visit not in {a.id for a in await backend.list_patient_appointments(dana.id)}
    with pytest.raises(AppointmentNotFound):
        await backend.cancel_appointment(dana.id, visit)


async def test_every_calendar_tag_named_for_a_treatment_marks_it(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    [john] = await backend.search_patient(phone=JOHN)
    cohen = (await backend.list_providers())[0]
    second = admin(odoo, "calendar.event.type", "create", {"name": "checkup"})
    monday = free_monday()
    visit = admin(
        odoo,
        "calendar.event",
        "create",
        {
            "name": "Booked at the desk",
            "start": odoo_datetime(local(monday, 9)),
            "stop": odoo_datetime(local(monday, 9, 30)),
            "user_id": cohen.id,
            "partner_ids": [[6, 0, [john.id, odoo_partner_of(odoo, cohen.id)]]],
            "categ_ids": [[6, 0, [second]]],
            "show_as": "busy",
        },
        context=QUIET,
    )
    backend.forget_setup()
    [found] = [a for a in await backend.list_patient_appointments(john.id) if a.id == visit]
    assert found.treatment_code == "checkup"


async def test_a_missing_tag_is_created_once_by_concurrent_bookings(
    odoo: OdooStandIn, backend: OdooPracticeBackend
) -> None:
    admin(
        odoo,
        "calendar.event.type",
        "unlink",
        admin(odoo, "calendar.event.type", "search", [("name", "=", "whitening")]),
    )
    backend.forget_setup()
    [dana], [john] = (
        await backend.search_patient(phone=DANA),
        await backend.search_patient(phone=JOHN),
    )
    monday = free_monday()
    await asyncio.gather(
        backend.create_appointment(dana.id, "whitening", local(monday, 9)),
        backend.create_appointment(john.id, "whitening", local(monday, 14)),
        return_exceptions=True,
    )
    tags = admin(odoo, "calendar.event.type", "search", [("name", "=", "whitening")])
    assert len(tags) == 1


def odoo_partner_of(stand_in: OdooStandIn, user_id: int) -> int:
    [user] = admin(stand_in, "res.users", "read", [user_id], fields=["partner_id"])
    return int(user["partner_id"][0])
