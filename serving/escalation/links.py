"""Private doctor links: `PUBLIC_BASE_URL/doctor/<token>`.

A token is 256 random bits (43 URL-safe characters). Only its SHA-256 is stored, so the
database (or a backup of it) cannot open a conversation. A link is bound to one escalation,
valid for `DOCTOR_LINK_HOURS` (24) from when it was sent, and stops working when revoked or
when its escalation closes. Whoever asks with an unusable token learns only which of those it
is, never anything of the conversation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import DoctorLink, OnCallDoctor
from serving.db.types import utcnow

TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class LinkRefusal(StrEnum):
    NOT_FOUND = "link_not_found"
    EXPIRED = "link_expired"
    REVOKED = "link_revoked"
    CLOSED = "escalation_closed"


class LinkRefused(LookupError):
    """The token opens nothing: `refusal` says why (safe to show)."""

    def __init__(self, refusal: LinkRefusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@dataclass(frozen=True)
class LinkAccess:
    """What a valid link opens."""

    link_id: int
    escalation_id: str
    conversation_id: str
    doctor_id: int | None
    doctor_name: str | None
    doctor_language: str | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class DoctorLinks:
    def __init__(
        self,
        database: Database,
        *,
        valid_for: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self._valid_for = valid_for
        self._now = clock

    async def issue(self, session: AsyncSession, escalation_id: str, doctor_id: int | None) -> str:
        """A new link to the escalation for one dentist, in the caller's transaction; the
        token is returned once and never stored."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._now()
        session.add(
            DoctorLink(
                escalation_id=escalation_id,
                doctor_id=doctor_id,
                token_hash=token_hash(token),
                created_at=now,
                expires_at=now + self._valid_for,
            )
        )
        return token

    async def resolve(self, token: str) -> LinkAccess:
        """What the token opens; LinkRefused otherwise. A malformed token is refused without
        a database read."""
        if not TOKEN_PATTERN.match(token):
            raise LinkRefused(LinkRefusal.NOT_FOUND)
        async with self._db.transaction() as session:
            found = (
                await session.execute(
                    select(DoctorLink, db.Escalation, OnCallDoctor)
                    .join(db.Escalation, db.Escalation.id == DoctorLink.escalation_id)
                    .outerjoin(OnCallDoctor, OnCallDoctor.id == DoctorLink.doctor_id)
                    .where(DoctorLink.token_hash == token_hash(token))
                )
            ).first()
        if found is None:
            raise LinkRefused(LinkRefusal.NOT_FOUND)
        link, escalation, doctor = found
        if escalation.status == "closed":  # its links are revoked too: say the better reason
            raise LinkRefused(LinkRefusal.CLOSED)
        if link.revoked_at is not None:
            raise LinkRefused(LinkRefusal.REVOKED)
        if link.expires_at <= self._now():
            raise LinkRefused(LinkRefusal.EXPIRED)
        return LinkAccess(
            link_id=link.id,
            escalation_id=escalation.id,
            conversation_id=escalation.conversation_id,
            doctor_id=link.doctor_id,
            doctor_name=doctor.name if doctor is not None else None,
            doctor_language=doctor.language if doctor is not None else None,
        )

    async def revoke(self, escalation_id: str) -> int:
        """Revoke every live link of the escalation; how many."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(DoctorLink)
                .where(DoctorLink.escalation_id == escalation_id, DoctorLink.revoked_at.is_(None))
                .execution_options(synchronize_session=False)
                .values(revoked_at=self._now())
            )
        return int(getattr(result, "rowcount", 0) or 0)
