"""One turn at a time per conversation, across serving processes (replicas or
`dental serve --workers N`): the conversation's turn lease in the app database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from evals.bench.local_process import free_port
from serving.app import create_app
from serving.assistant.service import Inbound
from serving.assistant.store import (
    TURN_LEASE,
    ConversationBusy,
    ConversationRecord,
    ConversationStore,
    PatientMessageLabels,
    StoredReply,
    TurnLost,
)
from serving.conversation.state import ConversationState
from serving.conversation.turn import Button
from serving.db import models as db
from serving.db.engine import Database
from serving.db.leases import renewed
from serving.db.types import utcnow
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.conftest import make_settings

REPLY = StoredReply(
    text="ok",
    language="en",
    urgency="ROUTINE",
    intent="other",
    memory_pattern="none",
    bundle_version="test",
    model="rules",
    architecture="alex",
    llm_calls=0,
)


def _labels(message_id: int | None) -> PatientMessageLabels:
    assert message_id is not None
    return PatientMessageLabels(
        message_id=message_id, urgency="ROUTINE", intent="other", memory_pattern="none"
    )


async def _roles(database: Database) -> list[str]:
    async with database.transaction() as session:
        rows = await session.scalars(select(db.Message.role).order_by(db.Message.id))
        return list(rows.all())


async def test_two_replicas_answer_one_conversation_one_turn_at_a_time(
    database_url: str,
) -> None:
    """Messages of one patient arriving together at two replicas are answered in turn: each
    reply is stored before the next message is taken (without the lease both messages
    would be stored first, then both replies, each turn reading a stale state)."""
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY)
    replica_a, replica_b = create_app(settings), create_app(settings)
    async with running(replica_a) as client_a, running(replica_b) as client_b:
        on_a = Patient(client_a, "patient-7", JOHN_PHONE)
        on_b = Patient(client_b, "patient-7", JOHN_PHONE)
        first, second = await asyncio.gather(
            on_a.send("I want to book a cleaning next week"), on_b.send("how much do I owe?")
        )
        assert first["conversation_id"] == second["conversation_id"]
        # The booking flow continues on the other replica from the state the first stored.
        offered = first if first["intent"] == "book_appointment" else second
        assert any(b["data"].startswith("slot:") for b in offered["buttons"])
        database = Database(database_url)
        try:
            assert await _roles(database) == ["patient", "assistant"] * 2
        finally:
            await database.dispose()


async def test_a_busy_conversation_waits_and_then_gives_up_clearly(database: Database) -> None:
    first, second = ConversationStore(database), ConversationStore(database)
    turn = await first.open_turn("api", "u-1", language="en", patient_id=None, history=8, text="a")
    with pytest.raises(ConversationBusy, match="still being answered"):
        await second.open_turn(
            "api", "u-1", language="en", patient_id=None, history=8, text="b", wait_seconds=0.05
        )
    assert await _roles(database) == ["patient"]  # the waiting message was not stored

    waiting = asyncio.create_task(
        second.open_turn("api", "u-1", language="en", patient_id=None, history=8, text="b")
    )
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await first.finish_turn(
        turn,
        message=_labels(turn.message_id),
        reply=REPLY,
        state=ConversationState(),
        escalations=(),
        guard_events=(),
    )
    taken = await asyncio.wait_for(waiting, timeout=10)
    assert [m.role for m in taken.history] == ["patient", "assistant"]
    await second.abandon_turn(taken)
    assert await _roles(database) == ["patient", "assistant", "patient"]


async def test_a_lease_left_by_a_dead_process_expires(database: Database) -> None:
    later: list[datetime] = []

    def clock() -> datetime:
        return later[0] if later else utcnow()

    dead, survivor = ConversationStore(database), ConversationStore(database, clock=clock)
    crashed = await dead.open_turn("api", "u-2", language="en", patient_id=None, history=0)
    later.append(utcnow() + TURN_LEASE + timedelta(seconds=1))
    taken = await survivor.open_turn(
        "api", "u-2", language="en", patient_id=None, history=0, wait_seconds=0.05
    )
    # The dead turn coming back late must not release the lease it lost.
    await dead.abandon_turn(crashed)
    async with database.transaction() as session:
        row = await session.scalar(select(db.Conversation))
        assert row is not None and row.turn_owner == taken.turn_owner


def test_serve_with_two_workers_answers_from_both(tmp_path: Path) -> None:
    """`dental serve --workers 2`: the demo clinic is loaded once, every worker serves the
    chat, and a conversation spans the workers (each request may land on either). Each worker
    freezes its start-up heap once started (serving/observability/heap.py)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'clinic.db'}",
        "DENTAL_INTEGRATION_KEY": INTEGRATION_KEY,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "serving.cli", "serve", "--demo", "--workers", "2"]
    log = tmp_path / "server.log"
    output = log.open("wb")
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=output,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=base, timeout=30) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            headers = {"Authorization": f"Bearer {INTEGRATION_KEY}"}
            replies = []
            for text in ("hi", "when is my next appointment?", "thanks"):
                # A new connection each time, so the kernel may hand it to either worker.
                response = httpx.post(
                    f"{base}/api/v1/chat",
                    json={"user_id": "w-1", "text": text, "phone": JOHN_PHONE},
                    headers=headers,
                    timeout=30,
                )
                assert response.status_code == 200, response.text
                replies.append(response.json())
            assert len({r["conversation_id"] for r in replies}) == 1
        children = subprocess.run(
            # -ww: never cut the command line to a terminal width (CI sets COLUMNS).
            ["ps", "-ww", "-o", "args=", "--ppid", str(server.pid)],
            capture_output=True,
            text=True,
            check=False,
        )
        workers = [
            line
            for line in children.stdout.splitlines()
            if "spawn_main" in line and "resource_tracker" not in line
        ]
        assert len(workers) == 2, children.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        output.close()
    errors = log.read_text(encoding="utf-8")
    assert "Traceback" not in errors, errors[-2000:]
    frozen = [line for line in errors.splitlines() if "start-up objects" in line]
    assert len(frozen) == 2, errors[-2000:]


