"""SIGTERM as an orderly exit, so a stopped backup or restore still removes its plaintext.

Python's default for SIGTERM ends the process on the spot: no `finally` block runs, and a
working directory full of patient data stays on disk. `dental backup create` and `restore`
run inside `sigterm_stops_the_run()`, which turns the signal into `Terminated`, an error like
any other, so every cleanup runs on the way out. The Prefect flows need nothing of their own:
Prefect's flow engine already raises `TerminationSignal` on SIGTERM for the same reason.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from serving.backup.errors import BackupError


class Terminated(BackupError):
    """The run was stopped by SIGTERM; its working files were removed on the way out."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated("stopped by SIGTERM; its working files were removed")


def _in_main_thread() -> bool:
    # Python only lets the main thread install signal handlers.
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_stops_the_run() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` in the main thread; the previous handler is
    restored on the way out. Outside the main thread, nothing changes."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def sigterm_deferred() -> Iterator[None]:
    """A cleanup that must finish: a SIGTERM arriving meanwhile is sent again once it is done,
    to whatever handler was in place (ours, Prefect's, or the default)."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if received:
            os.kill(os.getpid(), signal.SIGTERM)
