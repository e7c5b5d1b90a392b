"""Conversations, messages, escalations and guard events in the app database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Result, Select, SQLColumnExpression, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from serving.conversation.state import ConversationState
from serving.conversation.turn import EscalationRequest
from serving.db import models as db
from serving.db.engine import Database
from serving.db.types import utcnow


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    channel: str
    patient_id: int | None
    language: str
    state: ConversationState
    turn_owner: str | None = None
    """The lease this turn holds (see `ConversationStore.open_turn`); None when the
    conversation was only looked at (`ConversationStore.conversation`)."""
    history: tuple[HistoryMessage, ...] = ()
    """The conversation's latest messages before this turn, oldest first."""
    message_id: int | None = None
    """The patient's text message, stored when the turn opened."""


@dataclass(frozen=True)
class HistoryMessage:
    role: str
    text: str
    button: str | None


@dataclass(frozen=True)
class PatientMessageLabels:
    """What the turn learned about the patient's message, stored with the reply."""

    message_id: int
    urgency: str
    intent: str
    memory_pattern: str


@dataclass(frozen=True)
class StoredReply:
    text: str
    language: str
    urgency: str
    intent: str
    memory_pattern: str
    bundle_version: str
    model: str
    architecture: str
    llm_calls: int
    tokens: int = 0


class ConversationBusy(RuntimeError):
    """Another turn of this conversation is still being answered (by this or another process)
    and did not finish in time."""


TURN_LEASE = timedelta(seconds=120)
"""Longer than any turn (model timeouts and retries included); a process that dies mid-turn
holds the conversation at most this long."""
_BUSY_BACKOFF_SECONDS = (0.005, 0.01, 0.02, 0.05, 0.1)


