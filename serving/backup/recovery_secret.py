"""The secrets only recovery asks for (the backup decryption key, the pgBackRest passphrase),
read on demand: the settings' chain (environment, .env, SECRETS_DIR), then, with
SECRETS_BACKEND=aws, AWS Secrets Manager. Only the commands that need one fetch it, so serving
instances never hold them."""

from __future__ import annotations

from pydantic import SecretStr

from serving.backup.errors import BackupNotConfigured
from serving.secrets import AwsSecretsManager, SecretsUnavailable, secret_name
from serving.settings import Settings


def recovery_secret(
    settings: Settings, field: str, configured: SecretStr | None, *, what: str
) -> tuple[str, str]:
    """The secret `field` (stripped; "" when it is nowhere) and where it was read or last
    looked for, for the caller's messages. BackupNotConfigured, naming `what`, when AWS
    cannot be asked."""
    value = configured.get_secret_value().strip() if configured is not None else ""
    if value or settings.secrets_backend != "aws":
        return value, f"{field.upper()} (environment, .env or SECRETS_DIR/{field})"
    try:
        store = AwsSecretsManager(
            prefix=settings.aws_secrets_prefix,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
        )
        value = store.fetch([field]).get(field, "").strip()
    except SecretsUnavailable as exc:
        raise BackupNotConfigured(f"cannot read {what}: {exc}") from None
    return value, f"AWS secret {secret_name(settings.aws_secrets_prefix, field)!r}"
