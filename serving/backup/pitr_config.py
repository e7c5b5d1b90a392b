"""The pgBackRest configuration of the clinic's PostgreSQL cluster, and its archive_command.

One stanza (the cluster) and one repository per backup bucket: repo1 in BACKUP_BUCKET, repo2 in
BACKUP_SECONDARY_BUCKET when set, both under `<BACKUP_PREFIX>/pgbackrest`, TLS verified and
encrypted with aes-256-cbc by the passphrase from the secrets chain. WAL is pushed to every
repository; base backups go to each in turn. With BACKUP_PGBACKREST_REPO_PATH, repo1 is that
local directory instead (tests, or a mounted disk).

The rendered file holds the passphrase (PostgreSQL's archive_command needs it without a
terminal), so it is written 0600 for the cluster's OS user and its text is never logged.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from serving.backup.errors import BackupNotConfigured
from serving.backup.recovery_secret import recovery_secret
from serving.secrets import secret_name
from serving.settings import Settings

PASSPHRASE_FIELD = "backup_pgbackrest_passphrase"  # noqa: S105 (a field name)
MIN_PASSPHRASE_LENGTH = 20
FULL_BACKUP_EVERY_DAYS = 7
DIFF_BACKUPS_KEPT = 6
"""Full weekly, differential on the other days: a week's differentials on top of each full."""


def load_passphrase(settings: Settings) -> str:
    """The repository passphrase: environment, .env, SECRETS_DIR, then (with
    SECRETS_BACKEND=aws) the AWS secret `<prefix>/backup-pgbackrest-passphrase`. Fetched only
    here, so serving instances never ask for it."""
    value, _ = recovery_secret(
        settings,
        PASSPHRASE_FIELD,
        settings.backup_pgbackrest_passphrase,
        what="the pgBackRest passphrase",
    )
    name = secret_name(settings.aws_secrets_prefix, PASSPHRASE_FIELD)
    if not value:
        raise BackupNotConfigured(
            "the pgBackRest passphrase is missing: set BACKUP_PGBACKREST_PASSPHRASE (environment, "
            f".env or SECRETS_DIR/{PASSPHRASE_FIELD}) or store it as AWS secret {name!r} with "
            "SECRETS_BACKEND=aws"
        )
    if len(value) < MIN_PASSPHRASE_LENGTH or any(c in value for c in "\n\r"):
        raise BackupNotConfigured(
            f"the pgBackRest passphrase must be one line of at least {MIN_PASSPHRASE_LENGTH} "
            "characters (e.g. `openssl rand -base64 48`)"
        )
    return value


def retention_full(settings: Settings) -> int:
    """Weekly full backups kept: enough to cover BACKUP_KEEP_DAYS (WAL is kept as long)."""
    return max(2, math.ceil(settings.backup_keep_days / FULL_BACKUP_EVERY_DAYS))


def data_dir(settings: Settings) -> Path:
    if settings.backup_pg_data_dir is None:
        raise BackupNotConfigured(
            "BACKUP_PG_DATA_DIR is not set: give the data directory of the clinic's PostgreSQL "
            "cluster (e.g. /var/lib/postgresql/15/main)"
        )
    return settings.backup_pg_data_dir.resolve()


def cluster_port(settings: Settings) -> int:
    """The cluster's port, from DATABASE_URL (pgBackRest connects through the socket)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        raise BackupNotConfigured(
            f"point-in-time recovery is for PostgreSQL: DATABASE_URL is {url.get_backend_name()}"
        )
    return url.port or 5432


def config_path(settings: Settings) -> Path:
    return settings.backup_pgbackrest_config.resolve()


def archive_command(settings: Settings) -> str:
    """PostgreSQL's archive_command: each completed WAL segment to every repository."""
    return (
        f"pgbackrest --config={config_path(settings)} "
        f"--stanza={settings.backup_pgbackrest_stanza} archive-push %p"
    )


def postgresql_conf_lines(settings: Settings) -> list[str]:
    """What postgresql.conf needs for continuous archiving (a restart applies archive_mode)."""
    command = archive_command(settings).replace("'", "''")
    return [
        "wal_level = replica",
        "archive_mode = on",
        f"archive_command = '{command}'",
        "archive_timeout = 60",
    ]


