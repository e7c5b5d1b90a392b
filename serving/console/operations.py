"""What the staff console shows of the service's running: messages that did not reach the
patient, Telegram updates given up, how often each memory pattern labelled messages and what
its conversations led to (the memory graph's figures, passed in), and hourly figures. Read
from the app database; ids, counts and times only (never message text).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from serving.bundle.load import MemoryPattern
from serving.db import models as db
from serving.db.engine import Database
from serving.db.telegram_models import TelegramUpdate
from serving.db.types import utcnow
from serving.memory.records import PatternOutcomes

PATTERN_WINDOW = timedelta(days=30)
MAX_FIGURE_HOURS = 24 * 7


@dataclass(frozen=True)
class FailedDelivery:
    message_id: int
    conversation_id: str
    channel: str
    role: str
    author: str | None
    at: datetime


@dataclass(frozen=True)
class DeadLetterItem:
    update_id: int
    chat_id_hash: str | None
    """A pseudonym of the Telegram chat (the first 16 hex digits of its id's SHA-256): equal
    for the same chat, so repeats stand out, without showing who it is."""
    received_at: datetime
    attempts: int
    error: str | None


@dataclass(frozen=True)
class PatternUse:
    id: str
    description: str
    messages: int
    """Patient messages it labelled in the last 30 days (the app database)."""
    conversations: int = 0
    """Conversations of the memory's statistics window (90 days) in which a patient message
    matched it; the shares below are of these."""
    booked_share: float | None = None
    """Share of those conversations that then led to a visit booked or moved."""
    escalated_share: float | None = None
    dropped_share: float | None = None
    """Share that went quiet with no outcome after it."""


@dataclass(frozen=True)
class HourlyFigures:
    hours: list[datetime]
    conversations: list[int]
    escalations: list[int]
    reply_latency_p50_ms: list[int | None]
    reply_latency_p95_ms: list[int | None]
    bookings_by_assistant: list[int]


class Operations:
    def __init__(
        self, database: Database, *, timezone: str, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = database
        self._tz = ZoneInfo(timezone)
        self._now = clock

    async def failed_deliveries(self, *, limit: int) -> list[FailedDelivery]:
        """Messages sent outside a turn (a dentist's or staff reply, a reminder) that their
        channel did not take, newest first."""
        async with self._db.read() as session:
            rows = await session.execute(
                select(
                    db.Message.id,
                    db.Message.conversation_id,
                    db.Conversation.channel,
                    db.Message.role,
                    db.Message.author,
                    db.Message.created_at,
                )
                .join(db.Conversation, db.Conversation.id == db.Message.conversation_id)
                .where(db.Message.delivery == "failed")
                .order_by(db.Message.id.desc())
                .limit(limit)
            )
            return [
                FailedDelivery(
                    message_id=int(message_id),
                    conversation_id=conversation_id,
                    channel=channel,
                    role=role,
                    author=author,
                    at=at.astimezone(self._tz),
                )
                for message_id, conversation_id, channel, role, author, at in rows
            ]

    async def dead_letters(self, *, limit: int) -> list[DeadLetterItem]:
        """Telegram updates given up (status `failed`), newest first."""
        async with self._db.read() as session:
            rows = await session.execute(
                select(
                    TelegramUpdate.update_id,
                    TelegramUpdate.chat_id,
                    TelegramUpdate.received_at,
                    TelegramUpdate.attempts,
                    TelegramUpdate.error,
                )
                .where(TelegramUpdate.status == "failed")
                .order_by(TelegramUpdate.update_id.desc())
                .limit(limit)
            )
            return [
                DeadLetterItem(
                    update_id=int(update_id),
                    chat_id_hash=None if chat_id is None else _pseudonym(chat_id),
                    received_at=received_at.astimezone(self._tz),
                    attempts=int(attempts),
                    error=error,
                )
                for update_id, chat_id, received_at, attempts, error in rows
            ]

    async def pattern_use(
        self, patterns: Sequence[MemoryPattern], outcomes: Sequence[PatternOutcomes] = ()
    ) -> list[PatternUse]:
        """Each memory pattern with how many patient messages it labelled in the last 30 days
        and, from the memory's `outcomes`, what its conversations led to."""
        since = self._now() - PATTERN_WINDOW
        async with self._db.read() as session:
            rows = await session.execute(
                select(db.Message.memory_pattern, func.count(db.Message.id))
                .where(db.Message.role == "patient", db.Message.created_at >= since)
                .group_by(db.Message.memory_pattern)
            )
            counts = {str(name): int(count) for name, count in rows if name is not None}
        led_to = {o.pattern: o for o in outcomes}
        return [
            _pattern_use(p.name, p.description, counts.get(p.name, 0), led_to.get(p.name))
            for p in patterns
        ]

    async def figures(self, hours: int) -> HourlyFigures:
        """The last `hours` clock hours (the current one last), per hour: conversations with a
        patient message, escalations opened, reply latency and the assistant's bookings.

        No latency is stored per reply, so it is computed from the messages: the time from a
        patient message to the assistant's reply that follows it in the conversation (replies
        to messages sent outside a turn, and silent turns, have none). A booking by the
        assistant is a reply whose recorded actions include `booked` (the appointments table
        does not record who booked)."""
        hours = max(1, min(hours, MAX_FIGURE_HOURS))
        end = self._now().astimezone(self._tz).replace(minute=0, second=0, microsecond=0)
        end += timedelta(hours=1)
        start = end - timedelta(hours=hours)
        buckets = [start + timedelta(hours=n) for n in range(hours)]
        conversations: list[set[str]] = [set() for _ in buckets]
        escalations = [0] * hours
        latencies: list[list[float]] = [[] for _ in buckets]
        bookings = [0] * hours

        def bucket(moment: datetime) -> int | None:
            index = math.floor((moment - start).total_seconds() // 3600)
            return index if 0 <= index < hours else None

        async with self._db.read() as session:
            messages = await session.execute(
                select(
                    db.Message.conversation_id,
                    db.Message.role,
                    db.Message.created_at,
                    db.Message.model,
                    db.Message.actions,
                )
                .where(
                    db.Message.created_at >= start - timedelta(hours=1),
                    db.Message.created_at < end,
                    db.Message.role.in_(("patient", "assistant")),
                )
                .order_by(db.Message.conversation_id, db.Message.id)
            )
            opened = await session.scalars(
                select(db.Escalation.created_at).where(
                    db.Escalation.created_at >= start, db.Escalation.created_at < end
                )
            )
            for created in opened:
                if (index := bucket(created)) is not None:
                    escalations[index] += 1
            asked: dict[str, datetime] = {}
            for conversation_id, role, at, model, actions in messages:
                index = bucket(at)
                if role == "patient":
                    asked[conversation_id] = at
                    if index is not None:
                        conversations[index].add(conversation_id)
                    continue
                if model == "outbound":  # sent outside a turn: answers nothing
                    continue
                question = asked.pop(conversation_id, None)
                if index is None:
                    continue
                if question is not None:
                    latencies[index].append((at - question).total_seconds() * 1000)
                if actions and "booked" in actions:
                    bookings[index] += 1
        return HourlyFigures(
            hours=buckets,
            conversations=[len(c) for c in conversations],
            escalations=escalations,
            reply_latency_p50_ms=[_percentile(values, 50) for values in latencies],
            reply_latency_p95_ms=[_percentile(values, 95) for values in latencies],
            bookings_by_assistant=bookings,
        )


def _pattern_use(
    name: str, description: str, messages: int, outcomes: PatternOutcomes | None
) -> PatternUse:
    if outcomes is None or outcomes.conversations == 0:
        return PatternUse(name, description, messages)
    total = outcomes.conversations
    return PatternUse(
        name,
        description,
        messages,
        conversations=total,
        booked_share=round(outcomes.booked / total, 3),
        escalated_share=round(outcomes.escalated / total, 3),
        dropped_share=round(outcomes.dropped / total, 3),
    )


def _pseudonym(chat_id: int) -> str:
    return hashlib.sha256(str(chat_id).encode("ascii")).hexdigest()[:16]


def _percentile(values: list[float], percent: int) -> int | None:
    """The nearest-rank percentile, in whole milliseconds; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return round(ordered[rank - 1])
