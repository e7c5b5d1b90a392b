"""AWS Secrets Manager as the last link of the secrets chain.

Secrets are stored one per name, `<prefix>/<field-with-dashes>` (for example
`prod/openai-api-key`, `prod/telegram-bot-token`), so IAM policies can grant each one separately.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

logger = logging.getLogger(__name__)

SECRET_FIELDS: tuple[str, ...] = (
    "openai_api_key",
    "telegram_bot_token",
    "telegram_webhook_secret",
    "jwt_secret",
    "neo4j_password",
    "odoo_api_key",
    "integration_key",
    "smtp_password",
    "twilio_auth_token",
)
"""The settings the serving app reads through the secrets chain (AWS: `<prefix>/<name>`)."""

RECOVERY_SECRET_FIELDS: tuple[str, ...] = (
    "backup_age_identity",
    "backup_pgbackrest_passphrase",
)
"""Secrets only backups and restores read (the age key that opens backup sets, pgBackRest's
repository passphrase), never the serving app: it does not load them at start-up."""

PRODUCTION_SECRET_FIELDS: tuple[str, ...] = SECRET_FIELDS + RECOVERY_SECRET_FIELDS
"""Every secret production keeps in AWS Secrets Manager: the one list that infra/terraform
creates and docs/RECOVERY_RUNBOOK.md and docs/SECRETS.md name (tests/test_recovery_kit.py)."""

# botocore's defaults (60 s connect timeout, up to 5 legacy attempts) can hold start-up for
# minutes when the endpoint is down; these fail within seconds yet ride out a brief blip.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 3


def aws_client_config() -> Config:
    """The timeouts and retries above, for Secrets Manager and KMS clients (read at each call,
    so a client made later follows a changed setting)."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )


# botocore and urllib3 log whole request and response bodies at DEBUG, and a GetSecretValue
# response body is the secret itself.
_WIRE_LOGGERS = ("botocore", "boto3", "urllib3")

# What an operator should check for each refusal, by AWS error code.
_REFUSAL_HINTS = {
    "AccessDeniedException": "grant the role secretsmanager:GetSecretValue on it",
    "DecryptionFailure": "grant the role kms:Decrypt on the secret's KMS key",
    "UnrecognizedClientException": "check the AWS credentials",
    "InvalidSignatureException": "check the AWS credentials",
    "ExpiredTokenException": "the AWS session token has expired",
    "InvalidRequestException": "the secret may be scheduled for deletion",
}


class SecretsUnavailable(RuntimeError):
    """The secrets backend could not be reached or refused access."""


def secret_name(prefix: str, field: str) -> str:
    """The Secrets Manager name of a settings field, e.g. `prod/openai-api-key`."""
    return f"{prefix}/{field.replace('_', '-')}"


@contextmanager
def aws_wire_logging_quietened() -> Iterator[None]:
    """Keep the AWS libraries' loggers at INFO or above while secrets are on the wire.

    botocore logs every response body at DEBUG, so `LOG_LEVEL=DEBUG` would otherwise print each
    secret it fetches. Child loggers explicitly set to DEBUG are raised too, and every level is
    restored afterwards. Levels are process-wide, so other threads' AWS debug logs pause for
    the moment this runs (start-up, in practice).
    """
    names = [
        name
        for name, obj in logging.Logger.manager.loggerDict.items()
        if isinstance(obj, logging.Logger) and name.split(".")[0] in _WIRE_LOGGERS
    ]
    loggers = [logging.getLogger(name) for name in {*_WIRE_LOGGERS, *names}]
    saved = [(log, log.level) for log in loggers]
    for log in loggers:
        log.setLevel(max(log.level, logging.INFO))
    try:
        yield
    finally:
        for log, level in saved:
            log.setLevel(level)


class AwsSecretsManager:
    """Reads named secrets from AWS Secrets Manager (or any endpoint speaking its API)."""

    def __init__(self, *, prefix: str, region: str, endpoint_url: str | None = None) -> None:
        self._prefix = prefix
        self._where = endpoint_url or f"AWS Secrets Manager in {region}"
        config = aws_client_config()
        try:
            # A session of its own: boto3's module-level default session caches credentials
            # process-wide, and settings must reflect the environment at the time they load.
            self._client = boto3.session.Session().client(
                "secretsmanager", region_name=region, endpoint_url=endpoint_url, config=config
            )
        except ValueError as exc:  # botocore's invalid region or endpoint errors are ValueErrors
            raise SecretsUnavailable(
                f"cannot set up AWS Secrets Manager ({exc}); check AWS_REGION and AWS_ENDPOINT_URL"
            ) from None

    def fetch(self, fields: Iterable[str]) -> dict[str, str]:
        """Values of the fields that have a secret; absent secrets are simply not returned.

        Raises `SecretsUnavailable` when the backend cannot be reached or refuses a secret, since
        starting without a secret the operator meant to provide is worse than not starting.
        Messages name the secret and the cause, never a value.
        """
        found: dict[str, str] = {}
        with aws_wire_logging_quietened():
            for field in fields:
                value = self._fetch_one(secret_name(self._prefix, field))
                if value is not None:
                    found[field] = value
        return found

    def _fetch_one(self, name: str) -> str | None:
        try:
            response = self._client.get_secret_value(SecretId=name)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                logger.info("secret %s not found in %s; leaving it unset", name, self._where)
                return None
            hint = _REFUSAL_HINTS.get(code, "check the role's permissions and the secret")
            raise SecretsUnavailable(
                f"AWS Secrets Manager refused {name!r} ({code or 'unknown error'}); {hint}"
            ) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise SecretsUnavailable(
                f"no usable AWS credentials to read {name!r}; attach an IAM role or set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        except BotoCoreError as exc:
            # `from None`: some botocore errors quote the response body, which may be the secret.
            raise SecretsUnavailable(
                f"{self._where} is unreachable while reading {name!r} ({type(exc).__name__}, "
                f"{MAX_ATTEMPTS} attempts); check AWS_REGION, AWS_ENDPOINT_URL and network access"
            ) from None
        value = response.get("SecretString")
        if not value:
            logger.warning("secret %s has no text value (SecretString); leaving it unset", name)
            return None
        return value
