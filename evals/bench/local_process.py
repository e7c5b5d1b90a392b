"""Servers a benchmark starts on this machine as child processes: a free port, the process with
its output in a log file, the wait until it answers, and a stop that cannot hang."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx


class ProcessDidNotStart(RuntimeError):
    """The process exited or did not answer in time; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def child_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Path,
    cwd: Path | None = None,
    niceness: int = 0,
    stop_seconds: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` running with stdout and stderr in `log` (at `niceness`, lower priority when
    above 0); on exit terminated, and killed if it has not stopped after `stop_seconds`."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=partial(os.nice, niceness) if niceness else None,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def wait_until_answering(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    name: str,
    log: Path,
    seconds: float,
    ready: Callable[[httpx.Response], bool] = lambda _response: True,
    interval: float = 0.2,
) -> None:
    """Return once GET `url` gets an answer `ready` accepts (any answer by default); raise
    ProcessDidNotStart if the process exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise ProcessDidNotStart(f"{name} exited with {process.returncode}:\n{tail}")
        try:
            if ready(httpx.get(url, timeout=2)):
                return
        except httpx.TransportError:
            pass
        time.sleep(interval)
    raise ProcessDidNotStart(f"{name} did not answer {url} in {seconds:g}s")
