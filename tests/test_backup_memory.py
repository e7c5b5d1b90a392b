"""The memory graph in backup sets, against moto's S3 on a real port: with MEMORY_BACKEND=sql it
travels in the database part and the manifest says so; with Neo4j (the Bolt server of
tests/bolt_server.py) the set holds its dump, encrypted and counted in the manifest, and a
restore loads it, refuses to overwrite a graph that holds nodes, or rebuilds the graph from the
restored database when the set has none. The drill's check of the restored graph runs on
each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from serving.backup.create import create_backup
from serving.backup.errors import RestoreRefused
from serving.backup.memory_graph import (
    IN_DATABASE,
    PART_KIND,
    PART_NAME,
    verify_restored_graph,
)
from serving.backup.restore import restore_backup
from serving.db.engine import Database
from serving.memory.factory import create_memory_store
from serving.memory.rebuild import app_database_counts, rebuild
from serving.memory.records import GraphExport
from serving.memory.store import MemoryStore
from serving.settings import Settings
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)
from tests.backup_stand_ins import (  # noqa: F401
    age_keys_fixture,
    backup_settings_fixture,
    buckets_fixture,
    repository_fixture,
    session_exporter_fixture,
)
from tests.bolt_server import BoltServer
from tests.test_memory_rebuild import canonical

T = TypeVar("T")
sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
QUIET = {"dvc": False, "service_check": False}
"""The restores here check the graph; the app's service probe is tests/test_backup_sets.py's."""


def on_store(settings: Settings, work: Callable[[MemoryStore, Database], Awaitable[T]]) -> T:
    """`work` on the store the settings configure, as a command would: its own event loop."""

    async def run() -> T:
        database = Database(settings.database_url)
        store = create_memory_store(settings, database)
        try:
            return await work(store, database)
        finally:
            await store.close()
            await database.dispose()

    return asyncio.run(run())


def rebuilt(settings: Settings) -> dict[str, int]:
    return on_store(settings, lambda store, database: rebuild(database, store))


def dumped(settings: Settings) -> GraphExport:
    return on_store(settings, lambda store, _: store.dump())


def store_counts(settings: Settings, database_url: str) -> dict[str, int]:
    """The store's nodes per label, the sql store in the database at `database_url`."""
    restored = settings.model_copy(update={"database_url": database_url})
    return on_store(restored, lambda store, _: store.counts())


def cleared(settings: Settings) -> None:
    on_store(settings, lambda store, _: store.clear())


def in_neo4j(settings: Settings, bolt: BoltServer, **overrides: Any) -> Settings:
    values = {
        "memory_backend": "neo4j",
        "neo4j_uri": bolt.uri,
        "neo4j_user": bolt.user,
        "neo4j_password": SecretStr(bolt.password),
        "neo4j_database": bolt.database,
        "neo4j_timeout_seconds": 5.0,
        **overrides,
    }
    return settings.model_copy(update=values)


def _receipt(target: Path) -> dict[str, Any]:
    receipt: dict[str, Any] = json.loads((target / "RESTORED.json").read_text())
    return receipt


@sqlite_only
def test_on_sql_the_graph_travels_in_the_database_part(
    backup_settings: Settings, tmp_path: Path
) -> None:
    live = rebuilt(backup_settings)
    assert live["Message"] >= 2

    manifest = create_backup(backup_settings, dvc=False)

    assert manifest.memory["backend"] == "sql"
    assert manifest.memory["part"] == IN_DATABASE
    tables = manifest.memory["tables"]
    assert "memory_messages" in tables and "memory_conversations" in tables
    assert manifest.source.row_counts["memory_messages"] == live["Message"]
    assert PART_NAME not in {p.name for p in manifest.parts}

    target = tmp_path / "recovered"
    url = f"sqlite+aiosqlite:///{target / 'dental.db'}"
    report = restore_backup(backup_settings, target=target, database_url=url, **QUIET)

    assert "memory graph restored with the database (MEMORY_BACKEND=sql)" in report.checks
    receipt = _receipt(target)
    assert receipt["memory"] == {"backend": "sql", "source": IN_DATABASE, "counts": live}
    assert store_counts(backup_settings, url) == live
    line = verify_restored_graph(backup_settings, manifest, receipt["memory"], url)
    assert line.startswith("memory graph (sql, in the database)")


