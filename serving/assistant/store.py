"""Conversations, messages, escalations and guard events in the app database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Result,
    ScalarSelect,
    Select,
    SQLColumnExpression,
    Update,
    case,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from serving.conversation.state import ConversationState
from serving.conversation.turn import Button, EscalationRequest
from serving.db import models as db
from serving.db.engine import Database
from serving.db.types import utcnow
from serving.memory import turn_outcomes
from serving.memory.records import TurnFacts


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
    """The patient's text message, stored when the turn opened (or, for a retried message,
    when an earlier attempt opened it)."""
    idempotency_key: str | None = None
    """The channel's id of the message being answered (see `ConversationStore.open_turn`)."""
    answered: StoredReply | None = None
    """The reply already stored for this idempotency key: the turn is not opened (no lease
    taken) and this reply is what the channel sends again."""
    escalation_id: str | None = None
    """The conversation's escalation not closed yet, if any (read when a turn opens)."""
    closed_escalations: tuple[str, ...] = ()
    """Escalations the turn's opening closed: another patient proved who they are here."""
    held_by: str | None = None
    """Who holds the conversation: a staff member who took it over, or the dentist who joined
    its escalation (and neither handed it back). The assistant is silent but for the safety
    layer."""


@dataclass(frozen=True)
class Author:
    """A person writing to the patient outside a turn: a dentist (role `doctor`) or a member
    of the clinic's staff (role `staff`), shown to the patient by name."""

    name: str
    role: Literal["doctor", "staff"] = "doctor"


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
    safety_answer: str | None = None
    """`yes` or `no` when the message answered the safety question."""
    triage_decided_by: str | None = None
    """What set the urgency (`Triage.decided_by`); None when the message was not triaged."""
    triage_score: float | None = None


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
    buttons: tuple[Button, ...] = ()
    actions: tuple[str, ...] = ()
    outcomes: tuple[dict[str, Any], ...] = ()
    """What the turn did that memory learns from (`Turn.outcomes`); `finish_turn` adds the
    escalation the turn opened."""


@dataclass(frozen=True)
class FinishedTurn:
    """What `finish_turn` stored, for whoever acts after the commit."""

    escalation: tuple[str, str] | None
    """The (id, urgency) of the conversation's escalation when the turn raised one."""
    facts: TurnFacts
    """The turn's messages and outcomes as memory facts (`conversation_facts`), read in the
    transaction that stored them."""
    closed_escalations: tuple[str, ...] = ()
    """Another person's escalation the turn closed to open its own (`_escalate`)."""


class ConversationBusy(RuntimeError):
    """Another turn of this conversation is still being answered (by this or another process)
    and did not finish in time."""


class TurnLost(RuntimeError):
    """The turn's lease was taken over by another turn (it expired while this one ran, its
    renewals failing): nothing of this turn is stored, and the message is answered again."""


TURN_LEASE = timedelta(seconds=15)
"""How long a turn holds its conversation without renewing the lease. A turn renews it every
third of this while it runs (`renew_turn`), however long it waits on a model; a process that
dies mid-turn holds the conversation at most this long."""
_BUSY_BACKOFF_SECONDS = (0.005, 0.01, 0.02, 0.05, 0.1)
_DECIDED_BY_CHARS = 160
"""`messages.triage_decided_by`'s width: a message firing very many rules keeps the first."""


MessageListener = Callable[[str, int], Awaitable[None]]
"""(conversation id, message id): told after each message is stored (the staff console's live
feed); best effort, its failures are its own."""


