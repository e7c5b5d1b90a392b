"""Talk to an app in-process, its lifespan started, as a deployed client would."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

T = TypeVar("T")


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started, and a client talking to it in-process."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://clinic.test") as client,
    ):
        yield client


@dataclass(frozen=True)
class ServedApp:
    url: str
    app: FastAPI
    loop: asyncio.AbstractEventLoop
    """The server thread's loop, where the app's database and streams live."""

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` in the app's own loop (the clinic acting on its own)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)


def listening_socket() -> socket.socket:
    """A socket already bound to a free local port, handed to uvicorn: no race for the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def served_in_thread(
    app: FastAPI, sock: socket.socket | None = None, *, start_seconds: float = 30.0
) -> Iterator[ServedApp]:
    """The app served by uvicorn in a thread with its own loop (a browser or a child process
    needs a real server; the test session's loop is not to be borrowed or closed)."""
    sock = sock or listening_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", log_level="warning")
    )
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn; see the log above")
        time.sleep(0.05)
    try:
        yield ServedApp(f"http://127.0.0.1:{port}", app, loops[0])
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app under uvicorn on a local port (a stream needs a real server), in this loop."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, port=port, log_config=None, access_log=False, lifespan="on", log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                pytest.fail("the app did not start")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
