"""The sources of a backup set besides the database: the repository, the MLflow store, AI
development session exports, and data/ through DVC."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serving.backup.errors import BackupError, CollectionFailed
from serving.backup.sessions import SessionExporter, session_ids_from_commits
from serving.backup.storage import BucketLocation

logger = logging.getLogger(__name__)

GIT_TIMEOUT_SECONDS = 600
DVC_REMOTE_PREFIX = "dental-backup-"
"""DVC remotes the backup configures in the repository's `.dvc/config.local` (not in git)."""


def git_bundle(repository: Path, target: Path) -> tuple[Path, str]:
    """`git bundle create --all` of the repository, verified; returns it and HEAD's commit."""
    run_git(repository, "bundle", "create", str(target.resolve()), "--all")
    run_git(repository, "bundle", "verify", str(target.resolve()))
    return target, run_git(repository, "rev-parse", "HEAD").strip()


def run_git(repository: Path, *arguments: str) -> str:
    """git in `repository`; a failure is a `BackupError` quoting git's last line."""
    try:
        result = subprocess.run(  # noqa: S603 - fixed command, arguments are paths and refs
            ["git", *arguments],  # noqa: S607 - git from PATH
            cwd=repository,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except OSError as exc:
        raise BackupError(f"cannot run git: {exc}") from None
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()
        reason = detail[-1] if detail else f"exit {result.returncode}"
        raise BackupError(f"git {arguments[0]} failed in {repository}: {reason}")
    return result.stdout


def mlflow_store(tracking_uri: str, target: Path) -> Path | None:
    """The local MLflow store (`sqlite:///<dir>/mlflow.db` and the artifacts beside it) as one
    tar, the database copied with SQLite's backup API. None for a tracking server, which
    backs up its own database and artifact store."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    if not database.is_file():
        raise CollectionFailed(f"the MLflow store {database} does not exist")
    snapshot = target.with_suffix(".db")
    source, copy = sqlite3.connect(database), sqlite3.connect(snapshot)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    root = database.parent
    with tarfile.open(target, "w") as archive:
        archive.add(snapshot, arcname="mlflow.db")
        for entry in sorted(root.iterdir()):
            if entry.name.startswith("mlflow.db"):
                continue
            archive.add(entry, arcname=entry.name)
    snapshot.unlink()
    return target


def session_exports(
    base_url: str, token: str | None, ids: list[str], repository: Path, target: Path
) -> tuple[Path, list[str]]:
    """Every configured session and every session named in commit trailers, as one tar."""
    wanted = list(dict.fromkeys([*ids, *session_ids_from_commits(repository)]))
    staging = target.with_suffix(".d")
    staging.mkdir()
    exporter = SessionExporter(base_url, token)
    try:
        for session_id in wanted:
            exporter.export(session_id, staging)
    finally:
        exporter.close()
    with tarfile.open(target, "w") as archive:
        archive.add(staging, arcname="sessions")
    shutil.rmtree(staging)
    return target, wanted


def dvc_remote_name(role: str) -> str:
    return DVC_REMOTE_PREFIX + role


def dvc_remote_url(location: BucketLocation, prefix: str) -> str:
    return f"s3://{location.bucket}/{prefix.strip('/')}/dvc"


def configure_dvc_remote(repository: Path, location: BucketLocation, prefix: str) -> str:
    """Point the remote `dental-backup-<role>` of this checkout at the bucket, in the
    checkout's `.dvc/config.local` (machine-local, not in git)."""
    name = dvc_remote_name(location.role)
    settings = {"url": dvc_remote_url(location, prefix), "region": location.region}
    if location.endpoint_url:
        settings["endpointurl"] = location.endpoint_url
    with (
        _dvc_errors(repository, "remote configuration"),
        _dvc_repo(repository) as repo,
        repo.config.edit(level="local") as config,
    ):
        config["remote"][name] = settings
    return name


def dvc_push(repository: Path, locations: list[BucketLocation], prefix: str) -> dict[str, Any]:
    """`dvc push` of data/ to every backup bucket.

    Returns the remotes' URLs by bucket role, the outputs whose data was pushed, and those
    that could not be because this machine never built them (not in its DVC cache): the
    restore expects exactly those to be missing, and `dvc repro` rebuilds them from the
    sources in git.
    """
    remotes = {}
    for location in locations:
        name = configure_dvc_remote(repository, location, prefix)
        with _dvc_errors(repository, "push"), _dvc_repo(repository) as repo:
            repo.push(remote=name)
        remotes[location.role] = dvc_remote_url(location, prefix)
    with _dvc_errors(repository, "outputs"), _dvc_repo(repository) as repo:
        tracked = {str(output) for output in repo.index.outs}
    missing = dvc_outputs_not_in_cache(repository)
    return {
        "remotes": remotes,
        "outputs": sorted(tracked - set(missing)),
        "not_in_backup": missing,
    }


def dvc_pull(repository: Path, location: BucketLocation, prefix: str) -> list[str]:
    """`dvc pull` of data/ from a backup bucket into a checkout; returns the outputs that are
    still missing afterwards."""
    name = configure_dvc_remote(repository, location, prefix)
    with _dvc_errors(repository, "pull"), _dvc_repo(repository) as repo:
        repo.pull(remote=name, allow_missing=True)
    return dvc_outputs_not_in_cache(repository)


def dvc_outputs_not_in_cache(repository: Path) -> list[str]:
    """Outputs recorded in dvc.lock / .dvc files whose data is not in the local cache."""
    with _dvc_errors(repository, "status"), _dvc_repo(repository) as repo:
        status = repo.status()
    missing = {
        path
        for changes in status.values()
        for change in changes
        if isinstance(change, dict)
        for path, state in change.get("changed outs", {}).items()
        if state == "not in cache"
    }
    return sorted(missing)


@contextmanager
def _dvc_repo(repository: Path) -> Iterator[Any]:
    # DVC's import is heavy; only backups and restores pay it.
    from dvc.repo import Repo  # type: ignore[import-untyped]

    _route_dvc_logs()
    repo = Repo(str(repository))
    try:
        yield repo
    finally:
        repo.close()


def _route_dvc_logs() -> None:
    """`import dvc` hangs console handlers on its loggers, bound to the stdout and stderr of
    that moment (in a test run, a capture stream closed since, which made DVC's warnings
    raise). Here DVC's records go through the app's logging like every other library's."""
    for name in ("dvc", "dvc_objects", "dvc_data"):
        dvc_logger = logging.getLogger(name)
        for handler in list(dvc_logger.handlers):
            dvc_logger.removeHandler(handler)
        dvc_logger.propagate = True


@contextmanager
def _dvc_errors(repository: Path, doing: str) -> Iterator[None]:
    from dvc.exceptions import DvcException  # type: ignore[import-untyped]

    try:
        yield
    except DvcException as exc:
        raise CollectionFailed(f"dvc {doing} failed in {repository}: {exc}") from None
