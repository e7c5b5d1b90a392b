"""Reads that heal: a damaged or missing copy gives way to the other bucket's good one.

Every set is stored twice, in the primary bucket and in the secondary one (another region), and
both copies were verified against the same manifest when the set was made. A later read that
finds one copy bad (a flipped byte, a truncated object, a corrupt or missing manifest) takes the
other copy when that one matches, with a WARNING naming the set, the object and the bucket
(`dental backup verify --repair` then mends the bad copy). Only when no copy is good does the
read fail, naming what is wrong with each.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from serving.backup.errors import IntegrityFailure, SetNotFound, StorageUnavailable
from serving.backup.manifest import MANIFEST_NAME, Manifest, Part, sha256_file
from serving.backup.storage import BackupBucket, StorageMissing, check_object

logger = logging.getLogger(__name__)

REPAIR_HINT = "run `dental backup verify --repair` to mend it"

CopyState = Literal["ok", "missing", "unreadable", "unreachable"]


@dataclass(frozen=True)
class ManifestCopy:
    """One bucket's copy of a set's manifest: parsed, or what is wrong with it."""

    bucket: BackupBucket
    state: CopyState
    manifest: Manifest | None = None
    detail: str = ""
    """The error, naming the set and the bucket, when the copy is not `ok`."""


def all_set_ids(sources: list[BackupBucket]) -> list[str]:
    """Ids of the sets with a manifest in any bucket that answers, oldest first: a set whose
    primary copy is gone is still found in the secondary bucket."""
    ids: set[str] = set()
    failures = []
    for bucket in sources:
        try:
            ids.update(bucket.set_ids())
        except StorageUnavailable as exc:
            failures.append(str(exc))
            logger.warning("%s; listing the other bucket", exc)
    if len(failures) == len(sources):
        raise StorageUnavailable("no backup bucket could be read: " + "; ".join(failures))
    return sorted(ids)


def manifest_copies(sources: list[BackupBucket], set_id: str) -> list[ManifestCopy]:
    """Each bucket's copy of the set's manifest, in the order of `sources`."""
    copies = []
    for bucket in sources:
        where = f"{set_id}/{MANIFEST_NAME} in the {bucket.name}"
        try:
            text = bucket.read_text(set_id, MANIFEST_NAME)
            manifest = Manifest.from_json(text, where=where)
        except StorageMissing as exc:
            copies.append(
                ManifestCopy(bucket, "missing" if exc.missing else "unreachable", None, str(exc))
            )
            continue
        except UnicodeDecodeError:
            detail = f"{where} is not a readable backup manifest (UnicodeDecodeError)"
            copies.append(ManifestCopy(bucket, "unreadable", None, detail))
            continue
        except IntegrityFailure as exc:
            copies.append(ManifestCopy(bucket, "unreadable", None, str(exc)))
            continue
        if manifest.set_id != set_id:
            detail = f"{where} describes another set ({manifest.set_id})"
            copies.append(ManifestCopy(bucket, "unreadable", None, detail))
            continue
        copies.append(ManifestCopy(bucket, "ok", manifest))
    return copies


def choose_manifest(copies: list[ManifestCopy], set_id: str, *, warn: bool = True) -> ManifestCopy:
    """The copy of the manifest to trust.

    The first readable copy, when every readable copy agrees. When two parse but differ, the
    one whose objects verify (some bucket holds each of its objects with its hash) is taken;
    when both or neither do, nobody can tell which is true, and that is an `IntegrityFailure`.
    """
    readable = [copy for copy in copies if copy.manifest is not None]
    if not readable:
        problems = "; ".join(copy.detail for copy in copies)
        if any(copy.state == "unreadable" for copy in copies):
            raise IntegrityFailure(f"no readable copy of {set_id}/{MANIFEST_NAME}: {problems}")
        raise SetNotFound(f"no usable backup set {set_id}: {problems}")
    chosen = readable[0]
    rivals = [copy for copy in readable[1:] if copy.manifest != chosen.manifest]
    if rivals:
        candidates = [chosen, *rivals]
        chosen = _the_copy_whose_objects_verify(candidates, set_id)
        if warn:
            logger.warning(
                "the copies of %s/%s in the %s differ; using the one in the %s, whose objects "
                "match it (%s)",
                set_id,
                MANIFEST_NAME,
                " and ".join(copy.bucket.name for copy in candidates),
                chosen.bucket.name,
                REPAIR_HINT,
            )
    if warn:
        for copy in copies:
            if copy.state != "ok":  # a readable copy that differs was named above
                logger.warning(
                    "%s; using the copy in the %s (%s)",
                    copy.detail,
                    chosen.bucket.name,
                    REPAIR_HINT,
                )
    return chosen


def read_manifest(sources: list[BackupBucket], set_id: str) -> Manifest:
    """The set's manifest from whichever bucket holds a good copy (see `choose_manifest`)."""
    manifest = choose_manifest(manifest_copies(sources, set_id), set_id).manifest
    assert manifest is not None  # chosen copies are readable
    return manifest


