"""Structured logs: one JSON object per line, tagged with the id of the request being served.

Log shippers (CloudWatch, Loki, ...) index JSON fields, so an operator can pull every line of one
request by its `request_id` (the same id the client sees in the `X-Request-ID` header).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

request_id_var: ContextVar[str | None] = ContextVar("dental_request_id", default=None)
"""The id of the request the current task is serving; None outside requests."""

# Prefix of the note the request middleware adds to an exception it has already logged with its
# request id; `configure_logging` uses it to drop the server's second copy of the traceback.
REQUEST_ID_NOTE_PREFIX = "request_id: "

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}
# Extras whose names suggest a secret or a patient's contact are masked, whatever their value.
_SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authori[sz]ation|api_?key|cookie|credential|phone", re.IGNORECASE
)
_REDACTED = "[redacted]"
_INSTALLED_MARK = "_dental_json_handler"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key in _RECORD_ATTRIBUTES or key in entry or key.startswith("_"):
                continue
            entry[key] = _REDACTED if _SENSITIVE_KEY.search(key) else _loggable(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _loggable(value: Any) -> Any:
    """`value` if it serialises as JSON, else its `str` (a log line must never fail to print)."""
    try:
        json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
    return value


class _SkipErrorsAlreadyLogged(logging.Filter):
    """Drops the server's "Exception in ASGI application" traceback when the request middleware
    has already logged that exception, with its request id, on the access line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        notes = getattr(exc, "__notes__", None) or ()
        return not any(
            isinstance(note, str) and note.startswith(REQUEST_ID_NOTE_PREFIX) for note in notes
        )


class _SkipAlembicContextChatter(logging.Filter):
    """Drops Alembic's per-connection "Context impl ..." lines, which every readiness probe
    would otherwise log; the lines that say which migrations ran are kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line to whatever `sys.stderr` is at that moment, not the one of when logging
    was configured: a caller that swaps stderr for a while and closes it (a CLI test runner, an
    output capture) must not leave every later line failing on a closed stream."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _replaced: TextIO) -> None:
        """StreamHandler sets its stream; this handler always follows sys.stderr."""


def configure_logging(level: str | int = "INFO", *, stream: TextIO | None = None) -> None:
    """Send all logs (the app's and uvicorn's) as JSON lines to `stream` (default stderr).

    Safe to call again: the handler installed by a previous call is replaced, and handlers
    installed by others (pytest's log capture, for instance) are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _INSTALLED_MARK, False):
            root.removeHandler(handler)
    json_handler = _CurrentStderrHandler() if stream is None else logging.StreamHandler(stream)
    json_handler.setFormatter(JsonFormatter())
    setattr(json_handler, _INSTALLED_MARK, True)
    root.addHandler(json_handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)

    # uvicorn installs its own plain-text handlers unless told otherwise; route it through ours.
    # Its access lines are dropped: RequestContextMiddleware writes richer ones (with the
    # request id), and `dental serve --workers N` workers would otherwise log both.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = name != "uvicorn.access"
    _add_filter_once(logging.getLogger("uvicorn.error"), _SkipErrorsAlreadyLogged)
    _add_filter_once(logging.getLogger("alembic.runtime.migration"), _SkipAlembicContextChatter)


def _add_filter_once(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(existing, kind) for existing in logger.filters):
        logger.addFilter(kind())