class ConversationStore:
    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        turn_lease: timedelta = TURN_LEASE,
        on_message: MessageListener | None = None,
    ) -> None:
        self._db = database
        self._now = clock
        self.turn_lease = turn_lease
        self._on_message = on_message

    async def _stored(self, conversation_id: str, message_id: int | None) -> None:
        if self._on_message is not None and message_id is not None:
            await self._on_message(conversation_id, message_id)

    async def open_turn(
        self,
        channel: str,
        external_user_id: str,
        *,
        language: str,
        patient_id: int | None,
        history: int,
        text: str | None = None,
        idempotency_key: str | None = None,
        wait_seconds: float = 30.0,
        rebind: bool = False,
    ) -> ConversationRecord:
        """Start answering the user's next message: the conversation (created on first
        contact) with the turn's lease taken, the verified patient bound, the last `history`
        messages, and the patient's `text` stored (before it is answered: nothing a patient
        sends is lost), in one transaction. `finish_turn` labels the stored message.

        With an `idempotency_key` (the channel's id of the message), a retried message is
        never stored or answered twice: when its reply is stored, the record carries it as
        `answered` and no lease is taken; when only the message is stored (the process died
        mid-turn), the turn opens on that message.

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
                    channel,
                    external_user_id,
                    owner,
                    language,
                    patient_id,
                    history,
                    text,
                    idempotency_key,
                    rebind,
                )
            except IntegrityError:  # a concurrent first message created it: read it again
                record = None
            if record is not None:
                if record.answered is None:
                    await self._stored(record.id, record.message_id)
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
        key: str | None,
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
                row.turn_owner, row.turn_expires_at = owner, now + self.turn_lease
                session.add(row)
                await session.flush()
                message_id = await _store_text(session, row, text, key)
                return _record(
                    row, owner=owner, history=[], message_id=message_id, idempotency_key=key
                )
            if row.turn_owner is not None and (
                row.turn_expires_at is None or row.turn_expires_at > now
            ):
                return None
            earlier = await _messages_of_key(session, row.id, key)
            if "assistant" in earlier:
                answered = _stored_reply(earlier["assistant"])
                return _record(row, owner=None, history=[], message_id=None, answered=answered)
            row.turn_owner, row.turn_expires_at = owner, now + self.turn_lease
            closed: tuple[str, ...] = ()
            if (rebind or patient_id is not None) and row.patient_id != patient_id:
                closed = await _rebind(session, row, patient_id, now=now, claimed=True)
            stored = earlier.get("patient")
            recent: list[db.Message] = []
            if history > 0:  # the person writing now's: never another patient's messages
                query = select(db.Message).where(
                    db.Message.conversation_id == row.id,
                    db.Message.patient_id.is_not_distinct_from(row.patient_id),
                )
                if stored is not None:  # the history is what came before the message
                    query = query.where(db.Message.id < stored.id)
                found = await session.scalars(query.order_by(db.Message.id.desc()).limit(history))
                recent = list(reversed(found.all()))
            message_id = stored.id if stored is not None else None
            if message_id is None:
                message_id = await _store_text(session, row, text, key)
            escalation = (
                await session.execute(
                    select(db.Escalation.id, db.Escalation.joined_at, db.Escalation.doctor_name)
                    .where(db.Escalation.conversation_id == row.id, db.ESCALATION_UNCLOSED)
                    .limit(1)
                )
            ).first()
            record = replace(
                _record(
                    row, owner=owner, history=recent, message_id=message_id, idempotency_key=key
                ),
                closed_escalations=closed,
            )
            if escalation is None:
                return replace(record, held_by=row.held_by)
            escalation_id, joined_at, doctor_name = escalation
            held_by = (doctor_name or "") if joined_at is not None else None
            return replace(record, escalation_id=escalation_id, held_by=row.held_by or held_by)

    async def renew_turn(self, conversation: ConversationRecord) -> bool:
        """Extend the turn's lease; False when it was lost (expired and taken over)."""
        async with self._db.transaction() as session:
            result = await session.execute(
                _while_held(conversation).values(turn_expires_at=self._now() + self.turn_lease)
            )
        return _rowcount(result) == 1

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

    async def follow_practice_system(self, system: str) -> int:
        """Record that patient ids now belong to `system`; when they belonged to another one,
        clear every conversation's binding and whose each message and escalation was (a
        built-in patient 42 is not Odoo's partner 42: each patient proves who they are again,
        and the new system's 42 is not handed the old one's messages). Returns how many
        bindings were cleared."""
        async with self._db.transaction() as session:
            row = await session.get(db.PracticeSystem, 1)
            if row is None:
                session.add(db.PracticeSystem(id=1, system=system))
                return 0
            if row.system == system:
                return 0
            row.system, row.since = system, utcnow()
            cleared = await session.execute(
                update(db.Conversation)
                .where(db.Conversation.patient_id.is_not(None))
                .values(patient_id=None)
            )
            for written in (db.Message, db.Escalation):
                await session.execute(
                    update(written).where(written.patient_id.is_not(None)).values(patient_id=None)
                )
            return _rowcount(cleared)

    async def bind_patient(
        self, conversation_id: str, patient_id: int | None, *, claimed: bool = True
    ) -> tuple[str, ...]:
        """Bind the conversation to `patient_id` (None: to nobody). `claimed`: someone proved
        (or failed to prove) who they are in it; False when the practice system no longer knows
        the bound patient and the person writing is still the same (`_rebind`). The ids of
        the escalations this closed."""
        async with self._db.transaction() as session:
            row = await session.get(db.Conversation, conversation_id, with_for_update=True)
            if row is None or row.patient_id == patient_id:
                return ()
            return await _rebind(session, row, patient_id, now=self._now(), claimed=claimed)

    async def remembered(self, conversation_id: str) -> TurnFacts | None:
        """The whole conversation as memory facts (`whole_conversation_facts`)."""
        return await turn_outcomes.whole_conversation_facts(self._db, conversation_id)

    async def addressee(self, conversation_id: str) -> tuple[str, str, str] | None:
        """The conversation's channel, user id on that channel and language (None: no such
        conversation), for a message that does not answer the patient."""
        async with self._db.transaction() as session:
            row = await session.get(db.Conversation, conversation_id)
            if row is None:
                return None
            return row.channel, row.external_user_id, row.language

    async def add_outbound_message(
        self,
        conversation_id: str,
        *,
        text: str,
        language: str,
        kind: str,
        author: Author | None = None,
        outcomes: Sequence[dict[str, Any]] = (),
    ) -> int:
        """Store a message sent to the patient outside a turn (a reminder, a dentist's or a
        staff member's reply), so the conversation's history shows it like any reply. With an
        `author` it is that person's message (their role, their name), and may carry the
        `outcomes` it reports (`serving.memory.turn_outcomes`: a visit the dentist booked);
        ValueError for outcomes without an author, nothing stored."""
        if outcomes and author is None:
            raise ValueError("only a dentist's or staff member's message carries outcomes")
        async with self._db.transaction() as session:
            row = db.Message(
                conversation_id=conversation_id,
                patient_id=_bound_patient(conversation_id),
                role="assistant" if author is None else author.role,
                author=None if author is None else author.name,
                text=text,
                language=language,
                intent=f"outbound_{kind}",
                model="outbound",
                outcomes=list(outcomes) or None,
            )
            session.add(row)
            await session.execute(
                update(db.Conversation)
                .where(db.Conversation.id == conversation_id)
                .execution_options(synchronize_session=False)
                .values(updated_at=self._now())
            )
            await session.flush()
            message_id = row.id
        await self._stored(conversation_id, message_id)
        return message_id

    async def record_delivery(self, message_id: int, delivered: bool) -> None:
        """What the channel answered for a message sent outside a turn."""
        async with self._db.transaction() as session:
            await session.execute(
                update(db.Message)
                .where(db.Message.id == message_id)
                .execution_options(synchronize_session=False)
                .values(delivery="sent" if delivered else "failed")
            )

    async def add_patient_message(
        self,
        conversation_id: str,
        *,
        text: str,
        button: str | None,
        language: str,
        idempotency_key: str | None = None,
    ) -> int:
        """Store an inbound message before it is answered: nothing a patient sends is lost."""
        async with self._db.transaction() as session:
            row = db.Message(
                conversation_id=conversation_id,
                patient_id=_bound_patient(conversation_id),
                role="patient",
                text=text,
                button=button,
                language=language,
                idempotency_key=idempotency_key,
            )
            session.add(row)
            await session.flush()
            message_id = row.id
        await self._stored(conversation_id, message_id)
        return message_id

    async def finish_turn(
        self,
        conversation: ConversationRecord,
        *,
        message: PatientMessageLabels,
        reply: StoredReply,
        state: ConversationState,
        escalations: Sequence[EscalationRequest],
        guard_events: Sequence[tuple[str, str]],
    ) -> FinishedTurn:
        """Store the reply, the patient message's labels, the new dialogue state, escalations
        and guard events together, and hand the conversation to its next turn. TurnLost (and
        nothing stored) when the turn's lease was taken over meanwhile.

        The reply keeps the turn's outcomes, and `escalation(id)` when the turn opened the
        conversation's escalation (rather than attaching to the one already open); a turn
        with no reply (a person holds the conversation) keeps them on the patient's message.
        """
        escalation: tuple[str, str] | None = None
        opened: db.Escalation | None = None
        reply_id: int | None = None
        async with self._db.transaction() as session:
            updated = await session.execute(
                _while_held(conversation).values(
                    state=state.model_dump(mode="json"),
                    language=reply.language,
                    updated_at=self._now(),
                    **_released(conversation.turn_owner),
                )
            )
            if _rowcount(updated) == 0:
                raise TurnLost("the turn's lease was taken over; the message is answered again")
            await session.execute(
                update(db.Message)
                .where(db.Message.id == message.message_id)
                .execution_options(synchronize_session=False)
                .values(
                    language=reply.language,
                    urgency=message.urgency,
                    intent=message.intent,
                    memory_pattern=message.memory_pattern,
                    safety_answer=message.safety_answer,
                    triage_decided_by=_clipped(message.triage_decided_by, _DECIDED_BY_CHARS),
                    triage_score=message.triage_score,
                )
            )
            outcomes = list(reply.outcomes)
            closed: tuple[str, ...] = ()
            if escalations:
                request = min(escalations, key=lambda e: _URGENCY_RANK.get(e.urgency, 3))
                escalation, closed = await self._escalate(session, conversation.id, request)
                if escalation[0] != conversation.escalation_id:
                    opened = await session.get(db.Escalation, escalation[0])
                    outcomes.append(turn_outcomes.escalation(escalation[0]))
            stored: db.Message | None = None
            if reply.text:  # a turn a dentist holds may end with no reply
                stored = db.Message(
                    conversation_id=conversation.id,
                    patient_id=_bound_patient(conversation.id),
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
                    idempotency_key=conversation.idempotency_key,
                    buttons=[[button.text, button.data] for button in reply.buttons],
                    actions=list(reply.actions),
                    outcomes=outcomes or None,
                )
                session.add(stored)
                await session.flush()
                reply_id = stored.id
            elif outcomes:  # kept on the message the silent turn answered
                await session.execute(
                    update(db.Message)
                    .where(db.Message.id == message.message_id)
                    .execution_options(synchronize_session=False)
                    .values(outcomes=outcomes)
                )
            for kind, reasons in guard_events:
                session.add(
                    db.GuardEvent(conversation_id=conversation.id, kind=kind, reasons=reasons)
                )
            facts = await _turn_facts(session, conversation.id, message.message_id, stored, opened)
        await self._stored(conversation.id, reply_id)
        return FinishedTurn(escalation=escalation, facts=facts, closed_escalations=closed)

    async def _escalate(
        self, session: AsyncSession, conversation_id: str, request: EscalationRequest
    ) -> tuple[tuple[str, str], tuple[str, ...]]:
        """Open the conversation's escalation, or attach the request to the one not closed yet
        (one per conversation, the database's partial unique index sees to it): one more
        message, its summary, the time, and the urgency raised if the request's is higher.
        One statement, so two replicas attaching at once both count. Never to the open
        escalation of someone other than the person writing now (their binding was cleared
        since): that one is closed first (`_close_escalations`) and this one opens.
        The escalation's (id, urgency), and the ids closed."""
        now = self._now()
        closed = await _close_escalations(
            session, conversation_id, now, unless_whose=_bound_patient(conversation_id)
        )
        if closed:
            await session.execute(
                update(db.Conversation)
                .where(db.Conversation.id == conversation_id)
                .execution_options(synchronize_session=False)
                .values(**_let_go())
            )
        statement = self._db.insert(db.Escalation).values(
            id=uuid.uuid4().hex,
            conversation_id=conversation_id,
            patient_id=_bound_patient(conversation_id),
            urgency=request.urgency,
            reasons=", ".join(request.reasons),
            summary=request.summary,
            last_summary=request.summary,
            message_count=1,
            status="open",
            created_at=now,
            updated_at=now,
            notify_at=now,
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
                # A higher urgency is news for the dentist: notify again, now.
                "notify_at": case((raises, new.notify_at), else_=db.Escalation.notify_at),
            },
        ).returning(db.Escalation.id, db.Escalation.urgency)
        escalation_id, urgency = (await session.execute(upsert)).one()
        return (str(escalation_id), str(urgency)), closed

    async def abandon_turn(self, conversation: ConversationRecord) -> None:
        """Give the conversation back after a turn that ended without a reply (an error)."""
        async with self._db.transaction() as session:
            await session.execute(
                update(db.Conversation)
                .where(db.Conversation.id == conversation.id)
                .execution_options(synchronize_session=False)
                .values(**_released(conversation.turn_owner))
            )


