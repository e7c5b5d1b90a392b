"""Everything the clinic's assistant holds about one patient, as one JSON document: their
conversations with every message, their escalations (with the notices sent, never a dentist's
address), what the memory store holds, the raw Telegram updates of their chats, their web
identity codes, their private links, earlier erasure receipts and the audit of who read or
changed their data. What the practice system holds (the clinical record, invoices,
appointments) is the practice system's and is not in it (docs/PRIVACY.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import EscalationNotification
from serving.db.identity_models import WebIdentityCode
from serving.db.privacy_models import ErasureReceipt, PatientLink
from serving.db.telegram_models import TelegramDeliveryFailure, TelegramUpdate
from serving.db.types import utcnow
from serving.memory.store import MemoryStore
from serving.privacy.holdings import TELEGRAM, Holdings, holdings
from serving.privacy.requester import Requester, read_store
from serving.staff.audit import AuditLog, AuditQuery

EXPORT_FORMAT = "dental-clinic-ai/patient-data/1"
AUDIT_PAGE = 500


class PatientExport:
    def __init__(
        self,
        database: Database,
        *,
        store: MemoryStore,
        audit: AuditLog,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self._store = store
        self._audit = audit
        self._now = clock

    async def export(
        self, requester: Requester, patient_id: int, *, phone_key: str | None = None
    ) -> dict[str, Any]:
        """The document; MemoryUnavailable when the memory store cannot be read (then nothing
        is returned and nothing audited). The export itself is audited (`memory.export`)."""
        graph = await read_store(self._store.export(patient_id))
        async with self._db.read() as session:
            held = await holdings(session, patient_id, phone_key)
            document: dict[str, Any] = {
                "format": EXPORT_FORMAT,
                "patient_id": patient_id,
                "exported_at": _time(self._now()),
                "conversations": await _conversations(session, held),
                "escalations": await _escalations(session, held),
                "memory": asdict(graph),
                "telegram": await _telegram(session, held),
                "web_identity_codes": await _identity_codes(session, held),
                "patient_links": await _links(session, patient_id),
                "erasure_receipts": await _receipts(session, patient_id),
            }
        document["audit"] = await self._audit_entries(patient_id)
        await self._audit.record(
            requester,
            "memory.export",
            patient_id=patient_id,
            detail={"conversations": len(held.conversation_ids)},
        )
        return document

    async def _audit_entries(self, patient_id: int) -> list[dict[str, Any]]:
        """Who read or changed the patient's data: who, their role, what, when (oldest
        first). The entries' own `detail` holds no patient data, but it is left out too."""
        entries: list[dict[str, Any]] = []
        before: int | None = None
        while True:
            page = await self._audit.search(
                AuditQuery(patient_id=patient_id, before_id=before, limit=AUDIT_PAGE)
            )
            entries += [
                {
                    "at": _time(e.at),
                    "actor": e.actor_email,
                    "actor_role": e.actor_role,
                    "action": e.action,
                    "subject": e.subject,
                }
                for e in page
            ]
            if len(page) < AUDIT_PAGE:
                return entries[::-1]
            before = page[-1].id


async def _conversations(session: AsyncSession, held: Holdings) -> list[dict[str, Any]]:
    """Their messages, by conversation; a sole conversation's guard events too (one holding
    others' messages keeps its guard events, which do not say whose turn they were)."""
    rows = (
        await session.scalars(
            select(db.Conversation)
            .where(db.Conversation.id.in_(held.conversation_ids))
            .order_by(db.Conversation.created_at, db.Conversation.id)
        )
    ).all()
    messages = await _grouped(
        session,
        select(db.Message)
        .where(
            db.Message.conversation_id.in_(held.conversation_ids),
            db.Message.patient_id == held.patient_id,
        )
        .order_by(db.Message.id),
    )
    guards = await _grouped(
        session,
        select(db.GuardEvent)
        .where(db.GuardEvent.conversation_id.in_(held.sole_conversation_ids))
        .order_by(db.GuardEvent.id),
    )
    return [
        {
            "id": c.id,
            "channel": c.channel,
            # A web visitor id is the web chat's secret (whoever holds it writes as the
            # patient), so it is not copied into a document others may read.
            "telegram_user_id": c.external_user_id if c.channel == TELEGRAM else None,
            "language": c.language,
            "started_at": _time(c.created_at),
            "last_at": _time(c.updated_at),
            "messages": [
                {
                    "id": m.id,
                    "at": _time(m.created_at),
                    "role": m.role,
                    "author": m.author,
                    "text": m.text,
                    "button": m.button,
                    "language": m.language,
                    "intent": m.intent,
                    "urgency": m.urgency,
                    "delivery": m.delivery,
                }
                for m in messages.get(c.id, [])
            ],
            "guard_events": [
                {"at": _time(g.created_at), "kind": g.kind, "reasons": g.reasons}
                for g in guards.get(c.id, [])
            ],
        }
        for c in rows
    ]


