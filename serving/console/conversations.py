"""Conversations as the clinic's staff see and handle them: search and read, take one over
from the assistant, write to the patient, hand it back, and join an escalation.

A staff member holds a conversation the way a dentist who joined its escalation does: the
conversation's turn reads `held_by` (`ConversationStore`) and the assistant stays silent but
for the safety layer. The hold is on the conversation (`conversations.held_by_staff_id`), so
it exists with or without an escalation; joining an escalation also records the join on the
escalation through the dentist's desk, and handing back closes it there (transcript to the
patient record), exactly as a dentist's link does.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from serving.assistant import Author, outbound_text
from serving.console.patient_names import patient_names
from serving.console.views import (
    ConsoleMessage,
    ConversationDetail,
    ConversationItem,
    EscalationItem,
    EscalationRef,
    PatientRef,
)
from serving.db import models as db
from serving.db.engine import Database
from serving.db.types import utcnow
from serving.escalation.desk import DoctorDesk, EscalationClosed
from serving.escalation.views import MessageView
from serving.practice.backend import PracticeBackend
from serving.practice.errors import InvalidRequest, PracticeUnavailable

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 500
"""Messages a conversation's page shows (the newest)."""
EscalationFilter = Literal["open", "claimed", "closed", "unclosed"]
ESCALATION_FILTERS: tuple[EscalationFilter, ...] = get_args(EscalationFilter)
ESCALATION_LIMIT = 200
PHONE_DIGITS = 7
"""A search with this many digits is taken as a phone number, anything shorter as a name."""


@dataclass(frozen=True)
class StaffMember:
    """Who is acting: a signed-in staff member (their name is what the patient sees)."""

    id: int
    name: str


class ConversationNotFound(LookupError):
    """No conversation (or escalation) with that id."""


class HeldByOther(RuntimeError):
    """Someone else holds the conversation; `holder` is who (their name)."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"the conversation is held by {holder}")
        self.holder = holder


class NotHolding(RuntimeError):
    """The staff member does not hold the conversation (take it over first)."""


@dataclass(frozen=True)
class ConversationSearch:
    q: str | None = None
    """Words of a message (case-insensitive, as typed), or the patient's name or phone number
    as the practice system finds them."""
    channel: str | None = None
    held: bool | None = None
    limit: int = 50
    before: datetime | None = None
    """Paging: conversations whose last message is older than this."""


class StaffReply(NamedTuple):
    message: ConsoleMessage
    delivered: bool
    """Whether the conversation's channel took it."""
    patient_id: int | None
    """The conversation's patient (for the audit trail), None while unidentified."""


