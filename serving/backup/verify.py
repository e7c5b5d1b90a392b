"""Verifying both buckets' copies of every set, and mending a bad copy from a good one.

Shallow, every object of the set is in each bucket with the manifest's size, and each bucket
holds the trusted manifest; deep, every object is also downloaded and hashed (as `restic check
--read-data` does), which finds a flipped byte that keeps the size. With `repair`, each bad or
missing object (or manifest) is copied over from a bucket whose copy matches, in either
direction, and the set is verified again. The outcome of each set's verification goes into
`<set>/verified.json` in every bucket that holds its manifest: the manifest never changes once
written, and `dental backup list` shows the time of the last verification from there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from serving.backup.errors import BackupError, IntegrityFailure, SetNotFound, StorageUnavailable
from serving.backup.healing import ManifestCopy, all_set_ids, choose_manifest, manifest_copies
from serving.backup.manifest import MANIFEST_NAME, Manifest, utc_iso
from serving.backup.repair import copy_good_object, copy_manifest
from serving.backup.storage import BackupBucket, StorageMissing, bucket_locations, check_object
from serving.settings import Settings

logger = logging.getLogger(__name__)

VERIFIED_NAME = "verified.json"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one bucket's copy of a set."""

    bucket: BackupBucket
    object: str | None
    """The object (or `manifest.json`); None when the whole bucket could not be read."""
    short: str
    """A few words for a listing: "missing", "damaged", "100 of 2048 bytes", "unreachable"."""
    text: str
    """The whole sentence, naming the set, the object and the bucket."""


@dataclass
class SetVerification:
    set_id: str
    deep: bool
    verified_at: str
    problems: list[str] = field(default_factory=list)
    """What is still wrong, after any repair."""
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class VerifyReport:
    sets: list[SetVerification]

    @property
    def problems(self) -> list[str]:
        return [problem for result in self.sets for problem in result.problems]

    @property
    def repaired(self) -> list[str]:
        return [line for result in self.sets for line in result.repaired]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_backups(
    settings: Settings,
    *,
    set_id: str | None = None,
    deep: bool = False,
    repair: bool = False,
    progress: Callable[[str], None] = logger.info,
) -> VerifyReport:
    """Verify (and with `repair`, mend) one set or every set with a manifest in any bucket."""
    sources = [BackupBucket(loc, settings.backup_prefix) for loc in bucket_locations(settings)]
    ids = [set_id] if set_id else all_set_ids(sources)
    if not ids:
        raise SetNotFound("no backup set in any bucket: nothing to verify")
    results = []
    for one in ids:
        progress(f"verifying set {one} ({'deep: every object hashed' if deep else 'sizes'})")
        results.append(verify_set(sources, one, deep=deep, repair=repair))
    return VerifyReport(results)


def verify_set(
    sources: list[BackupBucket], set_id: str, *, deep: bool, repair: bool
) -> SetVerification:
    """Check each bucket's copy of the set, mend what `repair` can, check again, and record the
    outcome. A set with no manifest in any bucket is `SetNotFound`."""
    copies = manifest_copies(sources, set_id)
    try:
        trusted = choose_manifest(copies, set_id, warn=False)
    except IntegrityFailure as exc:  # no copy of the manifest can be trusted: nothing to mend
        return SetVerification(set_id, deep, utc_iso(datetime.now(UTC)), [str(exc)])
    manifest = trusted.manifest
    assert manifest is not None  # a trusted copy is a readable one
    problems = find_problems(manifest, copies, deep=deep)
    repaired: list[str] = []
    if repair and problems:
        repaired = _repair(manifest, trusted, problems, sources)
        copies = manifest_copies(sources, set_id)
        problems = find_problems(manifest, copies, deep=deep)
    result = SetVerification(
        set_id, deep, utc_iso(datetime.now(UTC)), [p.text for p in problems], repaired
    )
    _record(result, [copy.bucket for copy in copies if copy.manifest == manifest])
    return result


def find_problems(manifest: Manifest, copies: list[ManifestCopy], *, deep: bool) -> list[Problem]:
    """What is wrong with each bucket's copy of the set (`copies`: one per bucket)."""
    problems = []
    for copy in copies:
        if copy.state == "unreachable":
            problems.append(Problem(copy.bucket, None, "unreachable", copy.detail))
            continue
        try:
            if deep:
                problems += _manifest_problems(manifest, copy) + _hash_problems(manifest, copy)
            else:
                sizes = copy.bucket.object_sizes(manifest.set_id).get(manifest.set_id, {})
                problems += copy_problems(manifest, copy, sizes)
        except StorageUnavailable as exc:
            problems.append(Problem(copy.bucket, None, "unreachable", str(exc)))
    return problems


