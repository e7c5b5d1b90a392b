"""Serving an HTTP stand-in (the Bot API's, Twilio's) on 127.0.0.1 from a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol, TypeVar


class StandIn(Protocol):
    host: str
    port: int


S = TypeVar("S", bound=StandIn)


@contextmanager
def serving(stand_in: S, handler: type[BaseHTTPRequestHandler], port: int = 0) -> Iterator[S]:
    """`stand_in` answering on `port` (0: any free one, then set on it) through `handler`,
    a request handler class that reads its `stand_in` attribute."""
    bound = type("Handler", (handler,), {"stand_in": stand_in})
    server = ThreadingHTTPServer((stand_in.host, port), bound)
    server.daemon_threads = True
    stand_in.port = server.server_address[1]
    # A short poll interval: shutdown() waits for the serving loop's next look (0.5 s by default).
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
