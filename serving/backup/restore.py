"""Restoring a backup set into a fresh environment, and proving it serves.

Order matters: the target is checked first (a live database, or a memory graph store outside it
that holds nodes, is never overwritten unless asked), then every object is downloaded and checked
against the manifest before any is decrypted, then decrypted into a private temporary directory
that is removed whatever happens, and only then is anything written to the target. Objects missing
from the primary bucket (or the bucket itself) are fetched from the secondary one; an object that
is present but does not match its hash is refused, by name. The memory graph is restored after the
database, its source of truth (`serving.backup.memory_graph`).
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
    StorageUnavailable,
)
from serving.backup.manifest import (
    MANIFEST_NAME,
    NO_DATABASE,
    Manifest,
    check_compatible,
    sha256_file,
)
from serving.backup.service_check import known_records, probe_service
from serving.backup.storage import BackupBucket, StorageMissing, bucket_locations, check_object
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.settings import Settings

logger = logging.getLogger(__name__)

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


def list_sets(settings: Settings) -> tuple[BackupBucket, list[str]]:
    """Complete sets in the first bucket that answers (primary, then secondary)."""
    failures = []
    for bucket in buckets(settings):
        try:
            return bucket, bucket.set_ids()
        except StorageUnavailable as exc:
            failures.append(str(exc))
            logger.warning("%s; trying the next bucket", exc)
    raise StorageUnavailable("no backup bucket could be read: " + "; ".join(failures))


def fetch_manifest(settings: Settings, set_id: str | None) -> tuple[Manifest, list[BackupBucket]]:
    """The chosen (or newest) set's manifest, and the buckets to read it from, best first."""
    failures = []
    candidates = buckets(settings)
    for position, bucket in enumerate(candidates):
        try:
            ids = bucket.set_ids()
            chosen = set_id or (ids[-1] if ids else None)
            if chosen is None or chosen not in ids:
                raise StorageMissing(
                    f"{bucket.name} holds no complete set {chosen or ''}".rstrip(), missing=True
                )
            text = bucket.read_text(chosen, MANIFEST_NAME)
        except StorageUnavailable as exc:
            failures.append(str(exc))
            logger.warning("%s; trying the next bucket", exc)
            continue
        manifest = Manifest.from_json(text, where=f"{chosen}/{MANIFEST_NAME} in the {bucket.name}")
        return manifest, candidates[position:]
    raise SetNotFound("no usable backup set: " + "; ".join(failures))


def download_verified(manifest: Manifest, sources: list[BackupBucket], directory: Path) -> str:
    """Every encrypted object, checked against the manifest; returns the bucket(s) used."""
    used = set()
    for part in manifest.parts:
        target = directory / part.object
        for position, bucket in enumerate(sources):
            try:
                bucket.download(manifest.set_id, part.object, target)
            except StorageMissing as exc:
                if position + 1 == len(sources):
                    raise
                logger.warning("%s; fetching it from the next bucket", exc)
                continue
            actual, size = sha256_file(target)
            check_object(
                f"{manifest.set_id}/{part.object} from the {bucket.name}",
                actual,
                size,
                part.object_sha256,
                part.object_size,
            )
            used.add(bucket.name)
            break
    return " and ".join(sorted(used))


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
    dvc: bool = True,
    service_check: bool = True,
    progress: Callable[[str], None] = logger.info,
) -> RestoreReport:
    """Restore a set into `target` (checkout, MLflow store, session exports, JSONL exports),
    `database_url` (a new database) and the configured memory store, then check it. Raises a
    `BackupError` subclass naming the problem; on any failure no plaintext is left in the
    temporary directory."""
    started = time.monotonic()
    manifest, sources = fetch_manifest(settings, set_id)
    check_compatible(manifest, app_version=__version__, allow_other_version=allow_other_version)
    engine = manifest.source.database_engine
    url = database_url or default_database_url(manifest, target)
    if engine == NO_DATABASE:
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
    with tempfile.TemporaryDirectory(prefix="dental-restore-") as temporary:
        work = Path(temporary)
        work.chmod(0o700)
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
        "checks": report.checks,
        "parts": {part.name: part.size for part in manifest.parts},
        "skipped": manifest.skipped,
        "memory": graph_receipt,
    }
    (target / RECEIPT_NAME).write_text(json.dumps(receipt, indent=2) + "\n", encoding="utf-8")
    return report
