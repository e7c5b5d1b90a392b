"""Staff accounts: create, list, disable, reset a password, and sign-in checks with lock-out.

Accounts are never deleted (the audit trail names them); a disabled account cannot sign in and
its sessions end at once. Repeated wrong passwords lock the account for a while; the lock is
the account's, so it holds whichever address the guesses come from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from serving.db.engine import Database
from serving.db.staff_models import StaffSession, StaffUser
from serving.db.types import utcnow
from serving.staff.passwords import check_strength, hash_password, verify_password
from serving.staff.roles import ROLES, Role

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why (one line)."""


class AccountExists(AccountError):
    """The e-mail already has an account (the database's unique e-mail says so, so two
    concurrent requests cannot both create it)."""


class LoginRefused(Exception):
    """Sign-in refused. `locked_for` is set when the account is locked (how long is left);
    otherwise the e-mail or the password is wrong, or the account is disabled — deliberately
    not told apart."""

    def __init__(self, locked_for: timedelta | None = None) -> None:
        super().__init__("locked" if locked_for else "invalid e-mail or password")
        self.locked_for = locked_for


@dataclass(frozen=True)
class StaffAccount:
    id: int
    email: str
    name: str
    role: Role
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class LockoutPolicy:
    attempts: int = 5
    """Wrong passwords in a row that lock the account."""
    locked_for: timedelta = timedelta(minutes=15)


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not _EMAIL.match(value) or len(value) > 254:
        raise AccountError(f"not an e-mail address: {email!r}")
    return value


class StaffAccounts:
    def __init__(
        self,
        database: Database,
        *,
        lockout: LockoutPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._lockout = lockout or LockoutPolicy()
        self._clock = clock

    async def create(self, *, email: str, name: str, role: str, password: str) -> StaffAccount:
        address = normalise_email(email)
        name = " ".join(name.split())
        if not name or len(name) > 120:
            raise AccountError("a name of 1 to 120 characters is needed")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        password_hash = await _checked_hash(password)
        now = self._clock()
        try:
            async with self._database.transaction() as session:
                user = StaffUser(
                    email=address,
                    name=name,
                    role=role,
                    password_hash=password_hash,
                    failed_logins=0,
                    password_changed_at=now,
                    created_at=now,
                )
                session.add(user)
                await session.flush()
                return _account(user)
        except IntegrityError:
            raise AccountExists(f"an account with e-mail {address} already exists") from None

    async def list(self) -> list[StaffAccount]:
        async with self._database.read() as session:
            users = await session.scalars(select(StaffUser).order_by(StaffUser.email))
            return [_account(user) for user in users]

    async def get(self, user_id: int) -> StaffAccount | None:
        async with self._database.read() as session:
            user = await session.get(StaffUser, user_id)
            return _account(user) if user is not None else None

    async def disable(self, email: str) -> StaffAccount:
        """Disable the account and end its sessions; disabling twice changes nothing."""
        now = self._clock()
        async with self._database.transaction() as session:
            user = await self._by_email(session, email)
            if user.disabled_at is None:
                user.disabled_at = now
            await _end_sessions(session, user.id, now)
            return _account(user)

    async def reset_password(self, email: str, password: str) -> StaffAccount:
        """A new password: clears the lock-out and ends every session of the account."""
        password_hash = await _checked_hash(password)
        now = self._clock()
        async with self._database.transaction() as session:
            user = await self._by_email(session, email)
            user.password_hash = password_hash
            user.password_changed_at = now
            user.failed_logins = 0
            user.locked_until = None
            await _end_sessions(session, user.id, now)
            return _account(user)

    async def authenticate(self, email: str, password: str) -> StaffAccount:
        """The account `email` and `password` sign in to, or LoginRefused.

        A locked account is refused before its password is checked (a guess there tells
        nothing); each wrong password counts towards the lock, a right one resets the count.
        """
        try:
            address = normalise_email(email)
        except AccountError:
            address = None
        async with self._database.read() as session:
            user = (
                await session.scalar(select(StaffUser).where(StaffUser.email == address))
                if address
                else None
            )
        now = self._clock()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            raise LoginRefused(locked_for=user.locked_until - now)
        matches = await verify_password(user.password_hash if user else None, password)
        if user is None:
            raise LoginRefused()
        if not matches:
            async with self._database.transaction() as session:
                failures = StaffUser.failed_logins + 1
                await session.execute(
                    update(StaffUser).where(StaffUser.id == user.id).values(failed_logins=failures)
                )
                await session.execute(
                    update(StaffUser)
                    .where(
                        StaffUser.id == user.id,
                        StaffUser.failed_logins >= self._lockout.attempts,
                    )
                    .values(failed_logins=0, locked_until=now + self._lockout.locked_for)
                )
            raise LoginRefused()
        async with self._database.transaction() as session:
            row = await session.get(StaffUser, user.id)
            if row is None or row.disabled_at is not None:
                account = None
            else:
                row.failed_logins, row.locked_until, row.last_login_at = 0, None, now
                account = _account(row)
        if account is None:
            raise LoginRefused()
        return account

    async def _by_email(self, session: AsyncSession, email: str) -> StaffUser:
        address = normalise_email(email)
        user = await session.scalar(select(StaffUser).where(StaffUser.email == address))
        if user is None:
            raise AccountError(f"no account with e-mail {address}")
        return user


async def _checked_hash(password: str) -> str:
    """The password's hash, or AccountError saying why the password is too weak."""
    try:
        check_strength(password)
    except ValueError as error:
        raise AccountError(str(error)) from None
    return await hash_password(password)


async def _end_sessions(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _account(user: StaffUser) -> StaffAccount:
    return StaffAccount(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,  # type: ignore[arg-type]
        disabled=user.disabled_at is not None,
        locked_until=user.locked_until,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
    )