class ConsoleConversations:
    def __init__(
        self,
        database: Database,
        *,
        desk: DoctorDesk,
        backend: PracticeBackend,
        timezone: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self._desk = desk
        self._backend = backend
        self._tz = ZoneInfo(timezone)
        self._now = clock

    # --- reading ---------------------------------------------------------------------------

    async def search(self, search: ConversationSearch) -> list[ConversationItem]:
        """Conversations matching every filter given, the latest active first."""
        statement = _item_rows().order_by(_last_message_at.desc().nulls_last(), db.Conversation.id)
        if search.channel:
            statement = statement.where(db.Conversation.channel == search.channel)
        if search.held is not None:
            statement = statement.where(_holder.is_not(None) if search.held else _holder.is_(None))
        if search.before is not None:
            statement = statement.where(_last_message_at < search.before)
        if search.q:
            statement = statement.where(
                _matching(search.q, await self._patients_matching(search.q))
            )
        async with self._db.read() as session:
            rows = (await session.execute(statement.limit(search.limit))).all()
        return await self._items(rows)

    async def item(self, conversation_id: str) -> ConversationItem:
        async with self._db.read() as session:
            row = await _item_row(session, conversation_id)
        [item] = await self._items([row])
        return item

    async def read(self, conversation_id: str) -> ConversationDetail:
        """The conversation and its messages (the newest HISTORY_LIMIT), oldest first."""
        async with self._db.read() as session:
            row = await _item_row(session, conversation_id)
            rows = await session.scalars(
                select(db.Message)
                .where(db.Message.conversation_id == conversation_id)
                .order_by(db.Message.id.desc())
                .limit(HISTORY_LIMIT)
            )
            messages = [self._message(m) for m in reversed(rows.all())]
        [item] = await self._items([row])
        return ConversationDetail(conversation=item, messages=messages)

    async def escalations(self, status: EscalationFilter) -> list[EscalationItem]:
        """The escalation queue: the most urgent first, then the newest."""
        statement = (
            select(db.Escalation, db.Conversation.patient_id)
            .join(db.Conversation, db.Conversation.id == db.Escalation.conversation_id)
            .order_by(_urgency_order, db.Escalation.created_at.desc())
            .limit(ESCALATION_LIMIT)
        )
        if status == "unclosed":
            statement = statement.where(db.Escalation.status != "closed")
        else:
            statement = statement.where(db.Escalation.status == status)
        async with self._db.read() as session:
            rows = (await session.execute(statement)).all()
        names = await patient_names(self._backend, [patient_id for _, patient_id in rows])
        return [
            EscalationItem(
                id=escalation.id,
                conversation_id=escalation.conversation_id,
                urgency=escalation.urgency,
                status=escalation.status,
                reasons=[r.strip() for r in escalation.reasons.split(",") if r.strip()],
                summary=escalation.summary,
                patient=_patient(patient_id, names),
                created_at=escalation.created_at.astimezone(self._tz),
                updated_at=escalation.updated_at.astimezone(self._tz),
                doctor_name=escalation.doctor_name,
            )
            for escalation, patient_id in rows
        ]

    # --- taking over -----------------------------------------------------------------------

    async def take_over(self, conversation_id: str, staff: StaffMember) -> ConversationItem:
        """`staff` holds the conversation: the assistant stays silent (emergencies still get
        the fixed reply) and the patient is told who is writing. Taking over a conversation
        one already holds changes nothing. HeldByOther when someone else holds it."""
        new, language = await self._hold(conversation_id, staff)
        if new:
            notice = self._desk.catalog(language, "staff_joined", staff=staff.name)
            await self._desk.send_notice(conversation_id, notice)
        return await self.item(conversation_id)

    async def join_escalation(self, escalation_id: str, staff: StaffMember) -> ConversationItem:
        """`staff` joins the escalation as a dentist does through a link (claimed, joined,
        the patient told) and holds its conversation. ConversationNotFound for an unknown
        escalation; EscalationClosed when it is closed; HeldByOther when someone else holds
        the conversation."""
        async with self._db.read() as session:
            conversation_id = await session.scalar(
                select(db.Escalation.conversation_id).where(db.Escalation.id == escalation_id)
            )
        if conversation_id is None:
            raise ConversationNotFound("no such escalation")
        new, _ = await self._hold(conversation_id, staff)
        try:
            await self._desk.join(escalation_id, Author(staff.name, "staff"))
        except EscalationClosed:
            if new:  # a hold taken before this join stays
                await self._release(conversation_id, staff)
            raise
        return await self.item(conversation_id)

    async def reply(self, conversation_id: str, staff: StaffMember, text: str) -> StaffReply:
        """`staff`'s message to the patient on the conversation's own channel, whether the
        channel took it, and the conversation's patient. InvalidOutbound (nothing sent);
        NotHolding unless `staff` holds the conversation; NoChannel when nothing can reach its
        channel."""
        text = outbound_text(text)
        async with self._db.read() as session:
            found = (
                await session.execute(
                    select(db.Conversation.held_by_staff_id, db.Conversation.patient_id).where(
                        db.Conversation.id == conversation_id
                    )
                )
            ).first()
        if found is None:
            raise ConversationNotFound("no such conversation")
        holder, patient_id = found
        if holder != staff.id:
            raise NotHolding("take the conversation over before writing to the patient")
        message, delivered = await self._desk.send(
            conversation_id, text, Author(staff.name, "staff")
        )
        return StaffReply(self._message_view(message), delivered, patient_id)

    async def hand_back(self, conversation_id: str, staff: StaffMember) -> ConversationItem:
        """The assistant answers the conversation again. A staff member's hold ends (any staff
        member may end a colleague's: the audit trail says who did); an escalation a staff
        member joined closes with its transcript, as the dentist's desk closes it. NotHolding
        when no staff member holds it (a dentist's link hands back its own)."""
        async with self._db.read() as session:
            row = await session.get(db.Conversation, conversation_id)
            if row is None:
                raise ConversationNotFound("no such conversation")
            holder_name, language = row.held_by, row.language or "he"
            # The escalation this staff hold joined (a dentist who joined through a link after
            # a take-over keeps theirs: it is theirs to hand back).
            joined = await session.scalar(
                select(db.Escalation.id).where(
                    db.Escalation.conversation_id == conversation_id,
                    db.Escalation.status != "closed",
                    db.Escalation.joined_at.is_not(None),
                    db.Escalation.doctor_name == holder_name,
                )
            )
        if holder_name is None:
            raise NotHolding("no staff member holds the conversation")
        await self._release(conversation_id, None)
        if joined is not None:
            # Closed meanwhile (through a dentist's link): nothing more to tell the patient.
            with contextlib.suppress(EscalationClosed):
                await self._desk.close_escalation(joined, author=staff.name)
        else:
            notice = self._desk.catalog(language, "doctor_left", doctor=holder_name)
            await self._desk.send_notice(conversation_id, notice)
        return await self.item(conversation_id)

    # --- internals -------------------------------------------------------------------------

    async def _hold(self, conversation_id: str, staff: StaffMember) -> tuple[bool, str]:
        """Record the hold: whether it is new, and the conversation's language. HeldByOther
        when another staff member holds the conversation, or a dentist joined its escalation
        through a link."""
        async with self._db.transaction() as session:
            row = await session.get(db.Conversation, conversation_id)
            if row is None:
                raise ConversationNotFound("no such conversation")
            language = row.language or "he"
            if row.held_by_staff_id == staff.id:
                return False, language
            joined_by = await session.scalar(
                select(db.Escalation.doctor_name).where(
                    db.Escalation.conversation_id == conversation_id,
                    db.Escalation.status != "closed",
                    db.Escalation.joined_at.is_not(None),
                )
            )
            if row.held_by is None and joined_by is not None:
                raise HeldByOther(joined_by)
            taken = await session.execute(
                update(db.Conversation)
                .where(
                    db.Conversation.id == conversation_id,
                    db.Conversation.held_by_staff_id.is_(None),
                )
                .execution_options(synchronize_session=False)
                .values(held_by_staff_id=staff.id, held_by=staff.name, held_since=self._now())
            )
            if getattr(taken, "rowcount", 0) != 1:
                raise HeldByOther(row.held_by or "another staff member")
        return True, language

    async def _release(self, conversation_id: str, staff: StaffMember | None) -> None:
        """End the staff hold (only `staff`'s, when given)."""
        condition = db.Conversation.id == conversation_id
        if staff is not None:
            condition = and_(condition, db.Conversation.held_by_staff_id == staff.id)
        async with self._db.transaction() as session:
            await session.execute(
                update(db.Conversation)
                .where(condition)
                .execution_options(synchronize_session=False)
                .values(held_by_staff_id=None, held_by=None, held_since=None)
            )

    async def _patients_matching(self, q: str) -> list[int]:
        """The ids of the practice system's patients whose phone number `q` is (when it has
        PHONE_DIGITS digits or more), else whose name it matches; none when the practice system
        refuses `q` or cannot be reached (message text still matches)."""
        needle = q.strip()
        try:
            if sum(ch.isdigit() for ch in needle) >= PHONE_DIGITS:
                found = await self._backend.search_patient(phone=needle)
            else:
                found = await self._backend.search_patient(name=needle)
        except InvalidRequest:
            return []
        except PracticeUnavailable:
            logger.warning("practice system unavailable: the console searches messages only")
            return []
        return [patient.id for patient in found]

    async def _items(self, rows: Sequence[Any]) -> list[ConversationItem]:
        """The rows of `_item_rows()` as the console shows them, with their patients' names."""
        names = await patient_names(self._backend, [row[0].patient_id for row in rows])
        return [self._item(row, names) for row in rows]

    def _item(self, row: Any, names: dict[int, str]) -> ConversationItem:
        conversation, escalation, last_at, count, held_by = row
        return ConversationItem(
            id=conversation.id,
            channel=conversation.channel,
            language=conversation.language,
            patient=_patient(conversation.patient_id, names),
            last_message_at=None if last_at is None else last_at.astimezone(self._tz),
            message_count=int(count or 0),
            held_by=held_by,
            escalation=None
            if escalation is None
            else EscalationRef(
                id=escalation.id, urgency=escalation.urgency, status=escalation.status
            ),
        )

    def _message(self, message: db.Message) -> ConsoleMessage:
        return ConsoleMessage(
            id=message.id,
            role=message.role,
            author=message.author,
            text=message.text or (f"[{message.button}]" if message.button else ""),
            at=message.created_at.astimezone(self._tz),
            delivery=message.delivery,
        )

    def _message_view(self, message: MessageView) -> ConsoleMessage:
        return ConsoleMessage(
            id=message.id,
            role=message.role,
            author=message.author,
            text=message.text,
            at=message.created_at.astimezone(self._tz),
            delivery=message.delivery,
        )


def _patient(patient_id: int | None, names: dict[int, str]) -> PatientRef | None:
    """The conversation's patient, named when the practice system said who they are."""
    return None if patient_id is None else PatientRef(id=patient_id, name=names.get(patient_id, ""))


_counts = (
    select(
        db.Message.conversation_id.label("conversation_id"),
        func.count(db.Message.id).label("messages"),
        func.max(db.Message.created_at).label("last_at"),
    )
    .group_by(db.Message.conversation_id)
    .subquery("message_counts")
)
_Unclosed = aliased(
    db.Escalation,
    select(db.Escalation).where(db.Escalation.status != "closed").subquery("unclosed"),
)
"""The conversation's escalation not closed yet (at most one, the database sees to it)."""
_last_message_at = _counts.c.last_at
_holder = func.coalesce(
    db.Conversation.held_by,
    case((_Unclosed.joined_at.is_not(None), func.coalesce(_Unclosed.doctor_name, ""))),
)
_urgency_order = case({"EMERGENCY": 0, "DOCTOR_REQUIRED": 1}, value=db.Escalation.urgency, else_=2)


def _item_rows() -> Select[tuple[Any, ...]]:
    """Each conversation with its escalation not closed yet, its last message's time, its
    message count and who holds it (see `ConsoleConversations._item`)."""
    return (
        select(
            db.Conversation,
            _Unclosed,
            _last_message_at,
            _counts.c.messages,
            _holder.label("held_by"),
        )
        .outerjoin(_Unclosed, _Unclosed.conversation_id == db.Conversation.id)
        .outerjoin(_counts, _counts.c.conversation_id == db.Conversation.id)
    )


async def _item_row(session: AsyncSession, conversation_id: str) -> Any:
    row = (await session.execute(_item_rows().where(db.Conversation.id == conversation_id))).first()
    if row is None:
        raise ConversationNotFound("no such conversation")
    return row


def _matching(q: str, patient_ids: list[int]) -> ColumnElement[bool]:
    """Any message's text contains `q` (case-insensitive), or the patient is one of
    `patient_ids` (those the practice system found for `q`)."""
    needle = q.strip().lower()
    in_messages = (
        select(db.Message.id)
        .where(
            db.Message.conversation_id == db.Conversation.id,
            func.lower(db.Message.text).contains(needle, autoescape=True),
        )
        .exists()
    )
    if not patient_ids:
        return in_messages
    return or_(in_messages, db.Conversation.patient_id.in_(patient_ids))
