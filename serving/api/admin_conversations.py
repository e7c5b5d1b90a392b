"""The staff console's conversations, escalation queue and live events
(`/api/v1/admin/...`, the staff API contract's "console-a" routes).

Each route declares its one permission through `require` and records every read or change
of patient data in the audit trail (never message text). The rules are in `serving.console`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from serving.api.deps import AuditLogDep
from serving.api.staff_auth import require
from serving.assistant import MAX_OUTBOUND_TEXT, InvalidOutbound, NoChannel
from serving.console.conversations import (
    ConsoleConversations,
    ConversationNotFound,
    ConversationSearch,
    EscalationFilter,
    HeldByOther,
    NotHolding,
    StaffMember,
)
from serving.console.views import (
    ConsoleMessage,
    ConversationDetail,
    ConversationItem,
    EscalationItem,
)
from serving.escalation.desk import EscalationClosed
from serving.escalation.events import STAFF_KEY, StaffFeed
from serving.staff.audit import AuditContext

router = APIRouter(prefix="/api/v1/admin", tags=["staff console"])
T = TypeVar("T")

KEEP_ALIVE_SECONDS = 15.0
"""A comment on a quiet event stream this often, so proxies keep it open."""

ConversationsAccess = Annotated[AuditContext, Depends(require("conversations"))]


class ConversationList(BaseModel):
    items: list[ConversationItem]


class ConversationOut(BaseModel):
    conversation: ConversationItem


class StaffMessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_OUTBOUND_TEXT)


class StaffMessageOut(BaseModel):
    message: ConsoleMessage
    delivered: bool


class EscalationList(BaseModel):
    items: list[EscalationItem]


def _console(request: Request) -> ConsoleConversations:
    console: ConsoleConversations = request.app.state.console
    return console


def _staff(context: AuditContext) -> StaffMember:
    return StaffMember(id=context.principal.user_id, name=context.principal.name)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _answer(work: Awaitable[T]) -> T | JSONResponse:
    """Run the console's work, mapping its refusals to clear client errors."""
    try:
        return await work
    except ConversationNotFound as error:
        return _error(404, "not_found", str(error))
    except HeldByOther as error:
        return _error(409, "held_by_other", str(error))
    except NotHolding as error:
        return _error(409, "not_holding", str(error))
    except EscalationClosed as error:
        return _error(409, "escalation_closed", str(error))
    except NoChannel as error:
        return _error(409, "no_channel", str(error))
    except InvalidOutbound as error:
        return _error(422, "invalid_request", str(error))


@router.get("/conversations", response_model=ConversationList)
async def list_conversations(
    request: Request,
    context: ConversationsAccess,
    audit: AuditLogDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    held: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: datetime | None = None,
) -> ConversationList:
    """Conversations, the latest active first; `q` matches the patient's name or phone, or
    a message's text. `before`: the `last_message_at` of the previous page's last item."""
    items = await _console(request).search(
        ConversationSearch(q=q, channel=channel, held=held, limit=limit, before=before)
    )
    detail: dict[str, Any] = {"count": len(items), "searched": bool(q)}
    if channel:
        detail["channel"] = channel
    if held is not None:
        detail["held"] = held
    await audit.record(context, "conversation.search", detail=detail)
    return ConversationList(items=items)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def read_conversation(
    request: Request, conversation_id: str, context: ConversationsAccess, audit: AuditLogDep
) -> ConversationDetail | JSONResponse:
    async def work() -> ConversationDetail:
        detail = await _console(request).read(conversation_id)
        await audit.record(
            context,
            "conversation.read",
            patient_id=_patient_id(detail.conversation),
            subject=conversation_id,
            detail={"messages": len(detail.messages)},
        )
        return detail

    return await _answer(work())


@router.post("/conversations/{conversation_id}/takeover", response_model=ConversationOut)
async def take_over(
    request: Request, conversation_id: str, context: ConversationsAccess, audit: AuditLogDep
) -> ConversationOut | JSONResponse:
    """This staff member holds the conversation: the assistant is silent (an emergency still
    gets the fixed reply) until it is handed back. 409 when someone else holds it."""

    async def work() -> ConversationOut:
        item = await _console(request).take_over(conversation_id, _staff(context))
        await audit.record(
            context,
            "conversation.takeover",
            patient_id=_patient_id(item),
            subject=conversation_id,
        )
        return ConversationOut(conversation=item)

    return await _answer(work())