async def _turn_facts(
    session: AsyncSession,
    conversation_id: str,
    message_id: int,
    reply: db.Message | None,
    opened: db.Escalation | None,
) -> TurnFacts:
    """The turn's rows, as stored, read back into memory facts."""
    row = await session.get(db.Conversation, conversation_id, populate_existing=True)
    patient_message = await session.get(db.Message, message_id, populate_existing=True)
    assert row is not None and patient_message is not None  # updated in this transaction
    messages = [patient_message] if reply is None else [patient_message, reply]
    return turn_outcomes.conversation_facts(
        row, messages, escalations=() if opened is None else (opened,)
    )


async def _rebind(
    session: AsyncSession,
    row: db.Conversation,
    patient_id: int | None,
    *,
    now: datetime,
    claimed: bool,
) -> tuple[str, ...]:
    """Change the conversation's binding, and with it whose its rows are; the ids of the
    escalations this closed.

    - Bound to a patient from nobody: what was written since the conversation's last
      attributed message, by someone who had not yet proved who they were (and the escalation
      they left open), becomes theirs. Not what predates the switch to this practice system:
      those ids meant other people.
    - Another patient proved who they are in it (`claimed`): the previous patient's open
      escalation closes (`_close_escalations`) and the dialogue state starts afresh.
    - Unbound (a phone that matches nobody, the practice system out of reach): the escalation
      stays open for the patient to come back to; a turn that escalates while someone else
      writes closes it then (`_escalate`).
    """
    previous, row.patient_id = row.patient_id, patient_id
    if previous is not None:
        if not claimed or patient_id is None:
            return ()
        row.state = {}  # the previous patient's offers, choices and words are not theirs
        closed = await _close_escalations(session, row.id, now)
        if closed:
            for column, value in _let_go().items():
                setattr(row, column, value)
        return closed
    if patient_id is None:
        return ()
    since = await session.scalar(select(db.PracticeSystem.since))
    last_attributed = (
        select(func.coalesce(func.max(db.Message.id), 0))
        .where(db.Message.conversation_id == row.id, db.Message.patient_id.is_not(None))
        .scalar_subquery()
    )
    messages = [
        db.Message.conversation_id == row.id,
        db.Message.patient_id.is_(None),
        db.Message.id > last_attributed,
    ]
    escalations = [
        db.Escalation.conversation_id == row.id,
        db.Escalation.patient_id.is_(None),
        db.ESCALATION_UNCLOSED,
    ]
    if since is not None:
        messages.append(db.Message.created_at >= since)
        escalations.append(db.Escalation.created_at >= since)
    for written, conditions in ((db.Message, messages), (db.Escalation, escalations)):
        await session.execute(
            update(written)
            .where(*conditions)
            .execution_options(synchronize_session=False)
            .values(patient_id=patient_id)
        )
    return ()


