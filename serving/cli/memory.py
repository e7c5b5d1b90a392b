"""`dental memory ...`: the memory graph (MEMORY_BACKEND, docs/MEMORY.md).

`rebuild` writes the graph afresh from the app database, its source of truth; `check` says
whether the configured store answers, what it holds, and whether it is behind the app
database. Both work on the database at this code's schema, like the server.
"""

from __future__ import annotations

import time

import typer

from serving.cli.support import fail, on_migrated_database
from serving.db.engine import Database
from serving.memory.factory import MemoryMisconfigured, create_memory_store
from serving.memory.rebuild import AppDatabaseCounts, app_database_counts, rebuild
from serving.memory.records import LABELS
from serving.memory.store import MemoryUnavailable
from serving.settings import Settings

REFUSALS = (MemoryUnavailable, MemoryMisconfigured)
"""The store cannot be reached, or its settings are wrong: one line, exit 1."""

memory_app = typer.Typer(
    help="What the assistant remembers across conversations: the graph of patients, "
    "conversations, messages, patterns and outcomes (MEMORY_BACKEND: sql or neo4j; "
    "docs/MEMORY.md).",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)


@memory_app.command("rebuild")
def rebuild_command() -> None:
    """Empty the memory store and write it again from the app database, conversation by
    conversation: after the store was lost or switched (MEMORY_BACKEND), or when `dental
    memory check` says it is behind. Turns keep being served meanwhile; the graph is whole
    again when the command ends. Prints the nodes per label."""

    async def work(database: Database, settings: Settings) -> tuple[str, dict[str, int]]:
        store = create_memory_store(settings, database)
        try:
            return store.kind, await rebuild(database, store)
        finally:
            await store.close()

    started = time.monotonic()
    kind, counts = on_migrated_database(work, refusals=REFUSALS)
    typer.echo(f"rebuilt the memory graph ({kind}) in {time.monotonic() - started:.1f} s")
    for line in count_lines(counts):
        typer.echo(line)


@memory_app.command("check")
def check_command() -> None:
    """Say whether the memory store answers, how many nodes it holds per label, and whether
    it is behind the app database (fewer Conversation or Message nodes than the database has
    conversations and messages). Exit 1 when it cannot be read or is not up to date."""

    async def work(
        database: Database, settings: Settings
    ) -> tuple[str, dict[str, int], AppDatabaseCounts]:
        store = create_memory_store(settings, database)
        try:
            counts = await store.counts()
        finally:
            await store.close()
        return store.kind, counts, await app_database_counts(database)

    kind, counts, expected = on_migrated_database(work, refusals=REFUSALS)
    typer.echo(f"memory store: {kind}, answering")
    for line in count_lines(counts):
        typer.echo(line)
    typer.echo(
        f"app database: {expected.conversations} conversations, {expected.messages} messages"
    )
    problems = differences(counts, expected)
    if problems:
        fail("the memory store is not up to date: " + "; ".join(problems)
             + ". Run `dental memory rebuild`")  # fmt: skip
    typer.echo("up to date")


def count_lines(counts: dict[str, int]) -> list[str]:
    """One line per label, in the graph's order."""
    return [f"  {label:<13} {counts.get(label, 0):>8}" for label in LABELS]


def differences(counts: dict[str, int], expected: AppDatabaseCounts) -> list[str]:
    """Where the store and the app database disagree, in words."""
    found = []
    for label, rows, what in (
        ("Conversation", expected.conversations, "conversations"),
        ("Message", expected.messages, "messages"),
    ):
        held = counts.get(label, 0)
        if held < rows:
            found.append(f"behind: {held} {label} nodes for {rows} {what}")
        elif held > rows:
            found.append(f"holds {held - rows} {label} nodes of {what} no longer in the database")
    return found
