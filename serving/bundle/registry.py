"""The bundle registry: artifact bundles as versions of one MLflow registered model.

A bundle directory (`prompts/`, or a reviewed copy of it) is logged as run artifacts under
`bundle/` and registered as a model version whose source is that directory, tagged with the
bundle's version and full content hash. An alias (`production`) says which version serving
runs; the alias's history is a tag on the registered model, so `rollback` can move the alias
back to the version it replaced. docs/REGISTRY.md explains the layout and the operations.

MLflow is imported only when a registry is used, after `configure_mlflow_environment()` has
turned off its telemetry and bounded its HTTP retries: serving without a registry never loads
it, and a registry that is down is reported in seconds, not after minutes of retries.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from serving.bundle.load import Bundle, BundleError, load_bundle

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

DEFAULT_ALIAS: Final = "production"
REGISTRY_EXPERIMENT: Final = "dental-bundle-registry"
"""Where `register` keeps the bundle's files when no evaluation run is given."""
BUNDLE_ARTIFACT_PATH: Final = "bundle"

TAG_BUNDLE_VERSION: Final = "bundle_version"
TAG_CONTENT_HASH: Final = "content_hash"
TAG_EVALUATION_RUN: Final = "evaluation_run_id"
HISTORY_LIMIT: Final = 50
MLFLOW_ANSWERS: Final = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE"}
)
"""MLflow error codes meaning it was reached and refused the request (no connection hint)."""

