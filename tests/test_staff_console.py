"""The staff console's conversations (`/api/v1/admin/...`, console-a): search and read, take a
conversation over from the assistant, write to the patient, hand it back, join an escalation,
and the live event stream. One engine: the SQL is the same on both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from serving.app import create_app
from serving.cli.memory import differences
from serving.db import models as db
from serving.db.engine import Database
from serving.db.staff_models import AuditEvent
from serving.db.telegram_models import TelegramUpdate
from serving.db.types import utcnow
from serving.escalation.links import DoctorLinks
from serving.memory.rebuild import app_database_counts, rebuild
from serving.memory.service import Memory
from serving.memory.turn_outcomes import escalation, visit
from serving.pubsub import PushHub
from tests.asgi import served
from tests.assistant_client import INTEGRATION_KEY, Patient
from tests.conftest import make_settings
from tests.redis_keys import REDIS_URL, redis_prefix_fixture  # noqa: F401
from tests.staff_client import StaffDesk, staff_app_fixture  # noqa: F401
from tests.telegram_client import TelegramUser, telegram_bot, telegram_settings, texts
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401
from tests.test_memory_rebuild import canonical

ADMIN = "/api/v1/admin"
EMERGENCY = "my face is swelling and I can't swallow"


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


async def _audit(database: Database, action: str) -> list[AuditEvent]:
    async with database.read() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows)


async def _conversation_of(staff: StaffDesk, visitor: str) -> dict[str, Any]:
    response = await staff.http.get(
        f"{ADMIN}/conversations",
        params={"channel": "web"},
        headers=await staff.headers("receptionist"),
    )
    assert response.status_code == 200, response.text
    async with staff.app.state.database.read() as session:
        conversation_id = await session.scalar(
            select(db.Conversation.id).where(db.Conversation.external_user_id == visitor)
        )
    [item] = [i for i in response.json()["items"] if i["id"] == conversation_id]
    return dict(item)


async def _pushed(hub: PushHub, visitor: str, events: list[dict[str, Any]]) -> None:
    async with hub.subscribe(visitor) as subscription:
        while True:
            event = await subscription.next(0.05)
            if event is not None:
                events.append(event)


async def test_take_over_write_and_hand_back_on_the_web_chat(
    staff_app: StaffDesk, database: Database
) -> None:
    http = staff_app.http
    patient = Patient(http, "visitor-takeover", trusted=False)
    assert (await patient.send("What are your opening hours?"))["reply"]
    item = await _conversation_of(staff_app, "visitor-takeover")
    assert (item["channel"], item["held_by"], item["escalation"]) == ("web", None, None)
    assert item["message_count"] == 2
    assert item["last_message_at"] is not None and "+" in item["last_message_at"]

    pushed: list[dict[str, Any]] = []
    listening = asyncio.create_task(_pushed(staff_app.app.state.web_push, patient.user_id, pushed))
    await asyncio.sleep(0.05)  # the subscription is open before anything is pushed
    try:
        receptionist = await staff_app.headers("receptionist")
        url = f"{ADMIN}/conversations/{item['id']}"
        taken = await http.post(f"{url}/takeover", headers=receptionist)
        assert taken.status_code == 200, taken.text
        assert taken.json()["conversation"]["held_by"] == "Receptionist Tester"

        # The assistant stays silent while a person holds the conversation.
        assert (await patient.send("Is anyone there?"))["reply"] == ""

        # Someone else can neither take it nor write in it.
        doctor = await staff_app.headers("doctor")
        refused = await http.post(f"{url}/takeover", headers=doctor)
        assert (refused.status_code, refused.json()["error"]) == (409, "held_by_other")
        refused = await http.post(f"{url}/messages", json={"text": "hi"}, headers=doctor)
        assert (refused.status_code, refused.json()["error"]) == (409, "not_holding")

        sent = await http.post(
            f"{url}/messages", json={"text": "We will call you at noon."}, headers=receptionist
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["delivered"] is True
        message = sent.json()["message"]
        assert (message["role"], message["author"]) == ("staff", "Receptionist Tester")
        for _ in range(100):
            if any("We will call you" in e.get("text", "") for e in pushed):
                break
            await asyncio.sleep(0.02)
        texts = [e["text"] for e in pushed if e.get("kind") == "text"]
        assert texts[-1] == "Receptionist Tester:\nWe will call you at noon."
        assert "Receptionist Tester" in texts[0]  # the patient was told who joined

        back = await http.post(f"{url}/handback", headers=receptionist)
        assert back.status_code == 200, back.text
        assert back.json()["conversation"]["held_by"] is None
        again = await http.post(f"{url}/handback", headers=receptionist)
        assert (again.status_code, again.json()["error"]) == (409, "not_holding")
    finally:
        listening.cancel()

    assert (await patient.send("Thanks! When are you open on Friday?"))["reply"]

    read = await http.get(url, headers=receptionist)
    assert read.status_code == 200
    roles = [(m["role"], m["author"]) for m in read.json()["messages"]]
    assert ("staff", "Receptionist Tester") in roles
    assert roles[-1] == ("assistant", None)

    for action in (
        "conversation.search",
        "conversation.read",
        "conversation.takeover",
        "conversation.reply",
        "conversation.handback",
    ):
        [entry] = (
            await _audit(database, action)
            if action != "conversation.search"
            else [(await _audit(database, action))[0]]
        )
        assert entry.actor_role == "receptionist"
        assert "We will call you" not in json.dumps(entry.detail or {})
        if action != "conversation.search":
            assert entry.subject == item["id"]


async def test_what_the_staff_write_is_remembered_as_they_write_it(
    staff_app: StaffDesk, database: Database
) -> None:
    """A take-over with no escalation: the notice that someone joined, the staff member's
    message, the silent turn and the hand-back notice all reach memory live, so `dental memory
    check` finds the store in step, and the live graph is the rebuilt one."""
    http, memory = staff_app.http, staff_app.app.state.memory
    patient = Patient(http, "visitor-remembered", trusted=False)
    await patient.send("What are your opening hours?")
    url = f"{ADMIN}/conversations/{(await _conversation_of(staff_app, patient.user_id))['id']}"
    receptionist = await staff_app.headers("receptionist")
    assert (await http.post(f"{url}/takeover", headers=receptionist)).status_code == 200
    written = {"text": "We open at eight."}
    assert (await http.post(f"{url}/messages", json=written, headers=receptionist)).is_success
    assert (await patient.send("Thanks!"))["reply"] == ""
    assert (await http.post(f"{url}/handback", headers=receptionist)).status_code == 200
    await memory.settled()

    counts = await memory.store.counts()
    assert differences(counts, await app_database_counts(database)) == []
    assert counts["Message"] == 6  # a turn, 2 notices, the message, the silent turn's 1
    live = await memory.store.dump()
    await rebuild(database, memory.store)
    assert canonical(await memory.store.dump()) == canonical(live)


async def test_search_matches_message_text_and_filters(staff_app: StaffDesk) -> None:
    await Patient(staff_app.http, "visitor-a", trusted=False).send("Do you do teeth whitening?")
    await Patient(staff_app.http, "visitor-b", trusted=False).send("Where do I park?")
    headers = await staff_app.headers("doctor")
    found = await staff_app.http.get(
        f"{ADMIN}/conversations", params={"q": "WHITENING"}, headers=headers
    )
    assert found.status_code == 200
    assert len(found.json()["items"]) == 1
    held = await staff_app.http.get(
        f"{ADMIN}/conversations", params={"held": "true"}, headers=headers
    )
    assert held.json()["items"] == []
    bad = await staff_app.http.get(f"{ADMIN}/conversations", params={"limit": 0}, headers=headers)
    assert bad.status_code == 422


async def test_refusals(staff_app: StaffDesk, database: Database) -> None:
    http = staff_app.http
    patient = Patient(http, "visitor-refusals", trusted=False)
    await patient.send("Hello")
    item = await _conversation_of(staff_app, "visitor-refusals")
    url = f"{ADMIN}/conversations/{item['id']}"
    for method, path in (
        ("GET", f"{ADMIN}/conversations"),
        ("GET", url),
        ("POST", f"{url}/takeover"),
        ("POST", f"{url}/handback"),
        ("GET", f"{ADMIN}/escalations"),
        ("POST", f"{ADMIN}/escalations/nope/join"),
        ("GET", f"{ADMIN}/events"),
    ):
        assert (await http.request(method, path)).status_code == 401, path

    receptionist = await staff_app.headers("receptionist")
    joined = await http.post(f"{ADMIN}/escalations/nope/join", headers=receptionist)
    assert joined.status_code == 403
    for method, path in (
        ("GET", f"{ADMIN}/conversations/nope"),
        ("POST", f"{ADMIN}/conversations/nope/takeover"),
        ("POST", f"{ADMIN}/conversations/nope/handback"),
    ):
        response = await http.request(method, path, headers=receptionist)
        assert (response.status_code, response.json()["error"]) == (404, "not_found"), path
    unknown = await http.post(
        f"{ADMIN}/escalations/nope/join", headers=await staff_app.headers("doctor")
    )
    assert unknown.status_code == 404

    await http.post(f"{url}/takeover", headers=receptionist)
    for body in ({"text": ""}, {}, {"text": "x" * 5000}, {"text": "   "}):
        response = await http.post(f"{url}/messages", json=body, headers=receptionist)
        assert response.status_code == 422, body
    async with database.read() as session:
        staff_messages = await session.scalar(
            select(db.Message.id).where(db.Message.role == "staff").limit(1)
        )
    assert staff_messages is None
    assert await _audit(database, "conversation.reply") == []
    bad = await http.get(f"{ADMIN}/escalations", params={"status": "x"}, headers=receptionist)
    assert bad.status_code == 422


async def test_an_emergency_reaches_the_event_stream_and_a_doctor_joins_it(
    database_url: str, database: Database, redis_prefix: str
) -> None:
    settings = make_settings(
        database_url,
        integration_key=INTEGRATION_KEY,
        redis_url=REDIS_URL,
        redis_key_prefix=redis_prefix,
    )
    app = create_app(settings, database=database)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        staff = StaffDesk(app, http)
        doctor = await staff.headers("doctor")
        patient = Patient(http, "visitor-emergency", trusted=False)
        await patient.send("Hello, I have a question")
        async with http.stream("GET", f"{ADMIN}/events", headers=doctor) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = _sse_events(stream.aiter_lines())
            reply = await patient.send(EMERGENCY)
            assert reply["escalation"] is not None
            seen = [await asyncio.wait_for(anext(events), 5) for _ in range(3)]
            kinds = sorted(kind for kind, _ in seen)
            assert kinds == ["escalation", "message", "message"]
            [escalation] = [data for kind, data in seen if kind == "escalation"]
            assert (escalation["urgency"], escalation["status"]) == ("EMERGENCY", "open")

            queue = await http.get(f"{ADMIN}/escalations", headers=doctor)
            [listed] = queue.json()["items"]
            assert listed["id"] == escalation["id"]
            assert listed["conversation_id"] == escalation["conversation_id"]

            joined = await http.post(f"{ADMIN}/escalations/{listed['id']}/join", headers=doctor)
            assert joined.status_code == 200, joined.text
            assert joined.json()["conversation"]["held_by"] == "Doctor Tester"
            statuses = []
            while "claimed" not in statuses:
                kind, data = await asyncio.wait_for(anext(events), 5)
                if kind == "escalation":
                    statuses.append(data["status"])

        conversation_url = f"{ADMIN}/conversations/{listed['conversation_id']}"
        sent = await http.post(
            f"{conversation_url}/messages", json={"text": "I am calling you now."}, headers=doctor
        )
        assert sent.status_code == 200, sent.text
        back = await http.post(f"{conversation_url}/handback", headers=doctor)
        assert back.status_code == 200
        assert back.json()["conversation"]["escalation"] is None
        closed = await http.get(f"{ADMIN}/escalations", params={"status": "closed"}, headers=doctor)
        [done] = closed.json()["items"]
        assert (done["id"], done["doctor_name"]) == (listed["id"], "Doctor Tester")
    async with database.read() as session:
        transcript = await session.scalar(
            select(db.Escalation.transcript).where(db.Escalation.id == listed["id"])
        )
    assert transcript is not None and "Doctor Tester: I am calling you now." in transcript
    assert [e.subject for e in await _audit(database, "escalation.join")] == [listed["id"]]


async def _sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, data) of each server-sent event; comments skipped."""
    name = "message"
    async for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))
            name = "message"


