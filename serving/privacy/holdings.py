"""Where one patient's data sits in the app database: their conversations (and so their
messages, escalations and guard events), the Telegram chats those were held in (raw updates,
delivery failures, chat leases), the web visitors they verified as (SMS codes) and their
private links. Export and erasure read the same holdings, so they cannot disagree."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from serving.db import models as db
from serving.db.identity_models import WebIdentityCode
from serving.practice.backend import PracticeBackend
from serving.practice.errors import InvalidRequest, PracticeError
from serving.practice.phone import normalize_phone

log = logging.getLogger(__name__)

TELEGRAM = "telegram"
WEB = "web"


@dataclass(frozen=True)
class Holdings:
    patient_id: int
    conversation_ids: tuple[str, ...]
    escalation_ids: tuple[str, ...]
    telegram_chat_ids: tuple[int, ...]
    """A private Telegram chat's id is its user's id: the conversations' user ids."""
    visitor_keys: tuple[str, ...]
    """SHA-256 of the web visitor ids the patient's web conversations are held under."""
    phone_key: str | None
    """SHA-256 of the patient's phone (E.164), when the practice system could say it."""

    def identity_codes(self) -> ColumnElement[bool]:
        """The web identity codes sent to the patient's phone or asked for by their visitors."""
        clauses: list[ColumnElement[bool]] = [WebIdentityCode.visitor_key.in_(self.visitor_keys)]
        if self.phone_key is not None:
            clauses.append(WebIdentityCode.phone_key == self.phone_key)
        return or_(false(), *clauses)


async def patient_phone_key(
    backend: PracticeBackend, patient_id: int, *, region: str
) -> str | None:
    """The hash web identity codes are kept under for the patient's phone; None when the
    practice system does not know the patient or cannot be asked (the codes asked for by the
    patient's own web visitors are still found, and every code expires within minutes)."""
    try:
        patient = await backend.get_patient(patient_id)
        phone = normalize_phone(patient.phone, region)
    except (PracticeError, InvalidRequest) as error:
        log.info("patient phone not known for privacy holdings: %s", type(error).__name__)
        return None
    return sha256(phone)


async def holdings(session: AsyncSession, patient_id: int, phone_key: str | None) -> Holdings:
    """The patient's holdings as `session` sees them (inside an erasure's transaction, as
    that transaction will delete them)."""
    conversations = (
        await session.execute(
            select(db.Conversation.id, db.Conversation.channel, db.Conversation.external_user_id)
            .where(db.Conversation.patient_id == patient_id)
            .order_by(db.Conversation.created_at, db.Conversation.id)
        )
    ).all()
    ids = tuple(row.id for row in conversations)
    escalations = (
        await session.scalars(
            select(db.Escalation.id)
            .where(db.Escalation.conversation_id.in_(ids))
            .order_by(db.Escalation.created_at)
        )
    ).all()
    chats = tuple(
        int(row.external_user_id)
        for row in conversations
        if row.channel == TELEGRAM and row.external_user_id.lstrip("-").isdigit()
    )
    visitors = tuple(sha256(row.external_user_id) for row in conversations if row.channel == WEB)
    return Holdings(
        patient_id=patient_id,
        conversation_ids=ids,
        escalation_ids=tuple(escalations),
        telegram_chat_ids=chats,
        visitor_keys=visitors,
        phone_key=phone_key,
    )


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
