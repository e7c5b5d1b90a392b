"""The memory graph in a backup set, and back.

With MEMORY_BACKEND=sql the graph is tables of the app database: the database part holds it,
at the same snapshot, and its rows are counted and checked with the other tables. With
MEMORY_BACKEND=neo4j the graph lives outside the database: the set holds the store's `dump()`
as JSON (`memory-graph.json`, encrypted like every part), and the manifest its node counts.

Either way the app database is the graph's source of truth: a set without the graph part (the
store could not be read while the set was made) restores the graph by rebuilding it from the
restored database. The graph is derived data, so an unreadable Neo4j does not stop the night's
backup: the set says it was skipped, and why.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from serving.backup.database import restored_row_counts, table_names
from serving.backup.errors import CollectionFailed, IntegrityFailure, RestoreRefused
from serving.backup.manifest import Manifest
from serving.db.engine import Database
from serving.memory.factory import MemoryMisconfigured, create_memory_store
from serving.memory.rebuild import app_database_counts, rebuild
from serving.memory.records import LABELS, GraphExport
from serving.memory.store import MemoryStore, MemoryUnavailable
from serving.settings import Settings

logger = logging.getLogger(__name__)

PART_NAME = "memory-graph.json"
PART_KIND = "memory-graph"
SQL_TABLE_PREFIX = "memory_"
IN_DATABASE = "database"
"""`Manifest.memory["part"]` when the graph's tables are in the database part (sql)."""
T = TypeVar("T")
Work = Callable[[MemoryStore, Database], Awaitable[T]]
"""What is done on the store; the database is the one the store's settings name."""


def node_counts(graph: GraphExport) -> dict[str, int]:
    """Nodes per label, every label present (0 when none)."""
    found = Counter(str(node["label"]) for node in graph.nodes)
    return {label: found.get(label, 0) for label in (*LABELS, *sorted(set(found) - set(LABELS)))}


def dump_graph(settings: Settings, target: Path) -> tuple[dict[str, Any], str | None]:
    """The manifest's `memory` entry and, when the graph was not put in the set, why.

    sql: nothing to write (the graph is in the database part). neo4j: the whole graph into
    `target` as JSON, with its node and edge counts."""
    if settings.memory_backend == "sql":
        return {"backend": "sql", "part": IN_DATABASE, "tables": graph_tables()}, None

    async def dump(store: MemoryStore, _: Database) -> GraphExport:
        return await store.dump()

    try:
        graph = _on_store(settings, settings.database_url, dump)
    except (MemoryUnavailable, MemoryMisconfigured) as error:
        logger.warning("the memory graph is not in this set: %s", type(error).__name__)
        return (
            {"backend": settings.memory_backend, "part": None},
            f"the {settings.memory_backend} memory store could not be read ({error}); a "
            "restore rebuilds the graph from the database",
        )
    try:
        with target.open("w", encoding="utf-8") as stream:
            json.dump(asdict(graph), stream, ensure_ascii=False)
    except OSError as error:
        raise CollectionFailed(f"cannot write the memory graph to {target}: {error}") from None
    entry = {
        "backend": settings.memory_backend,
        "part": PART_NAME,
        "counts": node_counts(graph),
        "edges": len(graph.edges),
    }
    return entry, None


def check_graph_target(settings: Settings, database_url: str, *, overwrite: bool) -> None:
    """Before anything is downloaded: refuse a graph store outside the database that already
    holds nodes (a live Neo4j), unless overwriting was asked for. The sql store is in the new
    database, which `check_targets` checks."""
    if settings.memory_backend == "sql" or overwrite:
        return

    async def counts(store: MemoryStore, _: Database) -> dict[str, int]:
        return await store.counts()

    try:
        held = sum(_on_store(settings, database_url, counts).values())
    except (MemoryUnavailable, MemoryMisconfigured) as error:
        raise RestoreRefused(
            f"the {settings.memory_backend} memory store cannot be read: {error}"
        ) from None
    if held:
        raise RestoreRefused(
            f"the {settings.memory_backend} memory store already holds {held} nodes; restore "
            "into an empty one, or pass --overwrite to replace them"
        )


def restore_graph(
    memory: dict[str, Any], graph_file: Path | None, settings: Settings, database_url: str
) -> tuple[str, dict[str, Any]]:
    """The graph into the configured store, after the database was restored: the set's graph
    loaded (its counts checked against the manifest's), or the database's own tables used as
    they are, or the graph rebuilt from the restored database. Returns the check's sentence
    and the receipt's `memory` entry. A set from before the graph was backed up (no
    `memory` entry) may hold a database of an older schema: the operator rebuilds after
    upgrading it."""
    backend = settings.memory_backend
    if not memory:
        return (
            "no memory graph in this set (made before the graph was backed up): run `dental "
            "memory rebuild` once the database is upgraded",
            {"backend": backend, "source": None},
        )
    if graph_file is not None:
        graph = read_graph(graph_file)

        async def load(store: MemoryStore, _: Database) -> dict[str, int]:
            await store.prepare()
            await store.clear()
            await store.load(graph)
            return await store.counts()

        counts = _restoring(settings, database_url, load)
        expected = dict(memory.get("counts", {}))
        if not _same_counts(counts, expected):
            raise IntegrityFailure(
                f"the memory graph loaded into the {backend} store holds {_describe(counts)}; "
                f"the manifest says {_describe(expected)}"
            )
        receipt = {"backend": backend, "source": "loaded", "counts": counts}
        return f"memory graph loaded into the {backend} store; node counts match the manifest", (
            receipt
        )
    if backend == "sql" and memory.get("part") == IN_DATABASE:

        async def read(store: MemoryStore, _: Database) -> dict[str, int]:
            return await store.counts()

        counts = _restoring(settings, database_url, read)
        receipt = {"backend": backend, "source": IN_DATABASE, "counts": counts}
        return "memory graph restored with the database (MEMORY_BACKEND=sql)", receipt

    async def rebuilt(store: MemoryStore, database: Database) -> dict[str, int]:
        return await rebuild(database, store)

    counts = _restoring(settings, database_url, rebuilt)
    why = (
        "the set holds no graph part"
        if memory.get("part") is None
        else f"the set's graph is in its {memory.get('backend')} database, not in {backend}"
    )
    receipt = {"backend": backend, "source": "rebuilt", "counts": counts}
    return f"memory graph rebuilt from the restored database into {backend}: {why}", receipt


