"""Restoring a backup set into a fresh environment, and proving it serves.

Order matters: the target is checked first (a live database, or a memory graph store outside it
that holds nodes, is never overwritten unless asked), then every object is downloaded and checked
against the manifest before any is decrypted, then decrypted into a private temporary directory
(`serving.backup.workdir`: 0700, files 0600, removed whatever happens, a stale one from a killed
restore purged by the next), and only then is anything written to the target. An object (or the
manifest) missing or damaged in the primary bucket is taken from the secondary one when that
copy matches, with a warning (`serving.backup.healing`); when no copy matches, the restore
stops, naming each. The memory graph is restored after the database, its source of truth
(`serving.backup.memory_graph`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from alembic.util import CommandError
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from serving import __version__
from serving.backup import collectors, database, memory_graph, release
from serving.backup.encryption import decrypt_file, identity_opens, load_identity
from serving.backup.errors import (
    BackupError,
    DecryptionFailed,
    IntegrityFailure,
    RestoreRefused,
    SetNotFound,
)
from serving.backup.healing import all_set_ids, fetch_object, read_manifest
from serving.backup.manifest import (
    Manifest,
    check_compatible,
    describe_contents,
    sha256_file,
)
from serving.backup.restore_points import buckets_holding
from serving.backup.service_check import known_records, probe_service
from serving.backup.storage import BackupBucket, bucket_locations, check_object
from serving.backup.workdir import open_work_dir, purge_stale
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.settings import Settings

logger = logging.getLogger(__name__)

RESTORE_WORK_PREFIX = "dental-restore-"
"""The restore's private download-and-decrypt directories, in the system's temporary directory."""
RECEIPT_NAME = "RESTORED.json"
"""Written into the target after a restore: which set, as of when, and what was checked."""


@dataclass
class RestoreReport:
    set_id: str
    bucket: str
    database_url: str  # redacted
    target: Path
    snapshot_at: str
    newest_record_at: str | None
    row_counts: dict[str, int]
    checks: list[str] = field(default_factory=list)
    seconds: float = 0.0


def buckets(settings: Settings) -> list[BackupBucket]:
    return [BackupBucket(loc, settings.backup_prefix) for loc in bucket_locations(settings)]


def fetch_manifest(settings: Settings, set_id: str | None) -> tuple[Manifest, list[BackupBucket]]:
    """The chosen set's manifest (by default the newest set that holds a database), from
    whichever bucket holds a good copy (`serving.backup.healing`), and the buckets to read its
    objects from, primary first."""
    candidates = buckets_holding(settings, set_id)
    if set_id is not None:
        return read_manifest(candidates, set_id), candidates
    for chosen in reversed(all_set_ids(candidates)):
        manifest = read_manifest(candidates, chosen)
        if manifest.contents.holds_database:
            return manifest, candidates
        logger.warning("set %s holds no database: not a restore point, passed over", chosen)
    raise SetNotFound("no backup set with a database in any bucket")


def download_verified(manifest: Manifest, sources: list[BackupBucket], directory: Path) -> str:
    """Every encrypted object, checked against the manifest, each from the first bucket whose
    copy matches; returns the bucket(s) used."""
    used = {
        fetch_object(manifest, part, sources, directory / part.object) for part in manifest.parts
    }
    return " and ".join(sorted(bucket.name for bucket in used))


def decrypt_verified(manifest: Manifest, directory: Path, settings: Settings) -> dict[str, Path]:
    """Decrypt each object next to it and check its plaintext hash; the encrypted copy goes."""
    identity = load_identity(settings)
    if not identity_opens(identity, manifest.encryption.recipients):
        raise DecryptionFailed(
            f"the backup key (BACKUP_AGE_IDENTITY) is not one set {manifest.set_id} was "
            f"encrypted to (key id {manifest.encryption.key_id})"
        )
    plain = {}
    for part in manifest.parts:
        encrypted = directory / part.object
        target = directory / part.name
        decrypt_file(encrypted, target, identity, what=f"{manifest.set_id}/{part.object}")
        encrypted.unlink()
        actual, size = sha256_file(target)
        check_object(f"decrypted {part.name}", actual, size, part.sha256, part.size)
        plain[part.name] = target
    return plain


def default_database_url(manifest: Manifest, target: Path) -> str | None:
    if manifest.source.database_engine == "sqlite":
        return f"sqlite+aiosqlite:///{(target / 'dental.db').resolve()}"
    return None


def check_targets(target: Path, database_url: str | None, engine: str, *, overwrite: bool) -> None:
    """Refuse before downloading anything if the restore would overwrite something."""
    checkout = target / "repository"
    if checkout.exists() and any(checkout.iterdir()) and not overwrite:
        raise RestoreRefused(f"{checkout} is not empty; choose a new --target or pass --overwrite")
    if database_url is None:
        return
    if database.engine_of(database_url) != engine:
        raise RestoreRefused(
            f"the set holds a {engine} database but --database-url is "
            f"{database.engine_of(database_url)}"
        )
    asyncio.run(database.check_database_target(database_url, overwrite=overwrite))


def restore_repository(bundle: Path, checkout: Path, commit: str) -> None:
    """A new checkout from the bundle (every branch and tag), at the backed-up commit."""
    if checkout.exists():
        shutil.rmtree(checkout)
    checkout.parent.mkdir(parents=True, exist_ok=True)
    collectors.run_git(checkout.parent, "clone", "--quiet", str(bundle), str(checkout))
    collectors.run_git(checkout, "checkout", "--quiet", commit)


def extract(archive: Path, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")  # no absolute paths, links or escapes


def pull_dvc(checkout: Path, manifest: Manifest, settings: Settings) -> str:
    """data/ from the backup remote, primary bucket first; what was checked.

    Outputs the backed-up machine had never built are listed in the manifest and may be
    missing (`dvc repro` rebuilds them); any other missing output fails the restore.
    """
    failures = []
    expected_missing = set(manifest.dvc.get("not_in_backup", []))
    for location in bucket_locations(settings):
        if location.role not in manifest.dvc.get("remotes", {}):
            continue
        try:
            missing = collectors.dvc_pull(checkout, location, settings.backup_prefix)
        except BackupError as exc:
            failures.append(str(exc))
            logger.warning("%s; trying the next bucket", exc)
            continue
        lost = sorted(set(missing) - expected_missing)
        if lost:
            failures.append(f"the {location.role} bucket lacks DVC data for {', '.join(lost)}")
            logger.warning("%s; trying the next bucket", failures[-1])
            continue
        note = (
            f"; {len(missing)} output(s) never built on the backed-up machine "
            "(rebuild with `dvc repro`)"
            if missing
            else ""
        )
        return f"data/ pulled with DVC from the {location.role} bucket{note}"
    raise IntegrityFailure("dvc pull failed from every backup bucket: " + "; ".join(failures))


async def _scratch_copy(database_url: str) -> tuple[str, Callable[[], None]]:
    """A throwaway copy of the restored database for the service check, and its remover."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        source = Path(str(url.database))
        scratch = source.with_name(f"{source.stem}.service-check.db")
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(scratch)) as dst:
            src.backup(dst)

        def remove_file() -> None:
            for suffix in ("", "-wal", "-shm"):
                scratch.with_name(scratch.name + suffix).unlink(missing_ok=True)

        return url.set(database=str(scratch)).render_as_string(hide_password=False), remove_file

    name = f"{url.database}_check_{secrets.token_hex(3)}"
    await database.copy_database(url, name)

    def drop_copy() -> None:
        asyncio.run(database.drop_database(url, name))

    return url.set(database=name).render_as_string(hide_password=False), drop_copy


