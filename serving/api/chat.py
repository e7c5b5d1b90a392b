"""`POST /api/v1/chat` and `POST /api/v1/triage`: thin routers over the assistant.

Identity: only a request carrying the integration key (`Authorization: Bearer …`) may name a
verified patient by phone; without it the conversation is anonymous (channel `web`) and sees
no patient data, whatever the body says. A keyed request asserts its identity on every call:
its phone binds the conversation to the one patient with that phone, and no phone (or one that
matches no single patient) leaves it bound to nobody for that turn and after.

Rate limits (docs/ASSISTANT.md): per user id, and per client address for anonymous callers;
over a limit the answer is 429 with `Retry-After`.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import SettingsDep
from serving.assistant import Assistant, IdentityClaim, IdentityProof, Inbound, RateKey
from serving.language import as_language
from serving.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["assistant"])

USER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


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
    decided_by: str
    """Rule ids, `model:triage@<version>` or `fail_safe.*` ids; "" when nothing fired."""
    score: float | None
    """The triage classifier's calibrated probability, when the bundle has one and it applied."""
    safety_question: bool
    """A possible danger without a clear red flag: the chat would ask the safety question."""


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


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={429: {"description": "Too many messages: send again after `Retry-After` s."}},
)
async def chat(
    body: ChatRequest,
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="The client's id for this message (1-128 of A-Za-z0-9._:-). A request "
            "sent again with the same key (a retry after a timeout) gets the stored reply and "
            "runs no second turn.",
        ),
    ] = None,
) -> ChatResponse:
    """Send one patient message (or a button's `data`) and get the assistant's reply."""
    trusted = _integration_key_valid(settings, authorization)
    claim = IdentityClaim(body.phone, IdentityProof.INTEGRATION_KEY) if trusted else None
    channel = "api" if trusted else "web"
    rate_keys = [RateKey.user(channel, body.user_id)]
    if not trusted and request.client is not None:
        # A trusted integration is one server speaking for many patients: limited per user id.
        rate_keys.append(RateKey.address(request.client.host))
    reply = await _assistant(request).respond(
        Inbound(
            channel=channel,
            user_id=body.user_id,
            text=body.text,
            button=body.button,
            claim=claim,
            rate_keys=tuple(rate_keys),
            idempotency_key=f"api:{idempotency_key}" if idempotency_key is not None else None,
        )
    )
    return ChatResponse(
        conversation_id=reply.conversation_id,
        language=as_language(reply.language),
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
    """Classify a message's urgency as a chat turn would: the bundle's rules, raised by its
    classifier, then the fail-safe (no language model involved); the text is cleaned (and
    refused) as a chat message is."""
    result = _assistant(request).triage(body.text)
    return TriageResponse(
        urgency=result.urgency.value,
        language=result.language,
        reasons=list(result.reasons),
        decided_by=result.decided_by,
        score=result.score,
        safety_question=result.safety_question,
    )
