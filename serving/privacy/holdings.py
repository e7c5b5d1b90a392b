"""Where one patient's data sits in the app database: their messages and escalations, the
conversations those are in (their guard events), the Telegram chats those were held in (raw
updates, delivery failures, chat leases), the web visitors they verified as (SMS codes) and
their private links. Export and erasure read the same holdings, so they cannot disagree.

A conversation's binding changes: a visitor on a shared device proves another phone, a phone
that matches nobody unbinds it. So each message and escalation keeps whose it is (`patient_id`:
the verified patient when it was written, or who proved to be the writer next;
`serving/assistant/store.py`, `_rebind`), and a patient's data is what carries their id. A
conversation holding only theirs is *sole*: it goes whole, with its guard events, raw Telegram
updates and chat lease. One that also holds others' messages (another patient's, or a
stranger's written after the patient's binding was cleared) keeps those, unbound from them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Row, false, or_, select
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
    """Conversations bound to the patient or holding a message or escalation of theirs."""
    sole_conversation_ids: tuple[str, ...]
    """Of those, the ones whose every message is theirs."""
    escalation_ids: tuple[str, ...]
    telegram_chat_ids: tuple[int, ...]
    """The sole conversations' Telegram chats (a private chat's id is its user's id)."""
    other_telegram_chat_ids: tuple[int, ...]
    """The other conversations' Telegram chats: their raw updates hold the patient's words
    among others', so an erasure removes the processed ones and an export leaves them out."""
    visitor_keys: tuple[str, ...]
    """SHA-256 of the web visitor ids the patient's sole web conversations are held under."""
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
    theirs = or_(
        db.Conversation.patient_id == patient_id,
        db.Conversation.id.in_(
            select(db.Message.conversation_id).where(db.Message.patient_id == patient_id)
        ),
        db.Conversation.id.in_(
            select(db.Escalation.conversation_id).where(db.Escalation.patient_id == patient_id)
        ),
    )
    conversations = (
        await session.execute(
            select(db.Conversation.id, db.Conversation.channel, db.Conversation.external_user_id)
            .where(theirs)
            .order_by(db.Conversation.created_at, db.Conversation.id)
        )
    ).all()
    ids = [row.id for row in conversations]
    others = set(
        await session.scalars(
            select(db.Message.conversation_id).where(
                db.Message.conversation_id.in_(ids),
                or_(db.Message.patient_id.is_(None), db.Message.patient_id != patient_id),
            )
        )
    )
    sole = [row for row in conversations if row.id not in others]
    escalations = await session.scalars(
        select(db.Escalation.id)
        .where(db.Escalation.patient_id == patient_id)
        .order_by(db.Escalation.created_at)
    )
    return Holdings(
        patient_id=patient_id,
        conversation_ids=tuple(ids),
        sole_conversation_ids=tuple(row.id for row in sole),
        escalation_ids=tuple(escalations.all()),
        telegram_chat_ids=_telegram_chats(sole),
        other_telegram_chat_ids=_telegram_chats([row for row in conversations if row.id in others]),
        visitor_keys=tuple(sha256(row.external_user_id) for row in sole if row.channel == WEB),
        phone_key=phone_key,
    )


def _telegram_chats(conversations: Sequence[Row[str, str, str]]) -> tuple[int, ...]:
    return tuple(
        int(row.external_user_id)
        for row in conversations
        if row.channel == TELEGRAM and row.external_user_id.lstrip("-").isdigit()
    )


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