async def _probe_in_process(settings: Settings, database_url: str) -> list[str]:
    from serving.app import create_app  # the whole app: imported only when a restore checks it

    key = secrets.token_urlsafe(24)
    probe_settings = settings.model_copy(
        update={
            "database_url": database_url,
            "integration_key": SecretStr(key),
            "load_demo_data": False,
            "mlflow_tracking_uri": None,
            # The probe's turns are remembered in the scratch copy, never in the graph just
            # restored (a Neo4j outside the database).
            "memory_backend": "sql",
        }
    )
    # As `dental serve` does: a set from this app version may predate its newest migration.
    database = Database(database_url)
    try:
        await upgrade_database(database.engine)
    finally:
        await database.dispose()
    known = await known_records(database_url, settings.timezone)
    app = create_app(probe_settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://restore.check") as client,
    ):
        return await probe_service(client, known, key)


def check_service(settings: Settings, database_url: str) -> list[str]:
    """The app, created on a scratch copy of the restored database, answers the probe."""
    scratch_url, remove = asyncio.run(_scratch_copy(database_url))
    try:
        return asyncio.run(_probe_in_process(settings, scratch_url))
    except (SQLAlchemyError, OSError, CommandError) as exc:
        # The first line only: SQL errors carry no parameters here (hide_parameters).
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise IntegrityFailure(
            f"the app does not start on the restored database: {reason}"
        ) from None
    finally:
        remove()


