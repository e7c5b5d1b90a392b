"""Commands on a PostgreSQL cluster's host, run as the cluster's OS user: pgBackRest, pg_ctl,
psql.

PostgreSQL and pgBackRest refuse to run as root and need the files they make owned by the
cluster's user, so with BACKUP_PG_OS_USER set every command runs through `runuser -u <user>`;
as root without it, nothing runs and the error says what to set. SQL goes through psql over
the Unix socket, so peer authentication as the cluster's owner works as on any database host.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from serving.backup.database import pg_tool
from serving.backup.errors import BackupError, BackupNotConfigured
from serving.settings import Settings

COMMAND_TIMEOUT_SECONDS = 3600
_ERROR_LINE = re.compile(r"^(?:.*\b)?(ERROR|FATAL|PANIC):?\s.*$", re.MULTILINE)


class PointInTimeFailed(BackupError):
    """pgBackRest or the restored cluster failed: archiving, a base backup, or a restore."""


@dataclass(frozen=True)
class ClusterAddress:
    """Where a running cluster answers: its port and Unix socket directory."""

    port: int
    socket_dir: Path


def as_cluster_owner(settings: Settings, command: list[str]) -> list[str]:
    """`command`, run as BACKUP_PG_OS_USER when that is not who we are."""
    user = settings.backup_pg_os_user
    if user and user != getpass.getuser():
        return ["runuser", "-u", user, "--", *command]
    if os.geteuid() == 0:
        raise BackupNotConfigured(
            "PostgreSQL and pgBackRest refuse to run as root: set BACKUP_PG_OS_USER to the "
            "cluster's OS user (usually postgres), or run the command as that user"
        )
    return command


def run_as_owner(
    settings: Settings, command: list[str], *, what: str, timeout: float = COMMAND_TIMEOUT_SECONDS
) -> str:
    """Run `command` as the cluster's owner; its standard output, or `PointInTimeFailed`
    naming `what` and the tool's own error line."""
    try:
        result = subprocess.run(  # noqa: S603
            as_cluster_owner(settings, command),
            capture_output=True,
            encoding="utf-8",
            errors="replace",  # pgBackRest quotes undecryptable bytes when the key is wrong
            timeout=timeout,
            check=False,
            cwd="/",  # the cluster's owner may not be allowed into our working directory
        )
    except subprocess.TimeoutExpired:
        raise PointInTimeFailed(f"{what} did not finish within {timeout:.0f} s") from None
    except FileNotFoundError as exc:
        raise PointInTimeFailed(f"{what}: {exc.filename} is not installed") from None
    if result.returncode != 0:
        raise PointInTimeFailed(f"{what} failed: {last_error(result.stderr + result.stdout)}")
    return result.stdout


def last_error(output: str) -> str:
    """The tool's last ERROR/FATAL line, else its last line."""
    lines = [match.group(0).strip() for match in _ERROR_LINE.finditer(output)]
    if lines:
        return lines[-1]
    tail = output.strip().splitlines()
    return tail[-1] if tail else "no output"


def prepare_directory(settings: Settings, path: Path) -> None:
    """A new, empty 0700 directory owned by the cluster's user (refused if it holds files)."""
    if path.exists() and any(path.iterdir()):
        raise PointInTimeFailed(f"{path} is not empty: restore into a new directory")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    if settings.backup_pg_os_user:
        shutil.chown(path, user=settings.backup_pg_os_user)


def psql(settings: Settings, where: ClusterAddress, database: str, *statements: str) -> list[str]:
    """Run each statement in its own transaction; the result rows, fields joined by `|`."""
    command = [
        pg_tool("psql"),
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        str(where.socket_dir),
        "-p",
        str(where.port),
        "-d",
        database,
    ]
    for statement in statements:
        command += ["-c", statement]
    output = run_as_owner(settings, command, what=f"SQL on port {where.port}", timeout=300)
    return [line for line in output.splitlines() if line]


def start_cluster(
    settings: Settings, data_dir: Path, where: ClusterAddress, log: Path, *, timeout: float
) -> None:
    """Start the cluster in `data_dir` on `where`, waiting until it accepts connections."""
    options = f"-p {where.port} -k {where.socket_dir}"
    command = [pg_tool("pg_ctl"), "-D", str(data_dir), "-l", str(log), "-o", options]
    try:
        run_as_owner(
            settings,
            [*command, "-w", "-t", str(int(timeout)), "start"],
            what="starting PostgreSQL",
            timeout=timeout + 30,
        )
    except PointInTimeFailed as error:
        raise PointInTimeFailed(f"{error}; server log: {server_log_error(log)}") from None


def stop_cluster(settings: Settings, data_dir: Path) -> None:
    """Stop the cluster in `data_dir` (fast shutdown), if it runs."""
    if not (data_dir / "postmaster.pid").exists():
        return
    run_as_owner(
        settings,
        [pg_tool("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "60", "stop"],
        what="stopping PostgreSQL",
        timeout=90,
    )


def wait_promoted(
    settings: Settings, data_dir: Path, where: ClusterAddress, log: Path, *, timeout: float
) -> None:
    """Wait until recovery has ended and the cluster accepts writes; a server that stops
    instead (e.g. its target lies beyond the archived WAL) fails with its log's reason."""
    deadline = time.monotonic() + timeout
    while True:
        if not (data_dir / "postmaster.pid").exists():
            raise PointInTimeFailed(f"the restored cluster stopped: {server_log_error(log)}")
        try:
            if psql(settings, where, "postgres", "SELECT pg_is_in_recovery()") == ["f"]:
                return
        except PointInTimeFailed:
            pass  # shutting down after a failed recovery, or not yet answering
        if time.monotonic() > deadline:
            raise PointInTimeFailed(f"recovery did not end within {timeout:.0f} s")
        time.sleep(0.2)


def server_log_error(log: Path) -> str:
    try:
        return last_error(log.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return "no server log"
