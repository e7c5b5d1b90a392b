"""The dentist's private link: `GET /doctor/<token>` (the page) over the JSON API under
`/api/v1/doctor/<token>` that any client may use (docs/ESCALATION.md).

The token is the only credential: 256 random bits, stored hashed, bound to one escalation.
Logs and metrics carry the route template (`/api/v1/doctor/{token}`), never the token. An
unusable link gets 404 (unknown) or 410 (expired, revoked, closed) and nothing of the
conversation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from serving.api.doctor_page import render_doctor_link_page, render_doctor_page
from serving.assistant import MAX_OUTBOUND_TEXT, InvalidOutbound, NoChannel
from serving.escalation.desk import DoctorDesk, PatientNotIdentified
from serving.escalation.links import LinkRefusal, LinkRefused
from serving.escalation.views import AppointmentView, DeskView, MessageView, SlotView
from serving.practice.errors import (
    AppointmentNotFound,
    PracticeUnavailable,
    SlotUnavailable,
    UnknownProvider,
    UnknownTreatmentType,
)
from serving.pubsub import PushHub

router = APIRouter(tags=["doctor"])
T = TypeVar("T")

STREAM_POLL_SECONDS = 3.0
"""The event stream re-reads the conversation at least this often, whatever it hears."""
KEEP_ALIVE_EVERY = 5
"""Polls between keep-alive comments (about 15 s)."""

_REFUSAL_TEXT = {
    LinkRefusal.NOT_FOUND: "This link is not valid. Ask the clinic for a new one.",
    LinkRefusal.EXPIRED: "This link has expired. Ask the clinic for a new one.",
    LinkRefusal.REVOKED: "This link was revoked. Ask the clinic for a new one.",
    LinkRefusal.CLOSED: "This conversation was handed back to the assistant and is closed.",
}


class DoctorMessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_OUTBOUND_TEXT)


class DoctorMessageOut(BaseModel):
    message: MessageView
    delivered: bool


class ClosedOut(BaseModel):
    status: str
    transcript_saved: bool


class SlotsOut(BaseModel):
    slots: list[SlotView]


class BookIn(BaseModel):
    treatment: str = Field(min_length=1, max_length=40)
    starts_at: datetime
    provider_id: int | None = None


class MoveIn(BaseModel):
    starts_at: datetime
    provider_id: int | None = None


class AppointmentOut(BaseModel):
    appointment: AppointmentView


def _desk(request: Request) -> DoctorDesk:
    desk: DoctorDesk = request.app.state.doctor_desk
    return desk


def _refused(refused: LinkRefused) -> JSONResponse:
    status = 404 if refused.refusal is LinkRefusal.NOT_FOUND else 410
    return JSONResponse(
        {"error": refused.refusal.value, "message": _REFUSAL_TEXT[refused.refusal]},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _answer(work: Awaitable[T], status: int = 200) -> T | JSONResponse:
    """Run the desk's work, mapping its refusals to clear client errors."""
    try:
        return await work
    except LinkRefused as refused:
        return _refused(refused)
    except PatientNotIdentified as error:
        return _error(409, "patient_not_identified", str(error))
    except SlotUnavailable as error:
        return _error(409, "slot_taken", str(error))
    except AppointmentNotFound as error:
        return _error(404, "appointment_not_found", str(error))
    except (UnknownTreatmentType, UnknownProvider, InvalidOutbound) as error:
        return _error(422, "invalid_request", str(error))
    except NoChannel as error:
        return _error(409, "no_channel", str(error))
    except PracticeUnavailable:
        return _error(503, "practice_unavailable", "the practice system cannot be reached")


@router.get("/doctor/{token}", response_class=HTMLResponse, include_in_schema=False)
async def doctor_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
    """The doctor chat page, or a clear page saying why the link cannot be used."""
    try:
        access = await _desk(request).access(token)
    except LinkRefused as refused:
        return render_doctor_link_page(request, refused.refusal.value, lang)
    return render_doctor_page(
        request, token_path=token, language=lang, doctor_language=access.doctor_language
    )


@router.get("/api/v1/doctor/{token}", response_model=DeskView)
async def doctor_view(request: Request, token: str) -> DeskView | JSONResponse:
    """The escalation, the patient's card and the conversation. The first call through any
    link of the escalation claims it: the EMERGENCY reminders stop."""

    async def work() -> DeskView:
        _, view = await _desk(request).open(token)
        return view

    return await _answer(work())


@router.post("/api/v1/doctor/{token}/messages", status_code=201, response_model=DoctorMessageOut)
async def doctor_message(
    request: Request, token: str, body: DoctorMessageIn
) -> DoctorMessageOut | JSONResponse:
    """Send the dentist's message to the patient on the conversation's own channel. The
    first one tells the patient the dentist joined; from then on the assistant is silent
    (but for the safety layer) until `close`."""

    async def work() -> DoctorMessageOut:
        message, delivered = await _desk(request).post(token, body.text)
        return DoctorMessageOut(message=message, delivered=delivered)

    return await _answer(work())


