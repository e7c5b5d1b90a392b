"""PostgreSQL point-in-time recovery with pgBackRest: archiving check, base backups, restore to
a moment.

Continuous WAL archiving (PostgreSQL's archive_command, serving.backup.pitr_config) plus base
backups, full weekly and differential on the other days, let the clinic's cluster be restored
to any moment inside the retention window, not only to the nightly set. A restore always goes
into a NEW data directory with archiving off, is started, waited on until it has replayed to
the target and promoted, checked, and reports the last transaction it holds.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from serving.backup.database import table_names
from serving.backup.errors import BackupError, BackupNotConfigured
from serving.backup.pitr_cluster import (
    ClusterAddress,
    PointInTimeFailed,
    prepare_directory,
    psql,
    run_as_owner,
    start_cluster,
    wait_promoted,
)
from serving.backup.pitr_config import FULL_BACKUP_EVERY_DAYS, config_path
from serving.settings import Settings

BackupKind = Literal["auto", "full", "diff"]
RECOVERY_TIMEOUT_SECONDS = 3600
RESTORE_LOG_NAME = "pitr-restore.log"
_STATUS_OK, _STATUS_NO_BACKUP = 0, 2  # pgBackRest info's stanza status codes
_BACKUP_SET = re.compile(r"repo(\d+): restore backup set (\S+?),")
_LAST_COMMIT = re.compile(r"last completed transaction was at log time (.+)$", re.MULTILINE)
_STOPPED_BEFORE = re.compile(
    r"recovery stopping before (?:commit|abort) of transaction \d+, time (.+)$", re.MULTILINE
)


@dataclass(frozen=True)
class BaseBackup:
    repo: int
    label: str
    kind: str
    seconds: float


@dataclass
class PointInTimeRestore:
    """What a restore to a moment produced, and what it holds."""

    target_time: datetime
    data_dir: Path
    address: ClusterAddress
    backup_set: str
    restored_to: datetime | None
    """The commit time of the last transaction replayed: the data is current as of this."""
    stopped_before: datetime | None
    """The commit time of the first transaction left out, when recovery met one."""
    seconds: float
    checks: list[str] = field(default_factory=list)


def repositories(settings: Settings) -> list[int]:
    """The repository numbers of the rendered configuration (see pitr_config)."""
    if settings.backup_pgbackrest_repo_path is None and settings.backup_secondary_bucket:
        return [1, 2]
    return [1]


def pgbackrest(settings: Settings, *arguments: str, what: str) -> str:
    """Run one pgBackRest command on the clinic's stanza, as the cluster's owner."""
    config = config_path(settings)
    if not config.is_file():
        raise BackupNotConfigured(f"{config} does not exist: run `dental backup pitr setup` first")
    command = [
        "pgbackrest",
        f"--config={config}",
        f"--stanza={settings.backup_pgbackrest_stanza}",
        *arguments,
    ]
    return run_as_owner(settings, command, what=what)


def check_archiving(settings: Settings) -> None:
    """Create the stanza (idempotent), then prove a WAL segment reaches every repository."""
    pgbackrest(settings, "stanza-create", what="pgBackRest stanza-create")
    pgbackrest(settings, "check", what="pgBackRest check (is archive_command set?)")


def backup_info(settings: Settings) -> dict[str, Any]:
    """pgBackRest's `info` of the stanza, as JSON; a repository it cannot read (wrong
    passphrase, no stanza) is an error, one with no backup yet is not."""
    output = pgbackrest(settings, "info", "--output=json", what="pgBackRest info")
    stanzas = json.loads(output, strict=False)
    if not stanzas:
        raise PointInTimeFailed("pgBackRest knows no stanza: run `dental backup pitr check`")
    info = dict(stanzas[0])
    status = info.get("status", {})
    if status.get("code") not in (_STATUS_OK, _STATUS_NO_BACKUP):
        reasons = [
            str(repo.get("status", {}).get("message", "")).splitlines()[0]
            for repo in info.get("repo", [])
            if repo.get("status", {}).get("code")
        ]
        raise PointInTimeFailed(
            f"pgBackRest cannot read the repository of stanza {info.get('name')!r} "
            f"({status.get('message')}: {'; '.join(reasons) or 'no detail'}): a wrong "
            "BACKUP_PGBACKREST_PASSPHRASE, or `dental backup pitr check` never ran"
        )
    return info


def backups_in(info: dict[str, Any], repo: int) -> list[dict[str, Any]]:
    return [b for b in info.get("backup", []) if b.get("database", {}).get("repo-key") == repo]


def choose_kind(backups: list[dict[str, Any]], now: datetime) -> Literal["full", "diff"]:
    """Full when the repository has no full backup younger than a week, else differential.
    Half a day of slack keeps a daily job that runs a little early from skipping a week."""
    fulls = [b["timestamp"]["stop"] for b in backups if b.get("type") == "full"]
    if not fulls:
        return "full"
    age = now - datetime.fromtimestamp(max(fulls), UTC)
    return "full" if age >= timedelta(days=FULL_BACKUP_EVERY_DAYS - 0.5) else "diff"


def base_backup(settings: Settings, kind: BackupKind = "auto") -> list[BaseBackup]:
    """One base backup into each repository (pgBackRest expires old ones by the retention
    in the configuration); returns what was made."""
    made = []
    for repo in repositories(settings):
        chosen = kind
        if kind == "auto":
            chosen = choose_kind(backups_in(backup_info(settings), repo), datetime.now(UTC))
        began = time.monotonic()
        pgbackrest(
            settings,
            "backup",
            f"--repo={repo}",
            f"--type={chosen}",
            what=f"pgBackRest {chosen} backup to repo{repo}",
        )
        newest = backups_in(backup_info(settings), repo)[-1]
        made.append(BaseBackup(repo, newest["label"], newest["type"], time.monotonic() - began))
    return made


def parse_target_time(text: str, timezone: str) -> datetime:
    """An ISO timestamp; without an offset it is the clinic's local time (TIMEZONE)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BackupNotConfigured(
            f"--to-time {text!r} is not an ISO timestamp (e.g. 2026-11-30T14:05:00+02:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    if moment > datetime.now(UTC):
        raise BackupNotConfigured(f"--to-time {text!r} is in the future")
    return moment.astimezone(UTC)


