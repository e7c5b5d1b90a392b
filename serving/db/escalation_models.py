"""Tables of the dentist in the loop: who is on call (doctors and their weekly shifts), the
private links a dentist opens an escalated conversation with, and every notification sent
about an escalation with its delivery result."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from serving.db.models import Base
from serving.db.types import UTCDateTime, utcnow

NOTIFICATION_CHANNELS = ("email", "sms", "telegram")


class OnCallDoctor(Base):
    """A dentist the clinic alerts about escalations. `fallback`: alerted when no shift of
    anyone covers the moment (nights, a gap in the rota)."""

    __tablename__ = "oncall_doctors"
    __table_args__ = (CheckConstraint("language IN ('he', 'en')", name="oncall_doctor_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    """E.164."""
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(2), default="he")
    fallback: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    shifts: Mapped[list[OnCallShift]] = relationship(
        back_populates="doctor",
        cascade="all, delete-orphan",
        order_by="(OnCallShift.weekday, OnCallShift.starts)",
    )


class OnCallShift(Base):
    """A weekly shift in the clinic's time zone: `weekday` 0 is Monday. A shift that ends at or
    before it starts runs past midnight into the next day."""

    __tablename__ = "oncall_shifts"
    __table_args__ = (CheckConstraint("weekday BETWEEN 0 AND 6", name="oncall_shift_weekday"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(
        ForeignKey("oncall_doctors.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(Integer)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)

    doctor: Mapped[OnCallDoctor] = relationship(back_populates="shifts")


class DoctorLink(Base):
    """A private link to one escalation. Only the SHA-256 of its token is stored: the token
    itself exists in the notification that carried it and nowhere else."""

    __tablename__ = "doctor_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[str] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    doctor_id: Mapped[int | None] = mapped_column(
        ForeignKey("oncall_doctors.id", ondelete="SET NULL")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EscalationNotification(Base):
    """One notice to one doctor over one channel, and what became of it. `error` is short and
    operator-readable (a provider code), never the notice, the address or the link."""

    __tablename__ = "escalation_notifications"
    __table_args__ = (
        CheckConstraint(
            "channel IN ('email', 'sms', 'telegram')", name="escalation_notification_channel"
        ),
        CheckConstraint("status IN ('sent', 'failed')", name="escalation_notification_status"),
        Index("ix_escalation_notifications_escalation", "escalation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[str] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"))
    doctor_id: Mapped[int | None] = mapped_column(
        ForeignKey("oncall_doctors.id", ondelete="SET NULL")
    )
    channel: Mapped[str] = mapped_column(String(10))
    urgency: Mapped[str] = mapped_column(String(20))
    round: Mapped[int] = mapped_column(Integer)
    """1 for the first notice of the escalation, then one more per repeat or urgency rise."""
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
