"""The memory graph rebuilt from the app database, its source of truth: after a store was
lost or changed (`MEMORY_BACKEND`), after writes the live path gave up on, after a restore from
a set without the graph (`dental memory rebuild`, docs/MEMORY.md).

Conversations are read in batches, in id order, each with its messages and escalations, and
written with the same conversion the live path uses (`conversation_facts`): a rebuilt graph is
the graph the turns wrote. Message text is never loaded: the graph holds none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import defer

from serving.db.engine import Database
from serving.db.models import Conversation, Escalation, Message
from serving.memory.store import MemoryStore
from serving.memory.turn_outcomes import conversation_facts

BATCH = 200
"""Conversations read and written per round: memory stays bounded on a clinic of any size."""


async def rebuild(database: Database, store: MemoryStore, *, batch: int = BATCH) -> dict[str, int]:
    """Empty `store`, then write every conversation of `database` that has a message into it;
    the store's node counts per label afterwards."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    await store.prepare()
    await store.clear()
    after: str | None = None
    while True:
        conversations = await _conversations_after(database, after, batch)
        if not conversations:
            break
        messages, escalations = await _rows_of(database, [c.id for c in conversations])
        for conversation in conversations:
            await store.record(
                conversation_facts(
                    conversation,
                    messages.get(conversation.id, []),
                    escalations.get(conversation.id, []),
                )
            )
        after = conversations[-1].id
    return await store.counts()


@dataclass(frozen=True)
class AppDatabaseCounts:
    """What the graph should hold, as the app database says."""

    conversations: int
    messages: int


async def app_database_counts(database: Database) -> AppDatabaseCounts:
    """Conversations (with at least one message) and messages in the app database: the
    Conversation and Message nodes a store that is up to date holds."""
    async with database.read() as session:
        conversations = await session.scalar(
            select(func.count()).select_from(Conversation).where(_has_messages)
        )
        messages = await session.scalar(select(func.count()).select_from(Message))
    return AppDatabaseCounts(conversations=int(conversations or 0), messages=int(messages or 0))


_has_messages = exists().where(Message.conversation_id == Conversation.id)
"""A conversation is remembered from its first message: one opened without any (a verification
that went no further) holds nothing to learn from."""


async def _conversations_after(
    database: Database, after: str | None, limit: int
) -> list[Conversation]:
    query = (
        select(Conversation).options(defer(Conversation.state, raiseload=True)).where(_has_messages)
    )
    if after is not None:
        query = query.where(Conversation.id > after)
    async with database.read() as session:
        return list(await session.scalars(query.order_by(Conversation.id).limit(limit)))


async def _rows_of(
    database: Database, conversation_ids: Sequence[str]
) -> tuple[dict[str, list[Message]], dict[str, list[Escalation]]]:
    """The batch's messages (without their text) and escalations, by conversation."""
    messages: dict[str, list[Message]] = {}
    escalations: dict[str, list[Escalation]] = {}
    async with database.read() as session:
        found = await session.scalars(
            select(Message)
            .options(
                defer(Message.text, raiseload=True),
                defer(Message.buttons, raiseload=True),
            )
            .where(Message.conversation_id.in_(conversation_ids))
            .order_by(Message.id)
        )
        for message in found:
            messages.setdefault(message.conversation_id, []).append(message)
        opened = await session.scalars(
            select(Escalation)
            .options(
                defer(Escalation.summary, raiseload=True),
                defer(Escalation.last_summary, raiseload=True),
                defer(Escalation.transcript, raiseload=True),
                defer(Escalation.reasons, raiseload=True),
            )
            .where(Escalation.conversation_id.in_(conversation_ids))
        )
        for escalation in opened:
            escalations.setdefault(escalation.conversation_id, []).append(escalation)
    return messages, escalations