async def test_operations_show_what_failed_and_what_was_made(
    staff_app: StaffDesk, database: Database
) -> None:
    http = staff_app.http
    headers = await staff_app.headers("receptionist")
    patient = Patient(http, "visitor-figures", trusted=False)
    await patient.send("What are your opening hours?")
    await patient.send(EMERGENCY)
    item = await _conversation_of(staff_app, "visitor-figures")
    url = f"{ADMIN}/conversations/{item['id']}"
    await http.post(f"{url}/takeover", headers=headers)
    # No web chat page is open: the channel cannot take the message.
    sent = await http.post(f"{url}/messages", json={"text": "Call us."}, headers=headers)
    assert sent.json()["delivered"] is False
    async with database.transaction() as session:
        session.add(
            TelegramUpdate(
                update_id=991,
                chat_id=4242,
                kind="message",
                payload={"message": {"text": "not shown"}},
                status="failed",
                attempts=5,
                error="TimeoutError",
            )
        )

    deliveries = (await http.get(f"{ADMIN}/deliveries", headers=headers)).json()["items"]
    failed = [d for d in deliveries if d["conversation_id"] == item["id"]]
    shown = [(d["role"], d["author"], d["channel"]) for d in failed]
    assert shown[0] == ("staff", "Receptionist Tester", "web")  # newest first
    assert ("assistant", None, "web") in shown  # the notice that staff joined
    assert all("text" not in d for d in deliveries)

    [dead] = (await http.get(f"{ADMIN}/dead-letters", headers=headers)).json()["items"]
    assert (dead["update_id"], dead["attempts"], dead["error"]) == (991, 5, "TimeoutError")
    assert dead["chat_id_hash"] and "4242" not in json.dumps(dead)

    patterns = (await http.get(f"{ADMIN}/memory-patterns", headers=headers)).json()["items"]
    assert sum(p["messages"] for p in patterns) == 2  # both patient messages were labelled
    assert all(p["description"] for p in patterns)

    figures = (await http.get(f"{ADMIN}/figures", params={"hours": 3}, headers=headers)).json()
    assert len(figures["hours"]) == 3
    assert figures["conversations"][-1] >= 1
    assert figures["escalations"][-1] == 1
    assert figures["reply_latency_p50_ms"][-1] is not None
    assert figures["reply_latency_p95_ms"][-1] >= figures["reply_latency_p50_ms"][-1]
    assert figures["bookings_by_assistant"] == [0, 0, 0]
    bad = await http.get(f"{ADMIN}/figures", params={"hours": 0}, headers=headers)
    assert bad.status_code == 422
    for path in ("/deliveries", "/dead-letters", "/memory-patterns", "/figures"):
        assert (await http.get(ADMIN + path)).status_code == 401


