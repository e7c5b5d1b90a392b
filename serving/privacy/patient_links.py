"""A patient's private link to their own data: `PUBLIC_BASE_URL/my-data#<token>`.

Asked for in a chat bound to a verified patient (Telegram `/mydata`, or the same text in the
web chat), it opens that one patient's memory, export and erasure for `PATIENT_LINK_MINUTES`
(30). The token is 256 random bits; only its SHA-256 is stored, and it travels in the URL's
fragment, which browsers never send to a server nor put in a Referer. It is never logged, and
the answer carrying it is never a conversation message. On Telegram that answer waits in the
update's planned outbox (`telegram_updates.outbox`) only until it is sent: the mark that it
was sent replaces it with a copy without its text (`Outgoing.secret`), so a crash before that
mark sends the same link again, and a backup taken afterwards holds no token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from serving.db import models as db
from serving.db.engine import Database
from serving.db.privacy_models import PatientLink
from serving.db.types import utcnow

TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
MY_DATA_PATH = "/my-data"


class NotVerified(Exception):
    """The conversation is bound to no patient: they prove who they are first."""


class PatientLinkRefused(Exception):
    """The token opens nothing: unknown, malformed or expired (the reason is safe to show)."""


@dataclass(frozen=True)
class IssuedLink:
    token: str
    """Returned once, to be sent to the patient; never stored."""
    patient_id: int
    expires_at: datetime


@dataclass(frozen=True)
class PatientAccess:
    """What a valid link opens: one patient's own data, until `expires_at`."""

    link_id: int
    patient_id: int
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def my_data_url(public_base_url: str, token: str, language: str) -> str:
    """The link as sent: the page in the patient's language, the token in the fragment."""
    return f"{public_base_url.rstrip('/')}{MY_DATA_PATH}?lang={language}#{token}"


class PatientLinks:
    def __init__(
        self,
        database: Database,
        *,
        valid_for: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self.valid_for = valid_for
        self._now = clock

    async def issue(self, conversation_id: str) -> IssuedLink:
        """A new link for the patient the conversation is bound to; NotVerified when it is
        bound to nobody (or does not exist): then nothing is written."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._now()
        async with self._db.transaction() as session:
            # Expired links open nothing; they go as new ones are made.
            await session.execute(
                delete(PatientLink)
                .where(PatientLink.expires_at <= now)
                .execution_options(synchronize_session=False)
            )
            patient_id = await session.scalar(
                select(db.Conversation.patient_id).where(db.Conversation.id == conversation_id)
            )
            if patient_id is None:
                raise NotVerified("the conversation is bound to no verified patient")
            session.add(
                PatientLink(
                    patient_id=patient_id,
                    conversation_id=conversation_id,
                    token_hash=token_hash(token),
                    created_at=now,
                    expires_at=now + self.valid_for,
                )
            )
        return IssuedLink(token=token, patient_id=patient_id, expires_at=now + self.valid_for)

    async def resolve(self, token: str) -> PatientAccess:
        """What the token opens; PatientLinkRefused otherwise. A malformed token is refused
        without a database read."""
        if not TOKEN_PATTERN.match(token):
            raise PatientLinkRefused("the link is not valid")
        async with self._db.read() as session:
            link = await session.scalar(
                select(PatientLink).where(PatientLink.token_hash == token_hash(token))
            )
        if link is None:
            raise PatientLinkRefused("the link is not valid")
        if link.expires_at <= self._now():
            raise PatientLinkRefused("the link has expired: ask for a new one in the chat")
        return PatientAccess(
            link_id=link.id, patient_id=link.patient_id, expires_at=link.expires_at
        )
