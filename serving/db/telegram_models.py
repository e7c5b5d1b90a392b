"""Tables of the Telegram channel: received updates (the dedupe and the per-chat queue), chat
leases (one replica at a time per chat), cached file ids, and replies that could not be sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from serving.db.models import Base
from serving.db.types import UTCDateTime, utcnow

UPDATE_STATUSES = ("pending", "done", "ignored", "failed")


class TelegramUpdate(Base):
    """One update Telegram delivered. The primary key is Telegram's `update_id`, so a
    re-delivered update cannot be inserted twice, on any replica.

    `outbox` holds the Bot API calls planned for the update and `sent` how many of them are
    done, so a retried update resumes sending where it stopped instead of sending again.
    `error` is the last failure (error class and a short description, never the patient's
    text): the reason of a dead-lettered (`failed`) update.
    """

    __tablename__ = "telegram_updates"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'done', 'ignored', 'failed')", name="telegram_update_status"
        ),
        Index("ix_telegram_updates_status_chat", "status", "chat_id", "update_id"),
    )

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outbox: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)


class TelegramChat(Base):
    """A chat's processing lease: the replica named in `lease_owner` handles the chat's updates
    until `lease_until`; an expired lease (a crashed replica) may be taken over."""

    __tablename__ = "telegram_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TelegramFile(Base):
    """A file Telegram already holds (uploaded once), re-sent by its `file_id`."""

    __tablename__ = "telegram_files"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TelegramDeliveryFailure(Base):
    """A Bot API call that still failed after its retries, kept for the admin view."""

    __tablename__ = "telegram_delivery_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(40))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
