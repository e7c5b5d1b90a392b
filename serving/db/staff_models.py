"""Tables of the clinic's staff: accounts, their sign-in sessions, and the audit trail of every
staff read or change of patient data (append-only: migration 0010 installs the guard)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from serving.db.models import Base
from serving.db.types import UTCDateTime, utcnow


class StaffUser(Base):
    """Someone on the clinic's staff who signs in to the dashboard. Never deleted (the audit
    trail names them): disabled instead."""

    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'doctor', 'receptionist')", name="staff_user_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Lower-cased."""
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    """argon2id, in the PHC string format."""
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    """Wrong passwords since the last success; reaching the limit locks the account."""
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffSession(Base):
    """One sign-in: a short-lived access token and a refresh token, both stored as SHA-256
    hashes. A refresh rotates both; presenting a refresh token already rotated away revokes the
    session (someone copied it)."""

    __tablename__ = "staff_sessions"
    __table_args__ = (
        Index("ix_staff_sessions_user_id", "user_id"),
        Index("ix_staff_sessions_previous_refresh_hash", "previous_refresh_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    previous_refresh_hash: Mapped[str | None] = mapped_column(String(64))
    """The refresh token rotated away last: presented again, it ends the session."""
    refresh_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who on the staff read or changed what, about which patient, when, from where and why.
    Rows are only ever inserted: on PostgreSQL (and SQLite) a trigger refuses UPDATE and
    DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_patient", "patient_id", "at"),
        Index("ix_audit_events_actor", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    """The staff user (no foreign key: the trail outlives any change to the accounts)."""
    actor_email: Mapped[str] = mapped_column(String(254))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    """What was done, e.g. `conversation.read`, `appointment.book`, `user.create`."""
    patient_id: Mapped[int | None] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(120))
    """What it was done to, e.g. `conversation:<id>`, `appointment:42`."""
    client_address: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(300))
    """Why, when the staff member gave a reason (the `X-Access-Reason` header)."""
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Non-patient specifics (filters used, counts); never message text."""
