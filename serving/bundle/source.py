"""The runtime serving answers with, kept in step with the bundle registry's alias.

Without a registry (`MLFLOW_TRACKING_URI` unset) the source serves `settings.bundle_path` and
never touches MLflow. With one, it serves the version the alias (`production`) points at and
checks the alias every `bundle_poll_seconds`: a new version is downloaded, verified against
the hash recorded at registration, built into a complete `Runtime` and swapped in with one
assignment, so a reply is produced wholly by the old bundle or wholly by the new one. Whatever
goes wrong on the way (registry down, tampered download, a bundle that does not build) leaves
the current runtime in place and is logged.

The last version served is remembered in `bundle_cache_dir`, so a restart while the registry
is down comes back on the production bundle rather than the embedded one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from serving.bundle.load import Bundle, BundleError, load_bundle
from serving.bundle.registry import BundleRegistry, RegisteredBundle, redact_uri
from serving.bundle.runtime import Runtime, build_runtime, primary_model
from serving.clinic import ProfileSource
from serving.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Served:
    runtime: Runtime
    registered: RegisteredBundle | None
    """The registry version being served; None for the embedded bundle."""


class BundleSource:
    """Which `Runtime` answers patients now; `refresh` follows the registry alias."""

    def __init__(self, settings: Settings, clinic: ProfileSource) -> None:
        self._settings = settings
        self._clinic = clinic
        self._primary_model = primary_model(settings)
        # The embedded bundle is loaded even with a registry: it is what serves until the
        # registry answers, and a bad one should stop start-up like any other bad bundle.
        self._served = _Served(self._build(load_bundle(settings.bundle_path)), None)
        self._registry: BundleRegistry | None = None
        if settings.mlflow_tracking_uri is not None:
            self._registry = BundleRegistry(
                settings.mlflow_tracking_uri, settings.bundle_registry_model
            )
            self._served = self._last_served() or self._served
        self._lock = asyncio.Lock()
        self._poll_task: asyncio.Task[None] | None = None
        self._last_problem: str | None = None

    def runtime(self) -> Runtime:
        """The runtime to answer the next message with."""
        return self._served.runtime

    @property
    def registered(self) -> RegisteredBundle | None:
        """The registry version being served, or None while serving the embedded bundle."""
        return self._served.registered

    async def refresh(self) -> bool:
        """Check the alias and swap to the version it names; True if the runtime changed.

        Never raises for a registry or bundle problem: the current runtime stays and the
        problem is logged (once per distinct problem, so a long outage does not flood logs).
        """
        if self._registry is None:
            return False
        async with self._lock:
            try:
                registered, candidate = await asyncio.to_thread(self._fetch_aliased, self._registry)
            except Exception as exc:
                self._report(
                    f"bundle refresh failed, still serving {self._served.runtime.bundle.version}: "
                    f"{exc}"
                )
                return False
            if registered is None:
                self._report(
                    f"alias {self._settings.bundle_alias!r} of {self._registry.model_name} is "
                    f"not set; serving {self._served.runtime.bundle.version}"
                )
                return False
            if self._last_problem is not None:
                logger.info("the bundle registry answers again")
                self._last_problem = None
            if candidate is None:
                return False
            previous = self._served.runtime.bundle.version
            self._served = candidate
            logger.info(
                "serving bundle %s (version %s of %s@%s), replacing %s",
                candidate.runtime.bundle.version,
                candidate.registered.model_version if candidate.registered else "?",
                self._settings.bundle_registry_model,
                self._settings.bundle_alias,
                previous,
            )
            return True

    async def start(self) -> None:
        """Load the aliased bundle now, then keep checking every `bundle_poll_seconds`."""
        if self._registry is None or self._poll_task is not None:
            return
        logger.info(
            "following %s@%s in the registry at %s every %ss",
            self._settings.bundle_registry_model,
            self._settings.bundle_alias,
            redact_uri(self._registry.tracking_uri),
            self._settings.bundle_poll_seconds,
        )
        await self.refresh()
        self._poll_task = asyncio.create_task(self._poll(), name="bundle-poll")

    async def stop(self) -> None:
        """Stop checking the alias (the current runtime keeps serving)."""
        task, self._poll_task = self._poll_task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._settings.bundle_poll_seconds)
            await self.refresh()

    def _fetch_aliased(
        self, registry: BundleRegistry
    ) -> tuple[RegisteredBundle | None, _Served | None]:
        """Where the alias points, and a runtime for it unless that is what is served now."""
        registered = registry.alias(self._settings.bundle_alias)
        current = self._served.registered
        if registered is None or (
            current is not None and current.model_version == registered.model_version
        ):
            return registered, None
        runtime = self._build(registry.fetch(registered, self._version_dir(registered)))
        self._remember(registered, runtime.bundle)
        return registered, _Served(runtime, registered)

    def _build(self, bundle: Bundle) -> Runtime:
        return build_runtime(
            bundle,
            self._clinic.current,
            architecture=self._settings.agent_architecture,
            primary_model=self._primary_model,
            holidays_country=(
                self._settings.holidays_country if self._settings.observe_public_holidays else None
            ),
        )

    def _report(self, problem: str) -> None:
        if problem != self._last_problem:
            logger.warning("%s", problem)
            self._last_problem = problem

    def _model_cache(self) -> Path:
        return self._settings.bundle_cache_dir / self._settings.bundle_registry_model

    def _version_dir(self, registered: RegisteredBundle) -> Path:
        return self._model_cache() / f"v{registered.model_version}"

    def _pointer(self) -> Path:
        return self._model_cache() / f"{self._settings.bundle_alias}.json"

    def _remember(self, registered: RegisteredBundle, bundle: Bundle) -> None:
        """Record what is about to be served, for a restart while the registry is down."""
        record = {
            "model_version": registered.model_version,
            "bundle_version": registered.bundle_version,
            "run_id": registered.run_id,
            "content_hash": bundle.manifest.content_hash,
        }
        pointer = self._pointer()
        partial = pointer.with_suffix(".json.partial")
        partial.write_text(json.dumps(record, indent=2), encoding="utf-8")
        partial.replace(pointer)

    def _last_served(self) -> _Served | None:
        """The version served before the last restart, if its cached copy is intact."""
        pointer = self._pointer()
        if not pointer.is_file():
            return None
        try:
            record = json.loads(pointer.read_text(encoding="utf-8"))
            registered = RegisteredBundle(
                model_version=str(record["model_version"]),
                bundle_version=str(record["bundle_version"]),
                run_id=record.get("run_id"),
            )
            bundle = load_bundle(self._version_dir(registered))
            if bundle.manifest.content_hash != record["content_hash"]:
                raise BundleError("the cached copy differs from the hash recorded when served")
        except (OSError, ValueError, KeyError, TypeError) as exc:  # BundleError is a ValueError
            logger.warning("ignoring the cached bundle %s: %s", pointer, exc)
            return None
        logger.info("serving the cached %s until the registry answers", bundle.version)
        return _Served(self._build(bundle), registered)
