"""What can go wrong with a backup or a restore, in words an operator can act on.

Messages name the object, setting or secret concerned and never include a secret's value.
"""

from __future__ import annotations


class BackupError(RuntimeError):
    """A backup or restore step failed; nothing was overwritten."""


class BackupNotConfigured(BackupError):
    """A setting or secret the operation needs is missing."""


class StorageUnavailable(BackupError):
    """The bucket could not be reached, does not exist, or refused the request."""


class SetNotFound(BackupError):
    """No backup set with that id (or no set at all) in the bucket."""


class IntegrityFailure(BackupError):
    """An object or file does not match its manifest: tampered with, truncated or corrupted."""


class IncompatibleSet(BackupError):
    """The manifest was written by another schema or app version than this one."""


class DecryptionFailed(BackupError):
    """The identity cannot decrypt the set: a wrong key, or a damaged object."""


class RestoreRefused(BackupError):
    """The restore target holds data, and overwriting it was not asked for."""


class CollectionFailed(BackupError):
    """A source (git, the database, the session exporter, DVC) could not be collected."""


class DrillFailed(BackupError):
    """The disaster-recovery drill did not restore service, or missed its RTO/RPO target."""
