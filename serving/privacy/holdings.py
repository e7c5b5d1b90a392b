"""Where one patient's data sits in the app database: their conversations (and so their
messages, escalations and guard events), the Telegram chats those were held in (raw updates,
delivery failures, chat leases), the web visitors they verified as (SMS codes) and their
private links. Export and erasure read the same holdings, so they cannot disagree.

A conversation's binding changes: a visitor on a shared device proves another phone, a failed
re-verification unbinds it. So a message and an escalation keep whose they were when written
(`patient_id`), and a patient's conversations are those bound to them now or holding anything
of theirs. One that also holds another patient's messages (or is bound to another patient now)
is *shared*: only the patient's own messages and escalations in it are theirs; the rest of it
(the other patient's messages, its guard events, its raw Telegram updates) is never exported to
them, and only their part is erased.
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
    """Conversations wholly the patient's: bound to them or holding their messages, and
    holding no other patient's."""
    shared_conversation_ids: tuple[str, ...]
    """Conversations that hold the patient's messages and another patient's too."""
    escalation_ids: tuple[str, ...]
    """Every escalation of their own conversations, and theirs in shared ones."""
    telegram_chat_ids: tuple[int, ...]
    """A private Telegram chat's id is its user's id: their own conversations' user ids."""
    shared_telegram_chat_ids: tuple[int, ...]
    """The shared conversations' Telegram chats: their raw updates hold the patient's words
    among another patient's, so an erasure removes them and an export leaves them out."""
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
    shared = await _shared(session, patient_id, ids)
    own = [row for row in conversations if row.id not in shared]
    own_ids = tuple(row.id for row in own)
    escalations = (
        await session.scalars(
            select(db.Escalation.id)
            .where(
                db.Escalation.conversation_id.in_(own_ids)
                | (
                    db.Escalation.conversation_id.in_(shared)
                    & (db.Escalation.patient_id == patient_id)
                )
            )
            .order_by(db.Escalation.created_at)
        )
    ).all()
    return Holdings(
        patient_id=patient_id,
        conversation_ids=own_ids,
        shared_conversation_ids=tuple(row.id for row in conversations if row.id in shared),
        escalation_ids=tuple(escalations),
        telegram_chat_ids=_telegram_chats(own),
        shared_telegram_chat_ids=_telegram_chats(
            [row for row in conversations if row.id in shared]
        ),
        visitor_keys=tuple(sha256(row.external_user_id) for row in own if row.channel == WEB),
        phone_key=phone_key,
    )


async def _shared(session: AsyncSession, patient_id: int, ids: list[str]) -> set[str]:
    """Of the patient's conversations, those bound to another patient now or holding another
    patient's messages."""
    others = (
        await session.scalars(
            select(db.Message.conversation_id)
            .where(
                db.Message.conversation_id.in_(ids),
                db.Message.patient_id.is_not(None),
                db.Message.patient_id != patient_id,
            )
            .union(
                select(db.Conversation.id).where(
                    db.Conversation.id.in_(ids),
                    db.Conversation.patient_id.is_not(None),
                    db.Conversation.patient_id != patient_id,
                )
            )
        )
    ).all()
    return set(others)


def _telegram_chats(conversations: Sequence[Row[str, str, str]]) -> tuple[int, ...]:
    return tuple(
        int(row.external_user_id)
        for row in conversations
        if row.channel == TELEGRAM and row.external_user_id.lstrip("-").isdigit()
    )


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
