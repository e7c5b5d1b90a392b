"""`dental backup ...` and `dental dr drill`: the operator's commands for backups and recovery.

They call `serving.backup` directly rather than through Prefect, so a restore works on a new
laptop with nothing but the package, the bucket and the key (the Prefect server may be lost in
the same disaster). The scheduled flows run the same code. Options and variables:
docs/BACKUP.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from serving.backup.errors import BackupError
from serving.cli.backup_pitr import pitr_app, pitr_drill, restore_to_time
from serving.cli.support import fail, operator_settings

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "RECOVERY_RUNBOOK.md"
DRILL_REPORT = Path(__file__).resolve().parents[2] / "docs" / "DR_DRILL_REPORT.md"
LOCAL_DRILL_REPORT = Path("var/dr-drill/report.md")
"""Where a drill writes its report unless asked to update the tracked docs/DR_DRILL_REPORT.md."""

backup_app = typer.Typer(
    help="Encrypted, verified, replicated backup sets in S3, and their restore "
    "(docs/BACKUP.md, docs/RECOVERY_RUNBOOK.md).",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)
dr_app = typer.Typer(
    help="Disaster recovery: the timed drill (docs/RTO_RPO_DEFINITION.md).",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)
backup_app.add_typer(pitr_app, name="pitr")
dr_app.command("pitr-drill")(pitr_drill)


def _progress(message: str) -> None:
    typer.echo(message, err=True)


@backup_app.command("init")
def init() -> None:
    """Create BACKUP_BUCKET and BACKUP_SECONDARY_BUCKET if missing and configure both:
    versioning, default encryption (SSE-KMS with BACKUP_KMS_KEY_ID /
    BACKUP_SECONDARY_KMS_KEY_ID, else AES256), public access blocked, a lifecycle rule for
    pruned sets. Safe to run again."""
    from serving.backup.bucket_setup import init_buckets

    settings = operator_settings()
    try:
        lines = init_buckets(settings)
    except BackupError as exc:
        fail(str(exc))
    for line in lines:
        typer.echo(line)


@backup_app.command("create")
def create(
    dvc: Annotated[
        bool, typer.Option("--dvc/--no-dvc", help="Also `dvc push` data/ to the backup buckets.")
    ] = True,
    database: Annotated[
        bool,
        typer.Option(
            "--database/--no-database",
            help="Snapshot DATABASE_URL (off for a CI job that has no app database: the set "
            "is then code only, kept under <BACKUP_PREFIX>/code, never a restore point).",
        ),
    ] = True,
) -> None:
    """Make one backup set: git bundle, database snapshot, conversations as JSONL, session
    exports, MLflow store; encrypt to BACKUP_AGE_RECIPIENTS, upload to BACKUP_BUCKET, verify,
    copy to BACKUP_SECONDARY_BUCKET, verify. Prints the set id."""
    from serving.backup.create import create_backup
    from serving.backup.termination import sigterm_stops_the_run

    settings = operator_settings()
    logging.basicConfig(level=logging.WARNING)
    try:
        with sigterm_stops_the_run():  # a stopped run removes its plaintext on the way out
            manifest = create_backup(settings, dvc=dvc, database=database, progress=_progress)
    except BackupError as exc:
        fail(str(exc))
    for part in manifest.parts:
        _progress(f"  {part.name}: {part.size} bytes, sha256 {part.sha256[:16]}...")
    for name, why in manifest.skipped.items():
        _progress(f"  skipped {name}: {why}")
    typer.echo(manifest.set_id)


@backup_app.command("list")
def list_sets(
    all_sets: Annotated[
        bool,
        typer.Option("--all", help="Also the sets without a database (code-only, from CI)."),
    ] = False,
) -> None:
    """List the restore points (sets that hold a database), oldest first, from both buckets:
    id, time made, size, replication (replicated / not replicated / primary missing or
    damaged), last verification, contents. The last line is the newest."""
    from serving.backup.inventory import list_backup_sets

    settings = operator_settings()
    try:
        inventory = list_backup_sets(settings, include_all=all_sets)
    except BackupError as exc:
        fail(str(exc))
    hidden = f"; {inventory.not_shown} without a database not shown (--all)"
    _progress(f"{len(inventory.sets)} set(s){hidden if inventory.not_shown else ''}")
    for entry in inventory.sets:
        size = "?" if entry.size is None else _bytes(entry.size)
        fields = [entry.set_id, entry.created_at or "?", size, entry.replication]
        typer.echo("  ".join([*fields, entry.last_verified, entry.contents]))


def _bytes(size: int) -> str:
    scaled, unit = float(size), "B"
    for bigger in ("KB", "MB", "GB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{size} B" if unit == "B" else f"{scaled:.1f} {unit}"


@backup_app.command("verify")
def verify(
    set_id: Annotated[
        str | None, typer.Option("--set", help="The set to verify (default: every set).")
    ] = None,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Download and hash every object (not only its presence and size)."
        ),
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Copy a good object or manifest over a bad or missing one, then verify again.",
        ),
    ] = False,
) -> None:
    """Check both buckets' copies of every set (or one): each object present with the
    manifest's size, or with --deep its SHA-256 too; each bucket holding the manifest. With
    --repair, mend a bad copy from the good one in the other bucket. Records the time of the
    verification in each set; exits 1 while anything is still wrong."""
    from serving.backup.verify import verify_backups

    settings = operator_settings()
    logging.basicConfig(level=logging.WARNING)
    try:
        report = verify_backups(
            settings, set_id=set_id, deep=deep, repair=repair, progress=_progress
        )
    except BackupError as exc:
        fail(str(exc))
    for line in report.repaired:
        typer.echo(f"repaired: {line}")
    for problem in report.problems:
        typer.echo(f"bad: {problem}")
    depth = "every object hashed" if deep else "sizes"
    summary = f"{len(report.sets)} set(s) verified ({depth})"
    if not report.ok:
        hint = "" if repair else "; `--repair` copies a good copy over a bad one"
        fail(f"{summary}: {len(report.problems)} problem(s){hint} (docs/RECOVERY_RUNBOOK.md)")
    typer.echo(f"{summary}: ok")


@backup_app.command("restore")
def restore(
    target: Annotated[
        Path, typer.Option(help="A new directory: the checkout, MLflow store, exports go here.")
    ],
    set_id: Annotated[
        str | None,
        typer.Option("--set", help="The set to restore (default: the newest with a database)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="The NEW database to restore into (default for SQLite sets: "
            "<target>/dental.db; required for PostgreSQL sets)."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a database or checkout that already holds data.")
    ] = False,
    allow_other_version: Annotated[
        bool, typer.Option(help="Restore a set made by another app version.")
    ] = False,
    without_database: Annotated[
        bool,
        typer.Option(
            "--without-database",
            help="Restore a --set that holds no database (a code-only set): its repository "
            "and files, no clinic data.",
        ),
    ] = False,
    dvc: Annotated[bool, typer.Option("--dvc/--no-dvc", help="`dvc pull` data/.")] = True,
    service_check: Annotated[
        bool,
        typer.Option(
            "--service-check/--no-service-check",
            help="Start the app on a scratch copy and ask it a known conversation and appointment.",
        ),
    ] = True,
    to_time: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL point-in-time: restore the cluster as of this ISO moment (no "
            "offset: TIMEZONE) with pgBackRest into the NEW data directory --target.",
        ),
    ] = None,
    pg_port: Annotated[
        int | None, typer.Option(help="With --to-time: the restored cluster's port.")
    ] = None,
) -> None:
    """Fetch a set (primary bucket, else secondary), verify every object, decrypt with
    BACKUP_AGE_IDENTITY into a private temporary directory, restore into a fresh environment
    and check it. Never writes over a database that holds data unless --overwrite.
    With --to-time, restore the PostgreSQL cluster to that moment instead (docs/BACKUP.md)."""
    from serving.backup.restore import restore_backup
    from serving.backup.termination import sigterm_stops_the_run

    if to_time is not None:
        restore_to_time(to_time, target, pg_port)
        return
    settings = operator_settings()
    logging.basicConfig(level=logging.WARNING)
    try:
        with sigterm_stops_the_run():  # a stopped restore removes its plaintext on the way out
            report = restore_backup(
                settings,
                target=target,
                set_id=set_id,
                database_url=database_url,
                overwrite=overwrite,
                allow_other_version=allow_other_version,
                without_database=without_database,
                dvc=dvc,
                service_check=service_check,
                progress=_progress,
            )
    except BackupError as exc:
        fail(str(exc))
    typer.echo(f"restored {report.set_id} from the {report.bucket} in {report.seconds:.1f} s")
    typer.echo(f"database: {report.database_url} (data as of {report.snapshot_at})")
    typer.echo(f"checkout: {report.target / 'repository'}")
    for check in report.checks:
        typer.echo(f"  ok: {check}")


@backup_app.command("prune")
def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what the policy would delete.")
    ] = False,
) -> None:
    """Apply the retention policy (BACKUP_KEEP_LAST newest sets, and every set younger than
    BACKUP_KEEP_DAYS) to each bucket, to restore points and code-only sets apart. The newest
    complete set of each is never deleted. The plan is listed first; with --dry-run nothing
    is deleted."""
    from serving.backup.restore import buckets
    from serving.backup.restore_points import code_only_buckets
    from serving.backup.retention import apply_retention, plan_retention

    settings = operator_settings()
    try:
        for bucket in [*buckets(settings), *code_only_buckets(settings)]:
            plan = plan_retention(
                bucket.set_ids(),
                keep_last=settings.backup_keep_last,
                keep_days=settings.backup_keep_days,
            )
            typer.echo(
                f"{bucket.name}, {bucket.prefix}/: keep {len(plan.keep)}, delete {len(plan.delete)}"
            )
            for set_id in plan.delete:
                typer.echo(f"  delete {set_id}")
            if not dry_run and plan.delete:
                deleted = apply_retention(bucket, plan)
                typer.echo(f"  deleted {deleted} objects")
    except BackupError as exc:
        fail(str(exc))


@backup_app.command("keygen")
def keygen() -> None:
    """Print a new age key pair: the public key goes into BACKUP_AGE_RECIPIENTS, the private
    key into the secrets store (AWS secret <prefix>/backup-age-identity) and the offline copy
    described in docs/RECOVERY_RUNBOOK.md. Never into git or a log."""
    from serving.backup.encryption import generate_key_pair

    public, private = generate_key_pair()
    typer.echo(f"public key (BACKUP_AGE_RECIPIENTS): {public}")
    typer.echo(f"private key (BACKUP_AGE_IDENTITY):  {private}")


@dr_app.command("drill")
def drill(
    target: Annotated[
        Path, typer.Option(help="The scratch environment wiped and restored into.")
    ] = Path("var/dr-drill"),
    database_url: Annotated[
        str | None,
        typer.Option(help="Scratch database (default: SQLite in the target). It is DROPPED."),
    ] = None,
    neo4j_uri: Annotated[
        str | None,
        typer.Option(
            help="With MEMORY_BACKEND=neo4j: the scratch Neo4j the memory graph is restored "
            "into (same user and password). It is WIPED."
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port the restored app is served on.")] = 8765,
    runbook: Annotated[Path, typer.Option(help="The runbook whose commands run.")] = RUNBOOK,
    report: Annotated[
        Path, typer.Option(help="Where the report is written (untracked by default).")
    ] = LOCAL_DRILL_REPORT,
    update_docs: Annotated[
        bool,
        typer.Option(help="Also copy the report to docs/DR_DRILL_REPORT.md (to commit it)."),
    ] = False,
    deployments: Annotated[
        Path | None,
        typer.Option(
            help="The Prefect deployments whose backup schedule gives the worst-case RPO "
            "(default: this checkout's prefect.yaml)."
        ),
    ] = None,
    backup_first: Annotated[
        bool,
        typer.Option(help="Make a fresh backup set first (else the newest with a database)."),
    ] = False,
) -> None:
    """Simulate "repository corrupted, laptop lost, database gone": wipe the scratch
    environment, restore from S3 with the runbook's own commands, serve, and measure RTO and
    RPO. Writes the report (to var/ unless --update-docs); exits 1 when a step fails or a
    figure is over its target."""
    from serving.backup.create import create_backup
    from serving.backup.drill import FRESH_SET_NOTE, run_drill

    settings = operator_settings()
    report.unlink(missing_ok=True)  # what is there afterwards is this run's report
    try:
        if backup_first:
            typer.echo(f"backup set {create_backup(settings, progress=_progress).set_id}")
        result = run_drill(
            settings,
            runbook=runbook,
            target=target,
            database_url=database_url,
            neo4j_uri=neo4j_uri,
            port=port,
            report=report,
            note=FRESH_SET_NOTE if backup_first else None,
            deployments=deployments,
        )
    except BackupError as exc:
        fail(str(exc))
    finally:
        if update_docs:
            publish_report(report, DRILL_REPORT)
    typer.echo(f"RTO {result.rto_seconds:.1f} s (target {result.rto_target_seconds:.0f} s)")
    typer.echo(f"RPO {result.rpo_seconds:.1f} s (target {result.rpo_target_seconds:.0f} s)")
    if result.schedule is not None:
        typer.echo(f"RPO worst case {result.schedule.seconds:.0f} s: {result.schedule.describe()}")
    typer.echo(f"report: {report}" + (f" and {DRILL_REPORT}" if update_docs else ""))


def publish_report(report: Path, docs: Path) -> None:
    """Copy this run's drill report over the tracked one, if the run got as far as writing it,
    keeping the tracked report's point-in-time section (`dental dr pitr-drill` writes it)."""
    if not report.is_file():
        return
    from serving.backup.pitr_report import section_of

    kept = section_of(docs.read_text(encoding="utf-8")) if docs.is_file() else ""
    text = report.read_text(encoding="utf-8")
    if kept and kept not in text:
        text += "\n" + kept
    docs.write_text(text, encoding="utf-8")