async def _close_escalations(
    session: AsyncSession,
    conversation_id: str,
    now: datetime,
    *,
    unless_whose: ScalarSelect[int | None] | None = None,
) -> tuple[str, ...]:
    """Close the conversation's open escalation because the person writing is no longer its
    patient (with `unless_whose`: unless it is that patient's), and let go of whoever held
    the conversation for it: a dentist's or staff member's reply would reach the new person
    as if they were that patient, and their words would join that patient's escalation and
    transcript. The dentist's link then answers "closed"; no transcript is filed, since no
    one handed it back. The ids closed; the caller lets go of the conversation (`_let_go`)."""
    statement = update(db.Escalation).where(
        db.Escalation.conversation_id == conversation_id, db.ESCALATION_UNCLOSED
    )
    if unless_whose is not None:
        statement = statement.where(db.Escalation.patient_id.is_distinct_from(unless_whose))
    closed = await session.scalars(
        statement.execution_options(synchronize_session=False)
        .values(status="closed", closed_at=now, notify_at=None, updated_at=now)
        .returning(db.Escalation.id)
    )
    return tuple(closed)


def _let_go() -> dict[str, None]:
    """The conversation's columns that say who holds it, emptied."""
    return {"held_by_staff_id": None, "held_by": None, "held_since": None}


