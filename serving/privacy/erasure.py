"""Erasing a patient's data: the memory store first (idempotent, so a retry after a failure
later on finishes the job), then the app database in one transaction, with the receipt and the
audit entry (`memory.erase`, counts only) in that same transaction.

A store that cannot be reached stops the erasure before the app database is touched
(MemoryUnavailable, 503). Once the app database is done the store is erased once more: a turn
written to memory meanwhile (another replica's, a dentist's hand-back) must not leave a node
behind; if that second pass fails it is logged and counted, and `dental memory check` shows the
store holding conversations the database no longer has until `dental memory rebuild`. What is
kept, and why, is on every receipt (`KEPT`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Delete, delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import DoctorLink, EscalationNotification
from serving.db.identity_models import WebIdentityCode
from serving.db.privacy_models import ErasureReceipt, PatientLink
from serving.db.telegram_models import TelegramChat, TelegramDeliveryFailure, TelegramUpdate
from serving.db.types import utcnow
from serving.memory.store import MemoryStore
from serving.privacy.holdings import Holdings, holdings
from serving.privacy.requester import Requester, read_store, requested_by
from serving.staff.audit import AuditLog

logger = logging.getLogger(__name__)

MAX_PATIENT_ID: Final = 2**31 - 1
"""Patient ids are 32-bit integers in every table that holds one."""

KEPT: Final[tuple[tuple[str, str], ...]] = (
    (
        "practice_record",
        "The practice system's clinical record, appointments and invoices: medical and "
        "financial records the clinic must keep by law; they are the practice system's, not "
        "the assistant's.",
    ),
    (
        "audit_trail",
        "The append-only audit trail of who read or changed the patient's data: ids, actions "
        "and times only, no message text; it is the record that this erasure happened.",
    ),
    (
        "erasure_receipts",
        "This receipt and earlier ones: the patient's id, when, at whose request, and counts.",
    ),
    (
        "backups",
        "Backups taken before the erasure, until their retention ages them out; a restore "
        "from one is followed by erasing again.",
    ),
)
"""What an erasure keeps, with the reason (the /my-data page shows the key's own label)."""


class InvalidPatientId(ValueError):
    """Not a patient id any table can hold: nothing is read or changed."""


@dataclass(frozen=True)
class Receipt:
    id: str
    patient_id: int
    erased_at: datetime
    requested_by: str
    counts: dict[str, dict[str, int]]
    """{"memory": {"nodes": n}, "app": {"<table>": rows deleted}, "unbound": {"conversations":
    n}}: conversations that hold others' messages stay, unbound from the patient."""
    kept: tuple[tuple[str, str], ...] = field(default=KEPT)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "patient_id": self.patient_id,
            "erased_at": self.erased_at.isoformat(),
            "requested_by": self.requested_by,
            "counts": self.counts,
            "kept": [{"what": what, "why": why} for what, why in self.kept],
        }


