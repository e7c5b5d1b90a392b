"""The durable inbox: every update stored once (its `update_id` is the primary key, so the
insert itself is the dedupe, on any number of replicas), queued per chat, and processed by one
replica at a time per chat under a lease that expires if that replica dies."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from serving.channels.telegram.updates import chat_of, kind_of, update_id_of
from serving.db.engine import Database
from serving.db.telegram_models import TelegramChat, TelegramUpdate
from serving.db.types import utcnow

MAX_BATCH = 500
"""Updates stored in one transaction at most."""
PRUNE_BATCH = 5_000
"""Updates deleted in one transaction at most: each transaction stays short."""
TELEGRAM_REDELIVERY_WINDOW = timedelta(hours=24)
"""Telegram keeps an unacknowledged update for at most 24 hours: past that no copy can come."""


@dataclass(frozen=True)
class QueuedUpdate:
    update_id: int
    chat_id: int
    payload: dict[str, Any]
    attempts: int
    outbox: list[dict[str, Any]] | None
    sent: int
    error: str | None = None
    """The dead-letter reason, once the update was given up (its outbox is then the apology)."""


@dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered update as an operator sees it: no message text."""

    update_id: int
    kind: str
    attempts: int
    reason: str
    received_at: datetime


def replica_name() -> str:
    """A name for this process's leases: host, pid and a random part (pids repeat)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Inbox:
    def __init__(self, database: Database, *, owner: str | None = None) -> None:
        self._db = database
        self.owner = owner or replica_name()
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def accept(self, payload: dict[str, Any]) -> bool:
        """Store the update durably; False when it was already stored (a re-delivery).

        Concurrent calls are committed together (group commit): one transaction, and one
        flush to disk, for every update that arrived while the previous one was written.
        Updates outside any chat are stored as `ignored`, for the dedupe only.
        """
        update_id = update_id_of(payload)
        chat_id = chat_of(payload)
        row = {
            "update_id": update_id,
            "chat_id": chat_id,
            "kind": kind_of(payload),
            "payload": payload,
            "status": "pending" if chat_id is not None else "ignored",
            "attempts": 0,
            "sent": 0,
            "received_at": utcnow(),
        }
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        return await stored

    async def _write_batches(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                _resolve(batch, await self._insert_batch([row for row, _ in batch]))
            except Exception:
                # An update the database refuses must not fail the others: one at a time.
                for entry in batch:
                    try:
                        _resolve([entry], await self._insert_batch([entry[0]]))
                    except Exception as error:
                        if not entry[1].done():
                            entry[1].set_exception(error)

    async def _insert_batch(self, rows: list[dict[str, Any]]) -> dict[int, bool]:
        unique = list({row["update_id"]: row for row in reversed(rows)}.values())
        chats = sorted({row["chat_id"] for row in unique if row["chat_id"] is not None})
        tables = TelegramUpdate.metadata.tables
        updates, chat_rows = tables["telegram_updates"], tables["telegram_chats"]
        # Core statements with a parameter list: one cached statement, executed as
        # multi-row VALUES batches, instead of the ORM's per-row bookkeeping.
        async with self._db.engine.begin() as connection:
            result = await connection.execute(
                self._db.insert(updates).on_conflict_do_nothing().returning(updates.c.update_id),
                unique,
            )
            inserted = {int(update_id): True for update_id in result.scalars()}
            if chats:
                await connection.execute(
                    self._db.insert(chat_rows).on_conflict_do_nothing(),
                    [{"chat_id": chat} for chat in chats],
                )
        return inserted

    async def ready_chats(self, *, limit: int, exclude: set[int]) -> list[int]:
        """Chats with pending updates and no live lease, oldest first."""
        now = utcnow()
        async with self._db.transaction() as session:
            rows = await session.execute(
                select(TelegramUpdate.chat_id)
                .join(TelegramChat, TelegramChat.chat_id == TelegramUpdate.chat_id)
                .where(
                    TelegramUpdate.status == "pending",
                    (TelegramChat.lease_until.is_(None)) | (TelegramChat.lease_until < now),
                )
                .group_by(TelegramUpdate.chat_id)
                .order_by(func.min(TelegramUpdate.update_id))
                .limit(limit + len(exclude))
            )
            chats = [int(chat) for chat in rows.scalars() if chat is not None]
        return [chat for chat in chats if chat not in exclude][:limit]

    async def claim(self, chat_id: int, lease: timedelta) -> bool:
        """Take the chat's lease if nobody holds a live one; True when taken."""
        now = utcnow()
        async with self._db.transaction() as session:
            result = await session.execute(
                update(TelegramChat)
                .where(
                    TelegramChat.chat_id == chat_id,
                    (TelegramChat.lease_until.is_(None)) | (TelegramChat.lease_until < now),
                )
                .values(lease_owner=self.owner, lease_until=now + lease)
            )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def renew(self, chat_id: int, lease: timedelta) -> bool:
        """Extend our lease; False when it was lost (expired and taken by another replica)."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(TelegramChat)
                .where(TelegramChat.chat_id == chat_id, TelegramChat.lease_owner == self.owner)
                .values(lease_until=utcnow() + lease)
            )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def release(self, chat_id: int, *, retry_after: timedelta | None = None) -> None:
        """Give the chat up; with `retry_after`, nobody takes it before that time has passed."""
        until: datetime | None = utcnow() + retry_after if retry_after else None
        async with self._db.transaction() as session:
            await session.execute(
                update(TelegramChat)
                .where(TelegramChat.chat_id == chat_id, TelegramChat.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=until)
            )

    async def next_update(self, chat_id: int) -> QueuedUpdate | None:
        """The chat's oldest pending update, its attempt counted."""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(TelegramUpdate)
                .where(TelegramUpdate.chat_id == chat_id, TelegramUpdate.status == "pending")
                .order_by(TelegramUpdate.update_id)
                .limit(1)
            )
            if row is None:
                return None
            row.attempts += 1
            return QueuedUpdate(
                update_id=row.update_id,
                chat_id=chat_id,
                payload=dict(row.payload),
                attempts=row.attempts,
                outbox=list(row.outbox) if row.outbox is not None else None,
                sent=row.sent,
                error=row.error,
            )

    async def save_outbox(self, update_id: int, outbox: list[dict[str, Any]]) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(TelegramUpdate)
                .where(TelegramUpdate.update_id == update_id)
                .values(outbox=outbox, sent=0)
            )

    async def dead_letter(
        self, update_id: int, *, reason: str, apology: list[dict[str, Any]]
    ) -> None:
        """Give the update up: its reason kept, its outbox the apology (sent as any outbox,
        then the update is finished as `failed`)."""
        async with self._db.transaction() as session:
            await session.execute(
                update(TelegramUpdate)
                .where(TelegramUpdate.update_id == update_id)
                .values(outbox=apology, sent=0, error=reason[:300])
            )

    async def dead_letters(self, *, limit: int) -> list[DeadLetter]:
        """The latest dead-lettered updates, newest first."""
        async with self._db.read() as session:
            rows = await session.execute(
                select(
                    TelegramUpdate.update_id,
                    TelegramUpdate.kind,
                    TelegramUpdate.attempts,
                    TelegramUpdate.error,
                    TelegramUpdate.received_at,
                )
                .where(TelegramUpdate.status == "failed")
                .order_by(TelegramUpdate.update_id.desc())
                .limit(limit)
            )
            return [
                DeadLetter(
                    update_id=int(update_id),
                    kind=kind,
                    attempts=int(attempts),
                    reason=error or "unknown (given up before reasons were kept)",
                    received_at=received_at,
                )
                for update_id, kind, attempts, error, received_at in rows
            ]

    async def mark_sent(
        self, update_id: int, sent: int, *, outbox: list[dict[str, Any]] | None = None
    ) -> None:
        """`sent` calls of the update's outbox are sent; with `outbox`, it replaces the stored
        one in the same statement (a sent secret call without its secret)."""
        values: dict[str, Any] = {"sent": sent}
        if outbox is not None:
            values["outbox"] = outbox
        async with self._db.transaction() as session:
            await session.execute(
                update(TelegramUpdate).where(TelegramUpdate.update_id == update_id).values(values)
            )

    async def finish(self, update_id: int, status: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(TelegramUpdate)
                .where(TelegramUpdate.update_id == update_id)
                .values(status=status, processed_at=utcnow())
            )

    async def pending_count(self) -> int:
        async with self._db.transaction() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(TelegramUpdate)
                .where(TelegramUpdate.status == "pending")
            )
        return int(count or 0)

    async def prune(self, older_than: timedelta, *, dry_run: bool = False) -> int:
        """Delete answered updates (done, ignored, failed) received more than `older_than` ago;
        the number deleted (or, with `dry_run`, that would be). Pending updates are never
        deleted.

        A stored update holds the patient's message as Telegram sent it, shared phone numbers
        included; the conversation keeps what the clinic needs. Past Telegram's re-delivery
        window the row is no longer needed for the dedupe either, so it goes.
        """
        if older_than < TELEGRAM_REDELIVERY_WINDOW:
            raise ValueError("updates are kept at least 24 hours (Telegram may re-deliver)")
        finished = (TelegramUpdate.status != "pending") & (
            TelegramUpdate.received_at < utcnow() - older_than
        )
        if dry_run:
            async with self._db.read() as session:
                count = await session.scalar(
                    select(func.count()).select_from(TelegramUpdate).where(finished)
                )
            return int(count or 0)
        deleted = 0
        while True:
            batch = select(TelegramUpdate.update_id).where(finished).limit(PRUNE_BATCH)
            async with self._db.transaction() as session:
                result = await session.execute(
                    delete(TelegramUpdate).where(TelegramUpdate.update_id.in_(batch))
                )
            count = int(result.rowcount)  # type: ignore[attr-defined]
            deleted += count
            if count < PRUNE_BATCH:
                return deleted


def _resolve(
    batch: list[tuple[dict[str, Any], asyncio.Future[bool]]], inserted: dict[int, bool]
) -> None:
    for row, stored in batch:
        if not stored.done():
            # Of several copies of an update in one batch, the first is the one stored.
            stored.set_result(inserted.pop(row["update_id"], False))
