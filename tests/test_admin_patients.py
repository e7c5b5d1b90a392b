"""The staff console's patients, calendar, free times, bookings for a patient and clinical
record (`/api/v1/admin/...`): each route's answer and refusals, the practice system's rules
holding for staff bookings, and an audit entry for each read or change of patient data.
SQLite only: the routes add no SQL of their own that differs by engine."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from serving.db import models as db
from serving.db.engine import Database
from serving.staff.audit import AuditEntry, AuditLog, AuditQuery
from tests.staff_client import StaffDesk, staff_app_fixture  # noqa: F401

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)

API = "/api/v1/admin"
CLINIC = ZoneInfo("Asia/Jerusalem")


async def audit_entries(desk: StaffDesk, action: str) -> list[AuditEntry]:
    log: AuditLog = desk.app.state.audit
    return await log.search(AuditQuery(action=action))


async def patient_id(desk: StaffDesk, query: str) -> int:
    found = await desk.http.get(
        f"{API}/patients", params={"q": query}, headers=await desk.headers("receptionist")
    )
    [patient] = found.json()["items"]
    return int(patient["id"])


async def first_free_day(desk: StaffDesk, provider_id: int) -> tuple[date, list[dict[str, Any]]]:
    """The first day from the day after tomorrow with free checkup times for the provider."""
    headers = await desk.headers("receptionist")
    day = datetime.now(CLINIC).date() + timedelta(days=2)
    for _ in range(21):
        found = await desk.http.get(
            f"{API}/slots",
            params={"treatment": "checkup", "provider_id": provider_id, "date": day.isoformat()},
            headers=headers,
        )
        assert found.status_code == 200, found.text
        if len(found.json()["items"]) >= 2:
            return day, found.json()["items"]
        day += timedelta(days=1)
    raise AssertionError("no free day in three weeks")


async def test_finding_a_patient_and_reading_the_clinical_record(staff_app: StaffDesk) -> None:
    reception = await staff_app.headers("receptionist")
    by_name = await staff_app.http.get(f"{API}/patients", params={"q": "dana"}, headers=reception)
    assert by_name.status_code == 200
    assert [(p["name"], p["phone"]) for p in by_name.json()["items"]] == [
        ("Dana Levi", "+972501234567")
    ]
    assert set(by_name.json()["items"][0]) == {"id", "name", "name_he", "phone"}
    by_phone = await staff_app.http.get(
        f"{API}/patients", params={"q": "050-123-4567"}, headers=reception
    )
    assert by_phone.json()["items"] == by_name.json()["items"]
    too_short = await staff_app.http.get(f"{API}/patients", params={"q": "d"}, headers=reception)
    assert too_short.status_code == 422
    anonymous = await staff_app.http.get(f"{API}/patients", params={"q": "dana"})
    assert anonymous.status_code == 401
    searches = await audit_entries(staff_app, "patient.search")
    assert [e.detail for e in searches] == [
        {"by": "phone", "count": 1},
        {"by": "name", "count": 1},
    ], "each search recorded, without its words"

    dana = int(by_name.json()["items"][0]["id"])
    record = await staff_app.http.get(
        f"{API}/patients/{dana}/clinical", headers=await staff_app.headers("doctor")
    )
    assert record.status_code == 200
    body = record.json()
    assert [a["substance"] for a in body["allergies"]] == ["penicillin"]
    assert body["notes"] and body["notes"][0]["author"] == "Dr. Avi Cohen"
    # which notes the assistant reads out to the patient: only the one written for them
    assert [note["for_patient"] for note in body["notes"]] == [False, True]
    assert "+02:00" in body["notes"][0]["created_at"] or "+03:00" in body["notes"][0]["created_at"]
    assert len(body["plans"]) == 1 and body["plans"][0]["items"]
    refused = await staff_app.http.get(f"{API}/patients/{dana}/clinical", headers=reception)
    assert refused.status_code == 403
    unknown = await staff_app.http.get(
        f"{API}/patients/99999/clinical", headers=await staff_app.headers("doctor")
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    [read] = await audit_entries(staff_app, "patient.clinical.read")
    assert (read.patient_id, read.actor_role) == (dana, "doctor")


async def test_providers_and_treatments(staff_app: StaffDesk) -> None:
    headers = await staff_app.headers("receptionist")
    providers = (await staff_app.http.get(f"{API}/providers", headers=headers)).json()["items"]
    assert {p["name"] for p in providers} >= {"Dr. Avi Cohen", "Noa Peretz, RDH"}
    assert set(providers[0]) == {"id", "name", "name_he", "role", "active"}
    treatments = (await staff_app.http.get(f"{API}/treatments", headers=headers)).json()["items"]
    checkup = next(t for t in treatments if t["code"] == "checkup")
    assert checkup["duration_minutes"] == 30 and set(checkup) == {
        "code",
        "name",
        "name_he",
        "duration_minutes",
    }
    assert (await staff_app.http.get(f"{API}/providers")).status_code == 401


async def test_book_move_and_cancel_for_a_patient(staff_app: StaffDesk, database: Database) -> None:
    headers = await staff_app.headers("receptionist")
    providers = (await staff_app.http.get(f"{API}/providers", headers=headers)).json()["items"]
    cohen = next(p["id"] for p in providers if p["name"] == "Dr. Avi Cohen")
    dana, john = await patient_id(staff_app, "dana levi"), await patient_id(staff_app, "john smith")
    day, slots = await first_free_day(staff_app, cohen)
    first, second = slots[0]["starts_at"], slots[1]["starts_at"]
    assert slots[0]["provider_name"] == "Dr. Avi Cohen"
    booking = {"patient_id": dana, "treatment": "checkup", "provider_id": cohen}

    naive = await staff_app.http.post(
        f"{API}/appointments",
        json={**booking, "starts_at": first[:19]},
        headers=headers,
    )
    assert naive.status_code == 422
    booked = await staff_app.http.post(
        f"{API}/appointments", json={**booking, "starts_at": first}, headers=headers
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()["appointment"]
    assert appointment["patient"] == {"id": dana, "name": "Dana Levi"}
    assert (appointment["starts_at"], appointment["status"]) == (first, "scheduled")

    taken = await staff_app.http.post(
        f"{API}/appointments",
        json={**booking, "patient_id": john, "starts_at": first},
        headers=headers,
    )
    assert (taken.status_code, taken.json()["error"]) == (409, "slot_unavailable")
    late = datetime.combine(day, datetime.min.time(), CLINIC).replace(hour=23)
    out_of_hours = await staff_app.http.post(
        f"{API}/appointments",
        json={**booking, "patient_id": john, "starts_at": late.isoformat()},
        headers=headers,
    )
    assert (out_of_hours.status_code, out_of_hours.json()["error"]) == (
        409,
        "outside_working_hours",
    )
    backend = staff_app.app.state.practice
    assert all(
        a.starts_at.astimezone(CLINIC).date() != day
        for a in await backend.list_patient_appointments(john)
    ), "nothing booked for the refused patient that day"

    calendar = await staff_app.http.get(
        f"{API}/calendar",
        params={"provider_id": cohen, "from": day.isoformat(), "days": 2},
        headers=headers,
    )
    assert calendar.status_code == 200
    [shown] = [
        a for a in calendar.json()["days"][0]["appointments"] if a["id"] == appointment["id"]
    ]
    assert shown == appointment
    assert calendar.json()["days"][0]["hours"], "the provider works that day"
    assert [d["date"] for d in calendar.json()["days"]] == [
        day.isoformat(),
        (day + timedelta(days=1)).isoformat(),
    ]

    moved = await staff_app.http.patch(
        f"{API}/appointments/{appointment['id']}", json={"starts_at": second}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["appointment"]["starts_at"] == second
    [in_backend] = [
        a for a in await backend.list_patient_appointments(dana) if a.id == appointment["id"]
    ]
    assert in_backend.starts_at == datetime.fromisoformat(second)

    cancelled = await staff_app.http.delete(
        f"{API}/appointments/{appointment['id']}", headers=headers
    )
    assert cancelled.json()["appointment"]["status"] == "cancelled"
    assert appointment["id"] not in [a.id for a in await backend.list_patient_appointments(dana)]
    unknown = await staff_app.http.delete(f"{API}/appointments/999999", headers=headers)
    assert unknown.status_code == 404

    async with database.transaction() as session:
        session.add(db.ClinicClosure(day=day, reason="staff training"))
    closed = await staff_app.http.post(
        f"{API}/appointments", json={**booking, "starts_at": first}, headers=headers
    )
    assert (closed.status_code, closed.json()["error"]) == (409, "clinic_closed")
    calendar = await staff_app.http.get(
        f"{API}/calendar",
        params={"provider_id": cohen, "from": day.isoformat(), "days": 1},
        headers=headers,
    )
    assert calendar.json()["days"][0]["hours"] == []

    changes = await audit_entries(staff_app, "appointment.")
    # Each change is recorded before it is made; a refused one is recorded again as refused.
    assert [(e.action, e.patient_id) for e in reversed(changes)] == [
        ("appointment.book", dana),
        ("appointment.book", john),
        ("appointment.book.refused", john),
        ("appointment.book", john),
        ("appointment.book.refused", john),
        ("appointment.move", dana),
        ("appointment.cancel", dana),
        ("appointment.book", dana),
        ("appointment.book.refused", dana),
    ]
    refusals = [e.detail for e in changes if e.action.endswith(".refused")]
    assert [r["error"] for r in reversed(refusals) if r] == [
        "SlotUnavailable",
        "OutsideWorkingHours",
        "ClinicClosed",
    ]
    assert len(await audit_entries(staff_app, "calendar.read")) == 2


async def test_a_friday_shows_the_hours_before_shabbat(staff_app: StaffDesk) -> None:
    headers = await staff_app.headers("doctor")
    providers = (await staff_app.http.get(f"{API}/providers", headers=headers)).json()["items"]
    mizrahi = next(p["id"] for p in providers if p["name"] == "Dr. Rivka Mizrahi")
    friday = date(2031, 1, 3)  # an ordinary Friday
    calendar = await staff_app.http.get(
        f"{API}/calendar",
        params={"provider_id": mizrahi, "from": friday.isoformat(), "days": 2},
        headers=headers,
    )
    assert [d["hours"] for d in calendar.json()["days"]] == [[["08:00", "13:00"]], []]
    unknown = await staff_app.http.get(
        f"{API}/calendar", params={"provider_id": 9999, "from": "2031-01-03"}, headers=headers
    )
    assert unknown.status_code == 404
    bad = await staff_app.http.get(
        f"{API}/calendar",
        params={"provider_id": mizrahi, "from": "2031-01-03", "days": 90},
        headers=headers,
    )
    assert bad.status_code == 422
