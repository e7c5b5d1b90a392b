"""The app database's rows as memory facts: one function for the live path (after a turn, at an
escalation's close) and for `dental memory rebuild`, so a rebuilt graph is the graph the turns
wrote.

A message's `messages.outcomes` (JSON) says what was done: `visit(...)` entries for a visit
booked, moved or cancelled, `escalation(...)` for an escalation opened. Where they are kept,
and the message each outcome LED_TO from:

- a turn's reply: what the turn did; from the patient message it answered (the latest patient
  message before it);
- a patient message: what its turn did when the turn ended without a reply (an escalation
  opened while a person holds the conversation); from that message;
- a dentist's message: what the dentist did from the escalation's desk (a visit booked, moved
  or cancelled for the patient), which that message tells the patient; from that message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import defer

from serving.db.engine import Database
from serving.db.models import Conversation, Escalation, Message
from serving.memory.records import (
    MessageFacts,
    MessageRole,
    OutcomeFacts,
    OutcomeKind,
    TurnFacts,
    iso,
    parse_iso,
)


def visit(
    kind: OutcomeKind,
    *,
    provider_id: int,
    provider_name: str,
    visit_at: datetime,
    appointment_id: int,
) -> dict[str, Any]:
    """An outcome entry for a visit booked, moved or cancelled."""
    return {
        "kind": kind,
        "provider_id": provider_id,
        "provider_name": provider_name,
        "visit_at": iso(visit_at),
        "appointment_id": appointment_id,
    }


def escalation(escalation_id: str) -> dict[str, Any]:
    """An outcome entry for the escalation a turn opened."""
    return {"kind": "escalated", "escalation_id": escalation_id}


def conversation_facts(
    conversation: Conversation,
    messages: Sequence[Message],
    escalations: Sequence[Escalation] = (),
) -> TurnFacts:
    """The facts of `messages` (of `conversation`, in the order written), their outcomes, and
    the state of the escalations those name (open, or closed by whom)."""
    ordered = sorted(messages, key=lambda m: m.id)
    by_id = {e.id: e for e in escalations}
    outcomes: list[OutcomeFacts] = []
    answered: Message | None = None
    for message in ordered:
        if message.role == "patient":
            answered = message
        # Only a turn's reply answers a message; what anyone else recorded came from their own.
        source = (answered or message) if message.role == "assistant" else message
        for entry in message.outcomes or ():
            outcomes.append(_outcome(entry, source=source, at=message.created_at, by_id=by_id))
    at = min((m.created_at for m in ordered), default=conversation.updated_at)
    return TurnFacts(
        conversation_id=conversation.id,
        channel=conversation.channel,
        patient_id=conversation.patient_id,
        language=conversation.language,
        at=at,
        messages=tuple(
            MessageFacts(
                id=m.id,
                role=cast(MessageRole, m.role),
                at=m.created_at,
                language=m.language,
                pattern=m.memory_pattern or None,
                intent=m.intent,
                urgency=m.urgency,
            )
            for m in ordered
        ),
        outcomes=tuple(outcomes),
    )


def _outcome(
    entry: dict[str, Any], *, source: Message, at: datetime, by_id: dict[str, Escalation]
) -> OutcomeFacts:
    kind = cast(OutcomeKind, entry["kind"])
    if kind == "escalated":
        escalation_id = str(entry["escalation_id"])
        row = by_id.get(escalation_id)
        closed = row is not None and row.status == "closed"
        return OutcomeFacts(
            id=f"escalation:{escalation_id}",
            kind=kind,
            at=row.created_at if row is not None else at,
            message_id=source.id,
            escalation_id=escalation_id,
            resolved_at=row.closed_at if closed and row is not None else None,
            resolved_by=row.doctor_name if closed and row is not None else None,
        )
    return OutcomeFacts(
        id=f"{kind}:{source.id}",
        kind=kind,
        at=at,
        message_id=source.id,
        provider_id=entry.get("provider_id"),
        provider_name=entry.get("provider_name"),
        visit_at=parse_iso(entry["visit_at"]) if entry.get("visit_at") else None,
        appointment_id=entry.get("appointment_id"),
    )


async def whole_conversation_facts(database: Database, conversation_id: str) -> TurnFacts | None:
    """The facts of a whole conversation as the app database holds it now (None: no such
    conversation), for what changed outside a turn: a message the desk stored, an escalation
    closed by a dentist or because someone else claimed the conversation. Memory's upsert adds
    what is new and gives an escalated outcome its close. Message texts are never read."""
    async with database.read() as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            return None
        messages = await session.scalars(
            select(Message)
            .options(defer(Message.text, raiseload=True), defer(Message.buttons, raiseload=True))
            .where(Message.conversation_id == conversation_id)
        )
        escalations = await session.scalars(
            select(Escalation).where(Escalation.conversation_id == conversation_id)
        )
        return conversation_facts(conversation, list(messages), list(escalations))