async def test_a_retried_message_is_stored_once_and_an_answered_one_not_run_again(
    database: Database,
) -> None:
    """A process killed mid-turn leaves the message stored and the lease held: the retry
    (same idempotency key) waits out the short lease and opens the turn on that message; once
    the reply is stored, a further retry gets the stored reply and runs nothing."""
    short = timedelta(milliseconds=300)
    dead, survivor = ConversationStore(database, turn_lease=short), ConversationStore(database)

    async def message(store: ConversationStore, text: str, key: str) -> ConversationRecord:
        return await store.open_turn(
            "api", "u-3", language="en", patient_id=None, history=8, text=text, idempotency_key=key
        )

    earlier = await message(survivor, "hello", "u-3:1")
    await survivor.finish_turn(
        earlier,
        message=_labels(earlier.message_id),
        reply=REPLY,
        state=ConversationState(),
        escalations=(),
        guard_events=(),
    )
    crashed = await message(dead, "book me", "u-3:2")
    started = time.monotonic()
    retried = await message(survivor, "book me", "u-3:2")
    assert time.monotonic() - started < 5, "the dead turn's short lease was taken over"
    assert retried.message_id == crashed.message_id and retried.answered is None
    assert [m.text for m in retried.history] == ["hello", "ok"], "not the message itself"
    buttons = (Button("Book", "quick:book"),)
    await survivor.finish_turn(
        retried,
        message=_labels(retried.message_id),
        reply=replace(REPLY, text="booked?", buttons=buttons, actions=("offer",)),
        state=ConversationState(),
        escalations=(),
        guard_events=(),
    )
    again = await message(survivor, "book me", "u-3:2")
    assert again.answered is not None and again.turn_owner is None
    assert (again.answered.text, again.answered.buttons, again.answered.actions) == (
        "booked?",
        buttons,
        ("offer",),
    )
    assert await _roles(database) == ["patient", "assistant"] * 2, "nothing stored twice"
    free = await dead.open_turn(
        "api", "u-3", language="en", patient_id=None, history=0, wait_seconds=0.05
    )
    assert free.turn_owner is not None, "a replayed reply takes no lease"


async def test_a_long_turn_keeps_its_short_lease_and_a_lost_one_stores_nothing(
    database: Database,
) -> None:
    short = timedelta(milliseconds=300)
    store, other = ConversationStore(database, turn_lease=short), ConversationStore(database)
    turn = await store.open_turn("api", "u-4", language="en", patient_id=None, history=0, text="a")
    async with renewed(lambda: store.renew_turn(turn), every=short / 3, name="test") as lost:
        await asyncio.sleep(1.0)  # three leases long, like a slow model
        with pytest.raises(ConversationBusy):
            await other.open_turn(
                "api", "u-4", language="en", patient_id=None, history=0, wait_seconds=0.05
            )
    assert not lost.is_set()
    await asyncio.sleep(0.4)  # no renewal now: the lease runs out and is taken over
    taken = await other.open_turn(
        "api", "u-4", language="en", patient_id=None, history=0, wait_seconds=0.05
    )
    with pytest.raises(TurnLost):
        await store.finish_turn(
            turn,
            message=_labels(turn.message_id),
            reply=REPLY,
            state=ConversationState(),
            escalations=(),
            guard_events=(),
        )
    assert await _roles(database) == ["patient"], "the lost turn stored no reply"
    assert not await store.renew_turn(turn)
    await other.abandon_turn(taken)


async def test_the_assistant_renews_its_turn_while_a_slow_model_answers(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(make_settings(database_url))
    async with running(app):
        assistant = app.state.assistant
        monkeypatch.setattr(assistant._store, "turn_lease", timedelta(milliseconds=300))
        answer = assistant._answer

        async def slow(*args: object, **kwargs: object) -> object:
            await asyncio.sleep(1.0)
            return await answer(*args, **kwargs)

        monkeypatch.setattr(assistant, "_answer", slow)
        turn = asyncio.create_task(
            assistant.respond(Inbound(channel="api", user_id="u-5", text="opening hours?"))
        )
        await asyncio.sleep(0.7)
        with pytest.raises(ConversationBusy):
            await ConversationStore(app.state.database).open_turn(
                "api", "u-5", language="en", patient_id=None, history=0, wait_seconds=0.05
            )
        reply = await turn
        assert "08:00" in reply.text
