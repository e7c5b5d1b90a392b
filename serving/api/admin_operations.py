"""The staff console's view of the service's running and the audit trail
(`/api/v1/admin/...`, the staff API contract's "console-a" routes): failed deliveries, dead
letters, memory patterns, hourly figures (permission `operations`) and the audit log
(permission `audit`). Ids, counts and times only: nothing here carries message text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from serving.api.deps import AuditLogDep
from serving.api.staff_auth import require
from serving.console.operations import MAX_FIGURE_HOURS, Operations
from serving.memory.service import Memory
from serving.staff.audit import AuditContext, AuditQuery

router = APIRouter(prefix="/api/v1/admin", tags=["staff console"])

OperationsAccess = Annotated[AuditContext, Depends(require("operations"))]
Limit = Annotated[int, Query(ge=1, le=500)]


class DeliveryItem(BaseModel):
    message_id: int
    conversation_id: str
    channel: str
    role: str
    author: str | None
    at: datetime


class DeliveryList(BaseModel):
    items: list[DeliveryItem]


class DeadLetterOut(BaseModel):
    update_id: int
    chat_id_hash: str | None
    received_at: datetime
    attempts: int
    error: str | None


class DeadLetterList(BaseModel):
    items: list[DeadLetterOut]


class PatternOut(BaseModel):
    id: str
    description: str
    messages: int
    conversations: int
    booked_share: float | None
    escalated_share: float | None
    dropped_share: float | None


class PatternList(BaseModel):
    items: list[PatternOut]


class FiguresOut(BaseModel):
    hours: list[datetime]
    conversations: list[int]
    escalations: list[int]
    reply_latency_p50_ms: list[int | None]
    reply_latency_p95_ms: list[int | None]
    bookings_by_assistant: list[int]


class AuditItem(BaseModel):
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


class AuditList(BaseModel):
    items: list[AuditItem]


def _operations(request: Request) -> Operations:
    operations: Operations = request.app.state.operations
    return operations


@router.get("/deliveries", response_model=DeliveryList)
async def failed_deliveries(
    request: Request, context: OperationsAccess, limit: Limit = 100
) -> DeliveryList:
    """Messages sent outside a turn that their channel did not take, newest first."""
    found = await _operations(request).failed_deliveries(limit=limit)
    return DeliveryList(items=[DeliveryItem(**vars(item)) for item in found])


@router.get("/dead-letters", response_model=DeadLetterList)
async def dead_letters(
    request: Request, context: OperationsAccess, limit: Limit = 100
) -> DeadLetterList:
    """Telegram updates given up after their retries, newest first."""
    found = await _operations(request).dead_letters(limit=limit)
    return DeadLetterList(items=[DeadLetterOut(**vars(item)) for item in found])


@router.get("/memory-patterns", response_model=PatternList)
async def memory_patterns(request: Request, context: OperationsAccess) -> PatternList:
    """The served bundle's memory patterns, each with the patient messages it labelled in
    the last 30 days and, from the memory graph (90 days), the conversations in which a
    patient message matched it and the shares of those that then led to a booking, to an
    escalation, or to nothing before going quiet (null without such conversations)."""
    patterns = request.app.state.runtime().bundle.memory.patterns
    memory: Memory = request.app.state.memory
    found = await _operations(request).pattern_use(patterns, await memory.pattern_stats())
    return PatternList(items=[PatternOut(**vars(item)) for item in found])


@router.get("/figures", response_model=FiguresOut)
async def figures(
    request: Request,
    context: OperationsAccess,
    hours: Annotated[int, Query(ge=1, le=MAX_FIGURE_HOURS)] = 24,
) -> FiguresOut:
    """Per clock hour (clinic time, the current hour last): conversations with a patient
    message, escalations opened, reply latency (p50, p95; null for an hour without replies)
    and bookings made by the assistant."""
    return FiguresOut(**vars(await _operations(request).figures(hours)))


@router.get("/audit", response_model=AuditList)
async def audit_trail(
    request: Request,
    context: Annotated[AuditContext, Depends(require("audit"))],
    audit: AuditLogDep,
    actor_id: int | None = None,
    patient_id: int | None = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: Limit = 100,
) -> AuditList:
    """Audit entries matching every filter, newest first. `action`: exact, or a prefix
    ending in `.` (`conversation.`); `before`: the previous page's last id. Times without an
    offset are clinic time."""
    timezone = ZoneInfo(request.app.state.settings.timezone)

    def aware(moment: datetime | None) -> datetime | None:
        if moment is None or moment.tzinfo is not None:
            return moment
        return moment.replace(tzinfo=timezone)

    found = await audit.search(
        AuditQuery(
            actor_id=actor_id,
            patient_id=patient_id,
            action=action,
            since=aware(since),
            until=aware(until),
            before_id=before,
            limit=limit,
        )
    )
    return AuditList(
        items=[AuditItem(**{**vars(e), "at": e.at.astimezone(timezone)}) for e in found]
    )
