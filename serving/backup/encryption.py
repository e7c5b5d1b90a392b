"""age encryption of backup parts (pyrage): to public recipients, from a private identity.

Creating a backup needs only the recipients (public keys, a setting); restoring needs the
identity (the private key), which comes from the secrets chain and is never logged. Files are
streamed through age in chunks, so a large database dump is never held in memory. A decryption
that fails for any reason deletes its partial output: no half-decrypted plaintext is left.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pyrage  # type: ignore[import-untyped]
from pyrage import x25519

from serving.backup.errors import BackupNotConfigured, DecryptionFailed
from serving.backup.recovery_secret import recovery_secret
from serving.secrets import secret_name
from serving.settings import Settings

logger = logging.getLogger(__name__)

SCHEME = "age-x25519"
IDENTITY_FIELD = "backup_age_identity"


def parse_recipients(text: str | None) -> list[x25519.Recipient]:
    """The `BACKUP_AGE_RECIPIENTS` public keys; a clear error when none or one is malformed."""
    keys = [key.strip() for key in (text or "").replace("\n", ",").split(",") if key.strip()]
    if not keys:
        raise BackupNotConfigured(
            "BACKUP_AGE_RECIPIENTS is not set: give the age public key(s) (age1...) the backups "
            "are encrypted to (`dental backup keygen` makes a pair)"
        )
    recipients = []
    for position, key in enumerate(keys, start=1):
        try:
            recipients.append(x25519.Recipient.from_str(key))
        except pyrage.RecipientError:
            raise BackupNotConfigured(
                f"BACKUP_AGE_RECIPIENTS: recipient {position} is not an age public key (age1...)"
            ) from None
    return recipients


def key_id(recipients: list[x25519.Recipient]) -> str:
    """A short, stable name of the key set, recorded in the manifest."""
    joined = ",".join(sorted(str(r) for r in recipients))
    return "age:" + hashlib.sha256(joined.encode()).hexdigest()[:16]


def load_identity(settings: Settings) -> x25519.Identity:
    """The private key from the secrets chain: environment, .env, SECRETS_DIR, then (with
    SECRETS_BACKEND=aws) the AWS secret `<prefix>/backup-age-identity`.

    Only restore asks for it, so serving instances never hold the key that opens backups.
    """
    value, where = recovery_secret(
        settings, IDENTITY_FIELD, settings.backup_age_identity, what="the backup key"
    )
    if not value:
        raise BackupNotConfigured(
            "the backup decryption key is missing: set BACKUP_AGE_IDENTITY (environment, .env "
            "or SECRETS_DIR/backup_age_identity) or store it as AWS secret "
            f"{secret_name(settings.aws_secrets_prefix, IDENTITY_FIELD)!r} with SECRETS_BACKEND=aws"
        )
    try:
        return x25519.Identity.from_str(value)
    except pyrage.IdentityError:
        raise BackupNotConfigured(
            f"the backup key in {where} is not an age identity (AGE-SECRET-KEY-1...)"
        ) from None


def encrypt_file(source: Path, target: Path, recipients: list[x25519.Recipient]) -> None:
    """Encrypt `source` to `target`, streaming."""
    with source.open("rb") as reader, target.open("wb") as writer:
        pyrage.encrypt_io(reader, writer, recipients)


def decrypt_file(source: Path, target: Path, identity: x25519.Identity, *, what: str) -> None:
    """Decrypt `source` to `target`, streaming; on any failure `target` is removed."""
    try:
        with source.open("rb") as reader, target.open("wb") as writer:
            pyrage.decrypt_io(reader, writer, [identity])
    except (pyrage.DecryptError, OSError) as exc:
        target.unlink(missing_ok=True)
        if isinstance(exc, OSError) and "decrypt" not in str(exc):
            raise  # a disk error, not the ciphertext
        raise DecryptionFailed(
            f"cannot decrypt {what}: the backup key (BACKUP_AGE_IDENTITY) is not one it was "
            "encrypted to, or the object is damaged"
        ) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def identity_opens(identity: x25519.Identity, recipients: list[str]) -> bool:
    """Whether the identity's public key is among the set's recipients."""
    return str(identity.to_public()) in recipients


def generate_key_pair() -> tuple[str, str]:
    """A new (public, private) age key pair for `dental backup keygen`."""
    identity = x25519.Identity.generate()
    return str(identity.to_public()), str(identity)