def copy_problems(
    manifest: Manifest, copy: ManifestCopy, sizes: dict[str, int] | None
) -> list[Problem]:
    """A bucket's copy of the set against the trusted manifest by size: `sizes` are the stored
    objects' sizes (None: the bucket could not be listed)."""
    bucket = copy.bucket
    if sizes is None or copy.state == "unreachable":
        return [
            Problem(bucket, None, "unreachable", copy.detail or f"the {bucket.name} is unreachable")
        ]
    problems = _manifest_problems(manifest, copy)
    for part in manifest.parts:
        stored = sizes.get(part.object)
        where = f"{manifest.set_id}/{part.object}"
        if stored is None:
            problems.append(
                Problem(
                    bucket, part.object, "missing", f"{where} is missing from the {bucket.name}"
                )
            )
        elif stored != part.object_size:
            problems.append(
                Problem(
                    bucket,
                    part.object,
                    f"{stored} of {part.object_size} bytes",
                    f"{where} in the {bucket.name} has {stored} bytes; the manifest says "
                    f"{part.object_size}",
                )
            )
    return problems


def last_verification(sources: list[BackupBucket], set_id: str) -> dict[str, Any] | None:
    """The newest record of a verification of the set in any bucket, or None."""
    records = []
    for bucket in sources:
        try:
            record = json.loads(bucket.read_text(set_id, VERIFIED_NAME))
        except (StorageUnavailable, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("verified_at"), str):
            records.append(record)
    return max(records, key=lambda r: str(r["verified_at"]), default=None)


def _manifest_problems(manifest: Manifest, copy: ManifestCopy) -> list[Problem]:
    if copy.manifest == manifest:
        return []
    if copy.state == "ok":
        text = (
            f"{manifest.set_id}/{MANIFEST_NAME} in the {copy.bucket.name} differs from the "
            "trusted copy"
        )
        return [Problem(copy.bucket, MANIFEST_NAME, "differs", text)]
    return [Problem(copy.bucket, MANIFEST_NAME, copy.state, copy.detail)]


def _hash_problems(manifest: Manifest, copy: ManifestCopy) -> list[Problem]:
    problems = []
    for part in manifest.parts:
        where = f"{manifest.set_id}/{part.object}"
        try:
            actual, size = copy.bucket.digest(manifest.set_id, part.object)
        except StorageMissing as exc:
            if not exc.missing:
                raise
            text = f"{where} is missing from the {copy.bucket.name}"
            problems.append(Problem(copy.bucket, part.object, "missing", text))
            continue
        try:
            check_object(
                f"{where} in the {copy.bucket.name}",
                actual,
                size,
                part.object_sha256,
                part.object_size,
            )
        except IntegrityFailure as exc:
            problems.append(Problem(copy.bucket, part.object, "damaged", str(exc)))
    return problems


def _repair(
    manifest: Manifest, trusted: ManifestCopy, problems: list[Problem], sources: list[BackupBucket]
) -> list[str]:
    """Objects first, then the manifest, and a manifest only into a bucket whose objects were
    all mended: a manifest says its set is complete."""
    repaired = []
    unmended = {id(p.bucket) for p in problems if p.object is None}  # unreachable
    parts = {part.object: part for part in manifest.parts}
    for problem in problems:
        if problem.object is None or problem.object == MANIFEST_NAME:
            continue
        try:
            source = copy_good_object(
                manifest.set_id, parts[problem.object], problem.bucket, sources
            )
        except BackupError as exc:
            logger.warning("%s", exc)
            unmended.add(id(problem.bucket))
            continue
        repaired.append(
            f"{manifest.set_id}/{problem.object}: copied from the {source.name} to the "
            f"{problem.bucket.name} and verified"
        )
    for problem in problems:
        if problem.object != MANIFEST_NAME or id(problem.bucket) in unmended:
            continue
        try:
            copy_manifest(trusted, problem.bucket)
        except BackupError as exc:
            logger.warning("%s", exc)
            continue
        repaired.append(
            f"{manifest.set_id}/{MANIFEST_NAME}: copied from the {trusted.bucket.name} to the "
            f"{problem.bucket.name}"
        )
    return repaired


def _record(result: SetVerification, holders: list[BackupBucket]) -> None:
    record = {
        "set_id": result.set_id,
        "verified_at": result.verified_at,
        "deep": result.deep,
        "ok": result.ok,
        "problems": result.problems,
        "repaired": result.repaired,
    }
    text = json.dumps(record, indent=2) + "\n"
    for bucket in holders:
        try:
            bucket.put_text(text, result.set_id, VERIFIED_NAME)
        except StorageUnavailable as exc:
            result.problems.append(f"the verification could not be recorded: {exc}")