async def _escalations(session: AsyncSession, held: Holdings) -> list[dict[str, Any]]:
    rows = (
        await session.scalars(
            select(db.Escalation)
            .where(db.Escalation.id.in_(held.escalation_ids))
            .order_by(db.Escalation.created_at)
        )
    ).all()
    notices = (
        await session.scalars(
            select(EscalationNotification)
            .where(EscalationNotification.escalation_id.in_(held.escalation_ids))
            .order_by(EscalationNotification.id)
        )
    ).all()
    return [
        {
            "id": e.id,
            "conversation_id": e.conversation_id,
            "urgency": e.urgency,
            "status": e.status,
            "summary": e.summary,
            "last_summary": e.last_summary,
            "transcript": e.transcript,
            "dentist": e.doctor_name,
            "opened_at": _time(e.created_at),
            "closed_at": _time(e.closed_at),
            "notices": [
                {
                    "at": _time(n.created_at),
                    "channel": n.channel,
                    "status": n.status,
                    "urgency": n.urgency,
                    "round": n.round,
                }
                for n in notices
                if n.escalation_id == e.id
            ],
        }
        for e in rows
    ]


async def _telegram(session: AsyncSession, held: Holdings) -> dict[str, Any]:
    updates = (
        await session.scalars(
            select(TelegramUpdate)
            .where(TelegramUpdate.chat_id.in_(held.telegram_chat_ids))
            .order_by(TelegramUpdate.update_id)
        )
    ).all()
    failures = (
        await session.scalars(
            select(TelegramDeliveryFailure)
            .where(TelegramDeliveryFailure.chat_id.in_(held.telegram_chat_ids))
            .order_by(TelegramDeliveryFailure.id)
        )
    ).all()
    return {
        "updates": [
            {
                "update_id": u.update_id,
                "chat_id": u.chat_id,
                "kind": u.kind,
                "received_at": _time(u.received_at),
                "status": u.status,
                "payload": u.payload,
            }
            for u in updates
        ],
        "undelivered": [
            {"at": _time(f.created_at), "method": f.method, "request": f.request, "error": f.error}
            for f in failures
        ],
    }


async def _identity_codes(session: AsyncSession, held: Holdings) -> list[dict[str, Any]]:
    """When codes were sent and how often tried; the code's hash and salt are a credential's
    and stay out."""
    rows = (
        await session.scalars(
            select(WebIdentityCode).where(held.identity_codes()).order_by(WebIdentityCode.id)
        )
    ).all()
    return [
        {"sent_at": _time(r.created_at), "expires_at": _time(r.expires_at), "attempts": r.attempts}
        for r in rows
    ]


async def _links(session: AsyncSession, patient_id: int) -> list[dict[str, Any]]:
    rows = (
        await session.scalars(
            select(PatientLink).where(PatientLink.patient_id == patient_id).order_by(PatientLink.id)
        )
    ).all()
    return [{"issued_at": _time(r.created_at), "expires_at": _time(r.expires_at)} for r in rows]


async def _receipts(session: AsyncSession, patient_id: int) -> list[dict[str, Any]]:
    rows = (
        await session.scalars(
            select(ErasureReceipt)
            .where(ErasureReceipt.patient_id == patient_id)
            .order_by(ErasureReceipt.erased_at)
        )
    ).all()
    return [
        {
            "id": r.id,
            "erased_at": _time(r.erased_at),
            "requested_by": r.requested_by,
            "counts": r.counts,
        }
        for r in rows
    ]


async def _grouped(session: AsyncSession, statement: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for row in (await session.scalars(statement)).all():
        grouped.setdefault(row.conversation_id, []).append(row)
    return grouped


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
