"""The audit trail: every staff read or change of patient data, attributable (who, role, what,
which patient, when, from where, why when given), and what a patient did with their own data
through their private link (actor role `patient`, no staff id). Rows are only inserted; the
database refuses UPDATE and DELETE on them (migration 0010), so not even a bug in the app can
rewrite history.

What is recorded is never message text or other patient content: the action, the subject's id
and, in `detail`, non-identifying specifics (a search's filters are kept without its words).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from serving.db.engine import Database
from serving.db.staff_models import AuditEvent
from serving.db.types import utcnow
from serving.staff.sessions import StaffPrincipal

MAX_REASON = 300


@dataclass(frozen=True)
class AuditContext:
    """The request a staff action came in: the caller, their address, the reason they gave."""

    principal: StaffPrincipal
    client_address: str | None = None
    reason: str | None = None


PATIENT_ACTOR = "patient"
"""`actor_role` and `actor_email` of an entry a patient caused through their own link."""


@dataclass(frozen=True)
class PatientSelf:
    """A patient acting on their own data through their private link (serving.privacy)."""

    patient_id: int
    client_address: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: int | None
    actor_email: str
    actor_role: str
    action: str
    patient_id: int | None
    subject: str | None
    client_address: str | None
    reason: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class AuditQuery:
    actor_id: int | None = None
    patient_id: int | None = None
    action: str | None = None
    """An exact action, or a prefix ending in `.` (e.g. `appointment.`)."""
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    """Paging: entries older than this id."""
    limit: int = 100


class AuditLog:
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._database = database
        self._clock = clock

    async def record(
        self,
        context: AuditContext | PatientSelf,
        action: str,
        *,
        patient_id: int | None = None,
        subject: str | None = None,
        detail: dict[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        """Append one entry; with `session`, inside that transaction (a change and its entry
        commit or roll back together)."""
        if isinstance(context, PatientSelf):
            actor_id, actor_email, actor_role = None, PATIENT_ACTOR, PATIENT_ACTOR
            reason = None
        else:
            principal = context.principal
            actor_id, actor_email, actor_role = principal.user_id, principal.email, principal.role
            reason = (context.reason or "").strip()[:MAX_REASON] or None
        event = AuditEvent(
            at=self._clock(),
            actor_id=actor_id,
            actor_email=actor_email,
            actor_role=actor_role,
            action=action,
            patient_id=patient_id,
            subject=subject,
            client_address=(context.client_address or "")[:64] or None,
            reason=reason,
            detail=detail,
        )
        if session is not None:
            session.add(event)
            return
        async with self._database.transaction() as own:
            own.add(event)

    async def search(self, query: AuditQuery) -> list[AuditEntry]:
        """Entries matching every filter given, newest first."""
        statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(query.limit)
        if query.actor_id is not None:
            statement = statement.where(AuditEvent.actor_id == query.actor_id)
        if query.patient_id is not None:
            statement = statement.where(AuditEvent.patient_id == query.patient_id)
        if query.action:
            statement = statement.where(
                AuditEvent.action.startswith(query.action, autoescape=True)
                if query.action.endswith(".")
                else AuditEvent.action == query.action
            )
        if query.since is not None:
            statement = statement.where(AuditEvent.at >= query.since)
        if query.until is not None:
            statement = statement.where(AuditEvent.at < query.until)
        if query.before_id is not None:
            statement = statement.where(AuditEvent.id < query.before_id)
        async with self._database.read() as session:
            rows = await session.scalars(statement)
            return [
                AuditEntry(
                    id=row.id,
                    at=row.at,
                    actor_id=row.actor_id,
                    actor_email=row.actor_email,
                    actor_role=row.actor_role,
                    action=row.action,
                    patient_id=row.patient_id,
                    subject=row.subject,
                    client_address=row.client_address,
                    reason=row.reason,
                    detail=row.detail,
                )
                for row in rows
            ]