def fetch_object(
    manifest: Manifest, part: Part, sources: list[BackupBucket], target: Path
) -> BackupBucket:
    """Download the part's object into `target` from the first bucket whose copy matches the
    manifest; returns that bucket. Fails naming every copy's problem when none matches."""
    problems: list[str] = []
    reachable = False
    for bucket in sources:
        what = f"{manifest.set_id}/{part.object} in the {bucket.name}"
        try:
            bucket.download(manifest.set_id, part.object, target)
            reachable = True
            actual, size = sha256_file(target)
            check_object(what, actual, size, part.object_sha256, part.object_size)
        except StorageMissing as exc:
            reachable = reachable or exc.missing
            problems.append(str(exc))
            target.unlink(missing_ok=True)
            continue
        except IntegrityFailure as exc:
            problems.append(str(exc))
            target.unlink(missing_ok=True)
            continue
        if problems:
            logger.warning(
                "%s; using the copy in the %s (%s)", "; ".join(problems), bucket.name, REPAIR_HINT
            )
        return bucket
    message = f"no intact copy of {manifest.set_id}/{part.object} in any bucket: " + "; ".join(
        problems
    )
    if not reachable:
        raise StorageUnavailable(message)
    raise IntegrityFailure(message)


def _the_copy_whose_objects_verify(candidates: list[ManifestCopy], set_id: str) -> ManifestCopy:
    sources = [copy.bucket for copy in candidates]
    verified = []
    for copy in candidates:
        assert copy.manifest is not None
        others = [c.manifest for c in candidates if c is not copy and c.manifest is not None]
        own = [part for part in copy.manifest.parts if all(part not in m.parts for m in others)]
        if all(_some_copy_matches(set_id, part, sources) for part in own):
            verified.append(copy)
    if len(verified) == 1:
        return verified[0]
    names = " and ".join(copy.bucket.name for copy in candidates)
    differing = _differing_fields(candidates)
    which = "both match" if verified else "neither matches"
    raise IntegrityFailure(
        f"the copies of {set_id}/{MANIFEST_NAME} in the {names} differ (in {differing}) and "
        f"{which} the set's objects: one of them was altered; compare them before trusting "
        "either"
    )


def _some_copy_matches(set_id: str, part: Part, sources: list[BackupBucket]) -> bool:
    for bucket in sources:
        try:
            actual, size = bucket.digest(set_id, part.object)
        except StorageUnavailable:
            continue
        if (actual, size) == (part.object_sha256, part.object_size):
            return True
    return False


def _differing_fields(candidates: list[ManifestCopy]) -> str:
    fields = [asdict(copy.manifest) for copy in candidates if copy.manifest is not None]
    names = sorted({name for name in fields[0] if any(f[name] != fields[0][name] for f in fields)})
    return ", ".join(names)
