"""The staff console's accounts and on-call rota (`/api/v1/admin/users`, `/oncall`): admins
only, a generated password shown once, no admin disabling themselves, each change audited.
SQLite only: the routes add no SQL that differs by engine."""

from __future__ import annotations

import pytest

from serving.staff.audit import AuditLog, AuditQuery
from tests.staff_client import StaffDesk, staff_app_fixture  # noqa: F401

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)

API = "/api/v1/admin"


async def audit_actions(desk: StaffDesk, prefix: str) -> list[tuple[str, str | None]]:
    log: AuditLog = desk.app.state.audit
    entries = await log.search(AuditQuery(action=prefix))
    return [(e.action, e.subject) for e in reversed(entries)]


async def test_admins_create_disable_and_reset_accounts(staff_app: StaffDesk) -> None:
    admin = await staff_app.headers("admin")
    new = {"email": "Front.Desk@Clinic.example", "name": "Front Desk", "role": "receptionist"}
    created = await staff_app.http.post(f"{API}/users", json=new, headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    user, password = created.json()["user"], created.json()["password"]
    assert (user["email"], user["role"], user["disabled"]) == (
        "front.desk@clinic.example",
        "receptionist",
        False,
    )
    signed_in = await staff_app.sign_in("front.desk@clinic.example", password)
    assert signed_in.status_code == 200, "the generated password signs in"
    desk_token = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}

    chosen = await staff_app.http.post(
        f"{API}/users",
        json={**new, "email": "nurse@clinic.example", "password": "a long chosen passphrase"},
        headers=admin,
    )
    assert chosen.status_code == 201 and chosen.json()["password"] is None
    duplicate = await staff_app.http.post(f"{API}/users", json=new, headers=admin)
    assert duplicate.status_code == 409
    weak = await staff_app.http.post(
        f"{API}/users",
        json={**new, "email": "weak@clinic.example", "password": "short"},
        headers=admin,
    )
    assert weak.status_code == 422
    bad_role = await staff_app.http.post(
        f"{API}/users", json={**new, "email": "x@clinic.example", "role": "owner"}, headers=admin
    )
    assert bad_role.status_code == 422
    listed = (await staff_app.http.get(f"{API}/users", headers=admin)).json()["items"]
    assert sorted(u["email"] for u in listed) == [
        "admin@staff.example",
        "front.desk@clinic.example",
        "nurse@clinic.example",
    ], "nothing created by the refused requests"

    refused = await staff_app.http.get(f"{API}/users", headers=await staff_app.headers("doctor"))
    assert refused.status_code == 403
    assert (await staff_app.http.get(f"{API}/users")).status_code == 401

    reset = await staff_app.http.post(f"{API}/users/{user['id']}/reset", headers=admin)
    assert reset.status_code == 200 and reset.json()["password"] not in (None, password)
    assert (await staff_app.sign_in(user["email"], password)).status_code == 401
    assert (await staff_app.sign_in(user["email"], reset.json()["password"])).status_code == 200
    assert (await staff_app.http.get("/api/v1/auth/me", headers=desk_token)).status_code == 401

    me = (await staff_app.http.get("/api/v1/auth/me", headers=admin)).json()
    myself = await staff_app.http.post(f"{API}/users/{me['id']}/disable", headers=admin)
    assert myself.status_code == 409
    disabled = await staff_app.http.post(f"{API}/users/{user['id']}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["user"]["disabled"] is True
    assert (await staff_app.sign_in(user["email"], reset.json()["password"])).status_code == 401
    unknown = await staff_app.http.post(f"{API}/users/9999/disable", headers=admin)
    assert unknown.status_code == 404

    subject = f"user:{user['id']}"
    assert await audit_actions(staff_app, "user.") == [
        ("user.create", subject),
        ("user.create", f"user:{chosen.json()['user']['id']}"),
        ("user.reset", subject),
        ("user.disable", subject),
    ]


async def test_admins_keep_the_on_call_rota(staff_app: StaffDesk) -> None:
    admin = await staff_app.headers("admin")
    listed = (await staff_app.http.get(f"{API}/oncall", headers=admin)).json()["items"]
    assert [(d["name"], d["fallback"]) for d in listed] == [("Dr. Avi Cohen", True)]

    dentist = {
        "name": "Dr. Noa Levi",
        "email": "noa@clinic.example",
        "phone": "052-111-2233",
        "shifts": ["sun-mon 08:00-18:00", "fri 18:00-08:00"],
    }
    bad_shift = await staff_app.http.post(
        f"{API}/oncall", json={**dentist, "shifts": ["someday"]}, headers=admin
    )
    assert bad_shift.status_code == 422
    added = await staff_app.http.post(f"{API}/oncall", json=dentist, headers=admin)
    assert added.status_code == 201, added.text
    doctor = added.json()["doctor"]
    assert doctor["phone"] == "+972521112233"
    assert sorted(doctor["shifts"]) == ["fri 18:00-08:00", "mon 08:00-18:00", "sun 08:00-18:00"]
    again = await staff_app.http.post(f"{API}/oncall", json=dentist, headers=admin)
    assert again.status_code == 422
    listed = (await staff_app.http.get(f"{API}/oncall", headers=admin)).json()["items"]
    assert len(listed) == 2, "nothing added by the refused requests"

    receptionist = await staff_app.headers("receptionist")
    assert (await staff_app.http.get(f"{API}/oncall", headers=receptionist)).status_code == 403
    removed = await staff_app.http.delete(f"{API}/oncall/{doctor['id']}", headers=admin)
    assert removed.status_code == 200 and removed.json()["doctor"]["email"] == dentist["email"]
    gone = await staff_app.http.delete(f"{API}/oncall/{doctor['id']}", headers=admin)
    assert gone.status_code == 404
    subject = f"oncall:{doctor['id']}"
    assert await audit_actions(staff_app, "oncall.") == [
        ("oncall.add", subject),
        ("oncall.remove", subject),
    ]
