"""What the buckets hold, set by set, as `dental backup list` shows it: when each set was made,
what it holds, its size, whether both copies are whole, and when it was last verified.

A set is listed when either bucket holds its manifest, so a set whose primary copy is lost or
damaged is still found. Its replication is read from one listing per bucket (sizes, not
hashes: a flipped byte shows only in a deep verification, whose outcome is listed too).
Restore points are the sets that hold a database; the others (the CI's code-only sets, under
their own prefix: `serving.backup.restore_points`, and code-only sets made before that split)
are counted and listed only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serving.backup.errors import IntegrityFailure, StorageUnavailable
from serving.backup.healing import all_set_ids, choose_manifest, manifest_copies
from serving.backup.manifest import describe_contents
from serving.backup.replication import NO_COMPLETE_COPY, replication_status
from serving.backup.restore_points import buckets_at, code_only_buckets
from serving.backup.storage import BackupBucket
from serving.backup.verify import last_verification
from serving.settings import Settings


@dataclass(frozen=True)
class SetListing:
    set_id: str
    created_at: str | None
    """None when no copy of the manifest can be read."""
    contents: str
    restore_point: bool
    size: int | None
    """Bytes stored per copy: the sum of the encrypted objects' sizes."""
    replication: str
    last_verified: str


@dataclass(frozen=True)
class Inventory:
    sets: list[SetListing]
    """Oldest first."""
    not_shown: int
    """Sets without a database, left out unless every set was asked for."""


def list_backup_sets(settings: Settings, *, include_all: bool = False) -> Inventory:
    listed, not_shown = [], 0
    places = [buckets_at(settings, settings.backup_prefix), code_only_buckets(settings)]
    for sources in places:
        try:
            ids = all_set_ids(sources)
        except StorageUnavailable:
            if sources is places[0]:
                raise
            continue  # no code-only sets readable: the restore points are what matters
        stored = {bucket.name: _stored_sizes(bucket) for bucket in sources}
        for set_id in ids:
            entry = _listing(sources, set_id, stored)
            if entry.restore_point or include_all:
                listed.append(entry)
            else:
                not_shown += 1
    listed.sort(key=lambda entry: entry.set_id)
    return Inventory(listed, not_shown)


def describe_verification(record: dict[str, Any] | None) -> str:
    if record is None:
        return "never verified"
    depth = "deep" if record.get("deep") else "sizes"
    problems = record.get("problems") or []
    outcome = "ok" if record.get("ok") else f"{len(problems)} problem(s)"
    return f"verified {record['verified_at']} ({depth}, {outcome})"


def _listing(
    sources: list[BackupBucket], set_id: str, stored: dict[str, dict[str, dict[str, int]] | None]
) -> SetListing:
    copies = manifest_copies(sources, set_id)
    verified = describe_verification(last_verification(sources, set_id))
    try:
        manifest = choose_manifest(copies, set_id, warn=False).manifest
    except IntegrityFailure as exc:
        return SetListing(set_id, None, str(exc), True, None, NO_COMPLETE_COPY, verified)
    assert manifest is not None  # a chosen copy is a readable one
    sizes = {
        name: None if every is None else every.get(set_id, {}) for name, every in stored.items()
    }
    return SetListing(
        set_id=set_id,
        created_at=manifest.created_at,
        contents=describe_contents(manifest),
        restore_point=manifest.contents.holds_database,
        size=sum(part.object_size for part in manifest.parts),
        replication=replication_status(manifest, copies, sizes),
        last_verified=verified,
    )


def _stored_sizes(bucket: BackupBucket) -> dict[str, dict[str, int]] | None:
    try:
        return bucket.object_sizes()
    except StorageUnavailable:
        return None