async def test_memory_patterns_show_what_their_conversations_led_to(
    staff_app: StaffDesk, database: Database
) -> None:
    http = staff_app.http
    visitors = {"booked": "memory-book", "escalated": "memory-emergency", "dropped": "memory-q"}
    await Patient(http, visitors["booked"], trusted=False).send("I want to book a cleaning")
    await Patient(http, visitors["escalated"], trusted=False).send(EMERGENCY)
    await Patient(http, visitors["dropped"], trusted=False).send("What are your opening hours?")
    patterns: dict[str, str] = {}
    async with database.transaction() as session:
        for led_to, visitor in visitors.items():
            rows = (
                await session.scalars(
                    select(db.Message)
                    .join(db.Conversation, db.Conversation.id == db.Message.conversation_id)
                    .where(db.Conversation.external_user_id == visitor)
                    .order_by(db.Message.id)
                )
            ).all()
            patterns[led_to] = str(rows[0].memory_pattern)
            reply = rows[-1]
            if led_to == "booked" and not reply.outcomes:  # what the turn recorded
                reply.outcomes = [
                    visit("booked", provider_id=1, provider_name="Dr. Levi",
                          visit_at=utcnow() + timedelta(days=3), appointment_id=reply.id)
                ]  # fmt: skip
            if led_to == "escalated" and not reply.outcomes:
                opened = await session.scalar(
                    select(db.Escalation.id).where(
                        db.Escalation.conversation_id == reply.conversation_id
                    )
                )
                assert opened is not None
                reply.outcomes = [escalation(opened)]
    assert len(set(patterns.values())) == 3, patterns
    served: Memory = staff_app.app.state.memory
    await served.settled()
    await rebuild(database, served.store)  # with the outcomes written above
    # Two days on, every one of them has gone quiet.
    staff_app.app.state.memory = Memory(
        served.store, timezone="Asia/Jerusalem", clock=lambda: utcnow() + timedelta(days=2)
    )
    try:
        for role in ("receptionist", "doctor", "admin"):
            headers = await staff_app.headers(role)
            response = await http.get(f"{ADMIN}/memory-patterns", headers=headers)
            assert response.status_code == 200, (role, response.text)
    finally:
        staff_app.app.state.memory = served
    items = {item["id"]: item for item in response.json()["items"]}
    for led_to, pattern in patterns.items():
        item = items[pattern]
        assert item["messages"] == 1  # the old field, from the app database
        assert item["conversations"] == 1
        shares = {k: item[f"{k}_share"] for k in ("booked", "escalated", "dropped")}
        assert shares == {k: 1.0 if k == led_to else 0.0 for k in shares}, (led_to, item)
    quiet = [i for i in items.values() if i["id"] not in patterns.values()]
    assert quiet and all(i["conversations"] == 0 and i["booked_share"] is None for i in quiet)
    assert (await http.get(f"{ADMIN}/memory-patterns")).status_code == 401


