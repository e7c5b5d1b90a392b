"""Reading an escalation with the conversation it belongs to (one query, used by the
dispatcher and the dentist's desk)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from serving.db import models as db


async def escalation_with_conversation(
    session: AsyncSession, escalation_id: str
) -> tuple[db.Escalation, db.Conversation] | None:
    found = (
        await session.execute(
            select(db.Escalation, db.Conversation)
            .join(db.Conversation, db.Conversation.id == db.Escalation.conversation_id)
            .where(db.Escalation.id == escalation_id)
        )
    ).first()
    return None if found is None else (found[0], found[1])
