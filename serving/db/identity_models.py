"""The table of the web chat's phone verification: one live SMS code per phone number.

Nothing here can be read back into a phone number or a code: the phone is kept as its SHA-256
(the lookup key), the code as an HMAC-SHA256 over the phone and the code, keyed by a random
salt of its own, and the web visitor who asked for it as the SHA-256 of their visitor id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from serving.db.models import Base
from serving.db.types import UTCDateTime, utcnow


class WebIdentityCode(Base):
    """The code last sent to one phone for one web visitor. A new code replaces it (the row is
    updated in place); it is deleted when it is used, after its last wrong attempt, and once
    expired (swept when any code is requested)."""

    __tablename__ = "web_identity_codes"
    __table_args__ = (CheckConstraint("attempts >= 0", name="web_identity_code_attempts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_key: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 (hex) of the phone in E.164."""
    visitor_key: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of the web visitor id that asked for the code: only they can use it."""
    salt: Mapped[str] = mapped_column(String(32))
    """16 random bytes (hex), the HMAC key of `code_hash`."""
    code_hash: Mapped[str] = mapped_column(String(64))
    """HMAC-SHA256 (hex) of "<phone>:<code>" keyed by `salt`."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Codes tried against this one so far (the right one included)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
