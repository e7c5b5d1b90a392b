"""`dental backup pitr ...`, `dental backup restore --to-time` and `dental dr pitr-drill`:
PostgreSQL point-in-time recovery with pgBackRest (docs/BACKUP.md, "Point-in-time recovery
(PostgreSQL)").

Run them on the database host (they drive pgBackRest, pg_ctl and psql as the cluster's OS
user, BACKUP_PG_OS_USER when run as root).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from serving.backup.errors import BackupError
from serving.cli.support import fail, operator_settings

pitr_app = typer.Typer(
    help="PostgreSQL point-in-time recovery: continuous WAL archiving and base backups with "
    "pgBackRest, encrypted, to the backup buckets (docs/BACKUP.md).",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)


@pitr_app.command("setup")
def setup() -> None:
    """Write the pgBackRest configuration (BACKUP_PGBACKREST_CONFIG, 0600: it holds the
    passphrase) and print the lines postgresql.conf needs for continuous archiving."""
    from serving.backup.pitr_config import postgresql_conf_lines, write_config

    settings = operator_settings()
    try:
        path = write_config(settings)
        lines = postgresql_conf_lines(settings)
    except BackupError as exc:
        fail(str(exc))
    typer.echo(f"wrote {path}")
    typer.echo("add to postgresql.conf, restart PostgreSQL, then run `dental backup pitr check`:")
    for line in lines:
        typer.echo(f"  {line}")


@pitr_app.command("check")
def check() -> None:
    """Create the stanza (idempotent) and prove a WAL segment reaches every repository."""
    from serving.backup.pitr import check_archiving

    settings = operator_settings()
    try:
        check_archiving(settings)
    except BackupError as exc:
        fail(str(exc))
    typer.echo(f"stanza {settings.backup_pgbackrest_stanza}: WAL archiving works")


@pitr_app.command("base")
def base(
    kind: Annotated[
        str,
        typer.Option(
            "--type",
            help="full, diff, or auto: full when the newest full is a week old, else diff.",
        ),
    ] = "auto",
) -> None:
    """Take a base backup into each repository; old ones expire by the retention (a full
    backup per week of BACKUP_KEEP_DAYS, six differentials on each)."""
    from serving.backup.pitr import base_backup

    if kind not in ("auto", "full", "diff"):
        fail(f"--type must be auto, full or diff, not {kind!r}")
    settings = operator_settings()
    try:
        made = base_backup(settings, kind)  # type: ignore[arg-type]
    except BackupError as exc:
        fail(str(exc))
    for backup in made:
        typer.echo(
            f"repo{backup.repo}: {backup.kind} backup {backup.label} in {backup.seconds:.1f} s"
        )


def restore_to_time(to_time: str, target: Path, port: int | None) -> None:
    """`dental backup restore --to-time`: the cluster as of that moment in the new data
    directory `target`, started on `port` and left running."""
    from serving.backup.pitr import parse_target_time
    from serving.backup.pitr import restore_to_time as restore

    settings = operator_settings()
    try:
        moment = parse_target_time(to_time, settings.timezone)
        result = restore(settings, moment, target, port or free_port())
    except BackupError as exc:
        fail(str(exc))
    typer.echo(f"restored the cluster to {moment.isoformat()} in {result.seconds:.1f} s")
    typer.echo(f"from base backup {result.backup_set}, WAL replayed from the repository")
    restored_to = result.restored_to.isoformat() if result.restored_to else "no commit replayed"
    typer.echo(f"data as of: {restored_to} (the last transaction restored)")
    typer.echo(
        f"running: data {result.data_dir}, port {result.address.port}, "
        f"socket {result.address.socket_dir}"
    )
    for line in result.checks:
        typer.echo(f"  ok: {line}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pitr_drill(
    scratch: Annotated[
        Path, typer.Option(help="Scratch directory; the restored cluster is deleted after.")
    ] = Path("var/dr-drill/pitr"),
    port: Annotated[
        int | None, typer.Option(help="Port of the scratch cluster (default: a free one).")
    ] = None,
    report: Annotated[
        Path,
        typer.Option(help="The report whose 'PostgreSQL point-in-time' section is replaced."),
    ] = Path("var/dr-drill/report.md"),
    base_first: Annotated[
        bool, typer.Option(help="Take a full base backup first (else the newest is used).")
    ] = False,
) -> None:
    """Write rows, note the moment, write more, restore the cluster to that moment into a
    scratch data directory, and check it holds exactly the rows before it; measures RTO and
    RPO (< 1 min). Writes its section of the report; exits 1 when a check or figure fails."""
    from serving.backup.pitr_drill import run_pitr_drill

    settings = operator_settings()
    try:
        result = run_pitr_drill(
            settings,
            scratch=scratch,
            port=port or free_port(),
            base_first=base_first,
            report=report,
        )
    except BackupError as exc:
        fail(str(exc))
    typer.echo(f"RTO {result.rto_seconds:.1f} s (target {result.rto_target_seconds:.0f} s)")
    typer.echo(f"RPO {result.rpo_seconds:.2f} s (target {result.rpo_target_seconds:.0f} s)")
    typer.echo(f"report: {report}")
