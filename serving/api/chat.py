"""`POST /api/v1/chat` and `POST /api/v1/triage`: thin routers over the assistant.

Identity: only a request carrying the integration key (`Authorization: Bearer …`) may name a
verified patient by phone; without it the conversation is anonymous (channel `web`) and sees
no patient data, whatever the body says.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import SettingsDep
from serving.assistant.patient_text import clean_text
from serving.assistant.service import Assistant, Inbound
from serving.practice.backend import PracticeBackend
from serving.practice.models import Patient
from serving.practice.phone import normalize_phone
from serving.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["assistant"])

USER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=USER_ID_PATTERN, description="The client's id for the user.")
    text: str | None = Field(default=None, max_length=20_000)
    button: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(
        default=None,
        max_length=32,
        description="Verified phone (E.164); honoured only with a valid integration key.",
    )


class ButtonOut(BaseModel):
    text: str
    data: str


class EscalationOut(BaseModel):
    id: str
    urgency: str


class ChatResponse(BaseModel):
    conversation_id: str
    language: Literal["he", "en"]
    urgency: Literal["EMERGENCY", "DOCTOR_REQUIRED", "ROUTINE"]
    intent: str
    reply: str
    buttons: list[ButtonOut]
    escalation: EscalationOut | None
    actions: list[dict[str, str]]
    bundle_version: str


class TriageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000)


class TriageResponse(BaseModel):
    urgency: Literal["EMERGENCY", "DOCTOR_REQUIRED", "ROUTINE"]
    language: Literal["he", "en"]
    reasons: list[str]


def _assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.assistant
    return assistant


def _integration_key_valid(settings: Settings, authorization: str | None) -> bool:
    """True for a correct key, False for none; a wrong key is refused outright (401)."""
    if authorization is None:
        return False
    scheme, _, key = authorization.partition(" ")
    expected = settings.integration_key
    if (
        scheme.lower() != "bearer"
        or expected is None
        or not hmac.compare_digest(key.strip().encode(), expected.get_secret_value().encode())
    ):
        raise HTTPException(401, detail="invalid integration key")
    return True


async def _verified_patient(backend: PracticeBackend, phone: str, region: str) -> Patient | None:
    matches = await backend.search_patient(phone=normalize_phone(phone, region))
    return matches[0] if len(matches) == 1 else None


@router.post("/chat", response_model=ChatResponse)
async def chat(
    body: ChatRequest,
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> ChatResponse:
    """Send one patient message (or a button's `data`) and get the assistant's reply."""
    trusted = _integration_key_valid(settings, authorization)
    patient = None
    if trusted and body.phone is not None:
        backend: PracticeBackend = request.app.state.practice
        patient = await _verified_patient(backend, body.phone, settings.default_phone_region)
    reply = await _assistant(request).respond(
        Inbound(
            channel="api" if trusted else "web",
            user_id=body.user_id,
            text=body.text,
            button=body.button,
            patient=patient,
        )
    )
    return ChatResponse(
        conversation_id=reply.conversation_id,
        language="en" if reply.language == "en" else "he",
        urgency=reply.urgency,
        intent=reply.intent,
        reply=reply.text,
        buttons=[ButtonOut(text=b.text, data=b.data) for b in reply.buttons],
        escalation=EscalationOut(id=reply.escalation[0], urgency=reply.escalation[1])
        if reply.escalation
        else None,
        actions=[{"type": kind} for kind in reply.actions],
        bundle_version=reply.bundle_version,
    )


@router.post("/triage", response_model=TriageResponse)
async def triage(body: TriageRequest, request: Request) -> TriageResponse:
    """Classify a message's urgency by the bundle's safety rules (no model involved); the text
    is cleaned (and refused) as a chat message is."""
    result = request.app.state.runtime().triager.triage(clean_text(body.text))
    return TriageResponse(
        urgency=result.urgency.value, language=result.language, reasons=list(result.reasons)
    )
