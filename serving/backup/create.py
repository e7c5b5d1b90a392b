"""Creating a backup set: collect, encrypt, upload and verify, copy and verify, publish.

The manifest is written last, to each bucket after that bucket's objects are verified: a set
without a manifest is incomplete and is never listed, restored or counted as the newest good
set. The plaintext work directory is private to the user and removed whatever happens
(`serving.backup.workdir`). A set an earlier run left complete in the primary bucket only is
completed in the secondary one after the new set (`serving.backup.replication`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from serving import __version__
from serving.backup import collectors, memory_graph, release
from serving.backup.bundle_version import bundle_version_at
from serving.backup.contents import build_contents
from serving.backup.database import snapshot_database
from serving.backup.encryption import SCHEME, encrypt_file, key_id, parse_recipients
from serving.backup.manifest import (
    MANIFEST_NAME,
    NO_DATABASE,
    SCHEMA_VERSION,
    Encryption,
    Manifest,
    Part,
    Source,
    database_contents,
    new_set_id,
    sha256_file,
    utc_iso,
)
from serving.backup.replication import complete_replication
from serving.backup.restore_points import buckets_at, set_prefix
from serving.backup.storage import BackupBucket, bucket_locations
from serving.backup.workdir import open_work_dir, purge_stale
from serving.settings import Settings

logger = logging.getLogger(__name__)

LOCAL_MLFLOW_DATABASE = Path("var/mlflow/mlflow.db")

F = TypeVar("F", bound=Callable[..., Any])


class StepWrapper(Protocol):
    def __call__(self, step: F, /) -> F: ...


def _plain(step: F) -> F:
    return step


@dataclass
class Collected:
    """The plaintext files of a set, before encryption."""

    set_id: str
    work: Path
    files: list[tuple[str, str, Path]]  # (part name, kind, path)
    source: Source
    commit: str
    dvc: dict[str, Any] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    bundle_version: str | None = None


def mlflow_tracking_uri(settings: Settings) -> str | None:
    """The tracking store to back up: MLFLOW_TRACKING_URI, else the local one if it exists."""
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    if LOCAL_MLFLOW_DATABASE.is_file():
        return f"sqlite:///{LOCAL_MLFLOW_DATABASE.as_posix()}"
    return None


def collect(
    settings: Settings, set_id: str, work: Path, *, dvc: bool = True, database: bool = True
) -> Collected:
    """Every source of the set into `work`, in plaintext.

    Without `database` (a CI job on every push has no app database) the set holds the
    repository, sessions and MLflow only; restoring it restores no database. The memory graph
    comes with the database: in it (MEMORY_BACKEND=sql), or dumped right after its snapshot
    (neo4j: it may hold a few turns newer than the snapshot; `dental memory rebuild` makes
    the two agree).
    """
    files: list[tuple[str, str, Path]] = []
    repository = settings.backup_repository
    bundle, commit = collectors.git_bundle(repository, work / "repository.bundle")
    files.append(("repository.bundle", "git-bundle", bundle))

    if database:
        snapshot = snapshot_database(settings.database_url, work)
        files.append((snapshot.dump.name, "database", snapshot.dump))
        files += [(path.name, "jsonl", path) for path in snapshot.exports]
        collected = Collected(set_id, work, files, snapshot.source, commit)
        graph_file = work / memory_graph.PART_NAME
        collected.memory, why_not = memory_graph.dump_graph(settings, graph_file)
        if collected.memory.get("part") == memory_graph.PART_NAME:
            files.append((graph_file.name, memory_graph.PART_KIND, graph_file))
        if why_not is not None:
            collected.skipped["memory-graph"] = why_not
    else:
        source = Source(NO_DATABASE, utc_iso(datetime.now(UTC)), None, None, {})
        collected = Collected(set_id, work, files, source, commit)
        collected.skipped["database"] = "not asked for (--no-database)"
        collected.skipped["memory-graph"] = "no database in the set: it is the graph's source"
    collected.bundle_version = bundle_version_at(repository, commit)

    tracking_uri = mlflow_tracking_uri(settings)
    store = collectors.mlflow_store(tracking_uri, work / "mlflow.tar") if tracking_uri else None
    if store is not None:
        files.append(("mlflow.tar", "mlflow", store))
    else:
        collected.skipped["mlflow"] = (
            "MLflow runs on a tracking server, which backs up its own store"
            if tracking_uri
            else "no MLflow store here (MLFLOW_TRACKING_URI unset, no var/mlflow)"
        )

    release_tar, why_not = release.collect_release(work / release.PART_NAME)
    if release_tar is not None:
        files.append((release.PART_NAME, release.PART_KIND, release_tar))
    else:
        collected.skipped["release"] = str(why_not)

    if settings.backup_session_api_url:
        token = settings.backup_session_api_token
        ids = [i.strip() for i in settings.backup_session_ids.split(",") if i.strip()]
        archive, exported = collectors.session_exports(
            settings.backup_session_api_url,
            token.get_secret_value() if token else None,
            ids,
            repository,
            work / "sessions.tar",
        )
        files.append(("sessions.tar", "sessions", archive))
        collected.sessions = exported
    else:
        collected.skipped["sessions"] = "BACKUP_SESSION_API_URL is not set"

    if not dvc:
        collected.skipped["dvc"] = "not asked for (--no-dvc)"
    elif not (repository / ".dvc").is_dir():
        collected.skipped["dvc"] = f"{repository} is not a DVC repository"
    else:
        collected.dvc = collectors.dvc_push(
            repository, bucket_locations(settings), settings.backup_prefix
        )
    return collected


def encrypt(collected: Collected, recipients_text: str | None) -> tuple[list[Part], Encryption]:
    """Each file to `<name>.age`, with plaintext and ciphertext hashes for the manifest."""
    recipients = parse_recipients(recipients_text)
    parts = []
    for name, kind, path in collected.files:
        sha256, size = sha256_file(path)
        encrypted = collected.work / f"{name}.age"
        encrypt_file(path, encrypted, recipients)
        path.unlink()  # the plaintext is no longer needed
        object_sha256, object_size = sha256_file(encrypted)
        parts.append(Part(name, kind, sha256, size, encrypted.name, object_sha256, object_size))
    encryption = Encryption(SCHEME, key_id(recipients), sorted(str(r) for r in recipients))
    return parts, encryption


def build_manifest(collected: Collected, parts: list[Part], encryption: Encryption) -> Manifest:
    return Manifest(
        schema_version=SCHEMA_VERSION,
        set_id=collected.set_id,
        app_version=__version__,
        commit=collected.commit,
        created_at=utc_iso(datetime.now(UTC)),
        source=collected.source,
        encryption=encryption,
        parts=parts,
        contents=build_contents(
            database_contents(collected.source),
            bundle=collected.bundle_version,
            dvc=collected.dvc,
            sessions=collected.sessions,
            memory=collected.memory,
        ),
        dvc=collected.dvc,
        sessions=collected.sessions,
        skipped=collected.skipped,
        memory=collected.memory,
    )


def upload_and_verify(bucket: BackupBucket, work: Path, manifest: Manifest) -> None:
    for part in manifest.parts:
        bucket.upload(work / part.object, manifest.set_id, part.object)
        bucket.verify(manifest.set_id, part.object, part.object_sha256, part.object_size)
    bucket.put_text(manifest.to_json(), manifest.set_id, MANIFEST_NAME)


def copy_and_verify(primary: BackupBucket, secondary: BackupBucket, manifest: Manifest) -> None:
    for part in manifest.parts:
        secondary.copy_from(primary, manifest.set_id, part.object)
        secondary.verify(manifest.set_id, part.object, part.object_sha256, part.object_size)
    secondary.put_text(manifest.to_json(), manifest.set_id, MANIFEST_NAME)


def create_backup(
    settings: Settings,
    *,
    dvc: bool = True,
    database: bool = True,
    progress: Callable[[str], None] = logger.info,
    as_step: StepWrapper = _plain,
) -> Manifest:
    """One complete, verified, replicated set.

    `as_step` wraps each step; the `backup` flow passes Prefect's `task`, so the flow and the
    command run this one sequence. A set without the database is code only and goes under
    its own prefix (`serving.backup.restore_points`): never a restore point.
    """
    purge_stale(settings.backup_work_dir)  # left by a run that was killed
    buckets = buckets_at(settings, set_prefix(settings, database=database))
    parse_recipients(settings.backup_age_recipients)  # fail before collecting anything
    set_id = new_set_id()
    work_dir = open_work_dir(settings.backup_work_dir, set_id)
    work = work_dir.path
    try:
        progress(f"collecting set {set_id}")
        collected = as_step(collect)(settings, set_id, work, dvc=dvc, database=database)
        work_dir.seal()
        parts, encryption = as_step(encrypt)(collected, settings.backup_age_recipients)
        manifest = build_manifest(collected, parts, encryption)
        progress(f"uploading to the {buckets[0].name} and verifying")
        as_step(upload_and_verify)(buckets[0], work, manifest)
        for secondary in buckets[1:]:
            progress(f"copying to the {secondary.name} and verifying")
            as_step(copy_and_verify)(buckets[0], secondary, manifest)
    finally:
        work_dir.remove()
    for secondary in buckets[1:]:  # sets an earlier run left half-copied
        for line in complete_replication(buckets[0], secondary, progress):
            progress(f"replicated {line}")
    return manifest
