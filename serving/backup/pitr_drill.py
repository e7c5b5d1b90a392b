"""The PostgreSQL point-in-time drill: write, note the moment, write more, restore to that
moment, and prove the restored cluster holds exactly what was written before it.

It writes into its own database on the clinic's cluster (`dental_pitr_drill`, archived with
the same WAL as the clinic's data, which it never touches), forces the WAL segment out to the
repository, restores the whole cluster to the noted moment into a scratch data directory on a
free port, compares, stops the scratch cluster and deletes it (it holds the clinic's data).

RTO: from the start of the restore until the restored cluster has replayed, promoted and
passed its checks. RPO: the noted moment minus the commit time of the last transaction the
restore holds, which must stay under a minute.
"""

from __future__ import annotations

import platform
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from serving.backup.errors import DrillFailed
from serving.backup.pitr import backup_info, base_backup, restore_to_time
from serving.backup.pitr_cluster import ClusterAddress, PointInTimeFailed, psql, stop_cluster
from serving.backup.pitr_config import cluster_port
from serving.backup.pitr_report import render_section, write_section
from serving.settings import Settings

DRILL_DATABASE = "dental_pitr_drill"
RPO_TARGET_SECONDS = 60.0
ARCHIVE_TIMEOUT_SECONDS = 120.0
_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS drill_rows (id bigserial PRIMARY KEY, run text NOT NULL, "
    "phase text NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
)


@dataclass
class PitrDrillResult:
    ran_at: str
    target_time: datetime
    restored_to: datetime | None
    stopped_before: datetime | None
    backup_set: str
    rows_before: int
    rows_after: int
    rows_restored: int
    rows_match: bool
    rto_seconds: float
    rpo_seconds: float
    rto_target_seconds: float
    archive_wait_seconds: float
    repository: str
    environment: str
    checks: list[str] = field(default_factory=list)
    rpo_target_seconds: float = RPO_TARGET_SECONDS

    @property
    def failures(self) -> list[str]:
        found = []
        if not self.rows_match:
            found.append(
                f"the restore holds {self.rows_restored} drill rows, not exactly the "
                f"{self.rows_before} written before the target"
            )
        if self.rto_seconds > self.rto_target_seconds:
            found.append(f"RTO {self.rto_seconds:.0f} s is over {self.rto_target_seconds:.0f} s")
        if self.rpo_seconds > self.rpo_target_seconds:
            found.append(f"RPO {self.rpo_seconds:.1f} s is over {self.rpo_target_seconds:.0f} s")
        return found


def run_pitr_drill(
    settings: Settings,
    *,
    scratch: Path,
    port: int,
    rows: int = 5,
    pause_seconds: float = 1.0,
    base_first: bool = False,
    report: Path | None = None,
) -> PitrDrillResult:
    """Run the drill against the cluster of DATABASE_URL / BACKUP_PG_*; the scratch cluster
    goes to `scratch`/data on `port`. Writes its section into `report` (when given), then
    raises `DrillFailed` when the rows differ or a figure is over target."""
    source = ClusterAddress(port=cluster_port(settings), socket_dir=settings.backup_pg_socket_dir)
    ran_at = datetime.now(UTC)
    try:
        if base_first:
            base_backup(settings, "full")
        if not backup_info(settings).get("backup"):
            raise DrillFailed("no base backup yet: run `dental backup pitr base` first")
        _prepare_drill_database(settings, source)
        run = secrets.token_hex(6)
        before = _write_rows(settings, source, run, "before", rows)
        time.sleep(pause_seconds)
        (marked,) = psql(settings, source, DRILL_DATABASE, "SELECT clock_timestamp()")
        target = datetime.fromisoformat(marked).astimezone(UTC)
        time.sleep(pause_seconds)
        after = _write_rows(settings, source, run, "after", rows)
        archive_wait = _archive_current_segment(settings, source)
        data = scratch.resolve() / "data"
        _discard(settings, data)
        try:
            restored = restore_to_time(settings, target, data, port)
            kept = psql(
                settings,
                restored.address,
                DRILL_DATABASE,
                f"SELECT id FROM drill_rows WHERE run = '{run}' ORDER BY id",  # noqa: S608
            )
        finally:
            _discard(settings, data)
    except PointInTimeFailed as error:
        raise DrillFailed(f"point-in-time drill: {error}") from None
    result = PitrDrillResult(
        ran_at=ran_at.isoformat(timespec="seconds"),
        target_time=target,
        restored_to=restored.restored_to,
        stopped_before=restored.stopped_before,
        backup_set=restored.backup_set,
        rows_before=len(before),
        rows_after=len(after),
        rows_restored=len(kept),
        rows_match=kept == before,
        rto_seconds=restored.seconds,
        rpo_seconds=(
            (target - restored.restored_to).total_seconds()
            if restored.restored_to
            else float("inf")
        ),
        rto_target_seconds=settings.backup_rto_target_minutes * 60,
        archive_wait_seconds=archive_wait,
        repository=_describe_repository(settings),
        environment=_describe_host(settings, source),
        checks=restored.checks,
    )
    if report is not None:
        write_section(report, render_section(result))
    if result.failures:
        raise DrillFailed("; ".join(result.failures))
    return result


