"""A conversation's patient is an id in the practice system: a binding never outlives the
patient it points at, nor a switch to another practice system."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from serving.app import create_app
from serving.assistant.store import ConversationStore
from serving.db import models as db
from serving.db.engine import Database
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.chat_app import CLINIC_MORNING
from tests.clinic_time import today_from
from tests.conftest import make_settings
from tests.odoo_stand_in import OdooStandIn
from tests.practice_backends import SeededStandIns, odoo_stand_ins_fixture  # noqa: F401

MY_INVOICES = "what do I owe you?"


async def bound(database: Database) -> int:
    async with database.read() as session:
        count = await session.scalar(
            select(func.count()).where(db.Conversation.patient_id.is_not(None))
        )
    return int(count or 0)


async def _whose(database: Database, message_id: int) -> int | None:
    async with database.read() as session:
        return await session.scalar(
            select(db.Message.patient_id).where(db.Message.id == message_id)
        )


async def test_a_switch_of_practice_system_clears_every_binding(database: Database) -> None:
    store = ConversationStore(database)
    assert await store.follow_practice_system("builtin") == 0
    before = await bound(database)
    conversation_id = uuid.uuid4().hex
    async with database.transaction() as session:
        session.add(
            db.Conversation(
                id=conversation_id, channel="web", external_user_id="someone", patient_id=12
            )
        )
    message_id = await store.add_patient_message(
        conversation_id, text="hello", button=None, language="en"
    )
    assert await _whose(database, message_id) == 12, "a message keeps whose it was"

    assert await store.follow_practice_system("builtin") == 0
    assert await bound(database) == before + 1
    assert await store.follow_practice_system("odoo:http://odoo.clinic/clinic") == before + 1
    assert await bound(database) == 0
    assert await _whose(database, message_id) is None, "the old system's 12 is nobody in Odoo"
    await store.bind_patient(conversation_id, 12)  # Odoo's partner 12 proves who they are
    assert await _whose(database, message_id) is None, "not handed the old system's messages"
    later = await store.add_patient_message(conversation_id, text="hi", button=None, language="en")
    assert await _whose(database, later) == 12
    assert await store.follow_practice_system("odoo:http://odoo.clinic/clinic") == 0


@pytest.fixture
def odoo(odoo_stand_ins: SeededStandIns) -> OdooStandIn:
    return odoo_stand_ins.demo("17.0")


async def test_a_patient_gone_from_odoo_is_unbound_not_a_failure(
    odoo: OdooStandIn, database_url: str, database: Database
) -> None:
    settings = make_settings(
        database_url,
        integration_key=INTEGRATION_KEY,
        **odoo.app_settings(),
    )
    user = f"user-{uuid.uuid4().hex[:8]}"
    app = create_app(settings, database=database, clock=today_from(CLINIC_MORNING))
    async with running(app) as http:
        first = await Patient(http, user, JOHN_PHONE).send(MY_INVOICES)
        assert "INV/2026/0017" in first["reply"], first
        [partner] = odoo.execute_kw("res.partner", "search", [[("phone", "=", JOHN_PHONE)]])
        odoo.execute_kw("res.partner", "write", [[partner], {"active": False}])

        reply = await Patient(http, user).send(MY_INVOICES)  # no claim: the binding alone

    assert "INV/2026/0017" not in reply["reply"]
    async with database.read() as session:
        row = await session.scalar(
            select(db.Conversation).where(db.Conversation.external_user_id == user)
        )
    assert row is not None and row.patient_id is None


async def test_a_switch_of_practice_system_unties_memory_from_the_old_patients(
    odoo: OdooStandIn, database_url: str, database: Database
) -> None:
    """Odoo's partner 12 is not the built-in patient 12: after a switch, memory must not give
    one the other's history. The graph is rebuilt from the unbound conversations."""
    builtin = make_settings(database_url, integration_key=INTEGRATION_KEY)
    app = create_app(builtin, database=database, clock=today_from(CLINIC_MORNING))
    async with running(app) as http:
        await Patient(http, f"user-{uuid.uuid4().hex[:8]}", JOHN_PHONE).send(MY_INVOICES)
        await app.state.memory.settled()
        [john] = await app.state.practice.search_patient(phone=JOHN_PHONE)
        remembered = await app.state.memory.store.history(john.id)
        assert remembered.conversations, "the built-in patient's conversation is remembered"

    on_odoo = make_settings(
        database_url,
        integration_key=INTEGRATION_KEY,
        **odoo.app_settings(),
    )
    app = create_app(on_odoo, database=database, clock=today_from(CLINIC_MORNING))
    async with running(app):
        store = app.state.memory.store
        for _ in range(200):  # the rebuild runs beside start-up
            if not (await store.history(john.id)).conversations:
                break
            await asyncio.sleep(0.05)
        assert (await store.history(john.id)).conversations == ()
        assert (await store.counts())["Patient"] == 0
        assert (await store.counts())["Conversation"] >= 1, "the conversations are kept, unbound"