@router.post("/conversations/{conversation_id}/messages", response_model=StaffMessageOut)
async def reply(
    request: Request,
    conversation_id: str,
    body: StaffMessageIn,
    context: ConversationsAccess,
    audit: AuditLogDep,
) -> StaffMessageOut | JSONResponse:
    """Write to the patient on the conversation's own channel, signed with this staff
    member's name. 409 unless this staff member holds the conversation."""

    async def work() -> StaffMessageOut:
        sent = await _console(request).reply(conversation_id, _staff(context), body.text)
        await audit.record(
            context,
            "conversation.reply",
            patient_id=sent.patient_id,
            subject=conversation_id,
            detail={"message_id": sent.message.id, "delivered": sent.delivered},
        )
        return StaffMessageOut(message=sent.message, delivered=sent.delivered)

    return await _answer(work())


@router.post("/conversations/{conversation_id}/handback", response_model=ConversationOut)
async def hand_back(
    request: Request, conversation_id: str, context: ConversationsAccess, audit: AuditLogDep
) -> ConversationOut | JSONResponse:
    """The assistant answers again; an escalation a staff member joined closes, its
    transcript saved to the patient record. 409 when no staff member holds it."""

    async def work() -> ConversationOut:
        item = await _console(request).hand_back(conversation_id, _staff(context))
        await audit.record(
            context,
            "conversation.handback",
            patient_id=_patient_id(item),
            subject=conversation_id,
        )
        return ConversationOut(conversation=item)

    return await _answer(work())


@router.get("/escalations", response_model=EscalationList)
async def list_escalations(
    request: Request,
    context: Annotated[AuditContext, Depends(require("escalations.view"))],
    audit: AuditLogDep,
    status: EscalationFilter = "unclosed",
) -> EscalationList:
    """The escalation queue, the most urgent first."""
    items = await _console(request).escalations(status)
    await audit.record(context, "escalation.list", detail={"status": status, "count": len(items)})
    return EscalationList(items=items)


@router.post("/escalations/{escalation_id}/join", response_model=ConversationOut)
async def join_escalation(
    request: Request,
    escalation_id: str,
    context: Annotated[AuditContext, Depends(require("escalations.join"))],
    audit: AuditLogDep,
) -> ConversationOut | JSONResponse:
    """This staff member joins the escalation and holds its conversation, as a dentist does
    through the link. 409 when it is closed or someone else holds the conversation."""

    async def work() -> ConversationOut:
        item = await _console(request).join_escalation(escalation_id, _staff(context))
        await audit.record(
            context,
            "escalation.join",
            patient_id=_patient_id(item),
            subject=escalation_id,
            detail={"conversation_id": item.id},
        )
        return ConversationOut(conversation=item)

    return await _answer(work())


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request, context: ConversationsAccess) -> Response:
    """Server-sent events for the console: `escalation` (`{"id", "urgency", "status",
    "conversation_id"}`: opened, rose, claimed, joined or closed) and `message`
    (`{"conversation_id", "message_id"}`: stored in any conversation), with keep-alive
    comments. Ids only: the console reads what changed through the audited routes. Heard
    through the staff hub (Redis pub/sub across serving processes when REDIS_URL is set)."""
    feed: StaffFeed = request.app.state.staff_feed

    async def stream() -> AsyncIterator[str]:
        async with feed.hub.subscribe(STAFF_KEY) as subscription:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                event = await subscription.next(KEEP_ALIVE_SECONDS)
                if event is None:
                    yield ": keep-alive\n\n"
                    continue
                kind = event.pop("kind", None)
                if kind in ("escalation", "message"):
                    yield f"event: {kind}\ndata: {json.dumps(event)}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _patient_id(item: ConversationItem) -> int | None:
    return None if item.patient is None else item.patient.id
