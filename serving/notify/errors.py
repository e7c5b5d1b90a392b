"""Failures as operator-readable Deliveries, shared by the transports.

Error texts are built from types, codes and the provider's own description, never from
exception messages that may quote a URL (with a bot token), an address or a phone number.
"""

from __future__ import annotations

import re
from types import UnionType
from typing import Any

import httpx

from serving.notify.notice import Delivery

MAX_ERROR_CHARS = 200

_NUMBER = re.compile(r"\+?\d[\d ().-]{3,}\d")
"""A run of five or more digits, possibly with separators: a phone number or chat id."""


def redact_numbers(text: str) -> str:
    """`text` with every phone-number-like run of digits replaced by "<number>"."""
    return _NUMBER.sub("<number>", text)


def network_failure(exc: BaseException) -> Delivery:
    """A retryable Delivery naming what went wrong on the network, from the exception types only
    (httpx's messages quote the URL, which for the Bot API holds the token)."""
    if caused_by(exc, TimeoutError | httpx.TimeoutException):
        return Delivery(delivered=False, error="timeout", retryable=True)
    if caused_by(exc, ConnectionRefusedError):
        return Delivery(delivered=False, error="connection refused", retryable=True)
    return Delivery(delivered=False, error=f"network error ({type(exc).__name__})", retryable=True)


def caused_by(exc: BaseException, kind: type[BaseException] | UnionType) -> bool:
    """Whether `exc` or an exception it was raised from or during is a `kind`: httpx and
    smtplib wrap the socket's errors in their own."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, kind):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def response_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} for anything else (a proxy's HTML error page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
