"""Staff sign-in through the HTTP API: tokens, refresh rotation, sign-out, lock-out, disabled
accounts; and the audit trail the database keeps append-only."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from serving.app import NO_ADMIN_MESSAGE
from serving.db.engine import Database
from serving.db.types import utcnow
from serving.staff.accounts import AccountError
from serving.staff.audit import AuditContext, AuditQuery
from serving.staff.sessions import StaffPrincipal
from tests.staff_client import PASSWORD, StaffDesk, staff_app_fixture, staff_desk  # noqa: F401

ME = "/api/v1/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_sign_in_refresh_and_sign_out(staff_app: StaffDesk) -> None:
    email = await staff_app.account("doctor", email="Dr.Noa@Clinic.example")
    wrong = await staff_app.sign_in(email, "not the password at all")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "login_failed")
    unknown = await staff_app.sign_in("nobody@clinic.example")
    assert unknown.status_code == 401 and unknown.json() == wrong.json(), "not told apart"

    signed_in = await staff_app.sign_in("dr.noa@clinic.example")
    assert signed_in.status_code == 200
    body = signed_in.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/api/v1/auth" in cookie
    me = await staff_app.http.get(ME, headers=bearer(body["access_token"]))
    assert me.json()["role"] == "doctor" and "clinical" in me.json()["permissions"]
    assert "audit" not in me.json()["permissions"]

    first_refresh = staff_app.http.cookies.get("dental_staff_refresh")
    refreshed = await staff_app.http.post("/api/v1/auth/refresh")
    assert refreshed.status_code == 200
    new_access = refreshed.json()["access_token"]
    assert new_access != body["access_token"]
    assert (await staff_app.http.get(ME, headers=bearer(body["access_token"]))).status_code == 401
    assert (await staff_app.http.get(ME, headers=bearer(new_access))).status_code == 200

    # The first refresh token, presented again after rotation: a stolen copy ends the session.
    staff_app.http.cookies.clear()
    staff_app.http.cookies.set("dental_staff_refresh", str(first_refresh))
    stolen = await staff_app.http.post("/api/v1/auth/refresh")
    assert stolen.status_code == 401
    assert (await staff_app.http.get(ME, headers=bearer(new_access))).status_code == 401

    again = (await staff_app.sign_in(email)).json()["access_token"]
    out = await staff_app.http.post("/api/v1/auth/logout", headers=bearer(again))
    assert out.status_code == 204
    assert (await staff_app.http.get(ME, headers=bearer(again))).status_code == 401
    assert (await staff_app.http.post("/api/v1/auth/refresh")).status_code == 401


async def test_missing_or_malformed_tokens_are_refused(staff_app: StaffDesk) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("not-a-token"), bearer(" ")):
        response = await staff_app.http.get(ME, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
    bad = await staff_app.http.post("/api/v1/auth/login", json={"email": "x"})
    assert bad.status_code == 422


async def test_repeated_wrong_passwords_lock_the_account(
    database_url: str, database: Database
) -> None:
    now = [datetime(2026, 12, 6, 9, 0, tzinfo=utcnow().tzinfo)]
    async with staff_desk(
        database_url, database, clock=lambda: now[0], staff_login_attempts=3
    ) as desk:
        email = await desk.account("receptionist")
        for _ in range(3):
            assert (await desk.sign_in(email, "wrong password!!")).status_code == 401
        locked = await desk.sign_in(email)  # the right password, while locked
        assert locked.status_code == 429 and locked.json()["error"] == "account_locked"
        assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
        now[0] += timedelta(minutes=16)
        assert (await desk.sign_in(email)).status_code == 200, "the lock ends"
        assert (await desk.sign_in(email, "wrong password!!")).status_code == 401
        assert (await desk.sign_in(email)).status_code == 200, "a success resets the count"


async def test_access_tokens_expire(database_url: str, database: Database) -> None:
    now = [utcnow()]
    async with staff_desk(database_url, database, clock=lambda: now[0]) as desk:
        headers = await desk.headers("admin")
        assert (await desk.http.get(ME, headers=headers)).status_code == 200
        now[0] += timedelta(minutes=15, seconds=1)
        assert (await desk.http.get(ME, headers=headers)).status_code == 401
        assert (await desk.http.post("/api/v1/auth/refresh")).status_code == 200
        now[0] += timedelta(hours=13)
        assert (await desk.http.post("/api/v1/auth/refresh")).status_code == 401


async def test_disable_and_reset_end_sessions(staff_app: StaffDesk) -> None:
    headers = await staff_app.headers("doctor")
    await staff_app.accounts.reset_password("doctor@staff.example", "a brand new passphrase")
    assert (await staff_app.http.get(ME, headers=headers)).status_code == 401
    assert (await staff_app.sign_in("doctor@staff.example")).status_code == 401
    fresh = await staff_app.sign_in("doctor@staff.example", "a brand new passphrase")
    assert fresh.status_code == 200
    await staff_app.accounts.disable("doctor@staff.example")
    assert (
        await staff_app.http.get(ME, headers=bearer(fresh.json()["access_token"]))
    ).status_code == 401
    refused = await staff_app.sign_in("doctor@staff.example", "a brand new passphrase")
    assert refused.status_code == 401


async def test_account_requests_are_validated(staff_app: StaffDesk) -> None:
    await staff_app.account("admin")
    before = await staff_app.accounts.list()
    for values, problem in (
        ({"email": "not-an-email"}, "e-mail"),
        ({"role": "janitor"}, "role"),
        ({"password": "short"}, "characters"),
        ({"password": "aaaaaaaaaaaaaaaa"}, "distinct"),
        ({"name": "  "}, "name"),
        ({"email": "ADMIN@staff.example"}, "already exists"),
    ):
        request = {"email": "new@staff.example", "name": "New", "role": "doctor"}
        request |= {"password": PASSWORD} | values
        with pytest.raises(AccountError, match=problem):
            await staff_app.accounts.create(**request)
    assert await staff_app.accounts.list() == before


async def test_passwords_and_tokens_never_reach_the_logs(
    staff_app: StaffDesk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = await staff_app.account("admin")
    response = await staff_app.sign_in(email)
    token = response.json()["access_token"]
    await staff_app.http.get(ME, headers=bearer(token))
    await staff_app.http.post("/api/v1/auth/refresh")
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert PASSWORD not in logged and token not in logged
    assert str(staff_app.http.cookies.get("dental_staff_refresh")) not in logged


async def test_the_audit_trail_is_append_only(staff_app: StaffDesk, database: Database) -> None:
    audit = staff_app.app.state.audit
    context = AuditContext(
        StaffPrincipal(user_id=7, email="a@staff.example", name="A", role="admin", session_id=1),
        client_address="10.0.0.9",
        reason="patient called",
    )
    await audit.record(context, "patient.read", patient_id=1, subject="patient:1")
    entries = await audit.search(AuditQuery(patient_id=1))
    assert [(e.action, e.actor_email, e.reason, e.client_address) for e in entries] == [
        ("patient.read", "a@staff.example", "patient called", "10.0.0.9")
    ]
    for statement in (
        "UPDATE audit_events SET actor_email = 'someone@else.example'",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with database.transaction() as session:
                await session.execute(text(statement))
    if database.engine.url.get_backend_name() == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            async with database.transaction() as session:
                await session.execute(text("TRUNCATE audit_events"))
    assert len(await audit.search(AuditQuery())) == 1


async def test_start_up_says_when_no_admin_can_sign_in(
    database_url: str, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="serving.app")
    async with staff_desk(database_url, database) as desk:
        assert NO_ADMIN_MESSAGE in caplog.text
        await desk.account("admin")
    caplog.clear()
    async with staff_desk(database_url, database):
        assert NO_ADMIN_MESSAGE not in caplog.text


async def test_one_address_cannot_try_many_accounts(database_url: str, database: Database) -> None:
    """The lock-out is per account; a sweep over many accounts from one address is stopped
    by the per-address limit, the right password included, until its window ends."""
    async with staff_desk(database_url, database, staff_logins_per_address=4) as desk:
        email = await desk.account("admin")
        for guess in range(3):
            response = await desk.sign_in(f"someone{guess}@staff.example", "not the password!!")
            assert response.status_code == 401
        assert (await desk.sign_in(email)).status_code == 200, "the fourth attempt is allowed"
        refused = await desk.sign_in(email)
        assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
        assert 0 < int(refused.headers["retry-after"]) <= 900
