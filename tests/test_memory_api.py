"""`/api/v1/memory/{patient_id}` (what is remembered, the export, erasure) for each staff role
and for the patient through their own link; the link asked for in the Telegram and web chats;
the `/my-data` page. On the served app, both database engines, the SQL memory store on the
app database (MEMORY_BACKEND=sql)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from serving.assistant import Assistant, IdentityProof
from serving.db import models as db
from serving.db.engine import Database
from serving.db.privacy_models import PatientLink
from serving.db.telegram_models import TelegramUpdate
from serving.db.types import utcnow
from serving.memory.service import Memory
from serving.memory.sql_store import SqlMemoryStore
from serving.privacy.patient_links import PatientLinks
from serving.staff.audit import AuditLog, AuditQuery
from tests.assistant_client import DANA_PHONE, JOHN_PHONE
from tests.patient_data import Seeded, seed_patient
from tests.staff_client import StaffDesk, staff_desk
from tests.telegram_client import TelegramUser, telegram_bot, telegram_settings
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401

LINK_IN_TEXT = r"/my-data\?lang=(he|en)#([A-Za-z0-9_-]{43})"


@dataclass
class Clinic:
    desk: StaffDesk
    database: Database
    memory: Memory

    @property
    def http(self) -> httpx.AsyncClient:
        return self.desk.http

    async def patient_token(self, seeded: Seeded) -> str:
        """A link for the patient, issued as the chat issues it (their verified conversation)."""
        links: PatientLinks = self.desk.app.state.patient_links
        return (await links.issue(seeded.conversation_ids[0])).token


@pytest.fixture
async def clinic(database_url: str, database: Database) -> AsyncIterator[Clinic]:
    """The app with its memory (the SQL store, in the app database)."""
    async with staff_desk(database_url, database) as desk:
        memory: Memory = desk.app.state.memory
        assert isinstance(memory.store, SqlMemoryStore)
        yield Clinic(desk, database, memory)


async def patient_id_of(database: Database, phone: str) -> int:
    async with database.read() as session:
        found = await session.scalar(select(db.Patient.id).where(db.Patient.phone == phone))
    assert found is not None
    return int(found)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_each_role_and_the_patient_on_each_endpoint(clinic: Clinic) -> None:
    dana = await seed_patient(
        clinic.database,
        clinic.memory.store,
        await patient_id_of(clinic.database, DANA_PHONE),
        telegram_chat_id=81,
    )
    john = await seed_patient(
        clinic.database,
        clinic.memory.store,
        await patient_id_of(clinic.database, JOHN_PHONE),
        telegram_chat_id=82,
    )
    staff = {role: await clinic.desk.headers(role) for role in ("admin", "doctor", "receptionist")}
    patient = bearer(await clinic.patient_token(dana))
    reads = (f"/api/v1/memory/{dana.patient_id}", f"/api/v1/memory/{dana.patient_id}/export")
    for path in reads:
        assert (await clinic.http.get(path)).status_code == 401
        assert (await clinic.http.get(path, headers=bearer("x" * 43))).status_code == 401
        assert (await clinic.http.get(path, headers=staff["receptionist"])).status_code == 403
        for who in (staff["admin"], staff["doctor"], patient):
            assert (await clinic.http.get(path, headers=who)).status_code == 200
    for path in (f"/api/v1/memory/{john.patient_id}", f"/api/v1/memory/{john.patient_id}/export"):
        refused = await clinic.http.get(path, headers=patient)
        assert refused.status_code == 403, "a link opens its own patient only"
        assert refused.json()["error"] == "forbidden"

    erase = f"/api/v1/memory/{john.patient_id}"
    assert (await clinic.http.delete(erase)).status_code == 401
    for role in ("receptionist", "doctor"):
        assert (await clinic.http.delete(erase, headers=staff[role])).status_code == 403
    assert (await clinic.http.delete(erase, headers=patient)).status_code == 403
    assert (await clinic.http.get(erase, headers=staff["admin"])).json()["conversations"] == 2
    assert (await clinic.http.delete(erase, headers=staff["admin"])).status_code == 200
    erased = await clinic.http.delete(f"/api/v1/memory/{dana.patient_id}", headers=patient)
    assert erased.status_code == 200
    assert erased.json()["requested_by"] == "patient"
    assert (await clinic.http.get(reads[0], headers=patient)).status_code == 401, (
        "the erasure removed the patient's own links too"
    )

    audit = await AuditLog(clinic.database).search(AuditQuery(action="memory."))
    actors = {(e.actor_role, e.action, e.patient_id) for e in audit}
    assert ("doctor", "memory.read", dana.patient_id) in actors
    assert ("admin", "memory.export", dana.patient_id) in actors
    assert ("patient", "memory.export", dana.patient_id) in actors
    assert ("admin", "memory.erase", john.patient_id) in actors
    assert ("patient", "memory.erase", dana.patient_id) in actors
    assert ("receptionist", "memory.read", dana.patient_id) not in actors, "refused: not read"


async def test_an_expired_link_opens_nothing(clinic: Clinic) -> None:
    dana = await seed_patient(
        clinic.database,
        clinic.memory.store,
        await patient_id_of(clinic.database, DANA_PHONE),
        telegram_chat_id=83,
    )
    token = await clinic.patient_token(dana)
    path = f"/api/v1/memory/{dana.patient_id}"
    assert (await clinic.http.get(path, headers=bearer(token))).status_code == 200
    async with clinic.database.transaction() as session:
        await session.execute(
            update(PatientLink).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    for method in ("GET", "DELETE"):
        expired = await clinic.http.request(method, path, headers=bearer(token))
        assert expired.status_code == 401
        assert "expired" in expired.json()["message"]
    assert (await clinic.http.get("/api/v1/my-data", headers=bearer(token))).status_code == 401
    staff_token = await clinic.desk.headers("admin")
    assert (await clinic.http.get("/api/v1/my-data", headers=staff_token)).status_code == 401


async def test_bad_ids_are_refused_and_change_nothing(clinic: Clinic) -> None:
    admin = await clinic.desk.headers("admin")
    for path in ("/api/v1/memory/0", "/api/v1/memory/abc", f"/api/v1/memory/{2**31}"):
        refused = await clinic.http.delete(path, headers=admin)
        assert refused.status_code == 422, path
        assert refused.json()["error"] == "invalid_request"
    audit = await AuditLog(clinic.database).search(AuditQuery(action="memory.erase"))
    assert audit == []


async def test_the_export_holds_every_part(clinic: Clinic) -> None:
    dana = await seed_patient(
        clinic.database,
        clinic.memory.store,
        await patient_id_of(clinic.database, DANA_PHONE),
        telegram_chat_id=84,
    )
    doctor = await clinic.desk.headers("doctor")
    remembered = await clinic.http.get(f"/api/v1/memory/{dana.patient_id}", headers=doctor)
    assert remembered.status_code == 200
    assert remembered.json()["open_escalations"] == [], "the escalation was closed"
    assert remembered.json()["patterns"] == {"booking": 1, "doctor_question": 1}

    response = await clinic.http.get(
        f"/api/v1/memory/{dana.patient_id}/export", headers=await clinic.desk.headers("admin")
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    export = response.json()
    channels = {c["channel"]: c for c in export["conversations"]}
    assert set(channels) == {"web", "telegram"}
    assert channels["web"]["telegram_user_id"] is None, "a web visitor id is the chat's secret"
    texts = [m["text"] for c in export["conversations"] for m in c["messages"]]
    assert all(text in texts for text in dana.texts)
    assert channels["web"]["guard_events"][0]["kind"] == "input_injection"
    (escalation,) = export["escalations"]
    assert escalation["transcript"] == dana.transcript
    assert escalation["notices"] == [
        {
            "at": escalation["notices"][0]["at"],
            "channel": "sms",
            "status": "sent",
            "urgency": "DOCTOR_REQUIRED",
            "round": 1,
        }
    ]
    labels = {node["label"] for node in export["memory"]["nodes"]}
    assert {"Patient", "Conversation", "Message", "Outcome"} <= labels
    (update_row,) = export["telegram"]["updates"]
    assert update_row["payload"]["message"]["text"] == dana.texts[1]
    assert export["telegram"]["undelivered"][0]["request"]["text"] == "Your visit is booked"
    assert len(export["web_identity_codes"]) == 1
    assert len(export["patient_links"]) == 1
    reads = [(a["actor_role"], a["action"]) for a in export["audit"]]
    assert ("doctor", "memory.read") in reads
    serialized = json.dumps(export)
    assert "token_hash" not in serialized and "code_hash" not in serialized


async def test_the_store_unreachable_is_503(clinic: Clinic) -> None:
    dana = await seed_patient(
        clinic.database,
        clinic.memory.store,
        await patient_id_of(clinic.database, DANA_PHONE),
        telegram_chat_id=85,
    )
    await clinic.memory.store.close()
    broken = SqlMemoryStore(Database("sqlite+aiosqlite:////nonexistent/dir/memory.db"))
    clinic.desk.app.state.memory = Memory(broken, timezone="Asia/Jerusalem")
    admin = await clinic.desk.headers("admin")
    for method, suffix in (("GET", ""), ("GET", "/export"), ("DELETE", "")):
        response = await clinic.http.request(
            method, f"/api/v1/memory/{dana.patient_id}{suffix}", headers=admin
        )
        assert response.status_code == 503, (method, suffix)
        assert response.json()["error"] == "memory_unavailable"
    async with clinic.database.read() as session:
        assert await session.get(db.Conversation, dana.conversation_ids[0]) is not None


# --- the link in the chats, and the page -----------------------------------------------------


async def test_telegram_mydata_asks_to_verify_then_sends_a_working_link(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7301, language_code="en")
        await user.say("/start")
        (unverified,) = await user.say("/mydata")
        assert unverified.asks_for_contact
        assert "/my-data" not in unverified.text
        await user.share_contact(DANA_PHONE.lstrip("+"))
        (answer,) = await user.say("/mydata")
        match = re.search(LINK_IN_TEXT, answer.text)
        assert match is not None, answer.text
        assert "30 minutes" in answer.text
        token = match.group(2)
        opened = await bot.client.get("/api/v1/my-data", headers=bearer(token))
        assert opened.status_code == 200
        assert opened.json()["patient_id"] == await patient_id_of(database, DANA_PHONE)
    async with database.read() as session:
        stored = (await session.scalars(select(db.Message.text))).all()
        outboxes = (await session.scalars(select(TelegramUpdate.outbox))).all()
    assert not any(token in text for text in stored), "the link is never a stored message"
    assert outboxes and token not in json.dumps(outboxes), "nor, once sent, an update's outbox"


async def test_web_chat_mydata_for_a_verified_visitor_only(clinic: Clinic) -> None:
    visitor = "web-" + "a" * 32
    asked = await clinic.http.post(
        "/api/v1/web/my-data", json={"user_id": visitor, "language": "he"}
    )
    assert asked.status_code == 200
    assert asked.json()["verified"] is False
    assert "/my-data" not in asked.json()["reply"]
    assistant: Assistant = clinic.desk.app.state.assistant
    await assistant.verify_identity(
        "web", visitor, phone=DANA_PHONE, proof=IdentityProof.SMS_CODE, language_hint="he"
    )
    linked = await clinic.http.post("/api/v1/web/my-data", json={"user_id": visitor})
    body = linked.json()
    assert body["verified"] is True
    match = re.search(LINK_IN_TEXT, body["reply"])
    assert match is not None and match.group(1) == "he"
    memory = await clinic.http.get(
        f"/api/v1/memory/{await patient_id_of(clinic.database, DANA_PHONE)}",
        headers=bearer(match.group(2)),
    )
    assert memory.status_code == 200
    bad = await clinic.http.post("/api/v1/web/my-data", json={"user_id": "someone"})
    assert bad.status_code == 422


async def test_the_page_carries_no_data_and_is_never_cached(clinic: Clinic) -> None:
    page = await clinic.http.get("/my-data", params={"lang": "he"})
    assert page.status_code == 200
    assert 'lang="he"' in page.text and 'dir="rtl"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "/api/v1/memory" in page.text