@sqlite_only
def test_on_neo4j_the_set_holds_the_graph_and_a_restore_loads_it(
    backup_settings: Settings, bolt_server: BoltServer, tmp_path: Path
) -> None:
    settings = in_neo4j(backup_settings, bolt_server)
    live_counts = rebuilt(settings)
    live = dumped(settings)

    manifest = create_backup(settings, dvc=False)

    [part] = [p for p in manifest.parts if p.name == PART_NAME]
    assert part.kind == PART_KIND and part.object == f"{PART_NAME}.age"
    assert manifest.memory == {
        "backend": "neo4j",
        "part": PART_NAME,
        "counts": live_counts,
        "edges": len(live.edges),
    }
    assert "memory-graph" not in manifest.skipped

    # The store still holds the live graph: a restore into it is refused, nothing written.
    target = tmp_path / "recovered"
    url = f"sqlite+aiosqlite:///{target / 'dental.db'}"
    with pytest.raises(RestoreRefused, match="neo4j memory store already holds"):
        restore_backup(settings, target=target, database_url=url, **QUIET)
    assert not (target / "dental.db").exists()
    assert canonical(dumped(settings)) == canonical(live)

    cleared(settings)  # the disaster took the graph
    report = restore_backup(settings, target=target, database_url=url, **QUIET)

    assert "memory graph loaded into the neo4j store; node counts match the manifest" in (
        report.checks
    )
    assert canonical(dumped(settings)) == canonical(live)
    receipt = _receipt(target)
    assert receipt["memory"]["source"] == "loaded"
    line = verify_restored_graph(settings, manifest, receipt["memory"], url)
    assert line.startswith("memory graph (neo4j): ")


@sqlite_only
def test_a_set_without_the_graph_restores_it_by_rebuilding(
    backup_settings: Settings, bolt_server: BoltServer, closed_port_url: str, tmp_path: Path
) -> None:
    settings = in_neo4j(backup_settings, bolt_server)
    cleared(settings)
    unreachable = in_neo4j(
        backup_settings,
        bolt_server,
        neo4j_uri=closed_port_url.replace("http://", "bolt://"),
        neo4j_timeout_seconds=2.0,
    )

    manifest = create_backup(unreachable, dvc=False)  # the graph is derived: the set is made

    assert PART_NAME not in {p.name for p in manifest.parts}
    assert manifest.memory == {"backend": "neo4j", "part": None}
    assert "a restore rebuilds the graph" in manifest.skipped["memory-graph"]
    assert bolt_server.password not in manifest.to_json()

    target = tmp_path / "recovered"
    url = f"sqlite+aiosqlite:///{target / 'dental.db'}"
    report = restore_backup(settings, target=target, database_url=url, **QUIET)

    assert (
        "memory graph rebuilt from the restored database into neo4j: the set holds no graph part"
        in report.checks
    )
    restored = on_store(
        settings.model_copy(update={"database_url": url}),
        lambda store, database: app_database_counts(database),
    )
    counts = store_counts(settings, url)
    assert (counts["Conversation"], counts["Message"]) == (
        restored.conversations,
        restored.messages,
    )
    line = verify_restored_graph(settings, manifest, _receipt(target)["memory"], url)
    assert line.startswith("memory graph rebuilt (neo4j)")


@sqlite_only
def test_a_sql_set_restored_onto_neo4j_is_rebuilt_there(
    backup_settings: Settings, bolt_server: BoltServer, tmp_path: Path
) -> None:
    live = rebuilt(backup_settings)
    manifest = create_backup(backup_settings, dvc=False)
    settings = in_neo4j(backup_settings, bolt_server)
    cleared(settings)

    target = tmp_path / "recovered"
    url = f"sqlite+aiosqlite:///{target / 'dental.db'}"
    report = restore_backup(settings, target=target, database_url=url, **QUIET)

    assert any(
        check.startswith("memory graph rebuilt from the restored database into neo4j")
        for check in report.checks
    ), report.checks
    assert store_counts(settings, url) == live
    assert manifest.memory["backend"] == "sql"
