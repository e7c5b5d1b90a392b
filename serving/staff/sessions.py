"""Staff sign-in sessions: opaque bearer tokens, stored only as SHA-256 hashes.

The access token (minutes) goes in `Authorization: Bearer`; the refresh token (hours) lives in
an HttpOnly cookie for the pages, or is held by an API client. A refresh rotates both tokens;
presenting a refresh token that was already rotated away means someone else holds a copy, so
the whole session ends. Signing out, disabling the account or resetting its password ends
sessions at once: every request checks the session row, nothing is trusted from the token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from serving.db.engine import Database
from serving.db.staff_models import StaffSession, StaffUser
from serving.db.types import utcnow
from serving.staff.accounts import StaffAccount
from serving.staff.roles import Permission, Role, allows


@dataclass(frozen=True)
class StaffPrincipal:
    """Who is calling a staff route: the account behind a valid access token."""

    user_id: int
    email: str
    name: str
    role: Role
    session_id: int

    def may(self, permission: Permission) -> bool:
        return allows(self.role, permission)


@dataclass(frozen=True)
class SessionTokens:
    access_token: str
    refresh_token: str
    access_expires_in: timedelta
    refresh_expires_in: timedelta


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffSessions:
    def __init__(
        self,
        database: Database,
        *,
        access_for: timedelta,
        refresh_for: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._access_for = access_for
        self._refresh_for = refresh_for
        self._clock = clock

    async def start(self, account: StaffAccount, *, client_address: str | None) -> SessionTokens:
        tokens, now = self._new_tokens(), self._clock()
        async with self._database.transaction() as session:
            session.add(
                StaffSession(
                    user_id=account.id,
                    access_hash=token_hash(tokens.access_token),
                    access_expires_at=now + self._access_for,
                    refresh_hash=token_hash(tokens.refresh_token),
                    refresh_expires_at=now + self._refresh_for,
                    client_address=(client_address or "")[:64] or None,
                    created_at=now,
                )
            )
        return tokens

    async def principal(self, access_token: str) -> StaffPrincipal | None:
        """The account a live access token belongs to, or None (unknown, expired, signed out,
        account disabled)."""
        now = self._clock()
        async with self._database.read() as session:
            row = (
                await session.execute(
                    select(StaffSession, StaffUser)
                    .join(StaffUser, StaffUser.id == StaffSession.user_id)
                    .where(StaffSession.access_hash == token_hash(access_token))
                )
            ).first()
        if row is None:
            return None
        staff_session, user = row
        if (
            staff_session.revoked_at is not None
            or staff_session.access_expires_at <= now
            or user.disabled_at is not None
        ):
            return None
        return StaffPrincipal(
            user_id=user.id,
            email=user.email,
            name=user.name,
            role=user.role,  # type: ignore[arg-type]
            session_id=staff_session.id,
        )

    async def refresh(self, refresh_token: str) -> SessionTokens | None:
        """New tokens for a live refresh token, or None. A refresh token already rotated away
        ends the session (its copy is in someone else's hands)."""
        digest, now = token_hash(refresh_token), self._clock()
        tokens = self._new_tokens()
        async with self._database.transaction() as session:
            row = (
                await session.execute(
                    select(StaffSession, StaffUser)
                    .join(StaffUser, StaffUser.id == StaffSession.user_id)
                    .where(
                        or_(
                            StaffSession.refresh_hash == digest,
                            StaffSession.previous_refresh_hash == digest,
                        )
                    )
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            staff_session, user = row
            if staff_session.revoked_at is not None:
                return None
            if (
                staff_session.refresh_hash != digest
                or staff_session.refresh_expires_at <= now
                or user.disabled_at is not None
            ):
                staff_session.revoked_at = now
                return None
            staff_session.previous_refresh_hash = digest
            staff_session.refresh_hash = token_hash(tokens.refresh_token)
            staff_session.access_hash = token_hash(tokens.access_token)
            staff_session.access_expires_at = now + self._access_for
            staff_session.refresh_expires_at = now + self._refresh_for
        return tokens

    async def end(self, *, session_id: int | None = None, refresh_token: str | None = None) -> bool:
        """Sign out: the session (by id, or by its refresh token) ends; False when there was
        no live session to end."""
        condition = (
            StaffSession.id == session_id
            if session_id is not None
            else StaffSession.refresh_hash == token_hash(refresh_token or "")
        )
        async with self._database.transaction() as session:
            result = await session.execute(
                update(StaffSession)
                .where(condition, StaffSession.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def _new_tokens(self) -> SessionTokens:
        return SessionTokens(
            access_token=secrets.token_urlsafe(32),
            refresh_token=secrets.token_urlsafe(32),
            access_expires_in=self._access_for,
            refresh_expires_in=self._refresh_for,
        )
