"""Staff passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommended
profile), verified off the event loop since a hash costs tens of milliseconds of CPU."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong
# password and the timing does not tell which accounts exist.
_DECOY = _hasher.hash(secrets.token_urlsafe(16))


class WeakPassword(ValueError):
    """A password the clinic should not accept; the message says why."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if len(set(password)) < 5:
        raise WeakPassword("a password needs more than a few distinct characters")


def generate_password() -> str:
    """A random password to print once: 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; `password_hash` None (no such account) is checked against
    a decoy and is never a match."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DECOY, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