@router.post("/api/v1/doctor/{token}/close", response_model=ClosedOut)
async def doctor_close(request: Request, token: str) -> ClosedOut | JSONResponse:
    """Hand the conversation back to the assistant; the transcript goes to the patient
    record, and every link of the escalation stops working."""

    async def work() -> ClosedOut:
        saved = await _desk(request).close(token)
        return ClosedOut(status="closed", transcript_saved=saved)

    return await _answer(work())


@router.get("/api/v1/doctor/{token}/slots", response_model=SlotsOut)
async def doctor_slots(
    request: Request,
    token: str,
    treatment: Annotated[str, Query(min_length=1, max_length=40)],
    day: Annotated[date, Query(alias="date")],
    provider_id: int | None = None,
    lang: Annotated[str, Query(pattern="^(he|en)$")] = "en",
) -> SlotsOut | JSONResponse:
    """Free times on one day for a treatment, to book or move the patient's appointment."""

    async def work() -> SlotsOut:
        return SlotsOut(slots=await _desk(request).slots(token, treatment, day, provider_id, lang))

    return await _answer(work())


@router.post("/api/v1/doctor/{token}/appointments", status_code=201, response_model=AppointmentOut)
async def doctor_book(request: Request, token: str, body: BookIn) -> AppointmentOut | JSONResponse:
    async def work() -> AppointmentOut:
        booked = await _desk(request).book(token, body.treatment, body.starts_at, body.provider_id)
        return AppointmentOut(appointment=booked)

    return await _answer(work())


@router.post(
    "/api/v1/doctor/{token}/appointments/{appointment_id}/move", response_model=AppointmentOut
)
async def doctor_move(
    request: Request, token: str, appointment_id: int, body: MoveIn
) -> AppointmentOut | JSONResponse:
    async def work() -> AppointmentOut:
        moved = await _desk(request).move(token, appointment_id, body.starts_at, body.provider_id)
        return AppointmentOut(appointment=moved)

    return await _answer(work())


@router.delete(
    "/api/v1/doctor/{token}/appointments/{appointment_id}", response_model=AppointmentOut
)
async def doctor_cancel(
    request: Request, token: str, appointment_id: int
) -> AppointmentOut | JSONResponse:
    async def work() -> AppointmentOut:
        return AppointmentOut(appointment=await _desk(request).cancel(token, appointment_id))

    return await _answer(work())


@router.get("/api/v1/doctor/{token}/events", response_class=StreamingResponse)
async def doctor_events(
    request: Request,
    token: str,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Server-sent events: `message` (every new message, any role, `id:` its message id, so
    a reconnecting EventSource resumes after it), `delivery` (a dentist message's delivery
    result), `escalation` (status or urgency changed), `closed`, and `refused` (the link was
    revoked or expired meanwhile; the stream ends).

    Woken through the doctor-page hub (Redis pub/sub across processes when REDIS_URL is set)
    and re-reading the conversation every few seconds regardless, so it works however the
    processes are laid out."""
    desk = _desk(request)
    try:
        access = await desk.access(token)
    except LinkRefused as refused:
        return _refused(refused)
    cursor = after if after is not None else _event_id(last_event_id)
    hub: PushHub = request.app.state.doctor_hub

    async def events() -> AsyncIterator[str]:
        position = cursor
        if position is None:  # from now on: the page already has the history
            latest = await desk.messages_after(access.conversation_id, 0)
            position = latest[-1].id if latest else 0
        pending: dict[int, str | None] = {}
        state = await desk.state(access.escalation_id)
        quiet = 0
        async with hub.subscribe(access.conversation_id) as subscription:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                for message in await desk.messages_after(access.conversation_id, position):
                    position = message.id
                    if message.role == "doctor" and message.delivery is None:
                        pending[message.id] = None
                    yield _sse("message", message.model_dump(mode="json"), event_id=message.id)
                for message_id, delivery in (
                    await desk.deliveries(access.conversation_id, list(pending))
                ).items():
                    del pending[message_id]
                    yield _sse("delivery", {"message_id": message_id, "delivery": delivery})
                now = await desk.state(access.escalation_id)
                if now != state:
                    state = now
                    yield _sse("escalation", {"status": now[0], "urgency": now[1]})
                if now[0] == "closed":
                    yield _sse("closed", {})
                    return
                try:  # revoked or expired while the page was open: stop showing it
                    await desk.access(token)
                except LinkRefused as refused:
                    yield _sse("refused", {"error": refused.refusal.value})
                    return
                if await subscription.next(STREAM_POLL_SECONDS) is None:
                    quiet += 1
                    if quiet % KEEP_ALIVE_EVERY == 0:
                        yield ": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _sse(event: str, data: dict[str, Any], *, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _event_id(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