def _bound_patient(conversation_id: str) -> ScalarSelect[int | None]:
    """The conversation's verified patient, read in the statement that writes a message or an
    escalation: whose it is stays on the row when the binding later changes."""
    return (
        select(db.Conversation.patient_id)
        .where(db.Conversation.id == conversation_id)
        .scalar_subquery()
    )


def _user_conversation(channel: str, external_user_id: str) -> Select[db.Conversation]:
    """The query for a user's conversation on a channel (one per user and channel)."""
    return select(db.Conversation).where(
        db.Conversation.channel == channel,
        db.Conversation.external_user_id == external_user_id,
    )


def _while_held(conversation: ConversationRecord) -> Update:
    """An UPDATE of the conversation's row that matches only while this turn holds its lease
    (a turn whose lease expired and was taken over updates nothing)."""
    return (
        update(db.Conversation)
        .where(
            db.Conversation.id == conversation.id,
            db.Conversation.turn_owner == conversation.turn_owner,
        )
        .execution_options(synchronize_session=False)
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


async def _store_text(
    session: AsyncSession, row: db.Conversation, text: str | None, key: str | None
) -> int | None:
    if text is None:
        return None
    # The conversation's language until the turn knows better (finish_turn labels it).
    message = db.Message(
        conversation_id=row.id,
        patient_id=row.patient_id,
        role="patient",
        text=text,
        button=None,
        language=row.language,
        idempotency_key=key,
    )
    session.add(message)
    await session.flush()
    return message.id


async def _messages_of_key(
    session: AsyncSession, conversation_id: str, key: str | None
) -> dict[str, db.Message]:
    """The patient message and the reply stored earlier under `key`, by role."""
    if key is None:
        return {}
    found = await session.scalars(
        select(db.Message).where(
            db.Message.conversation_id == conversation_id, db.Message.idempotency_key == key
        )
    )
    return {message.role: message for message in found}


def _stored_reply(message: db.Message) -> StoredReply:
    return StoredReply(
        text=message.text,
        language=message.language,
        urgency=message.urgency or "ROUTINE",
        intent=message.intent or "other",
        memory_pattern=message.memory_pattern or "",
        bundle_version=message.bundle_version or "",
        model=message.model or "",
        architecture=message.architecture or "",
        llm_calls=message.llm_calls,
        tokens=message.tokens,
        buttons=tuple(Button(text=text, data=data) for text, data in message.buttons or []),
        actions=tuple(message.actions or []),
    )


def _record(
    row: db.Conversation,
    *,
    owner: str | None,
    history: list[db.Message],
    message_id: int | None,
    idempotency_key: str | None = None,
    answered: StoredReply | None = None,
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
        idempotency_key=idempotency_key,
        answered=answered,
    )


def _clipped(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[:limit]
