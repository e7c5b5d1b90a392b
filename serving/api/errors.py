"""The answer to errors nobody handled: a 500 that says nothing about the failure itself.

Exception text can hold SQL, file paths or a patient's data, so the client only gets the request
id; the traceback is in the server log under that id (see `RequestContextMiddleware`).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.assistant import (
    CodeNotSent,
    CodeRejected,
    ConversationBusy,
    IdentityCheckUnavailable,
    InvalidButton,
    InvalidMessage,
    InvalidPhone,
    PhoneVerificationUnavailable,
    RateLimited,
    StaleButton,
    WrongCode,
)
from serving.observability.middleware import REQUEST_ID_HEADER, request_id_of
from serving.practice.errors import InvalidRequest


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler for `Exception`: 500 `{"error": "internal_error", "request_id": ...}`."""
    request_id = request_id_of(request.scope)
    return JSONResponse(
        {"error": "internal_error", "request_id": request_id},
        status_code=500,
        headers={REQUEST_ID_HEADER: request_id} if request_id else None,
    )


def _client_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the fields at fault; the rejected values are not echoed (they may be
    personal data)."""
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error['loc'][1:]) or 'body'}: {error['msg']}"
        for error in exc.errors()[:5]
    )
    return _client_error(422, "invalid_request", problems)


async def invalid_input(request: Request, exc: Exception) -> JSONResponse:
    """422 for a message, button or value the client got wrong."""
    return _client_error(422, "invalid_request", str(exc))


async def stale_button(request: Request, exc: Exception) -> JSONResponse:
    """409: the button is not part of the conversation's current state."""
    return _client_error(409, "stale_button", str(exc))


async def conversation_busy(request: Request, exc: Exception) -> JSONResponse:
    """409 with Retry-After: the conversation's previous message is still being answered."""
    response = _client_error(409, "conversation_busy", str(exc))
    response.headers["Retry-After"] = "1"
    return response


async def identity_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 with Retry-After: the practice system could not confirm who is writing."""
    response = _client_error(503, "practice_unavailable", str(exc))
    response.headers["Retry-After"] = "5"
    return response


async def verification_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 without Retry-After: no SMS provider is configured, so no code can be sent."""
    return _client_error(503, "phone_verification_unavailable", str(exc))


async def code_not_sent(request: Request, exc: Exception) -> JSONResponse:
    """503 with Retry-After: the SMS provider did not take the code."""
    response = _client_error(503, "code_not_sent", str(exc))
    response.headers["Retry-After"] = "30"
    return response


async def code_rejected(request: Request, exc: Exception) -> JSONResponse:
    """422 `wrong_code` (with `attempts_left`), `code_expired` or `too_many_attempts`: the
    typed code binds nothing."""
    assert isinstance(exc, CodeRejected)
    body: dict[str, object] = {"error": exc.reason, "message": str(exc)}
    if isinstance(exc, WrongCode):
        body["attempts_left"] = exc.attempts_left
    return JSONResponse(body, status_code=422)


async def rate_limited(request: Request, exc: Exception) -> JSONResponse:
    """429 with Retry-After (whole seconds): too many messages from this user or address."""
    assert isinstance(exc, RateLimited)
    response = _client_error(429, "rate_limited", str(exc))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    return _client_error(exc.status_code, code, str(exc.detail))


CLIENT_ERRORS: tuple[tuple[type[Exception], object], ...] = (
    (RequestValidationError, validation_error),
    (InvalidMessage, invalid_input),
    (InvalidButton, invalid_input),
    (InvalidRequest, invalid_input),
    (InvalidPhone, invalid_input),
    (IdentityCheckUnavailable, identity_unavailable),
    (PhoneVerificationUnavailable, verification_unavailable),
    (CodeNotSent, code_not_sent),
    (CodeRejected, code_rejected),
    (StaleButton, stale_button),
    (ConversationBusy, conversation_busy),
    (RateLimited, rate_limited),
    (StarletteHTTPException, http_error),
)
