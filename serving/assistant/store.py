"""Conversations, messages, escalations and guard events in the app database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serving.assistant.state import ConversationState
from serving.assistant.turn import EscalationRequest
from serving.db import models as db
from serving.db.engine import Database


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    channel: str
    patient_id: int | None
    language: str
    state: ConversationState
    is_new: bool


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


class ConversationStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def open(
        self, channel: str, external_user_id: str, *, language: str
    ) -> ConversationRecord:
        """The user's conversation on the channel, created on first contact."""
        for _ in range(2):  # a concurrent first message may create it between our two steps
            async with self._db.transaction() as session:
                row = await session.scalar(
                    select(db.Conversation).where(
                        db.Conversation.channel == channel,
                        db.Conversation.external_user_id == external_user_id,
                    )
                )
                if row is not None:
                    return _record(row, is_new=False)
            try:
                async with self._db.transaction() as session:
                    row = db.Conversation(
                        id=uuid.uuid4().hex,
                        channel=channel,
                        external_user_id=external_user_id,
                        language=language,
                        state=ConversationState().model_dump(mode="json"),
                    )
                    session.add(row)
                return _record(row, is_new=True)
            except IntegrityError:
                continue
        raise RuntimeError("could not open the conversation")

    async def has_assistant_messages(self, conversation_id: str) -> bool:
        async with self._db.transaction() as session:
            found = await session.scalar(
                select(db.Message.id)
                .where(
                    db.Message.conversation_id == conversation_id, db.Message.role == "assistant"
                )
                .limit(1)
            )
        return found is not None

    async def bind_patient(self, conversation_id: str, patient_id: int | None) -> None:
        async with self._db.transaction() as session:
            row = await session.get(db.Conversation, conversation_id)
            if row is not None and row.patient_id != patient_id:
                row.patient_id = patient_id

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

    async def label_patient_message(
        self, message_id: int, *, urgency: str, intent: str, memory_pattern: str
    ) -> None:
        async with self._db.transaction() as session:
            row = await session.get(db.Message, message_id)
            if row is not None:
                row.urgency, row.intent, row.memory_pattern = urgency, intent, memory_pattern

    async def recent_messages(self, conversation_id: str, limit: int = 10) -> list[db.Message]:
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(db.Message)
                .where(db.Message.conversation_id == conversation_id)
                .order_by(db.Message.id.desc())
                .limit(limit)
            )
            return list(reversed(rows.all()))

    async def finish_turn(
        self,
        conversation_id: str,
        *,
        reply: StoredReply,
        state: ConversationState,
        escalations: Sequence[EscalationRequest],
        guard_events: Sequence[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        """Store the reply, the new dialogue state, escalations and guard events together.

        Returns the (id, urgency) of each escalation created.
        """
        created: list[tuple[str, str]] = []
        async with self._db.transaction() as session:
            conversation = await session.get(db.Conversation, conversation_id)
            if conversation is None:
                raise LookupError(f"conversation {conversation_id} vanished")
            conversation.state = state.model_dump(mode="json")
            conversation.language = reply.language
            session.add(
                db.Message(
                    conversation_id=conversation_id,
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
                )
            )
            for request in escalations:
                escalation_id = uuid.uuid4().hex
                session.add(
                    db.Escalation(
                        id=escalation_id,
                        conversation_id=conversation_id,
                        urgency=request.urgency,
                        reasons=", ".join(request.reasons),
                        summary=request.summary,
                    )
                )
                created.append((escalation_id, request.urgency))
            for kind, reasons in guard_events:
                session.add(
                    db.GuardEvent(conversation_id=conversation_id, kind=kind, reasons=reasons)
                )
        return created


def _record(row: db.Conversation, *, is_new: bool) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        channel=row.channel,
        patient_id=row.patient_id,
        language=row.language,
        state=ConversationState.model_validate(row.state or {}),
        is_new=is_new,
    )
