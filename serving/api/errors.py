"""The answer to errors nobody handled: a 500 that says nothing about the failure itself.

Exception text can hold SQL, file paths or a patient's data, so the client only gets the request
id; the traceback is in the server log under that id (see `RequestContextMiddleware`).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from serving.observability.middleware import REQUEST_ID_HEADER, request_id_of


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler for `Exception`: 500 `{"error": "internal_error", "request_id": ...}`."""
    request_id = request_id_of(request.scope)
    return JSONResponse(
        {"error": "internal_error", "request_id": request_id},
        status_code=500,
        headers={REQUEST_ID_HEADER: request_id} if request_id else None,
    )
