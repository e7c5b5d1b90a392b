"""Mending one bucket's copy of a set from the other bucket's good copy.

An object is copied only from a copy that hashes to the manifest's SHA-256 and size, and is
hashed again where it lands, as `dental backup create` does. The manifest goes last: a bucket
holds a manifest only when every object of the set beside it has passed.
"""

from __future__ import annotations

from serving.backup.errors import IntegrityFailure, StorageUnavailable
from serving.backup.healing import ManifestCopy
from serving.backup.manifest import MANIFEST_NAME, Manifest, Part
from serving.backup.storage import BackupBucket, check_object


def copy_good_object(
    set_id: str, part: Part, target: BackupBucket, sources: list[BackupBucket]
) -> BackupBucket:
    """Copy the part's object into `target` from the first other bucket whose copy matches the
    manifest, and verify it there; returns the bucket it came from."""
    problems = []
    for source in sources:
        if source is target:
            continue
        try:
            actual, size = source.digest(set_id, part.object)
            check_object(
                f"{set_id}/{part.object} in the {source.name}",
                actual,
                size,
                part.object_sha256,
                part.object_size,
            )
        except (StorageUnavailable, IntegrityFailure) as exc:
            problems.append(str(exc))
            continue
        target.copy_from(source, set_id, part.object)
        target.verify(set_id, part.object, part.object_sha256, part.object_size)
        return source
    raise IntegrityFailure(
        f"no intact copy of {set_id}/{part.object} to mend the {target.name} from: "
        + ("; ".join(problems) or "no other bucket")
    )


def copy_manifest(good: ManifestCopy, target: BackupBucket) -> None:
    """Copy the trusted manifest into `target`, byte for byte, and read it back."""
    manifest = good.manifest
    assert manifest is not None  # a trusted copy is a readable one
    target.copy_from(good.bucket, manifest.set_id, MANIFEST_NAME)
    where = f"{manifest.set_id}/{MANIFEST_NAME} in the {target.name}"
    copied = Manifest.from_json(target.read_text(manifest.set_id, MANIFEST_NAME), where=where)
    if copied != manifest:
        raise IntegrityFailure(f"{where} does not read back as the manifest copied into it")