async def test_the_audit_trail_is_for_admins(staff_app: StaffDesk) -> None:
    http = staff_app.http
    await http.get(f"{ADMIN}/conversations", headers=await staff_app.headers("doctor"))
    for role in ("doctor", "receptionist"):
        refused = await http.get(f"{ADMIN}/audit", headers=await staff_app.headers(role))
        assert refused.status_code == 403
    admin = await staff_app.headers("admin")
    found = await http.get(f"{ADMIN}/audit", params={"action": "conversation."}, headers=admin)
    assert found.status_code == 200
    [entry] = found.json()["items"]
    assert (entry["action"], entry["actor_role"]) == ("conversation.search", "doctor")
    assert entry["at"].endswith(("+02:00", "+03:00"))  # clinic time (Asia/Jerusalem)
    none = await http.get(f"{ADMIN}/audit", params={"actor_id": 999}, headers=admin)
    assert none.json()["items"] == []
    bad = await http.get(f"{ADMIN}/audit", params={"limit": 0}, headers=admin)
    assert bad.status_code == 422


async def test_take_over_on_telegram(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    settings = telegram_settings(database_url, bot_api, integration_key=INTEGRATION_KEY)
    async with telegram_bot(settings, bot_api) as bot:
        staff = StaffDesk(bot.app, bot.client)
        doctor = await staff.headers("doctor")
        user = TelegramUser(bot, 7301)
        assert texts(await user.say("What are your opening hours?"))
        async with database.read() as session:
            conversation_id = await session.scalar(
                select(db.Conversation.id).where(db.Conversation.external_user_id == "7301")
            )
        url = f"{ADMIN}/conversations/{conversation_id}"
        assert (await bot.client.post(f"{url}/takeover", headers=doctor)).status_code == 200
        assert "Doctor Tester" in texts(user.new_calls())  # told who joined

        assert texts(await user.say("Hello?")) == ""  # the assistant is silent
        sent = await bot.client.post(
            f"{url}/messages", json={"text": "Come in at four."}, headers=doctor
        )
        assert sent.json()["delivered"] is True
        assert texts(user.new_calls()) == "Doctor Tester:\nCome in at four."

        assert (await bot.client.post(f"{url}/handback", headers=doctor)).status_code == 200
        assert "Doctor Tester" in texts(user.new_calls())  # told the assistant is back
        assert texts(await user.say("And on Friday?"))  # the assistant answers again


async def test_a_dentist_on_the_link_and_a_staff_member_do_not_cross(
    staff_app: StaffDesk, database: Database
) -> None:
    http = staff_app.http
    patient = Patient(http, "visitor-link", trusted=False)
    reply = await patient.send(EMERGENCY)
    escalation_id = reply["escalation"]["id"]
    async with database.transaction() as session:
        token = await DoctorLinks(database).issue(session, escalation_id, None)
    doctor = await staff_app.headers("doctor")

    # A staff member who joined holds it; the dentist closing through the link ends the hold.
    joined = await http.post(f"{ADMIN}/escalations/{escalation_id}/join", headers=doctor)
    conversation_id = joined.json()["conversation"]["id"]
    assert (await http.post(f"/api/v1/doctor/{token}/close")).status_code == 200
    item = (await http.get(f"{ADMIN}/conversations/{conversation_id}", headers=doctor)).json()
    assert (item["conversation"]["held_by"], item["conversation"]["escalation"]) == (None, None)
    assert (await patient.send("Thank you, what are your opening hours?"))["reply"]

    # Joining an escalation that has closed meanwhile leaves a hold taken before as it was.
    held_url = f"{ADMIN}/conversations/{conversation_id}"
    assert (await http.post(f"{held_url}/takeover", headers=doctor)).status_code == 200
    late = await http.post(f"{ADMIN}/escalations/{escalation_id}/join", headers=doctor)
    assert (late.status_code, late.json()["error"]) == (409, "escalation_closed")
    held = (await http.get(held_url, headers=doctor)).json()["conversation"]["held_by"]
    assert held == "Doctor Tester"
    assert (await http.post(f"{held_url}/handback", headers=doctor)).status_code == 200

    # A dentist who joined through a link holds it: no one takes it over.
    second = (await patient.send(EMERGENCY))["escalation"]["id"]
    async with database.transaction() as session:
        token = await DoctorLinks(database).issue(session, second, None)
    posted = await http.post(f"/api/v1/doctor/{token}/messages", json={"text": "On my way."})
    assert posted.status_code == 201
    url = f"{ADMIN}/conversations/{conversation_id}"
    refused = await http.post(f"{url}/takeover", headers=doctor)
    assert (refused.status_code, refused.json()["error"]) == (409, "held_by_other")
    refused = await http.post(f"{url}/handback", headers=doctor)
    assert (refused.status_code, refused.json()["error"]) == (409, "not_holding")
    refused = await http.post(f"{ADMIN}/escalations/{second}/join", headers=doctor)
    assert refused.status_code == 409
