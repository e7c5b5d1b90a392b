"""Clinic set-up from the staff API (`/api/v1/admin/clinic/...`): an admin's edits reach the
assistant on its next turn, refused edits change nothing, and every change is audited. SQLite:
the set-up service's SQL is covered on both engines by tests/test_clinic_setup.py."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from serving.staff.audit import AuditQuery
from tests.assistant_client import JOHN_PHONE, Patient
from tests.staff_client import StaffDesk, staff_app_fixture  # noqa: F401

CLINIC = "/api/v1/admin/clinic"


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


def john(desk: StaffDesk) -> Patient:
    return Patient(desk.http, user_id=f"user-{uuid.uuid4().hex[:8]}", phone=JOHN_PHONE)


def offered_times(reply: dict[str, Any]) -> set[str]:
    texts = [b["text"] for b in reply["buttons"] if b["data"].startswith("slot:")]
    assert texts, reply
    return {re.findall(r"\d\d:\d\d", text)[-1] for text in texts}


async def test_working_hours_edited_by_an_admin_change_the_slots_offered(
    staff_app: StaffDesk,
) -> None:
    admin = await staff_app.headers("admin")
    providers = (await staff_app.http.get(f"{CLINIC}/providers", headers=admin)).json()["items"]
    assert providers and all(p["hours"] for p in providers)
    evening = {"windows": [{"weekday": d, "starts": "20:30", "ends": "22:00"} for d in range(5)]}
    evening["windows"] += [{"weekday": 6, "starts": "20:30", "ends": "22:00"}]
    for provider in providers:
        response = await staff_app.http.put(
            f"{CLINIC}/providers/{provider['id']}/hours", json=evening, headers=admin
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["hours"]) == 6
    times = offered_times(await john(staff_app).send("I want to book a checkup"))
    assert all("20:30" <= t < "22:00" for t in times), times
    hours = await john(staff_app).send("what are your opening hours?")
    assert "20:30-22:00" in hours["reply"]
    changes = await staff_app.app.state.audit.search(AuditQuery(action="clinic."))
    assert {e.action for e in changes} == {"clinic.provider.hours"}
    assert len(changes) == len(providers) and all(e.patient_id is None for e in changes)


async def test_refused_edits_change_nothing(staff_app: StaffDesk) -> None:
    admin = await staff_app.headers("admin")
    before = (await staff_app.http.get(CLINIC, headers=admin)).json()
    provider = before["providers"][0]
    ids = {
        p["name"]: p["id"]
        for p in (await staff_app.http.get(f"{CLINIC}/providers", headers=admin)).json()["items"]
    }
    pid = ids[provider["name"]]
    for path, method, body, status in (
        (
            f"/providers/{pid}/hours",
            "PUT",
            {"windows": [{"weekday": 0, "starts": "12:00", "ends": "09:00"}]},
            422,
        ),
        (
            f"/providers/{pid}/hours",
            "PUT",
            {
                "windows": [
                    {"weekday": 0, "starts": "08:00", "ends": "12:00"},
                    {"weekday": 0, "starts": "11:00", "ends": "13:00"},
                ]
            },
            422,
        ),
        ("/providers/999999/hours", "PUT", {"windows": []}, 404),
        ("/providers", "POST", {"name": provider["name"], "name_he": "x", "role": "dentist"}, 422),
        (
            "/treatments",
            "POST",
            {"code": "x y", "name": "X", "name_he": "X", "duration_minutes": 30, "price": "10"},
            422,
        ),
        ("/treatments/no_such_treatment", "DELETE", None, 404),
        ("/profile", "PUT", {"latitude": 120}, 422),
    ):
        response = await staff_app.http.request(method, CLINIC + path, json=body, headers=admin)
        assert response.status_code == status, (path, response.text)
        assert response.json()["message"]
    assert (await staff_app.http.get(CLINIC, headers=admin)).json() == before
    assert not await staff_app.app.state.audit.search(AuditQuery(action="clinic."))


async def test_treatments_closures_and_profile_round_trip(staff_app: StaffDesk) -> None:
    admin = await staff_app.headers("admin")
    added = await staff_app.http.post(
        f"{CLINIC}/treatments",
        json={
            "code": "night_guard",
            "name": "Night guard",
            "name_he": "סד לילה",
            "duration_minutes": 45,
            "price": "900",
            "providers": ["Dr. Avi Cohen"],
        },
        headers=admin,
    )
    assert added.status_code == 201, added.text
    closure = await staff_app.http.post(
        f"{CLINIC}/closures",
        json={"day": "2031-03-04", "reason": "staff training"},
        headers=admin,
    )
    assert closure.status_code == 201
    profile = await staff_app.http.put(
        f"{CLINIC}/profile", json={"parking_en": "Park behind the building."}, headers=admin
    )
    assert profile.status_code == 200
    clinic = (await staff_app.http.get(CLINIC, headers=admin)).json()
    assert "night_guard" in {t["code"] for t in clinic["treatments"]}
    assert {"day": "2031-03-04", "reason": "staff training"} in clinic["closures"]
    parking = await john(staff_app).send("where can I park?")
    assert "Park behind the building." in parking["reply"]
    assert (
        await staff_app.http.delete(f"{CLINIC}/closures/2031-03-04", headers=admin)
    ).status_code == 204
    actions = [e.action for e in await staff_app.app.state.audit.search(AuditQuery())]
    assert actions == [
        "clinic.closure.remove",
        "clinic.profile.update",
        "clinic.closure.add",
        "clinic.treatment.add",
    ]