def read_graph(path: Path) -> GraphExport:
    """A dumped graph; a damaged file is an `IntegrityFailure`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return GraphExport(nodes=list(data["nodes"]), edges=list(data["edges"]))
    except (ValueError, KeyError, TypeError) as error:
        raise IntegrityFailure(
            f"{path.name} is not a memory graph dump ({type(error).__name__})"
        ) from None


def clear_graph(settings: Settings, database_url: str) -> None:
    """Empty the configured store (the drill's scratch graph, as part of its disaster)."""

    async def clear(store: MemoryStore, _: Database) -> None:
        await store.clear()

    _restoring(settings, database_url, clear)


def graph_tables() -> list[str]:
    """The app database's tables that hold the sql store's graph."""
    return [name for name in table_names() if name.startswith(SQL_TABLE_PREFIX)]


def verify_restored_graph(
    settings: Settings,
    manifest: Manifest,
    restored: dict[str, Any],
    database_url: str,
) -> str:
    """What the drill checks after the runbook's restore, on the restored environment itself:
    the graph the configured store now holds against what the set says it held. `restored`
    is the receipt's `memory` entry. Raises `IntegrityFailure` when they differ."""
    source = restored.get("source")
    if source is None:
        return "no memory graph in the set: not checked"

    async def look(store: MemoryStore, database: Database) -> tuple[dict[str, int], Any]:
        counts = await store.counts()
        if source == "rebuilt":
            return counts, await app_database_counts(database)
        if source == IN_DATABASE:
            return counts, await restored_row_counts(database_url)
        return counts, None

    try:
        counts, other = _on_store(settings, database_url, look)
    except (MemoryUnavailable, MemoryMisconfigured) as error:
        raise IntegrityFailure(f"the restored memory store cannot be read: {error}") from None
    if source == "loaded":
        expected = dict(manifest.memory.get("counts", {}))
        if not _same_counts(counts, expected):
            raise IntegrityFailure(
                f"the restored memory graph holds {_describe(counts)}; the set's manifest says "
                f"{_describe(expected)}"
            )
        return f"memory graph ({settings.memory_backend}): {_describe(counts)}, as the manifest"
    if source == IN_DATABASE:
        tables = list(manifest.memory.get("tables", []))
        differ = [t for t in tables if other.get(t) != manifest.source.row_counts.get(t)]
        if differ:
            raise IntegrityFailure(
                f"the restored memory graph's tables {', '.join(differ)} do not hold the rows "
                "the manifest counts"
            )
        return (
            f"memory graph (sql, in the database): {_describe(counts)}; its tables' rows as "
            "the manifest"
        )
    if (counts.get("Conversation", 0), counts.get("Message", 0)) != (
        other.conversations,
        other.messages,
    ):
        raise IntegrityFailure(
            f"the rebuilt memory graph holds {_describe(counts)}; the restored database has "
            f"{other.conversations} conversations and {other.messages} messages"
        )
    return f"memory graph rebuilt ({settings.memory_backend}): {_describe(counts)}"


def _restoring(settings: Settings, database_url: str, work: Work[T]) -> T:
    try:
        return _on_store(settings, database_url, work)
    except (MemoryUnavailable, MemoryMisconfigured) as error:
        raise IntegrityFailure(
            f"the memory graph could not be restored into the {settings.memory_backend} "
            f"store: {error}; the database is restored: run `dental memory rebuild` when the "
            "store answers"
        ) from None


def _on_store(settings: Settings, database_url: str, work: Work[T]) -> T:
    """`work` on the configured store (the sql store over `database_url`), closed after."""

    async def run() -> T:
        database = Database(database_url)
        store = create_memory_store(
            settings.model_copy(update={"database_url": database_url}), database
        )
        try:
            return await work(store, database)
        finally:
            await store.close()
            await database.dispose()

    return asyncio.run(run())


def _same_counts(actual: dict[str, int], expected: dict[str, int]) -> bool:
    labels = set(actual) | set(expected)
    return all(actual.get(label, 0) == expected.get(label, 0) for label in labels)


def _describe(counts: dict[str, int]) -> str:
    """`Patient 2, Conversation 5, ...` in the graph's label order, labels with none left out."""
    labels = [*LABELS, *sorted(set(counts) - set(LABELS))]
    return ", ".join(f"{n} {counts[n]}" for n in labels if counts.get(n)) or "nothing"
