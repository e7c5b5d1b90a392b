"""Private working directories for plaintext: a set being collected, a set being restored.

A working directory is mode 0700, and while it is open the process umask is 077, so every file
a step writes in it (SQLite's backup copy, `pg_dump`'s output, the JSONL exports, the tars,
the decrypted parts of a restore) is created 0600, and a child process (git, pg_dump) inherits
the same umask. It is removed on every exit the process lives through: an error, Ctrl-C,
SIGTERM (`serving.backup.termination`). Nothing runs on `kill -9` or a power cut: the
directory then stays, still private, and the next run purges it before it starts.

Each directory holds a marker file, locked (`flock`) by the process that owns it for as long
as it runs; the kernel drops the lock when that process dies, however it dies. A directory is
stale, and purged, when it carries the marker and nobody holds its lock, so a purge never
touches a run in progress (a second backup started meanwhile) nor anything this tool did not
make.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from serving.backup.termination import sigterm_deferred

logger = logging.getLogger(__name__)

MARKER = ".dental-backup-work"
"""Names a directory as this tool's working directory; locked by its owner while it runs."""
PRIVATE_UMASK = 0o077


@dataclass
class WorkDir:
    """An open working directory: `path`, locked by this process until `remove()`."""

    path: Path
    _lock_fd: int
    _previous_umask: int

    def seal(self) -> None:
        """Every file in the directory 0600 and every directory 0700, whatever mode the tool
        that wrote it chose (the umask covers tools that respect it)."""
        for directory, subdirectories, files in os.walk(self.path):
            for name in subdirectories:
                Path(directory, name).chmod(0o700)
            for name in files:
                Path(directory, name).chmod(0o600)

    def remove(self) -> None:
        """Delete the directory and everything in it, release its lock, restore the umask.

        A SIGTERM arriving meanwhile is delivered once this is done, so the deletion is never
        cut short.
        """
        with sigterm_deferred():
            try:
                shutil.rmtree(self.path, ignore_errors=True)
            finally:
                os.close(self._lock_fd)
                os.umask(self._previous_umask)


def open_work_dir(parent: Path, name: str) -> WorkDir:
    """Make `parent/name`: 0700, marked and locked, with the umask at 077 until
    `WorkDir.remove()`. Callers `purge_stale(parent)` first, when their run starts."""
    previous_umask = os.umask(PRIVATE_UMASK)
    try:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = parent / name
        path.mkdir(mode=0o700)
        path.chmod(0o700)  # mkdir's mode is filtered by a umask set before ours
        lock_fd = os.open(path / MARKER, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
    except BaseException:
        os.umask(previous_umask)
        raise
    return WorkDir(path, lock_fd, previous_umask)


def purge_stale(parent: Path, prefix: str = "") -> list[Path]:
    """Delete the working directories under `parent` (names starting with `prefix`) left by a
    run that died; returns them. Directories without the marker are never touched, nor those
    whose marker is still locked by a live run."""
    if not parent.is_dir():
        return []
    purged = []
    for path in sorted(parent.iterdir()):
        if not path.name.startswith(prefix) or path.is_symlink() or not path.is_dir():
            continue
        if _is_stale(path / MARKER):
            shutil.rmtree(path, ignore_errors=True)
            purged.append(path)
            logger.warning("removed the working directory %s left by an interrupted run", path)
    return purged


def _is_stale(marker: Path) -> bool:
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # no marker (not ours), or not readable by us (another user's)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live run holds it
    finally:
        os.close(fd)  # also releases the lock just taken
    return True
