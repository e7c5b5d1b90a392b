"""`POST /api/v1/web/identity/code` and `/verify`: the web chat visitor proves a phone with a
code sent to it by SMS, and their conversation is bound to that phone's patient
(`serving.assistant.IdentityCodes`; docs/WEB_IDENTITY.md).

The visitor is named as in `POST /api/v1/chat` and the event stream: by the page's random
visitor id, which is the chat's secret. Bodies are strict (unknown fields, a malformed id,
phone or code: 422, nothing counted or changed).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.assistant import Assistant, IdentityCodes, VerificationOutcome
from serving.channels.web.stream import WEB_VISITOR_PATTERN
from serving.language import as_language
from serving.web import IDENTITY_API_PATH

router = APIRouter(prefix=IDENTITY_API_PATH, tags=["web chat"])

CODE_PATTERN = r"^[0-9]{6}$"


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=WEB_VISITOR_PATTERN, description="The page's visitor id.")
    phone: str = Field(min_length=1, max_length=32, description="E.164 or Israeli local form.")
    language: Literal["he", "en"] = Field(default="he", description="The SMS's language.")


class CodeResponse(BaseModel):
    sent: Literal[True] = True
    expires_in_seconds: int
    """How long the code works. The same answer whether or not the phone is a patient's."""


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=WEB_VISITOR_PATTERN, description="The page's visitor id.")
    phone: str = Field(min_length=1, max_length=32, description="The phone the code went to.")
    code: str = Field(pattern=CODE_PATTERN, description="The 6 digits of the SMS.")
    language: Literal["he", "en"] = Field(
        default="he", description="The reply's language for a visitor without a conversation."
    )


class ButtonOut(BaseModel):
    text: str
    data: str


class VerifyResponse(BaseModel):
    verified: bool
    """True: the conversation is bound to the patient with this phone. False: no single
    patient has it, and the conversation is bound to nobody."""
    language: Literal["he", "en"]
    reply: str
    """What the assistant says about it, in the conversation's language."""
    buttons: list[ButtonOut]
    """The quick actions, once verified."""


def _codes(request: Request) -> IdentityCodes:
    codes: IdentityCodes = request.app.state.identity_codes
    return codes


@router.post(
    "/code",
    response_model=CodeResponse,
    responses={
        422: {"description": "Not a phone number (nothing sent or counted)."},
        429: {"description": "Too many codes for this phone or address: `Retry-After` s."},
        503: {"description": "No SMS provider configured, or it did not take the code."},
    },
)
async def send_code(body: CodeRequest, request: Request) -> CodeResponse:
    """Send a 6-digit code by SMS to `phone`, for this visitor only; it replaces any earlier
    code of that phone."""
    address = request.client.host if request.client is not None else None
    sent = await _codes(request).send_code(
        body.user_id, body.phone, language=body.language, address=address
    )
    return CodeResponse(expires_in_seconds=sent.expires_in_seconds)


@router.post(
    "/verify",
    response_model=VerifyResponse,
    responses={
        422: {
            "description": "`wrong_code` (with `attempts_left`), `code_expired`, "
            "`too_many_attempts`, or a malformed body."
        },
        503: {"description": "No SMS provider configured, or the practice system is down."},
    },
)
async def verify_code(body: VerifyRequest, request: Request) -> VerifyResponse:
    """Check the code; when right, the visitor's conversation continues as the patient with
    that phone (or as nobody, when no single patient has it)."""
    verification = await _codes(request).verify_code(
        body.user_id, body.phone, body.code, language=body.language
    )
    assistant: Assistant = request.app.state.assistant
    language = as_language(verification.language)
    if verification.outcome is VerificationOutcome.VERIFIED:
        reply = assistant.message(language, "phone_verified", name=verification.name or "")
        buttons = [ButtonOut(text=b.text, data=b.data) for b in assistant.quick_actions(language)]
    else:
        reply = assistant.message(language, "patient_unknown")
        buttons = []
    return VerifyResponse(
        verified=verification.verified, language=language, reply=reply, buttons=buttons
    )
