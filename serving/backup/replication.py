"""Whether each set's second copy is whole, and completing the ones that are not.

A run interrupted while copying to the secondary bucket leaves a set complete in the primary
bucket (its manifest is there) and partial in the secondary one (some objects, no manifest).
Such a set is "not replicated": `dental backup list` says so, and the next `dental backup
create` (or `dental backup verify --repair`) copies and verifies the missing objects, then the
manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from serving.backup.errors import BackupError
from serving.backup.healing import ManifestCopy
from serving.backup.manifest import MANIFEST_NAME, Manifest
from serving.backup.storage import BackupBucket
from serving.backup.verify import VERIFIED_NAME, Problem, copy_problems, verify_set

logger = logging.getLogger(__name__)

REPLICATED = "replicated"
NOT_REPLICATED = "not replicated"
PRIMARY_MISSING = "primary missing"
PRIMARY_DAMAGED = "primary damaged"
NO_COMPLETE_COPY = "no complete copy"


def replication_status(
    manifest: Manifest, copies: list[ManifestCopy], sizes: dict[str, dict[str, int] | None]
) -> str:
    """`replicated`, `not replicated`, `primary missing`, `primary damaged` or `no complete
    copy`, with what is wrong in brackets. `sizes`: each bucket's stored sizes for the set, by
    bucket name (None when the bucket could not be listed)."""
    problems = {
        copy.bucket.location.role: copy_problems(manifest, copy, sizes.get(copy.bucket.name))
        for copy in copies
    }
    primary, secondary = problems.get("primary", []), problems.get("secondary")
    if secondary is None:
        return f"{NOT_REPLICATED} (no secondary bucket configured)"
    if not primary and not secondary:
        return REPLICATED
    if not primary:
        return f"{NOT_REPLICATED} (secondary: {_briefly(secondary)})"
    if not secondary:
        gone = all(p.short in ("missing", "unreachable") for p in primary)
        return f"{PRIMARY_MISSING if gone else PRIMARY_DAMAGED} ({_briefly(primary)})"
    return f"{NO_COMPLETE_COPY} (primary: {_briefly(primary)}; secondary: {_briefly(secondary)})"


def complete_replication(
    primary: BackupBucket, secondary: BackupBucket, progress: Callable[[str], None] = logger.info
) -> list[str]:
    """Complete every set whose secondary copy lacks an object (or its manifest) that the
    primary's complete copy holds; returns what was copied. A set that cannot be completed is
    logged and left for `dental backup verify`, and never stops the caller."""
    try:
        theirs, mine = secondary.object_sizes(), primary.object_sizes()
    except BackupError as exc:
        logger.warning("replication not checked: %s", exc)
        return []
    copied = []
    for set_id, ours in sorted(mine.items()):
        if MANIFEST_NAME not in ours or all(
            theirs.get(set_id, {}).get(name) == size
            for name, size in ours.items()
            if name != VERIFIED_NAME
        ):
            continue
        progress(f"set {set_id} is not replicated: completing its copy in the {secondary.name}")
        try:
            result = verify_set([primary, secondary], set_id, deep=False, repair=True)
        except BackupError as exc:
            logger.warning("set %s could not be completed: %s", set_id, exc)
            continue
        copied += result.repaired
        for problem in result.problems:
            logger.warning("set %s is still not replicated: %s", set_id, problem)
    return copied


def _briefly(problems: list[Problem], most: int = 3) -> str:
    words = [f"{p.object} {p.short}" if p.object else p.short for p in problems]
    more = f" and {len(words) - most} more" if len(words) > most else ""
    return ", ".join(words[:most]) + more
