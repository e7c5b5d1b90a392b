"""Which sets are restore points, and where each kind of set is kept.

A set that holds a database is a restore point and lives under `BACKUP_PREFIX`. A code-only
set (`dental backup create --no-database`, the CI job on every push) lives under
`<BACKUP_PREFIX>/code`, so the newest restore point, the drill and retention never meet it;
`--set` still finds it, and a restore of it must be asked for (`--without-database`). Sets made
before the split (manifest schema 1) may be code only under `BACKUP_PREFIX`: their manifests
say so, and they are passed over.
"""

from __future__ import annotations

import logging

from serving.backup.errors import StorageUnavailable
from serving.backup.storage import BackupBucket, bucket_locations
from serving.settings import Settings

logger = logging.getLogger(__name__)

CODE_ONLY_FOLDER = "code"


def code_only_prefix(prefix: str) -> str:
    """Where code-only sets go: `<BACKUP_PREFIX>/code` (e.g. `backups/code/<set id>/`)."""
    return f"{prefix.strip('/')}/{CODE_ONLY_FOLDER}"


def set_prefix(settings: Settings, *, database: bool) -> str:
    """The key prefix of a new set: restore points' with a database, code-only otherwise."""
    return settings.backup_prefix if database else code_only_prefix(settings.backup_prefix)


def buckets_at(settings: Settings, prefix: str) -> list[BackupBucket]:
    """The primary bucket, then the secondary one, both at `prefix`."""
    return [BackupBucket(location, prefix) for location in bucket_locations(settings)]


def code_only_buckets(settings: Settings) -> list[BackupBucket]:
    return buckets_at(settings, code_only_prefix(settings.backup_prefix))


def buckets_holding(settings: Settings, set_id: str | None) -> list[BackupBucket]:
    """Where to read `set_id` from: the code-only prefix when a bucket lists it there,
    otherwise (and for the newest set) the restore points' prefix."""
    if set_id is not None:
        candidates = code_only_buckets(settings)
        for bucket in candidates:
            try:
                if set_id in bucket.set_ids():
                    return candidates
            except StorageUnavailable as error:
                logger.warning("%s; trying the next bucket", error)
    return buckets_at(settings, settings.backup_prefix)
