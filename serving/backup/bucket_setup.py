"""`dental backup init`: create the backup buckets and give each the settings a backup needs.

For a clinic without the Terraform stack (infra/terraform), which does the same and more
(object lock, replication, access logs). Safe to run again: each setting is put only as it
should be, and what Terraform or an operator configured is kept where it is at least as strict:

- versioning on (a deleted or overwritten set stays recoverable as a noncurrent version);
- default encryption: SSE-KMS with BACKUP_KMS_KEY_ID / BACKUP_SECONDARY_KMS_KEY_ID when set,
  else SSE-S3 (AES256), never replacing an existing SSE-KMS default with SSE-S3;
- public access blocked, all four switches;
- a lifecycle rule expiring noncurrent versions BACKUP_KEEP_DAYS days after `dental backup
  prune` deletes them (versioning would otherwise keep them forever), unless the bucket already
  has lifecycle rules of its own (Terraform's: Glacier, then expiry after 7 years).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from serving.backup.errors import StorageUnavailable
from serving.backup.storage import BackupBucket, bucket_locations
from serving.secrets import aws_wire_logging_quietened
from serving.settings import Settings

RETENTION_RULE_ID = "dental-backup-retention"
ABORT_UPLOADS_AFTER_DAYS = 7
_NOT_FOUND = {"404", "NoSuchBucket", "NotFound"}
_NO_CONFIGURATION = {
    "NoSuchLifecycleConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
}


def init_buckets(settings: Settings) -> list[str]:
    """Create and configure the primary and (when set) secondary bucket; one line per step."""
    lines = []
    for location in bucket_locations(settings):
        bucket = BackupBucket(location, settings.backup_prefix)
        lines += [f"{bucket.name} ({location.region}):", *_init_bucket(bucket, settings)]
    return lines


def _init_bucket(bucket: BackupBucket, settings: Settings) -> list[str]:
    client, name = bucket.client, bucket.location.bucket
    with _s3_errors(bucket, "checking"):
        created = not _exists(client, name)
    if created:
        with _s3_errors(bucket, "creating"):
            arguments: dict[str, Any] = {"Bucket": name}
            if bucket.location.region != "us-east-1":  # S3 refuses us-east-1 as a constraint
                arguments["CreateBucketConfiguration"] = {
                    "LocationConstraint": bucket.location.region
                }
            client.create_bucket(**arguments)
    with _s3_errors(bucket, "turning versioning on"):
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    with _s3_errors(bucket, "setting default encryption"):
        encryption = _default_encryption(client, name, bucket.location.kms_key_id)
    with _s3_errors(bucket, "blocking public access"):
        client.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    with _s3_errors(bucket, "setting the lifecycle rule"):
        lifecycle = _retention_lifecycle(client, name, settings)
    return [
        "  created" if created else "  exists",
        "  versioning: enabled",
        f"  default encryption: {encryption}",
        "  public access: blocked",
        f"  lifecycle: {lifecycle}",
    ]


def _exists(client: Any, name: str) -> bool:
    try:
        client.head_bucket(Bucket=name)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
            return False
        raise
    return True


def _default_encryption(client: Any, name: str, kms_key_id: str | None) -> str:
    if kms_key_id is None:
        current = _configuration(client.get_bucket_encryption, name)
        rules = (current or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        for rule in rules:
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
                key = default.get("KMSMasterKeyID", "the AWS-managed key")
                return f"SSE-KMS with {key} (kept; no BACKUP_*KMS_KEY_ID set)"
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        described = "SSE-S3 (AES256)"
    else:
        rule = {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": kms_key_id,
            },
            "BucketKeyEnabled": True,
        }
        described = f"SSE-KMS with {kms_key_id}"
    client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [rule]})
    return described


def _retention_lifecycle(client: Any, name: str, settings: Settings) -> str:
    current = _configuration(client.get_bucket_lifecycle_configuration, name)
    rules = list((current or {}).get("Rules", []))
    others = [rule for rule in rules if rule.get("ID") != RETENTION_RULE_ID]
    if others:
        return f"kept the bucket's own {len(others)} rule(s)"
    days = settings.backup_keep_days
    rule = {
        "ID": RETENTION_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": f"{settings.backup_prefix.strip('/')}/"},
        "NoncurrentVersionExpiration": {"NoncurrentDays": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_UPLOADS_AFTER_DAYS},
    }
    client.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})
    return f"pruned sets' versions expire {days} days after `dental backup prune`"


def _configuration(read: Any, name: str) -> dict[str, Any] | None:
    """A bucket configuration, or None when the bucket has none of that kind."""
    try:
        response: dict[str, Any] = read(Bucket=name)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _NO_CONFIGURATION:
            return None
        raise
    return response


@contextmanager
def _s3_errors(bucket: BackupBucket, doing: str) -> Iterator[None]:
    """S3's refusals as `StorageUnavailable` naming the bucket, the step and AWS's error code."""
    try:
        with aws_wire_logging_quietened():
            yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        raise StorageUnavailable(f"{bucket.name}: {doing} failed ({code})") from None
    except BotoCoreError as exc:
        raise StorageUnavailable(
            f"{bucket.name} is unreachable while {doing} ({type(exc).__name__}); check "
            "BACKUP_ENDPOINT_URL / AWS_ENDPOINT_URL, the region and credentials"
        ) from None
