"""The backup buckets: upload, verify after write, copy to the secondary region, list, prune.

S3 (and moto, MinIO) do not verify what they store against our manifest, and replication is
asynchronous, so the set is verified here: every object is downloaded again and hashed, in the
primary bucket and then in the secondary one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from serving.backup.errors import BackupNotConfigured, IntegrityFailure, StorageUnavailable
from serving.backup.manifest import HASH_CHUNK_BYTES, MANIFEST_NAME
from serving.secrets import aws_wire_logging_quietened
from serving.settings import Settings

logger = logging.getLogger(__name__)

_MISSING_CODES = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class BucketLocation:
    """One backup bucket and how to reach it."""

    role: str  # "primary" or "secondary"
    bucket: str
    region: str
    endpoint_url: str | None
    kms_key_id: str | None = None


def bucket_locations(settings: Settings) -> list[BucketLocation]:
    """The primary bucket, then the secondary one when configured."""
    if not settings.backup_bucket:
        raise BackupNotConfigured("BACKUP_BUCKET is not set: name the primary backup bucket")
    endpoint = settings.backup_endpoint_url or settings.aws_endpoint_url
    primary_region = settings.backup_region or settings.aws_region
    locations = [
        BucketLocation(
            "primary", settings.backup_bucket, primary_region, endpoint, settings.backup_kms_key_id
        )
    ]
    if settings.backup_secondary_bucket:
        locations.append(
            BucketLocation(
                "secondary",
                settings.backup_secondary_bucket,
                settings.backup_secondary_region or primary_region,
                endpoint,
                settings.backup_secondary_kms_key_id,
            )
        )
    return locations


class BackupBucket:
    """A bucket holding backup sets under `<prefix>/<set id>/`."""

    def __init__(self, location: BucketLocation, prefix: str) -> None:
        self.location = location
        self.prefix = prefix.strip("/")
        config = Config(
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 5, "mode": "standard"},
        )
        self.client: Any = boto3.session.Session().client(
            "s3",
            region_name=location.region,
            endpoint_url=location.endpoint_url,
            config=config,
        )

    @property
    def name(self) -> str:
        return f"{self.location.role} bucket {self.location.bucket!r}"

    @property
    def encryption_arguments(self) -> dict[str, str]:
        """SSE-KMS with the configured key; otherwise the bucket's default encryption."""
        if self.location.kms_key_id is None:
            return {}
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.location.kms_key_id}

    def key(self, set_id: str, object_name: str) -> str:
        return f"{self.prefix}/{set_id}/{object_name}"

    def upload(self, path: Path, set_id: str, object_name: str) -> None:
        with self._errors(f"uploading {object_name}"):
            self.client.upload_file(
                str(path),
                self.location.bucket,
                self.key(set_id, object_name),
                ExtraArgs=self.encryption_arguments,
            )

    def put_text(self, text: str, set_id: str, object_name: str) -> None:
        with self._errors(f"writing {object_name}"):
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self.key(set_id, object_name),
                Body=text.encode("utf-8"),
                ContentType="application/json",
                **self.encryption_arguments,
            )

    def read_text(self, set_id: str, object_name: str) -> str:
        with self._errors(f"reading {set_id}/{object_name}"):
            response = self.client.get_object(
                Bucket=self.location.bucket, Key=self.key(set_id, object_name)
            )
            body: bytes = response["Body"].read()
        return body.decode("utf-8")

    def download(self, set_id: str, object_name: str, target: Path) -> None:
        with self._errors(f"downloading {set_id}/{object_name}"):
            self.client.download_file(
                self.location.bucket, self.key(set_id, object_name), str(target)
            )

    def digest(self, set_id: str, object_name: str) -> tuple[str, int]:
        """SHA-256 and size of the stored object, downloaded again and hashed as it streams."""
        digest = hashlib.sha256()
        stored = 0
        with self._errors(f"verifying {set_id}/{object_name}"):
            response = self.client.get_object(
                Bucket=self.location.bucket, Key=self.key(set_id, object_name)
            )
            for chunk in response["Body"].iter_chunks(HASH_CHUNK_BYTES):
                digest.update(chunk)
                stored += len(chunk)
        return digest.hexdigest(), stored

    def verify(self, set_id: str, object_name: str, sha256: str, size: int) -> None:
        """Download the object again, streaming, and compare it with the manifest."""
        actual, stored = self.digest(set_id, object_name)
        check_object(f"{set_id}/{object_name} in the {self.name}", actual, stored, sha256, size)

    def copy_from(self, source: BackupBucket, set_id: str, object_name: str) -> None:
        """Server-side copy (multipart for large objects) from another bucket."""
        with self._errors(f"copying {object_name} from the {source.name}"):
            self.client.copy(
                {"Bucket": source.location.bucket, "Key": source.key(set_id, object_name)},
                self.location.bucket,
                self.key(set_id, object_name),
                ExtraArgs=self.encryption_arguments,
                SourceClient=source.client,
            )

    def set_ids(self) -> list[str]:
        """Ids of the sets that have a manifest (complete sets), oldest first."""
        ids = []
        for key in self._keys(f"{self.prefix}/"):
            parts = key[len(self.prefix) + 1 :].split("/")
            if len(parts) == 2 and parts[1] == MANIFEST_NAME:
                ids.append(parts[0])
        return sorted(ids)

    def delete_set(self, set_id: str) -> int:
        """Delete every object of a set (a delete marker where versioning keeps the data until
        the lifecycle rule or object lock allows); the manifest goes first, so a half-deleted
        set is never taken for a complete one. Returns how many objects were deleted."""
        keys = sorted(
            self._keys(f"{self.prefix}/{set_id}/"), key=lambda k: not k.endswith(MANIFEST_NAME)
        )
        with self._errors(f"deleting set {set_id}"):
            for key in keys:
                self.client.delete_object(Bucket=self.location.bucket, Key=key)
        return len(keys)

    def object_sizes(self, set_id: str | None = None) -> dict[str, dict[str, int]]:
        """The size of every stored object of one set (or of all), by set id and object name.

        One listing answers for every object (S3 lists sizes), where a HEAD per object would
        ask once for each.
        """
        prefix = f"{self.prefix}/{set_id}/" if set_id else f"{self.prefix}/"
        sizes: dict[str, dict[str, int]] = {}
        for key, size in self._items(prefix):
            parts = key[len(self.prefix) + 1 :].split("/")
            if len(parts) == 2:  # <set id>/<object>; DVC's store lies deeper
                sizes.setdefault(parts[0], {})[parts[1]] = size
        return sizes

    def _keys(self, prefix: str) -> Iterator[str]:
        return (key for key, _ in self._items(prefix))

    def _items(self, prefix: str) -> Iterator[tuple[str, int]]:
        with self._errors("listing the backup sets"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield str(item["Key"]), int(item["Size"])

    def _errors(self, doing: str) -> _S3Errors:
        return _S3Errors(self, doing)


class _S3Errors:
    """Turn botocore's errors into `StorageUnavailable` with the bucket and what was being done;
    wire logging stays quiet (request bodies are backup data)."""

    def __init__(self, bucket: BackupBucket, doing: str) -> None:
        self.bucket = bucket
        self.doing = doing
        self._quiet = aws_wire_logging_quietened()

    def __enter__(self) -> None:
        self._quiet.__enter__()

    def __exit__(self, kind: Any, exc: Any, _tb: Any) -> Literal[False]:
        self._quiet.__exit__(None, None, None)
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", "unknown"))
            missing = code in _MISSING_CODES
            raise StorageMissing(
                f"{self.bucket.name}: {self.doing} failed ({code})", missing=missing
            ) from None
        if isinstance(exc, BotoCoreError):
            raise StorageMissing(
                f"{self.bucket.name} is unreachable while {self.doing} ({type(exc).__name__}); "
                "check BACKUP_ENDPOINT_URL / AWS_ENDPOINT_URL, the region and credentials",
                missing=False,
            ) from None
        return False


class StorageMissing(StorageUnavailable):
    """A storage failure; `missing` when the bucket or object does not exist (fall back)."""

    def __init__(self, message: str, *, missing: bool) -> None:
        super().__init__(message)
        self.missing = missing


def check_object(what: str, actual_sha256: str, actual_size: int, sha256: str, size: int) -> None:
    """Compare a stored or downloaded object with the manifest, naming it when it differs."""
    if actual_size < size:
        raise IntegrityFailure(f"{what} is truncated: {actual_size} of {size} bytes")
    if actual_size != size or actual_sha256 != sha256:
        raise IntegrityFailure(
            f"{what} does not match the manifest (SHA-256 {actual_sha256[:16]}..., expected "
            f"{sha256[:16]}...): it was altered or corrupted; refusing to use it"
        )
