"""A local stand-in for the Telegram Bot API: a real HTTP server on 127.0.0.1 and a free port.

python-telegram-bot is pointed at it with `TELEGRAM_API_BASE_URL=<stand_in.base_url>`, so the
production client runs unpatched: form and multipart encoding, JSON parsing, error mapping
(429 with `parameters.retry_after`, 5xx) and timeouts all happen for real.

Implemented methods: getMe, sendMessage, sendPhoto (multipart upload answered with a new
file_id; later sends by that file_id), sendVenue, sendChatAction, answerCallbackQuery,
editMessageText, editMessageReplyMarkup, leaveChat, setMyCommands, setWebhook,
deleteWebhook, getUpdates (serves `queue_update(...)` payloads by offset).

Every call is recorded in `.calls` (method and decoded parameters). `fail(method, status,
retry_after=..., times=...)` makes the next calls of a method fail. A wrong token gets 401.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.http_stand_in import serving

TOKEN = "123456:stand-in-token-AAAA"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Alex", "username": "clinic_test_bot"}


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    uploaded: tuple[str, ...] = ()
    """Names of the multipart fields that carried a file."""
    result: Any = None
    """What the stand-in answered (None for a failure it was told to answer)."""

    @property
    def message_id(self) -> int | None:
        return self.result.get("message_id") if isinstance(self.result, dict) else None

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of the inline keyboard, in order."""
        markup = self.params.get("reply_markup") or {}
        return [
            (button["text"], button["callback_data"])
            for row in markup.get("inline_keyboard", [])
            for button in row
        ]

    @property
    def asks_for_contact(self) -> bool:
        markup = self.params.get("reply_markup") or {}
        return any(
            button.get("request_contact") for row in markup.get("keyboard", []) for button in row
        )


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    times: int


@dataclass
class BotApiStandIn:
    host: str = "127.0.0.1"
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _files: set[str] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    def fail(
        self, method: str, status: int, *, retry_after: int | None = None, times: int = 1
    ) -> None:
        with self._lock:
            self._failures[method] = _Failure(status, retry_after, times)

    def queue_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self.updates.append(update)

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        with self._lock:
            return [
                call
                for call in self.calls
                if (method is None or call.method == method)
                and (chat_id is None or call.chat_id == chat_id)
            ]

    def messages_to(self, chat_id: int) -> list[Call]:
        return self.sent("sendMessage", chat_id)

    # --- the server side ---------------------------------------------------------------

    def handle(
        self, token: str, method: str, params: dict[str, Any], files: tuple[str, ...]
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if token != TOKEN:
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            failure = self._failures.get(method)
            if failure is not None:
                self.calls.append(Call(method, params, files))
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[method]
                body: dict[str, Any] = {
                    "ok": False,
                    "error_code": failure.status,
                    "description": "Too Many Requests" if failure.status == 429 else "Internal",
                }
                if failure.retry_after is not None:
                    body["parameters"] = {"retry_after": failure.retry_after}
                return failure.status, body
            try:
                result = self._result(method, params, files)
            finally:
                self.calls.append(Call(method, params, files))
            self.calls[-1] = Call(method, params, files, result)
            return 200, {"ok": True, "result": result}

    def _result(self, method: str, params: dict[str, Any], files: tuple[str, ...]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            return list(self.updates)
        if method in {"sendMessage", "sendVenue", "sendPhoto", "editMessageText"}:
            message: dict[str, Any] = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
            }
            if method == "sendMessage":
                message["text"] = params["text"]
            if method == "sendVenue":
                message["venue"] = {
                    "location": {
                        "latitude": float(params["latitude"]),
                        "longitude": float(params["longitude"]),
                    },
                    "title": params["title"],
                    "address": params["address"],
                }
            if method == "sendPhoto":
                if "photo" in files:
                    file_id = f"photo-file-{next(self._ids)}"
                    self._files.add(file_id)
                else:
                    file_id = str(params["photo"])
                    if file_id not in self._files:
                        raise _BadRequest("wrong file identifier")
                message["photo"] = [
                    {"file_id": file_id, "file_unique_id": file_id, "width": 1080, "height": 900}
                ]
            return message
        return True


class _BadRequest(Exception):
    pass


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


class _Handler(BaseHTTPRequestHandler):
    stand_in: BotApiStandIn

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self._serve(self.rfile.read(length))

    def _serve(self, body: bytes) -> None:
        _, _, rest = self.path.partition("/bot")
        token, _, method = rest.partition("/")
        params, files = self._params(body)
        try:
            status, answer = self.stand_in.handle(token, method.split("?")[0], params, files)
        except _BadRequest as error:
            status, answer = 400, {"ok": False, "error_code": 400, "description": str(error)}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _params(self, body: bytes) -> tuple[dict[str, Any], tuple[str, ...]]:
        content_type = self.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + body
            )
            params: dict[str, Any] = {}
            files: list[str] = []
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    files.append(str(name))
                    params[str(name)] = "<file>"
                else:
                    params[str(name)] = _decode(part.get_content().strip())
            return params, tuple(files)
        if content_type.startswith("application/json"):
            return (json.loads(body) if body else {}), ()
        fields = parse_qs(body.decode(), keep_blank_values=True)
        return {key: _decode(values[0]) for key, values in fields.items()}, ()


@contextmanager
def running_bot_api(port: int = 0) -> Iterator[BotApiStandIn]:
    """A running Bot API stand-in on `port` (0: any free one)."""
    with serving(BotApiStandIn(), _Handler, port) as stand_in:
        yield stand_in


@pytest.fixture(name="bot_api")
def bot_api_fixture() -> Iterator[BotApiStandIn]:
    """A running Bot API stand-in for one test."""
    with running_bot_api() as stand_in:
        yield stand_in