def restore_to_time(
    settings: Settings,
    target_time: datetime,
    data_dir: Path,
    port: int,
    *,
    socket_dir: Path | None = None,
) -> PointInTimeRestore:
    """Restore the cluster as it was at `target_time` into the new `data_dir`, start it on
    `port` (socket in `socket_dir`, default the data directory), wait for it to replay and
    promote, check it. It is left running; archiving is off in it."""
    data_dir = data_dir.resolve()
    prepare_directory(settings, data_dir)
    where = ClusterAddress(port=port, socket_dir=(socket_dir or data_dir).resolve())
    began = time.monotonic()
    try:
        output = pgbackrest(
            settings,
            "--log-level-console=info",
            "restore",
            f"--pg1-path={data_dir}",
            "--type=time",
            f"--target={target_time.isoformat(sep=' ')}",
            "--target-action=promote",
            "--archive-mode=off",
            what=f"pgBackRest restore to {target_time.isoformat()}",
        )
    except BackupError:
        shutil.rmtree(data_dir, ignore_errors=True)  # no partial copy of the clinic's data
        raise
    chosen = _BACKUP_SET.search(output)
    log = data_dir / RESTORE_LOG_NAME
    start_cluster(settings, data_dir, where, log, timeout=RECOVERY_TIMEOUT_SECONDS)
    wait_promoted(settings, data_dir, where, log, timeout=RECOVERY_TIMEOUT_SECONDS)
    text = log.read_text(encoding="utf-8", errors="replace")
    result = PointInTimeRestore(
        target_time=target_time,
        data_dir=data_dir,
        address=where,
        backup_set=f"repo{chosen.group(1)} {chosen.group(2)}" if chosen else "unknown",
        restored_to=_logged_time(_LAST_COMMIT, text),
        stopped_before=_logged_time(_STOPPED_BEFORE, text),
        seconds=time.monotonic() - began,
    )
    result.checks = check_restored(settings, result)
    return result


def _logged_time(pattern: re.Pattern[str], text: str) -> datetime | None:
    found = pattern.findall(text)
    return datetime.fromisoformat(found[-1].strip()).astimezone(UTC) if found else None


def check_restored(settings: Settings, restored: PointInTimeRestore) -> list[str]:
    """The restored cluster accepts writes, holds nothing after the target, and its app
    database (DATABASE_URL's name) answers with a row count per table."""
    where = restored.address
    if restored.restored_to and restored.restored_to > restored.target_time:
        raise PointInTimeFailed(
            f"the restored cluster holds a transaction of {restored.restored_to.isoformat()}, "
            f"after the target {restored.target_time.isoformat()}"
        )
    checks = ["the cluster has left recovery and accepts writes"]
    (timeline,) = psql(
        settings, where, "postgres", "SELECT timeline_id FROM pg_control_checkpoint()"
    )
    checks.append(f"promoted on timeline {timeline}; WAL archiving is off in it")
    database = make_url(settings.database_url).database
    names = psql(settings, where, "postgres", "SELECT datname FROM pg_database")
    if database and database in names:
        present = set(psql(settings, where, database, _PUBLIC_TABLES))
        tables = [name for name in table_names() if name in present]
        counting = [f'SELECT count(*) FROM "{name}"' for name in tables]  # noqa: S608
        rows = psql(settings, where, database, *counting) if counting else []
        counts = [f"{name} {n}" for name, n in zip(tables, rows, strict=True) if n != "0"]
        checks.append(
            f"database {database}: {len(tables)} app tables, rows in "
            + (", ".join(counts) or "none")
        )
    else:
        checks.append(f"the app database {database!r} is not in the restored cluster")
    return checks


_PUBLIC_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