class ConversationStore:
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._now = clock
        self._postgres = database.engine.url.get_backend_name() != "sqlite"

    async def open_turn(
        self,
        channel: str,
        external_user_id: str,
        *,
        language: str,
        patient_id: int | None,
        history: int,
        text: str | None = None,
        wait_seconds: float = 30.0,
        rebind: bool = False,
    ) -> ConversationRecord:
        """Start answering the user's next message: the conversation (created on first
        contact) with the turn's lease taken, the verified patient bound, the last `history`
        messages, and the patient's `text` stored (before it is answered: nothing a patient
        sends is lost), in one transaction. `finish_turn` labels the stored message.

        Turns of one conversation are answered one at a time across every serving process:
        while another process holds the lease, wait (up to `wait_seconds`, then
        ConversationBusy). Every opened turn ends with `finish_turn` or `abandon_turn`.

        `rebind`: the message asserts its identity, so `patient_id` replaces the binding even
        when it is None (no patient); otherwise only a patient id changes it.
        """
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + wait_seconds
        attempt = 0
        while True:
            try:
                record = await self._try_open(
                    channel, external_user_id, owner, language, patient_id, history, text, rebind
                )
            except IntegrityError:  # a concurrent first message created it: read it again
                record = None
            if record is not None:
                return record
            if time.monotonic() >= deadline:
                raise ConversationBusy("the previous message is still being answered")
            await asyncio.sleep(_BUSY_BACKOFF_SECONDS[min(attempt, len(_BUSY_BACKOFF_SECONDS) - 1)])
            attempt += 1

    async def _try_open(
        self,
        channel: str,
        external_user_id: str,
        owner: str,
        language: str,
        patient_id: int | None,
        history: int,
        text: str | None,
        rebind: bool,
    ) -> ConversationRecord | None:
        now = self._now()
        async with self._db.transaction() as session:
            row = await session.scalar(
                _user_conversation(channel, external_user_id).with_for_update()
            )
            if row is None:
                row = _new_conversation(channel, external_user_id, language)
                row.patient_id = patient_id
                row.turn_owner, row.turn_expires_at = owner, now + TURN_LEASE
                session.add(row)
                await session.flush()
                message_id = await _store_text(session, row, text)
                return _record(row, owner=owner, history=[], message_id=message_id)
            if row.turn_owner is not None and (
                row.turn_expires_at is None or row.turn_expires_at > now
            ):
                return None
            row.turn_owner, row.turn_expires_at = owner, now + TURN_LEASE
            if (rebind or patient_id is not None) and row.patient_id != patient_id:
                row.patient_id = patient_id
            recent: list[db.Message] = []
            if history > 0:
                found = await session.scalars(
                    select(db.Message)
                    .where(db.Message.conversation_id == row.id)
                    .order_by(db.Message.id.desc())
                    .limit(history)
                )
                recent = list(reversed(found.all()))
            message_id = await _store_text(session, row, text)
            return _record(row, owner=owner, history=recent, message_id=message_id)

    async def conversation(
        self, channel: str, external_user_id: str, *, language: str
    ) -> ConversationRecord:
        """The user's conversation (created on first contact), without taking its turn: for a
        channel that reads it outside a turn (Telegram's commands and contact sharing)."""
        for _ in range(2):  # a concurrent first message may create it: read it again
            try:
                async with self._db.transaction() as session:
                    row = await session.scalar(_user_conversation(channel, external_user_id))
                    if row is None:
                        row = _new_conversation(channel, external_user_id, language)
                        session.add(row)
                return _record(row, owner=None, history=[], message_id=None)
            except IntegrityError:
                continue
        raise RuntimeError("could not open the conversation")

    async def find(self, channel: str, external_user_id: str) -> ConversationRecord | None:
        """The user's conversation, or None before first contact (nothing is created)."""
        async with self._db.transaction() as session:
            row = await session.scalar(_user_conversation(channel, external_user_id))
            return None if row is None else _record(row, owner=None, history=[], message_id=None)

    async def set_language(self, conversation_id: str, language: str) -> None:
        """The patient's chosen language (Telegram's /language), the default of later turns."""
        async with self._db.transaction() as session:
            await session.execute(
                update(db.Conversation)
                .where(db.Conversation.id == conversation_id)
                .execution_options(synchronize_session=False)
                .values(language=language, updated_at=self._now())
            )

    async def mark_greeted(self, conversation_id: str) -> None:
        """Record that the bot disclosure was shown, so the first answer does not repeat it."""
        async with self._db.transaction() as session:
            row = await session.get(db.Conversation, conversation_id)
            if row is None:
                return
            state = ConversationState.model_validate(row.state or {})
            if not state.greeted:
                state.greeted = True
                row.state = state.model_dump(mode="json")

    async def bind_patient(self, conversation_id: str, patient_id: int | None) -> None:
        async with self._db.transaction() as session:
            row = await session.get(db.Conversation, conversation_id)
            if row is not None and row.patient_id != patient_id:
                row.patient_id = patient_id

    async def addressee(self, conversation_id: str) -> tuple[str, str, str] | None:
        """The conversation's channel, user id on that channel and language (None: no such
        conversation), for a message that does not answer the patient."""
        async with self._db.transaction() as session:
            row = await session.get(db.Conversation, conversation_id)
            if row is None:
                return None
            return row.channel, row.external_user_id, row.language

    async def add_outbound_message(
        self, conversation_id: str, *, text: str, language: str, kind: str
    ) -> int:
        """Store a message sent to the patient outside a turn (a reminder, a dentist's reply),
        so the conversation's history shows it like any reply."""
        async with self._db.transaction() as session:
            row = db.Message(
                conversation_id=conversation_id,
                role="assistant",
                text=text,
                language=language,
                intent=f"outbound_{kind}",
                model="outbound",
            )
            session.add(row)
            await session.execute(
                update(db.Conversation)
                .where(db.Conversation.id == conversation_id)
                .execution_options(synchronize_session=False)
                .values(updated_at=self._now())
            )
            await session.flush()
            return row.id

    async def add_patient_message(
        self, conversation_id: str, *, text: str, button: str | None, language: str
    ) -> int:
        """Store an inbound message before it is answered: nothing a patient sends is lost."""
        async with self._db.transaction() as session:
            row = db.Message(
                conversation_id=conversation_id,
                role="patient",
                text=text,
                button=button,
                language=language,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def finish_turn(
        self,
        conversation: ConversationRecord,
        *,
        message: PatientMessageLabels,
        reply: StoredReply,
        state: ConversationState,
        escalations: Sequence[EscalationRequest],
        guard_events: Sequence[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        """Store the reply, the patient message's labels, the new dialogue state, escalations
        and guard events together, and hand the conversation to its next turn.

        Returns the (id, urgency) of the conversation's escalation when the turn raised one.
        """
        created: list[tuple[str, str]] = []
        async with self._db.transaction() as session:
            updated = await session.execute(
                update(db.Conversation)
                .where(db.Conversation.id == conversation.id)
                .execution_options(synchronize_session=False)
                .values(
                    state=state.model_dump(mode="json"),
                    language=reply.language,
                    updated_at=self._now(),
                    **_released(conversation.turn_owner),
                )
            )
            if _rowcount(updated) == 0:
                raise LookupError(f"conversation {conversation.id} vanished")
            await session.execute(
                update(db.Message)
                .where(db.Message.id == message.message_id)
                .execution_options(synchronize_session=False)
                .values(
                    language=reply.language,
                    urgency=message.urgency,
                    intent=message.intent,
                    memory_pattern=message.memory_pattern,
                )
            )
            session.add(
                db.Message(
                    conversation_id=conversation.id,
                    role="assistant",
                    text=reply.text,
                    language=reply.language,
                    urgency=reply.urgency,
                    intent=reply.intent,
                    memory_pattern=reply.memory_pattern,
                    bundle_version=reply.bundle_version,
                    model=reply.model,
                    architecture=reply.architecture,
                    llm_calls=reply.llm_calls,
                    tokens=reply.tokens,
                )
            )
            if escalations:
                request = min(escalations, key=lambda e: _URGENCY_RANK.get(e.urgency, 3))
                created.append(await self._escalate(session, conversation.id, request))
            for kind, reasons in guard_events:
                session.add(
                    db.GuardEvent(conversation_id=conversation.id, kind=kind, reasons=reasons)
                )
        return created

    async def _escalate(
        self, session: AsyncSession, conversation_id: str, request: EscalationRequest
    ) -> tuple[str, str]:
        """Open the conversation's escalation, or attach the request to the one not closed yet
        (one per conversation, the database's partial unique index sees to it): one more
        message, its summary, the time, and the urgency raised if the request's is higher.
        One statement, so two replicas attaching at once both count."""
        now = self._now()
        insert = (postgresql.insert if self._postgres else sqlite.insert)(db.Escalation)
        statement = insert.values(
            id=uuid.uuid4().hex,
            conversation_id=conversation_id,
            urgency=request.urgency,
            reasons=", ".join(request.reasons),
            summary=request.summary,
            last_summary=request.summary,
            message_count=1,
            status="open",
            created_at=now,
            updated_at=now,
        )
        new = statement.excluded
        raises = _urgency_rank(new.urgency) < _urgency_rank(db.Escalation.urgency)
        upsert = statement.on_conflict_do_update(
            index_elements=[db.Escalation.conversation_id],
            index_where=db.ESCALATION_UNCLOSED,
            set_={
                "message_count": db.Escalation.message_count + 1,
                "last_summary": new.last_summary,
                "updated_at": new.updated_at,
                "urgency": case((raises, new.urgency), else_=db.Escalation.urgency),
                "reasons": case((raises, new.reasons), else_=db.Escalation.reasons),
            },
        ).returning(db.Escalation.id, db.Escalation.urgency)
        escalation_id, urgency = (await session.execute(upsert)).one()
        return str(escalation_id), str(urgency)

    async def abandon_turn(self, conversation: ConversationRecord) -> None:
        """Give the conversation back after a turn that ended without a reply (an error)."""
        async with self._db.transaction() as session:
            await session.execute(
                update(db.Conversation)
                .where(db.Conversation.id == conversation.id)
                .execution_options(synchronize_session=False)
                .values(**_released(conversation.turn_owner))
            )


def _user_conversation(channel: str, external_user_id: str) -> Select[db.Conversation]:
    """The query for a user's conversation on a channel (one per user and channel)."""
    return select(db.Conversation).where(
        db.Conversation.channel == channel,
        db.Conversation.external_user_id == external_user_id,
    )


def _new_conversation(channel: str, external_user_id: str, language: str) -> db.Conversation:
    return db.Conversation(
        id=uuid.uuid4().hex,
        channel=channel,
        external_user_id=external_user_id,
        language=language,
        state=ConversationState().model_dump(mode="json"),
    )


_URGENCY_RANK = {"EMERGENCY": 0, "DOCTOR_REQUIRED": 1, "ROUTINE": 2}
"""Lower is more urgent."""


def _urgency_rank(urgency: SQLColumnExpression[str]) -> ColumnElement[int]:
    return case(_URGENCY_RANK, value=urgency, else_=len(_URGENCY_RANK))


def _released(owner: str | None) -> dict[str, Any]:
    """Column values that end the lease, unless it expired and another turn took it over."""
    ours = db.Conversation.turn_owner == owner
    return {
        "turn_owner": case((ours, None), else_=db.Conversation.turn_owner),
        "turn_expires_at": case((ours, None), else_=db.Conversation.turn_expires_at),
    }


def _rowcount(result: Result[Any]) -> int:
    count: int = getattr(result, "rowcount", 0)
    return count


async def _store_text(session: AsyncSession, row: db.Conversation, text: str | None) -> int | None:
    if text is None:
        return None
    # The conversation's language until the turn knows better (finish_turn labels it).
    message = db.Message(
        conversation_id=row.id, role="patient", text=text, button=None, language=row.language
    )
    session.add(message)
    await session.flush()
    return message.id


def _record(
    row: db.Conversation,
    *,
    owner: str | None,
    history: list[db.Message],
    message_id: int | None,
) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        channel=row.channel,
        patient_id=row.patient_id,
        language=row.language,
        state=ConversationState.model_validate(row.state or {}),
        turn_owner=owner,
        history=tuple(
            HistoryMessage(role=m.role, text=m.text or "", button=m.button) for m in history
        ),
        message_id=message_id,
    )
