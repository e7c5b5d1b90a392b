"""Check the production secrets in AWS Secrets Manager without reading a single value.

For each required secret: it exists, is not scheduled for deletion, has a current value, and is
encrypted with the customer-managed KMS key (alias `alias/dental-clinic-secrets`, created by
infra/terraform/), not the AWS-managed `aws/secretsmanager` key. The key itself must be
customer-managed, enabled, and rotated. Only `DescribeSecret` and KMS `DescribeKey` /
`GetKeyRotationStatus` are called, so the operator running it needs no right to read values
(the `HumanDeveloperRole` without MFA is enough); reports carry names and key ids only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from serving.secrets import (
    SecretsUnavailable,
    aws_client_config,
    secret_name,
)

DEFAULT_KMS_ALIAS = "alias/dental-clinic-secrets"
AWS_MANAGED_SECRETS_KEY = "alias/aws/secretsmanager"

CHECKED_BY_DEFAULT: tuple[str, ...] = (
    "openai_api_key",
    "neo4j_password",
    "odoo_api_key",
    "telegram_bot_token",
    "jwt_secret",
)
"""What `dental secrets check` checks without `--secret`: the secrets every deployment needs
a value for. The others of `serving.secrets.PRODUCTION_SECRET_FIELDS` (the integration key,
the webhook secret, notices' and backups' secrets) are checked by naming them."""


@dataclass(frozen=True)
class KeyStatus:
    """The customer-managed key the secrets must be encrypted with."""

    alias: str
    key_id: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class SecretStatus:
    """One secret: its name and what is wrong with it (nothing, when `ok`)."""

    name: str
    problems: tuple[str, ...]
    kms_key: str | None = None
    """How the secret names its key: an ARN, key id or alias, or None for the AWS-managed key."""

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class SecretsReport:
    key: KeyStatus
    secrets: tuple[SecretStatus, ...]

    @property
    def ok(self) -> bool:
        return self.key.ok and all(secret.ok for secret in self.secrets)


class SecretsChecker:
    """Describes secrets and their KMS key through the Secrets Manager and KMS APIs."""

    def __init__(self, *, region: str, endpoint_url: str | None = None) -> None:
        self._where = endpoint_url or f"AWS in {region}"
        config = aws_client_config()
        try:
            session = boto3.session.Session()
            self._secrets = session.client(
                "secretsmanager", region_name=region, endpoint_url=endpoint_url, config=config
            )
            self._kms: Any = session.client(
                "kms", region_name=region, endpoint_url=endpoint_url, config=config
            )
        except ValueError as exc:
            raise SecretsUnavailable(
                f"cannot set up the AWS clients ({exc}); check AWS_REGION and AWS_ENDPOINT_URL"
            ) from None

    def check(
        self, *, prefix: str, fields: Iterable[str], kms_alias: str = DEFAULT_KMS_ALIAS
    ) -> SecretsReport:
        key = self._check_key(kms_alias)
        secrets = tuple(self._check_secret(secret_name(prefix, field), key) for field in fields)
        return SecretsReport(key=key, secrets=secrets)

    def _check_key(self, alias: str) -> KeyStatus:
        try:
            metadata = self._kms.describe_key(KeyId=alias)["KeyMetadata"]
        except ClientError as exc:
            code = _error_code(exc)
            if code == "NotFoundException":
                return KeyStatus(alias, None, (f"KMS key {alias} does not exist",))
            return KeyStatus(alias, None, (f"KMS refused DescribeKey on {alias} ({code})",))
        except BotoCoreError as exc:
            raise self._unreachable(exc, f"KMS key {alias}") from None
        key_id: str = metadata["KeyId"]
        problems: list[str] = []
        if metadata.get("KeyManager") != "CUSTOMER":
            problems.append(f"KMS key {alias} is AWS-managed; use a customer-managed key")
        if metadata.get("KeyState") != "Enabled":
            problems.append(f"KMS key {alias} is {metadata.get('KeyState', 'not enabled')}")
        try:
            rotation = self._kms.get_key_rotation_status(KeyId=key_id)
        except ClientError as exc:
            problems.append(f"cannot read the rotation status of {alias} ({_error_code(exc)})")
        except BotoCoreError as exc:
            raise self._unreachable(exc, f"KMS key {alias}") from None
        else:
            if not rotation.get("KeyRotationEnabled"):
                problems.append(f"automatic rotation is off for KMS key {alias}")
        return KeyStatus(alias, key_id, tuple(problems))

    def _check_secret(self, name: str, key: KeyStatus) -> SecretStatus:
        try:
            described = self._secrets.describe_secret(SecretId=name)
        except ClientError as exc:
            code = _error_code(exc)
            if code == "ResourceNotFoundException":
                return SecretStatus(name, ("does not exist",))
            return SecretStatus(name, (f"Secrets Manager refused DescribeSecret ({code})",))
        except BotoCoreError as exc:
            raise self._unreachable(exc, f"secret {name!r}") from None
        problems: list[str] = []
        if described.get("DeletedDate"):
            problems.append("is scheduled for deletion")
        stages = described.get("VersionIdsToStages", {})
        if not any("AWSCURRENT" in labels for labels in stages.values()):
            problems.append("has no current value (set it out of band: infra/terraform/README.md)")
        kms_key = described.get("KmsKeyId")
        problems.extend(self._key_problems(kms_key, key))
        return SecretStatus(name, tuple(problems), kms_key)

    def _key_problems(self, kms_key: str | None, expected: KeyStatus) -> list[str]:
        if not kms_key or kms_key in (AWS_MANAGED_SECRETS_KEY, "aws/secretsmanager"):
            return [f"is encrypted with the AWS-managed key, not {expected.alias}"]
        if expected.key_id is None:
            return []  # the key's own problem is already reported once
        try:
            key_id = self._kms.describe_key(KeyId=kms_key)["KeyMetadata"]["KeyId"]
        except ClientError as exc:
            return [f"its KMS key cannot be described ({_error_code(exc)})"]
        except BotoCoreError as exc:
            raise self._unreachable(exc, "a secret's KMS key") from None
        if key_id != expected.key_id:
            return [f"is encrypted with KMS key {key_id}, not {expected.alias}"]
        return []

    def _unreachable(self, exc: Exception, what: str) -> SecretsUnavailable:
        if isinstance(exc, NoCredentialsError):
            return SecretsUnavailable(
                f"no usable AWS credentials to describe {what}; attach an IAM role or set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        return SecretsUnavailable(
            f"{self._where} is unreachable while describing {what} ({type(exc).__name__}); "
            "check AWS_REGION, AWS_ENDPOINT_URL and network access"
        )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) or "unknown error"


def render_report(report: SecretsReport) -> list[str]:
    """One line for the key, one per secret, and a summary: names and key ids, never values."""
    key = report.key
    if key.ok:
        lines = [f"{key.alias}: customer-managed, enabled, rotation on (key {key.key_id})"]
    else:
        lines = [f"{key.alias}: " + "; ".join(key.problems)]
    for secret in report.secrets:
        status = "ok" if secret.ok else "; ".join(secret.problems)
        lines.append(f"{secret.name}: {status}")
    bad = sum(not secret.ok for secret in report.secrets)
    verdict = "all good" if report.ok else "PROBLEMS"
    lines.append(
        f"{len(report.secrets)} secrets checked, {bad} with problems, "
        f"key {'ok' if key.ok else 'NOT ok'}: {verdict}"
    )
    return lines
