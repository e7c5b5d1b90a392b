"""The staff console's conversations with the clinic's Odoo as the practice system
(PRACTICE_BACKEND=odoo, the Odoo 17 stand-in holding the demo clinic): a conversation is bound
to an Odoo partner, whose id may be any built-in patient's too, so the console names patients
and finds them by name or phone through the practice system, never the built-in `patients`
table; and an Odoo outage leaves the console answering, without names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from serving.db import models as db
from serving.db.engine import Database
from tests.assistant_client import JOHN_PHONE, Patient
from tests.odoo_stand_in import OdooStandIn
from tests.practice_backends import SeededStandIns, odoo_stand_ins_fixture  # noqa: F401
from tests.staff_client import StaffDesk, staff_desk
from tests.test_staff_console import ADMIN, EMERGENCY

VISITOR = "odoo-console-visitor"


@pytest.fixture
def odoo(odoo_stand_ins: SeededStandIns) -> OdooStandIn:
    return odoo_stand_ins.demo("17.0")


@pytest.fixture
async def staff(
    odoo: OdooStandIn, database_url: str, database: Database
) -> AsyncIterator[StaffDesk]:
    async with staff_desk(
        database_url,
        database,
        **odoo.app_settings(),
    ) as desk:
        yield desk


async def _johns_conversation(staff: StaffDesk, database: Database) -> str:
    """John writes in (his phone verified by the integration); his conversation's id."""
    john = Patient(staff.http, VISITOR, phone=JOHN_PHONE)
    assert (await john.send("Hi, how late are you open today?"))["reply"]
    assert (await john.send(EMERGENCY))["escalation"] is not None
    async with database.read() as session:
        conversation_id = await session.scalar(
            select(db.Conversation.id).where(db.Conversation.external_user_id == VISITOR)
        )
    assert conversation_id is not None
    return conversation_id


async def _listed(staff: StaffDesk, **params: str) -> list[dict[str, Any]]:
    response = await staff.http.get(
        f"{ADMIN}/conversations", params=params, headers=await staff.headers("receptionist")
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_conversations_name_and_find_the_odoo_patient(
    staff: StaffDesk, odoo: OdooStandIn, database: Database
) -> None:
    conversation_id = await _johns_conversation(staff, database)
    [partner] = odoo.execute_kw("res.partner", "search", [[("phone", "=", JOHN_PHONE)]])
    john = {"id": partner, "name": "John Smith"}

    [item] = [i for i in await _listed(staff) if i["id"] == conversation_id]
    assert item["patient"] == john
    for q in ("smith", "John Smith", "+1 (202) 555-0143", "+12025550143"):
        assert [i["id"] for i in await _listed(staff, q=q)] == [conversation_id], q
    for q in ("Levi", "+972 50 123 4567", "123"):  # Dana has no conversation
        assert await _listed(staff, q=q) == [], q
    assert [i["id"] for i in await _listed(staff, q="HOW LATE")] == [conversation_id]

    doctor = await staff.headers("doctor")
    read = await staff.http.get(f"{ADMIN}/conversations/{conversation_id}", headers=doctor)
    assert read.json()["conversation"]["patient"] == john
    [escalation] = (await staff.http.get(f"{ADMIN}/escalations", headers=doctor)).json()["items"]
    assert escalation["patient"] == john

    # A partner since removed from Odoo: the conversation shows its id, without a name.
    async with database.transaction() as session:
        await session.execute(
            update(db.Conversation)
            .where(db.Conversation.id == conversation_id)
            .values(patient_id=987654)
        )
    [item] = [i for i in await _listed(staff) if i["id"] == conversation_id]
    assert item["patient"] == {"id": 987654, "name": ""}


async def test_the_console_answers_while_odoo_is_down(
    staff: StaffDesk, odoo: OdooStandIn, database: Database
) -> None:
    conversation_id = await _johns_conversation(staff, database)
    [partner] = odoo.execute_kw("res.partner", "search", [[("phone", "=", JOHN_PHONE)]])
    odoo.fail_next(100, "down")

    [item] = [i for i in await _listed(staff) if i["id"] == conversation_id]
    assert item["patient"] == {"id": partner, "name": ""}
    assert await _listed(staff, q="smith") == []  # no patient match, and nothing failed
    assert [i["id"] for i in await _listed(staff, q="how late")] == [conversation_id]
    doctor = await staff.headers("doctor")
    read = await staff.http.get(f"{ADMIN}/conversations/{conversation_id}", headers=doctor)
    assert read.status_code == 200
    assert read.json()["conversation"]["patient"] == {"id": partner, "name": ""}
    queue = await staff.http.get(f"{ADMIN}/escalations", headers=doctor)
    assert queue.status_code == 200
    assert [e["patient"] for e in queue.json()["items"]] == [{"id": partner, "name": ""}]
