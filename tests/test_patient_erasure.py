"""Erasure of a patient's data: nothing of theirs is left in any app table nor in the memory
store (each read from the tables themselves), another patient's data is untouched, the receipt's
counts are what was there, the audit has the erasure; the store out of reach changes nothing.
Both database engines, with the SQL memory store on the app database and with the Neo4j store
on the session's Bolt server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from serving.db.engine import Database
from serving.memory.neo4j_store import Neo4jMemoryStore
from serving.memory.service import Memory
from serving.memory.sql_store import SqlMemoryStore
from serving.memory.store import MemoryStore, MemoryUnavailable
from serving.privacy.erasure import KEPT
from serving.staff.audit import AuditLog, AuditQuery
from tests.assistant_client import DANA_PHONE, JOHN_PHONE
from tests.bolt_server import BoltServer, bolt_driver
from tests.patient_data import MemoryNodes, app_rows_of, memory_nodes_reader, seed_patient
from tests.staff_client import StaffDesk, staff_desk
from tests.test_memory_api import patient_id_of


class StoreThatCannotErase:
    """The SQL store, except that erasing fails as an unreachable store does."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.kind = store.kind

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def erase(self, patient_id: int, conversation_ids: Sequence[str] = ()) -> int:
        raise MemoryUnavailable("the memory store cannot be reached")


@pytest.fixture(params=["sql", "neo4j"])
async def desk(
    request: pytest.FixtureRequest, database_url: str, database: Database
) -> AsyncIterator[StaffDesk]:
    """The app with its memory on the SQL store or on the Neo4j store over Bolt."""
    server: BoltServer | None = None
    async with staff_desk(database_url, database) as desk:
        store: MemoryStore
        if request.param == "neo4j":
            server = request.getfixturevalue("bolt_server")
            store = Neo4jMemoryStore(bolt_driver(server), database=server.database)
            await store.clear()
            await store.prepare()
        else:
            store = SqlMemoryStore(database)
        desk.app.state.memory = Memory(store, timezone=desk.app.state.settings.timezone)
        desk.app.state.bolt_server = server
        try:
            yield desk
        finally:
            await store.close()


def nodes_reader(desk: StaffDesk, database: Database) -> MemoryNodes:
    store: MemoryStore = desk.app.state.memory.store
    return memory_nodes_reader(store, database, desk.app.state.bolt_server)


async def test_erasure_leaves_nothing_of_the_patient_and_only_of_them(
    desk: StaffDesk, database: Database
) -> None:
    store: MemoryStore = desk.app.state.memory.store
    memory_nodes_of = nodes_reader(desk, database)
    dana = await seed_patient(
        database, store, await patient_id_of(database, DANA_PHONE), telegram_chat_id=91
    )
    john = await seed_patient(
        database, store, await patient_id_of(database, JOHN_PHONE), telegram_chat_id=92
    )
    held = await app_rows_of(database, dana)
    assert set(held) >= {
        "conversations",
        "messages",
        "guard_events",
        "escalations",
        "escalation_notifications",
        "doctor_links",
        "telegram_updates",
        "telegram_delivery_failures",
        "telegram_chats",
        "web_identity_codes",
        "patient_links",
    }, "the seed puts something of the patient's in every place"
    nodes = await memory_nodes_of(dana)
    assert all(nodes.values()), nodes
    johns_rows, johns_nodes = (
        await app_rows_of(database, john),
        await memory_nodes_of(john),
    )

    response = await desk.http.delete(
        f"/api/v1/memory/{dana.patient_id}", headers=await desk.headers("admin")
    )

    assert response.status_code == 200, response.text
    receipt = response.json()
    assert await app_rows_of(database, dana) == {}
    assert await memory_nodes_of(dana) == dict.fromkeys(nodes, 0)
    assert await app_rows_of(database, john) == johns_rows, "another patient untouched"
    assert await memory_nodes_of(john) == johns_nodes
    app_counts = {table: n for table, n in receipt["counts"]["app"].items() if n}
    assert app_counts == {t: n for t, n in held.items() if not t.startswith("memory_")}
    assert receipt["counts"]["memory"]["nodes"] == sum(nodes.values())
    assert receipt["requested_by"].startswith("admin:")
    assert [k["what"] for k in receipt["kept"]] == [what for what, _ in KEPT]

    (entry,) = await AuditLog(database).search(AuditQuery(action="memory.erase"))
    assert entry.patient_id == dana.patient_id and entry.actor_role == "admin"
    assert entry.subject == f"erasure:{receipt['id']}"
    assert entry.detail is not None and entry.detail["messages"] == held["messages"]
    assert not any(text in str(entry.detail) for text in dana.texts), "counts only"


async def test_erasing_a_patient_with_nothing_held_gives_zeros(desk: StaffDesk) -> None:
    response = await desk.http.delete("/api/v1/memory/424242", headers=await desk.headers("admin"))
    assert response.status_code == 200
    counts = response.json()["counts"]
    assert counts["memory"] == {"nodes": 0}
    assert set(counts["app"].values()) == {0}


async def test_erasure_while_the_store_fails_changes_nothing(
    desk: StaffDesk, database: Database
) -> None:
    store: MemoryStore = desk.app.state.memory.store
    memory_nodes_of = nodes_reader(desk, database)
    dana = await seed_patient(
        database, store, await patient_id_of(database, DANA_PHONE), telegram_chat_id=93
    )
    before = await app_rows_of(database, dana)
    nodes = await memory_nodes_of(dana)
    desk.app.state.memory = Memory(StoreThatCannotErase(store), timezone="Asia/Jerusalem")

    response = await desk.http.delete(
        f"/api/v1/memory/{dana.patient_id}", headers=await desk.headers("admin")
    )

    assert response.status_code == 503
    assert response.json()["error"] == "memory_unavailable"
    assert await app_rows_of(database, dana) == before
    assert await memory_nodes_of(dana) == nodes
    assert await AuditLog(database).search(AuditQuery(action="memory.erase")) == []
