"""A local stand-in for an OpenAI-compatible LLM server (OpenAI, Ollama, vLLM): a real HTTP server.

It speaks the Chat Completions wire protocol on 127.0.0.1 and a free port, so the production
client (`langchain_openai.ChatOpenAI` over the `openai` SDK) runs unpatched: headers, JSON
encoding, tool-call parsing, usage, status-code errors, retries and timeouts all happen.

- `POST /v1/chat/completions`: answers with the next scripted reply, as one JSON body, or as
  server-sent events when the request asks for `"stream": true`.
- `POST /v1/embeddings`: deterministic vectors for text input (`stand_in_embedding`), as
  float lists or base64 (the `openai` SDK asks for base64 unless told otherwise).
- `GET /v1/models`: lists the one model the stand-in pretends to be.

Script it before the call: `reply_text(...)`, `reply_tool_calls([...])`, `fail(status)`,
`hang(seconds)`; each queued item answers one request, in order. For callers that send many
structured prompts (an evaluation judge), `respond_with(rule)` answers every chat request that
finds the queue empty with `rule(request)`. Every request is recorded in `.requests` (headers
and parsed JSON body) for assertions. A chat request that arrives with nothing queued and no
rule gets HTTP 500 and is counted in `.unscripted`; the fixture then fails the test, because a
silent error would let a fallback hide a test that forgot to script the model.

Import the fixture into a test module to use it (registered as `llm_stand_in`, so a test's
parameter does not shadow the imported function):

    from tests.llm_stand_in import LlmStandIn, llm_stand_in_fixture  # noqa: F401
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

STAND_IN_MODEL = "stand-in-model"
EMBEDDING_DIMENSIONS = 64
_WORD = re.compile(r"\w+")


def stand_in_embedding(text: str) -> list[float]:
    """The vector `/v1/embeddings` returns for `text`: its lower-cased words hashed into
    `EMBEDDING_DIMENSIONS` buckets (a bag of words), unit length. Texts with the same words
    get the same vector; the cosine of two texts grows with the words they share. A text
    without words gets a fixed vector, so a cosine is always defined."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "big") % EMBEDDING_DIMENSIONS] += 1.0
    if not any(vector):
        vector[0] = 1.0
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector]