MLFLOW_PRIVACY: Final = {
    # MLflow 3 sends usage telemetry unless told not to; serving and flows must not phone home.
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
MLFLOW_HTTP_DEFAULTS: Final = {
    # MLflow's defaults (7 retries, exponential backoff, 120 s timeout) turn an unreachable
    # tracking server into minutes of waiting; an operator may still override these.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


class RegistryError(RuntimeError):
    """Something about the bundle registry prevents the operation."""


class RegistryUnavailable(RegistryError):
    """MLflow could not be reached, or failed while answering."""


class NoPreviousVersion(RegistryError):
    """A rollback was asked for, but the alias has no earlier version to go back to."""


class BundleRejected(RegistryError):
    """A registered bundle failed verification: tampered, incomplete, or not a bundle."""


@dataclass(frozen=True)
class RegisteredBundle:
    model_version: str
    """MLflow model version number, as text."""
    bundle_version: str
    """`Bundle.version`, e.g. dental-clinic-assistant@1.0.0+abc123def456."""
    run_id: str | None
    """The evaluation run that promoted it (metrics live there), if one was given."""


def configure_mlflow_environment() -> None:
    """No telemetry, no progress bars, bounded HTTP retries; call before importing mlflow.

    Safe to call again; if mlflow was already imported its telemetry client is re-initialized,
    which turns it off.
    """
    # Written only when different: this runs before every registry call, in worker threads.
    for name, value in MLFLOW_PRIVACY.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
    for name, value in MLFLOW_HTTP_DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = value
    if "mlflow.telemetry" in sys.modules:
        from mlflow.telemetry import get_telemetry_client, set_telemetry_client

        if get_telemetry_client() is not None:
            set_telemetry_client()  # type: ignore[no-untyped-call]


def mlflow_client(tracking_uri: str) -> MlflowClient:
    """An MLflow client for `tracking_uri` (tracking and model registry alike)."""
    configure_mlflow_environment()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def local_artifact_location(tracking_uri: str) -> str | None:
    """For a SQLite tracking store, its `artifacts` directory (a file URI); else None.

    A tracking server decides where artifacts go; a client on a SQLite file would otherwise
    put them in `./mlruns` of whatever directory it happens to run in.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///").partition("?")[0])
    return (database.parent / "artifacts").resolve().as_uri()


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created (with the local artifact location) if missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = local_artifact_location(client.tracking_uri)
    if location is not None:
        Path(location.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    return client.create_experiment(name, artifact_location=location)


def redact_uri(uri: str) -> str:
    """`uri` with any password masked, safe for logs and error messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class BundleRegistry:
    """Bundles as versions of the MLflow registered model `model_name`, and their aliases."""

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self._client: MlflowClient | None = None

    def __repr__(self) -> str:
        return f"BundleRegistry({redact_uri(self.tracking_uri)!r}, {self.model_name!r})"

    def register(self, bundle_dir: Path, *, run_id: str | None = None) -> RegisteredBundle:
        """Store the bundle in `bundle_dir` as a new model version (or find it if already there).

        The bundle is validated first (`BundleError` if it is not valid). Its files are logged
        under `bundle/` in the evaluation run `run_id`, or in a run of its own.
        """
        bundle = load_bundle(bundle_dir)
        with self._mlflow(f"registering {bundle.version}"):
            client = self._mlflow_client()
            existing = self._find(bundle)
            if existing is not None:
                if run_id is not None and run_id != existing.run_id:
                    client.set_model_version_tag(
                        self.model_name, existing.model_version, TAG_EVALUATION_RUN, run_id
                    )
                    return RegisteredBundle(existing.model_version, existing.bundle_version, run_id)
                return existing
            self._ensure_registered_model()
            storage_run = run_id or self._registration_run(bundle)
            client.log_artifacts(storage_run, str(bundle_dir), BUNDLE_ARTIFACT_PATH)
            artifact_uri = client.get_run(storage_run).info.artifact_uri
            tags = {TAG_BUNDLE_VERSION: bundle.version, TAG_CONTENT_HASH: _hash(bundle)}
            if run_id is not None:
                tags[TAG_EVALUATION_RUN] = run_id
            else:
                client.set_terminated(storage_run)
            created = client.create_model_version(
                self.model_name,
                f"{artifact_uri}/{BUNDLE_ARTIFACT_PATH}",
                run_id=storage_run,
                tags=tags,
                description=bundle.manifest.description or None,
            )
            return self._registered(created)

    def alias(self, alias: str = DEFAULT_ALIAS) -> RegisteredBundle | None:
        """The version `alias` points at; None if the model or the alias does not exist yet."""
        with self._mlflow(f"reading alias {alias!r}"):
            model = self._registered_model()
            if model is None or alias not in model.aliases:
                return None
            version = self._mlflow_client().get_model_version(
                self.model_name, str(model.aliases[alias])
            )
            return self._registered(version)

    def set_alias(self, version: RegisteredBundle, alias: str = DEFAULT_ALIAS) -> None:
        """Point `alias` at `version`, remembering the version it replaces for `rollback`."""
        with self._mlflow(f"moving alias {alias!r} to version {version.model_version}"):
            client = self._mlflow_client()
            model = client.get_registered_model(self.model_name)
            current = _alias_version(model, alias)
            if current == version.model_version:
                return
            history = _history(model, alias)
            if current is not None and (not history or history[-1] != current):
                history.append(current)  # the alias was moved outside this class
            history.append(version.model_version)
            # Alias first: if the history write then fails, the next call repairs it above.
            client.set_registered_model_alias(self.model_name, alias, version.model_version)
            self._write_history(alias, history)
            if current is not None:
                client.set_model_version_tag(
                    self.model_name, version.model_version, f"replaced.{alias}", current
                )

    def rollback(self, alias: str = DEFAULT_ALIAS) -> RegisteredBundle:
        """Move `alias` back to the version it replaced; `NoPreviousVersion` if there is none."""
        with self._mlflow(f"rolling back alias {alias!r}"):
            client = self._mlflow_client()
            model = self._registered_model()
            current = _alias_version(model, alias) if model is not None else None
            if model is None or current is None:
                raise NoPreviousVersion(
                    f"alias {alias!r} of {self.model_name} is not set; nothing to roll back"
                )
            history = _history(model, alias)
            while history and history[-1] == current:
                history.pop()
            if not history:
                raise NoPreviousVersion(
                    f"alias {alias!r} of {self.model_name} has no earlier version than "
                    f"{current} to roll back to"
                )
            previous = client.get_model_version(self.model_name, history[-1])
            client.set_registered_model_alias(self.model_name, alias, history[-1])
            self._write_history(alias, history)
            return self._registered(previous)

    def download(self, version: RegisteredBundle, destination: Path) -> Path:
        """The bundle of `version` in `destination` (replaced), verified; returns `destination`.

        An existing `destination` that already holds this bundle intact is reused. A download
        whose files do not match the content hash recorded at registration is refused with
        `BundleRejected`, and `destination` is left as it was.
        """
        self.fetch(version, destination)
        return destination

    def fetch(self, version: RegisteredBundle, destination: Path) -> Bundle:
        """`download`, returning the verified bundle itself (loaded once, not twice)."""
        with self._mlflow(f"downloading version {version.model_version}"):
            expected = self._expected_hash(version)
            cached = _intact(destination, version, expected)
            if cached is not None:
                return cached
            from mlflow.artifacts import download_artifacts

            # The version's own artifact URI, not `models:/…`: MLflow resolves that one through
            # the process-wide registry URI, ignoring the one passed in.
            source = self._mlflow_client().get_model_version_download_uri(
                self.model_name, version.model_version
            )
            destination.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
            try:
                downloaded = Path(
                    download_artifacts(
                        artifact_uri=source, dst_path=str(staging), tracking_uri=self.tracking_uri
                    )
                )
                bundle = self._verify(version, downloaded, expected)
                if destination.exists():
                    shutil.rmtree(destination)
                downloaded.rename(destination)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            return bundle

    def _verify(self, version: RegisteredBundle, directory: Path, expected: str) -> Bundle:
        try:
            bundle = load_bundle(directory)
        except BundleError as exc:
            raise BundleRejected(
                f"version {version.model_version} of {self.model_name} ({version.bundle_version}) "
                f"failed verification after download: {exc}"
            ) from None
        if _hash(bundle) != expected or bundle.version != version.bundle_version:
            raise BundleRejected(
                f"version {version.model_version} of {self.model_name} was registered as "
                f"{version.bundle_version} ({expected[:19]}…) but the downloaded bundle is "
                f"{bundle.version} ({_hash(bundle)[:19]}…); the stored files were changed "
                "after registration"
            )
        return bundle

    def _expected_hash(self, version: RegisteredBundle) -> str:
        stored = self._mlflow_client().get_model_version(self.model_name, version.model_version)
        expected = stored.tags.get(TAG_CONTENT_HASH)
        if not expected:
            raise BundleRejected(
                f"version {version.model_version} of {self.model_name} has no {TAG_CONTENT_HASH} "
                "tag, so it was not registered as a bundle and cannot be verified"
            )
        return str(expected)

    def _find(self, bundle: Bundle) -> RegisteredBundle | None:
        if self._registered_model() is None:
            return None
        matches = self._mlflow_client().search_model_versions(
            f"name='{self.model_name}' and tag.{TAG_CONTENT_HASH}='{_hash(bundle)}'"
        )
        ours = [v for v in matches if v.tags.get(TAG_BUNDLE_VERSION) == bundle.version]
        if not ours:
            return None
        return self._registered(max(ours, key=lambda v: int(v.version)))

    def _registered(self, version: ModelVersion) -> RegisteredBundle:
        bundle_version = version.tags.get(TAG_BUNDLE_VERSION)
        if not bundle_version:
            raise BundleRejected(
                f"version {version.version} of {self.model_name} has no {TAG_BUNDLE_VERSION} "
                "tag: it was not registered as a bundle (use `dental bundle promote`)"
            )
        return RegisteredBundle(
            model_version=str(version.version),
            bundle_version=str(bundle_version),
            run_id=version.tags.get(TAG_EVALUATION_RUN) or None,
        )

    def _registered_model(self) -> RegisteredModel | None:
        from mlflow.exceptions import MlflowException

        try:
            return self._mlflow_client().get_registered_model(self.model_name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _ensure_registered_model(self) -> None:
        if self._registered_model() is None:
            self._mlflow_client().create_registered_model(
                self.model_name,
                description="Artifact bundles of dental-clinic-ai: prompts, safety rules, "
                "memory patterns, message catalogs (docs/REGISTRY.md).",
            )

    def _registration_run(self, bundle: Bundle) -> str:
        client = self._mlflow_client()
        run = client.create_run(
            ensure_experiment(client, REGISTRY_EXPERIMENT),
            run_name=f"register {bundle.version}",
            tags={TAG_BUNDLE_VERSION: bundle.version},
        )
        return str(run.info.run_id)

    def _write_history(self, alias: str, history: list[str]) -> None:
        self._mlflow_client().set_registered_model_tag(
            self.model_name, _history_tag(alias), json.dumps(history[-HISTORY_LIMIT:])
        )

    def _mlflow_client(self) -> MlflowClient:
        if self._client is None:
            self._client = mlflow_client(self.tracking_uri)
        return self._client

    @contextmanager
    def _mlflow(self, action: str) -> Iterator[None]:
        """Turn whatever MLflow, its HTTP client or its database raise into RegistryUnavailable."""
        configure_mlflow_environment()
        from mlflow.exceptions import MlflowException
        from requests import RequestException
        from sqlalchemy.exc import SQLAlchemyError

        try:
            yield
        except (MlflowException, RequestException, SQLAlchemyError, OSError) as exc:
            lines = _without_password(str(exc), self.tracking_uri).strip().splitlines()
            detail = lines[0][:300] if lines else type(exc).__name__
            answered = getattr(exc, "error_code", None) in MLFLOW_ANSWERS
            hint = "" if answered else " (check MLFLOW_TRACKING_URI and that MLflow is running)"
            # `from None`: MLflow's own exception may quote the URI with its password.
            raise RegistryUnavailable(
                f"the bundle registry at {redact_uri(self.tracking_uri)} failed while "
                f"{action}: {detail}{hint}"
            ) from None


def _without_password(text: str, uri: str) -> str:
    """`text` (an MLflow error, which may quote the URI) with the URI's password masked."""
    password = urlsplit(uri).password
    return text.replace(password, "***") if password else text


def _hash(bundle: Bundle) -> str:
    return bundle.manifest.content_hash


def _intact(directory: Path, version: RegisteredBundle, expected: str) -> Bundle | None:
    """The bundle in `directory` if it is exactly `version`, else None."""
    if not directory.is_dir():
        return None
    try:
        bundle = load_bundle(directory)
    except BundleError:
        return None
    if _hash(bundle) != expected or bundle.version != version.bundle_version:
        return None
    return bundle


def _history_tag(alias: str) -> str:
    return f"alias_history.{alias}"


def _alias_version(model: RegisteredModel, alias: str) -> str | None:
    version = model.aliases.get(alias)
    return None if version is None else str(version)


def _history(model: RegisteredModel, alias: str) -> list[str]:
    raw = model.tags.get(_history_tag(alias))
    try:
        history = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        return []
    return [str(v) for v in history] if isinstance(history, list) else []