def restore_backup(
    settings: Settings,
    *,
    target: Path,
    set_id: str | None = None,
    database_url: str | None = None,
    overwrite: bool = False,
    allow_other_version: bool = False,
    without_database: bool = False,
    dvc: bool = True,
    service_check: bool = True,
    progress: Callable[[str], None] = logger.info,
) -> RestoreReport:
    """Restore a set into `target` (checkout, MLflow store, session exports, JSONL exports),
    `database_url` (a new database) and the configured memory store, then check it. Raises a
    `BackupError` subclass naming the problem; on any failure no plaintext is left in the
    temporary directory. A set without a database restores no clinic data: it is refused
    unless `without_database` says that is what is wanted."""
    started = time.monotonic()
    purge_stale(Path(tempfile.gettempdir()), RESTORE_WORK_PREFIX)  # left by a killed restore
    manifest, sources = fetch_manifest(settings, set_id)
    check_compatible(manifest, app_version=__version__, allow_other_version=allow_other_version)
    engine = manifest.source.database_engine
    url = database_url or default_database_url(manifest, target)
    if not manifest.contents.holds_database:
        if not without_database:
            raise RestoreRefused(
                f"set {manifest.set_id} holds no database ({describe_contents(manifest)}): "
                "restoring it brings back no clinic data. Restore a set with a database (leave "
                "out --set for the newest), or pass --without-database to restore only its "
                "repository and files"
            )
        url = None
    elif url is None:
        raise RestoreRefused(
            f"set {manifest.set_id} holds a PostgreSQL database: name the new database with "
            "--database-url postgresql+asyncpg://user@host/new_database"
        )
    check_targets(target, url, engine, overwrite=overwrite)
    if url is not None:
        memory_graph.check_graph_target(settings, url, overwrite=overwrite)
    progress(f"restoring set {manifest.set_id} (snapshot {manifest.source.snapshot_at})")

    target.mkdir(parents=True, exist_ok=True)
    work_dir = open_work_dir(
        Path(tempfile.gettempdir()), f"{RESTORE_WORK_PREFIX}{secrets.token_hex(6)}"
    )
    try:
        work = work_dir.path
        used = download_verified(manifest, sources, work)
        progress(f"every object matches the manifest ({used})")
        plain = decrypt_verified(manifest, work, settings)
        progress("decrypted; every file matches the manifest")

        counts: dict[str, int] = {}
        graph_check: str | None = None
        graph_receipt: dict[str, Any] = {}
        if url is not None:
            dump = plain.get("database.sqlite") or plain["database.pgdump"]
            database.restore_database(dump, engine, url, overwrite=overwrite)
            counts = asyncio.run(database.restored_row_counts(url))
            database.compare_row_counts(manifest.source.row_counts, counts)
            progress("database restored; row counts match the manifest")
            graph_check, graph_receipt = memory_graph.restore_graph(
                manifest.memory, plain.get(memory_graph.PART_NAME), settings, url
            )
            progress(graph_check)

        checkout = target / "repository"
        restore_repository(plain["repository.bundle"], checkout, manifest.commit)
        if "mlflow.tar" in plain:
            extract(plain["mlflow.tar"], checkout / "var" / "mlflow")
        if "sessions.tar" in plain:
            extract(plain["sessions.tar"], target)
        if release.PART_NAME in plain:  # the app's wheel and lock files, for the next recovery
            extract(plain[release.PART_NAME], target)
        exports = target / "exports"
        exports.mkdir(exist_ok=True)
        for name in ("conversations.jsonl", "messages.jsonl"):
            if name in plain:
                shutil.copyfile(plain[name], exports / name)
    finally:
        work_dir.remove()
    checks = [
        "every object's SHA-256 matches the manifest",
        "database integrity verified and row counts match"
        if url is not None
        else "no database in this set (made with --no-database)",
        *([graph_check] if graph_check else []),
        f"repository checked out at {manifest.commit[:12]}",
    ]
    if dvc and manifest.dvc.get("remotes"):
        checks.append(pull_dvc(checkout, manifest, settings))
    if service_check and url is not None:
        checks += check_service(settings, url)
    report = RestoreReport(
        set_id=manifest.set_id,
        bucket=used,
        database_url=make_url(url).render_as_string(hide_password=True) if url else "none",
        target=target,
        snapshot_at=manifest.source.snapshot_at,
        newest_record_at=manifest.source.newest_record_at,
        row_counts=counts,
        checks=checks,
        seconds=time.monotonic() - started,
    )
    receipt = {
        "set_id": report.set_id,
        "bucket": report.bucket,
        "snapshot_at": report.snapshot_at,
        "newest_record_at": report.newest_record_at,
        "row_counts": report.row_counts,
        "database_restored": url is not None,
        "checks": report.checks,
        "parts": {part.name: part.size for part in manifest.parts},
        "skipped": manifest.skipped,
        "memory": graph_receipt,
    }
    (target / RECEIPT_NAME).write_text(json.dumps(receipt, indent=2) + "\n", encoding="utf-8")
    return report