@dataclass(frozen=True)
class ToolCall:
    """One tool call the stand-in's assistant makes: the tool's name and its JSON arguments."""

    name: str
    arguments: Mapping[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it. Header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of a chat-completions request (empty for other requests)."""
        return list((self.body or {}).get("messages", []))

    @property
    def raw_text(self) -> str:
        """The body as JSON text with non-ASCII kept, for "does X appear anywhere" assertions."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass(frozen=True)
class _Reply:
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class _Failure:
    status: int
    message: str
    retry_after: float | None


@dataclass(frozen=True)
class _Hang:
    seconds: float


_Scripted = _Reply | _Failure | _Hang


@dataclass
class LlmStandIn:
    """The running server: its base URL (with `/v1`), what it received and what it will answer."""

    url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    unscripted: int = 0
    _queue: deque[_Scripted] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _call_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _rule: Callable[[RecordedRequest], str] | None = field(default=None, repr=False)

    def reply_text(self, text: str, *, prompt_tokens: int = 25, completion_tokens: int = 7) -> None:
        """Answer the next chat request with an assistant message holding `text`."""
        self._push(_Reply(text, (), prompt_tokens, completion_tokens))

    def reply_tool_calls(
        self,
        calls: Sequence[ToolCall | tuple[str, Mapping[str, Any]]],
        *,
        content: str | None = None,
        prompt_tokens: int = 40,
        completion_tokens: int = 12,
    ) -> None:
        """Answer the next chat request with tool calls, given as `ToolCall`s or (name, args)."""
        normalized = tuple(
            call if isinstance(call, ToolCall) else ToolCall(name=call[0], arguments=call[1])
            for call in calls
        )
        self._push(_Reply(content, normalized, prompt_tokens, completion_tokens))

    def fail(
        self,
        status: int = 500,
        *,
        message: str = "stand-in failure",
        retry_after: float | None = None,
    ) -> None:
        """Answer the next chat request with an OpenAI-style error body and `status`.

        `retry_after` (seconds) adds a `Retry-After` header, as servers do with 429 and 503.
        """
        self._push(_Failure(status, message, retry_after))

    def hang(self, seconds: float) -> None:
        """Hold the next chat request for `seconds`, then close the connection without a reply.

        Longer than the client's timeout, this is an upstream that stopped answering.
        """
        self._push(_Hang(seconds))

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def respond_with(self, rule: Callable[[RecordedRequest], str] | None) -> None:
        """Answer every chat request that finds the queue empty with an assistant message
        holding `rule(request)` (None: back to "unscripted"). An exception in `rule` becomes
        HTTP 500 and is counted in `.unscripted`, so the fixture fails the test."""
        with self._lock:
            self._rule = rule

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/embeddings")]

    def _push(self, item: _Scripted) -> None:
        with self._lock:
            self._queue.append(item)

    def _next(self, request: RecordedRequest) -> _Scripted | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            rule = self._rule
        return None if rule is None else _Reply(rule(request), (), 25, 7)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_call_id(self) -> str:
        with self._lock:
            return f"call_standin_{next(self._call_ids)}"


class _Handler(BaseHTTPRequestHandler):
    """One connection per request (HTTP/1.0), so stopping the server leaves no idle sockets."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests inspect `.requests`, and stderr noise hides real failures."""

    def do_GET(self) -> None:
        stand_in = self.server.stand_in
        stand_in._record(RecordedRequest("GET", self.path, self._headers(), None))
        if self.path.rstrip("/") == "/v1/models":
            models = {
                "object": "list",
                "data": [
                    {"id": STAND_IN_MODEL, "object": "model", "created": 0, "owned_by": "tests"}
                ],
            }
            self._send_json(200, models)
        else:
            self._send_error(404, f"no route {self.path}", None)

    def do_POST(self) -> None:
        stand_in = self.server.stand_in
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = {"_unparseable": raw.decode("utf-8", "replace")}
        request = RecordedRequest("POST", self.path, self._headers(), body)
        stand_in._record(request)
        if self.path.rstrip("/") == "/v1/embeddings":
            self._send_embeddings(body or {})
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(404, f"no route {self.path}", None)
            return
        try:
            scripted = stand_in._next(request)
        except Exception:  # a test's rule failed: report it like an unscripted request
            scripted = None
        if scripted is None:
            with stand_in._lock:
                stand_in.unscripted += 1
            self._send_error(500, "llm stand-in: no reply scripted for this request", None)
        elif isinstance(scripted, _Failure):
            self._send_error(scripted.status, scripted.message, scripted.retry_after)
        elif isinstance(scripted, _Hang):
            stand_in._stopping.wait(scripted.seconds)
            self.close_connection = True
        else:
            model = str((body or {}).get("model") or STAND_IN_MODEL)
            if (body or {}).get("stream"):
                self._send_stream(scripted, model)
            else:
                choices = int((body or {}).get("n") or 1)
                self._send_json(200, self._completion(scripted, model, choices))

    def _headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def _completion(self, reply: _Reply, model: str, choices: int = 1) -> dict[str, Any]:
        """The reply as a completion; `choices` copies of it when the request asked for `n`."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [self._tool_call(call) for call in reply.tool_calls]
        return {
            "id": f"chatcmpl-standin-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": index,
                    "message": message,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                    "logprobs": None,
                }
                for index in range(choices)
            ],
            "usage": _usage(reply),
        }

    def _send_embeddings(self, body: Mapping[str, Any]) -> None:
        """`stand_in_embedding` of each input text; token-id input is refused (400)."""
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self._send_error(400, "llm stand-in: embeddings input must be text", None)
            return
        base64_encoded = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = stand_in_embedding(text)
            embedding: list[float] | str = vector
            if base64_encoded:
                packed = struct.pack(f"<{len(vector)}f", *vector)
                embedding = base64.b64encode(packed).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        words = sum(len(_WORD.findall(text)) for text in texts)
        usage = {"prompt_tokens": words, "total_tokens": words}
        model = str(body.get("model") or STAND_IN_MODEL)
        self._send_json(200, {"object": "list", "data": data, "model": model, "usage": usage})

    def _tool_call(self, call: ToolCall) -> dict[str, Any]:
        return {
            "id": call.id or self.server.stand_in._next_call_id(),
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": json.dumps(dict(call.arguments), ensure_ascii=False),
            },
        }

    def _send_stream(self, reply: _Reply, model: str) -> None:
        """The same reply as server-sent events: role, content, tool calls, finish, usage."""
        base = {
            "id": f"chatcmpl-standin-{time.monotonic_ns()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        if reply.content:
            deltas.append({"content": reply.content})
        for index, call in enumerate(reply.tool_calls):
            deltas.append({"tool_calls": [{"index": index, **self._tool_call(call)}]})
        chunks = [
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            for delta in deltas
        ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        chunks.append({**base, "choices": [], "usage": _usage(reply)})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _send_error(self, status: int, message: str, retry_after: float | None) -> None:
        body = {"error": {"message": message, "type": "stand_in_error", "code": str(status)}}
        extra = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self._send_json(status, body, extra)

    def _send_json(
        self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _usage(reply: _Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stand_in_factory: type[LlmStandIn]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        host, port = self.server_address[:2]
        self.stand_in = stand_in_factory(url=f"http://{host!s}:{port}/v1")

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) closes its socket; that is expected here, not news."""


@contextmanager
def running_llm_stand_in() -> Iterator[LlmStandIn]:
    """Run a stand-in server for the duration of the block (the fixture uses this)."""
    server = _Server(LlmStandIn)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.stand_in
    finally:
        server.stand_in._stopping.set()  # releases hung requests
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(name="llm_stand_in")
def llm_stand_in_fixture() -> Iterator[LlmStandIn]:
    """A fresh OpenAI-compatible server for one test; fails the test on unscripted requests."""
    with running_llm_stand_in() as stand_in:
        yield stand_in
    if stand_in.unscripted:
        pytest.fail(
            f"the LLM stand-in received {stand_in.unscripted} chat request(s) with no reply "
            "scripted; queue one with reply_text / reply_tool_calls / fail / hang",
            pytrace=False,
        )