def _prepare_drill_database(settings: Settings, source: ClusterAddress) -> None:
    exists = psql(
        settings,
        source,
        "postgres",
        f"SELECT 1 FROM pg_database WHERE datname = '{DRILL_DATABASE}'",  # noqa: S608
    )
    if not exists:
        psql(settings, source, "postgres", f'CREATE DATABASE "{DRILL_DATABASE}"')
    psql(settings, source, DRILL_DATABASE, _CREATE_TABLE)


def _write_rows(
    settings: Settings, source: ClusterAddress, run: str, phase: str, count: int
) -> list[str]:
    """`count` rows, each committed in its own transaction; their ids."""
    insert = f"INSERT INTO drill_rows (run, phase) VALUES ('{run}', '{phase}')"  # noqa: S608
    psql(settings, source, DRILL_DATABASE, *([insert] * count))
    return psql(
        settings,
        source,
        DRILL_DATABASE,
        f"SELECT id FROM drill_rows WHERE run = '{run}' AND phase = '{phase}' ORDER BY id",  # noqa: S608
    )


def _archive_current_segment(settings: Settings, source: ClusterAddress) -> float:
    """Close the WAL segment holding the writes and wait until archive_command has pushed it;
    the seconds waited."""
    began = time.monotonic()
    (segment,) = psql(settings, source, "postgres", "SELECT pg_walfile_name(pg_switch_wal())")
    while True:
        (archived,) = psql(
            settings,
            source,
            "postgres",
            "SELECT coalesce(last_archived_wal, '') || '|' || failed_count::text "
            "|| '|' || coalesce(last_failed_wal, '') FROM pg_stat_archiver",
        )
        last, failed, last_failed = archived.split("|")
        if last >= segment:
            return time.monotonic() - began
        if time.monotonic() - began > ARCHIVE_TIMEOUT_SECONDS:
            raise DrillFailed(
                f"WAL segment {segment} was not archived within {ARCHIVE_TIMEOUT_SECONDS:.0f} s "
                f"({failed} failed attempts, last on {last_failed or 'none'}): check "
                "archive_command and `dental backup pitr check`"
            )
        time.sleep(0.2)


def _discard(settings: Settings, data: Path) -> None:
    """Stop a scratch cluster and delete its directory (it holds a copy of patient data)."""
    if data.exists():
        stop_cluster(settings, data)
        shutil.rmtree(data)


def _describe_repository(settings: Settings) -> str:
    if settings.backup_pgbackrest_repo_path is not None:
        return f"local repository {settings.backup_pgbackrest_repo_path}, aes-256-cbc"
    copies = [b for b in (settings.backup_bucket, settings.backup_secondary_bucket) if b]
    return "S3 " + " and ".join(copies) + ", aes-256-cbc"


def _describe_host(settings: Settings, source: ClusterAddress) -> str:
    (version,) = psql(settings, source, "postgres", "SHOW server_version")
    return (
        f"host {platform.node()} ({platform.machine()}), PostgreSQL {version}, "
        f"pgBackRest {_pgbackrest_version()}"
    )


def _pgbackrest_version() -> str:
    result = subprocess.run(
        ["pgbackrest", "version"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.stdout.strip().removeprefix("pgBackRest ") or "unknown"