class PatientErasure:
    def __init__(
        self,
        database: Database,
        *,
        store: MemoryStore,
        audit: AuditLog,
        on_erased: Callable[[int], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self._store = store
        self._audit = audit
        self._on_erased = on_erased
        self._now = clock

    async def erase(
        self, requester: Requester, patient_id: int, *, phone_key: str | None = None
    ) -> Receipt:
        """Erase everything of the patient's that the assistant holds; a patient with nothing
        held gets a receipt of zeros. InvalidPatientId or MemoryUnavailable: nothing changed
        in the app database."""
        check_patient_id(patient_id)
        async with self._db.read() as session:
            before = await holdings(session, patient_id, phone_key)
        nodes = await read_store(self._store.erase(patient_id, _remembered(before)))
        receipt_id, now = secrets.token_hex(16), self._now()
        async with self._db.transaction() as session:
            # Read again inside the transaction: a conversation bound since is erased too.
            held = await holdings(session, patient_id, phone_key)
            unbound = await _unbind(session, held)
            rows = await _delete_app_rows(session, held)
            counts = {
                "memory": {"nodes": nodes},
                "app": rows,
                "unbound": {"conversations": unbound},
            }
            receipt = Receipt(
                id=receipt_id,
                patient_id=patient_id,
                erased_at=now,
                requested_by=requested_by(requester),
                counts=counts,
            )
            session.add(
                ErasureReceipt(
                    id=receipt.id,
                    patient_id=patient_id,
                    erased_at=now,
                    requested_by=receipt.requested_by,
                    counts=counts,
                )
            )
            # In the erasure's transaction: the erasure and its entry commit together.
            await self._audit.record(
                requester,
                "memory.erase",
                patient_id=patient_id,
                subject=f"erasure:{receipt.id}",
                detail={"memory_nodes": nodes, **rows},
                session=session,
            )
        try:
            await self._store.erase(patient_id, _remembered(held))
        except Exception as error:  # the app database is done; the receipt stands
            logger.warning(
                "memory erasure's second pass failed (%s): run `dental memory check`",
                type(error).__name__,
            )
        if self._on_erased is not None:
            self._on_erased(patient_id)
        return receipt


def check_patient_id(patient_id: int) -> None:
    if not 1 <= patient_id <= MAX_PATIENT_ID:
        raise InvalidPatientId(f"a patient id is a whole number from 1 to {MAX_PATIENT_ID}")


def _remembered(held: Holdings) -> tuple[str, ...]:
    """The conversations the memory store forgets: every one the patient wrote in. The graph
    is derived from the app database; others' part of such a conversation comes back with the
    next `dental memory rebuild` (or their next turn), the erased patient's never does."""
    return held.conversation_ids


async def _unbind(session: AsyncSession, held: Holdings) -> int:
    """Unbind the conversations that outlive the erasure (they hold others' messages) from
    the patient, and reset their dialogue state, which can hold the patient's words and
    appointment ids. First, so that on PostgreSQL a turn holding such a conversation commits
    before the patient's messages are deleted (its message is then deleted too)."""
    kept = set(held.conversation_ids) - set(held.sole_conversation_ids)
    result = await session.execute(
        update(db.Conversation)
        .where(db.Conversation.id.in_(kept), db.Conversation.patient_id == held.patient_id)
        .execution_options(synchronize_session=False)
        .values(patient_id=None, state={})
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _delete_app_rows(session: AsyncSession, held: Holdings) -> dict[str, int]:
    """Rows deleted per table. Children before parents, each counted (the foreign keys'
    cascades would delete them uncounted). The patient's messages and escalations go
    wherever they are; a conversation holding only theirs goes whole, with its guard events,
    links, raw Telegram updates and chat lease. Of a Telegram chat that also holds others'
    messages, the processed raw updates and undelivered replies go (they hold the patient's
    words among the others'); its pending updates, still to be answered, stay."""
    sole, escalations = held.sole_conversation_ids, held.escalation_ids
    chats, others = held.telegram_chat_ids, held.other_telegram_chat_ids
    statements: list[tuple[str, Delete]] = [
        (
            "escalation_notifications",
            delete(EscalationNotification).where(
                EscalationNotification.escalation_id.in_(escalations)
            ),
        ),
        ("doctor_links", delete(DoctorLink).where(DoctorLink.escalation_id.in_(escalations))),
        ("escalations", delete(db.Escalation).where(db.Escalation.id.in_(escalations))),
        ("guard_events", delete(db.GuardEvent).where(db.GuardEvent.conversation_id.in_(sole))),
        (
            "messages",
            delete(db.Message).where(
                db.Message.conversation_id.in_(held.conversation_ids),
                db.Message.patient_id == held.patient_id,
            ),
        ),
        (
            "patient_links",
            delete(PatientLink).where(
                (PatientLink.patient_id == held.patient_id) | PatientLink.conversation_id.in_(sole)
            ),
        ),
        ("conversations", delete(db.Conversation).where(db.Conversation.id.in_(sole))),
        (
            "telegram_updates",
            delete(TelegramUpdate).where(
                TelegramUpdate.chat_id.in_(chats)
                | (TelegramUpdate.chat_id.in_(others) & (TelegramUpdate.status != "pending"))
            ),
        ),
        (
            "telegram_delivery_failures",
            delete(TelegramDeliveryFailure).where(
                TelegramDeliveryFailure.chat_id.in_((*chats, *others))
            ),
        ),
        ("telegram_chats", delete(TelegramChat).where(TelegramChat.chat_id.in_(chats))),
        ("web_identity_codes", delete(WebIdentityCode).where(held.identity_codes())),
    ]
    counts: dict[str, int] = {}
    for table, statement in statements:
        result = await session.execute(statement.execution_options(synchronize_session=False))
        counts[table] = int(getattr(result, "rowcount", 0) or 0)
    return counts