def render_config(
    settings: Settings, passphrase: str, environ: Mapping[str, str] | None = None
) -> str:
    """The pgBackRest configuration file's text. `environ` supplies AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY for BACKUP_PGBACKREST_S3_KEY_TYPE=shared (default: os.environ)."""
    cluster = [
        f"[{settings.backup_pgbackrest_stanza}]",
        f"pg1-path={data_dir(settings)}",
        f"pg1-port={cluster_port(settings)}",
        f"pg1-socket-path={settings.backup_pg_socket_dir}",
        "",
    ]
    lines = ["[global]"]
    if settings.backup_pgbackrest_repo_path is not None:
        lines += [
            "repo1-type=posix",
            f"repo1-path={settings.backup_pgbackrest_repo_path.resolve()}",
            *_repository_options(1, settings, passphrase),
        ]
    else:
        if not settings.backup_bucket:
            raise BackupNotConfigured(
                "neither BACKUP_BUCKET nor BACKUP_PGBACKREST_REPO_PATH is set: pgBackRest has "
                "no repository"
            )
        region = settings.backup_region or settings.aws_region
        lines += _s3_repository(1, settings, settings.backup_bucket, region, environ)
        lines += _repository_options(1, settings, passphrase)
        if settings.backup_secondary_bucket:
            region = settings.backup_secondary_region or region
            lines += _s3_repository(2, settings, settings.backup_secondary_bucket, region, environ)
            lines += _repository_options(2, settings, passphrase)
    state = config_path(settings).parent
    lines += [
        "start-fast=y",
        "compress-type=gz",
        "process-max=2",
        f"lock-path={state / 'lock'}",
        f"log-path={state / 'log'}",
        "log-level-console=info",
        "log-level-file=info",
        "",
        *cluster,
    ]
    return "\n".join(lines)


def _repository_options(number: int, settings: Settings, passphrase: str) -> list[str]:
    return [
        f"repo{number}-cipher-type=aes-256-cbc",
        f"repo{number}-cipher-pass={passphrase}",
        f"repo{number}-retention-full-type=count",
        f"repo{number}-retention-full={retention_full(settings)}",
        f"repo{number}-retention-diff={DIFF_BACKUPS_KEPT}",
    ]


def _s3_repository(
    number: int,
    settings: Settings,
    bucket: str,
    region: str,
    environ: Mapping[str, str] | None,
) -> list[str]:
    repo = f"repo{number}"
    endpoint = settings.backup_endpoint_url or settings.aws_endpoint_url
    lines = [
        f"{repo}-type=s3",
        f"{repo}-path=/{settings.backup_prefix.strip('/')}/pgbackrest",
        f"{repo}-s3-bucket={bucket}",
        f"{repo}-s3-region={region}",
        f"{repo}-storage-verify-tls=y",
    ]
    if endpoint:
        # MinIO or a stand-in: path-style addressing on its own host and port. pgBackRest
        # always speaks TLS, so the endpoint must serve HTTPS whatever its URL's scheme says.
        parts = urlsplit(endpoint)
        if not parts.hostname:
            raise BackupNotConfigured(f"the S3 endpoint {endpoint!r} names no host")
        lines += [f"{repo}-s3-endpoint={parts.hostname}", f"{repo}-s3-uri-style=path"]
        if parts.port:
            lines.append(f"{repo}-storage-port={parts.port}")
    else:
        lines += [f"{repo}-s3-endpoint=s3.{region}.amazonaws.com", f"{repo}-s3-uri-style=host"]
    key_type = settings.backup_pgbackrest_s3_key_type
    lines.append(f"{repo}-s3-key-type={key_type}")
    if key_type == "shared":
        env = os.environ if environ is None else environ
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            raise BackupNotConfigured(
                "BACKUP_PGBACKREST_S3_KEY_TYPE=shared needs AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        lines += [f"{repo}-s3-key={key}", f"{repo}-s3-key-secret={secret}"]
        if env.get("AWS_SESSION_TOKEN"):
            lines.append(f"{repo}-s3-token={env['AWS_SESSION_TOKEN']}")
    return lines


def write_config(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """Write the configuration 0600 (owned by BACKUP_PG_OS_USER when set), its lock and log
    directories beside it; returns the path."""
    path = config_path(settings)
    text = render_config(settings, load_passphrase(settings), environ)
    for directory in (path.parent, path.parent / "lock", path.parent / "log"):
        if not directory.is_dir():  # an existing directory (/etc/pgbackrest) keeps its owner
            directory.mkdir(mode=0o700, parents=True)
            give_to_cluster_owner(settings, directory)
    staging = path.with_name(path.name + ".new")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    give_to_cluster_owner(settings, staging)
    staging.replace(path)
    return path


def give_to_cluster_owner(settings: Settings, path: Path) -> None:
    """Hand a file or directory we made to the cluster's OS user (when one is set)."""
    if settings.backup_pg_os_user:
        shutil.chown(path, user=settings.backup_pg_os_user)
