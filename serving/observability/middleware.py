"""Request context for every HTTP request: its id, its metrics and its access-log line.

A pure ASGI middleware rather than Starlette's `BaseHTTPMiddleware`, which runs the app in a
separate task (contextvars set inside do not flow back) and buffers streaming responses.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from uuid import uuid4

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.observability.logging import REQUEST_ID_NOTE_PREFIX, request_id_var
from serving.observability.metrics import UNMATCHED_ROUTE, AppMetrics

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_logger = logging.getLogger("serving.access")


def accept_or_generate_request_id(incoming: str | None) -> str:
    """The caller's request id if it is short and plain (so a proxy's id joins our logs to its
    own), else a fresh one; anything else could smuggle text into logs and headers."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid4().hex


def request_id_of(scope: Scope) -> str | None:
    """The id the middleware gave this request (also `request.state.request_id`).

    Exception handlers run after the middleware has unwound, so they read it here rather than
    from `request_id_var`.
    """
    state = scope.get("state")
    value = state.get("request_id") if isinstance(state, dict) else None
    return value if isinstance(value, str) else None


def route_template(scope: Scope, entry_root_path: str) -> str:
    """The template of the route that handled the request, e.g. `/api/v1/items/{id}`.

    Starlette records the matched route in the scope. Inside a mounted sub-application only the
    inner template is known (the mount's matched prefix is the raw path), so it is shown as
    `/{mount}`, which keeps personal data and unbounded values out of the label.
    """
    route: Any = scope.get("route")
    path_format = getattr(route, "path_format", None)
    if route is None or not isinstance(path_format, str):
        return UNMATCHED_ROUTE
    if isinstance(route, Mount):
        return path_format
    inside_mount = scope.get("root_path", "") != entry_root_path
    return f"/{{mount}}{path_format}" if inside_mount else path_format


class RequestContextMiddleware:
    """Gives each HTTP request an id (`X-Request-ID`, echoed or generated), makes it available
    to logs through `request_id_var`, records the request's metrics and logs one access line.

    The access line holds method, route template, status, duration and request id: never the
    query string, the body or the raw path, which can carry a patient's phone number or name.
    Unhandled exceptions are counted and logged (with traceback) here, then re-raised for the
    app's exception handler to answer.
    """

    def __init__(self, app: ASGIApp, *, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = accept_or_generate_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        entry_root_path = scope.get("root_path", "")
        status: int | None = None

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if REQUEST_ID_HEADER not in headers:
                    headers.append(REQUEST_ID_HEADER, request_id)
            await send(message)

        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            try:
                await self.app(scope, receive, send_with_request_id)
            except Exception as exc:
                exc.add_note(f"{REQUEST_ID_NOTE_PREFIX}{request_id}")
                self._finish(scope, entry_root_path, status or 500, started, failure=exc)
                raise
            # An app that returns without answering gets a 500 from the server.
            self._finish(scope, entry_root_path, status or 500, started, failure=None)
        finally:
            request_id_var.reset(token)

    def _finish(
        self,
        scope: Scope,
        entry_root_path: str,
        status: int,
        started: float,
        *,
        failure: Exception | None,
    ) -> None:
        duration = time.perf_counter() - started
        method = str(scope["method"])
        route = route_template(scope, entry_root_path)
        self.metrics.record_request(
            method=method,
            route=route,
            status=status,
            duration_seconds=duration,
            failed=failure is not None,
        )
        if failure is not None:
            level = logging.ERROR
        elif status >= 500:
            level = logging.WARNING  # answered deliberately, e.g. /ready while not ready
        else:
            level = logging.INFO
        access_logger.log(
            level,
            "%s %s %s",
            method,
            route,
            status,
            exc_info=failure,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
            },
        )
