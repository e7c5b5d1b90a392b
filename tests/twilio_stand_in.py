"""A local stand-in for Twilio's Messages API: a real HTTP server on 127.0.0.1 and a free port.

The production SMS transport (serving/notify/sms.py) is pointed at it with
`base_url=<stand_in.base_url>` (TWILIO_API_BASE_URL), so its HTTP client runs unpatched: basic
auth, form encoding, status codes and Twilio's JSON error bodies all happen for real.

Implemented: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with form fields To, From
and Body. A wrong account or token gets 401 (Twilio error 20003), another path 404 (20404), a
To that is not E.164 400 (21211, whose message quotes the number, as Twilio's does), an empty
Body 400 (21602). A created message is answered 201 with Twilio's message resource and
recorded in `.messages`; `fail(status, code, times=...)` makes the next sends fail.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.http_stand_in import serving

ACCOUNT_SID = "AC5ef8732a3c49700934481addd5ce1659"
AUTH_TOKEN = "stand-in-auth-token-Wq81"
API_VERSION = "2010-04-01"

_MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<sid>[^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_DEFAULT_MESSAGES = {429: "Too Many Requests", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Message:
    """A message the stand-in accepted: the form fields as received, and what it answered."""

    sid: str
    to: str
    from_: str
    body: str
    resource: dict[str, Any]


@dataclass
class _Failure:
    status: int
    code: int
    message: str
    times: int


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error document."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class TwilioStandIn:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Message] = field(default_factory=list)
    _failure: _Failure | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail(self, status: int, code: int, *, message: str | None = None, times: int = 1) -> None:
        """The next `times` sends fail with `status` and Twilio error `code`; `{to}` in
        `message` is replaced by the request's To (Twilio's messages quote the number)."""
        text = message or _DEFAULT_MESSAGES.get(status, f"Error {code}")
        with self._lock:
            self._failure = _Failure(status, code, text, times)

    # --- the server side ---------------------------------------------------------------

    def handle(
        self, path: str, authorization: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if authorization != _basic(ACCOUNT_SID, AUTH_TOKEN):
            return 401, error_body(401, 20003, "Authenticate")
        match = _MESSAGES_PATH.match(path)
        if match is None or match["sid"] != ACCOUNT_SID:
            return 404, error_body(404, 20404, f"The requested resource {path} was not found")
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        with self._lock:
            failure = self._failure
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failure = None
                message = failure.message.replace("{to}", to)
                return failure.status, error_body(failure.status, failure.code, message)
            if not _E164.match(to):
                return 400, error_body(
                    400, 21211, f"The 'To' number {to} is not a valid phone number."
                )
            if not body:
                return 400, error_body(400, 21602, "Message body is required.")
            resource = _resource(to, from_, body)
            self.messages.append(Message(resource["sid"], to, from_, body, resource))
        return 201, resource


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _resource(to: str, from_: str, body: str) -> dict[str, Any]:
    """Twilio's Message resource as the create call returns it."""
    sid = "SM" + secrets.token_hex(16)
    now = format_datetime(datetime.now(UTC))
    uri = f"/{API_VERSION}/Accounts/{ACCOUNT_SID}/Messages/{sid}"
    return {
        "account_sid": ACCOUNT_SID,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": to,
        "uri": f"{uri}.json",
    }


class _Handler(BaseHTTPRequestHandler):
    stand_in: TwilioStandIn

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        fields = parse_qs(body, keep_blank_values=True)
        form = {key: values[0] for key, values in fields.items()}
        status, answer = self.stand_in.handle(self.path, self.headers.get("authorization"), form)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def running_twilio(port: int = 0) -> Iterator[TwilioStandIn]:
    """A running Twilio Messages API stand-in on `port` (0: any free one)."""
    with serving(TwilioStandIn(), _Handler, port) as stand_in:
        yield stand_in


@pytest.fixture(name="twilio")
def twilio_fixture() -> Iterator[TwilioStandIn]:
    """A running Twilio Messages API stand-in for one test."""
    with running_twilio() as stand_in:
        yield stand_in
