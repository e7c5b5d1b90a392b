"""The scratch clinic: a copy of the demo clinic served by the real app, for every evaluation
and in-process benchmark (`evals.runner`, `evals.scenarios`, `evals.bench.speed`, ...).

A temporary SQLite database, migrated and loaded with the demo clinic, `create_app` with its
lifespan, and `app.state.assistant`. Building the app parses and compiles the whole bundle
(most of a second), so one app serves a whole evaluation and `reset()` puts its database back
to the freshly loaded demo clinic between scenarios.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from serving.app import create_app
from serving.assistant.service import Assistant, Inbound, Reply
from serving.bundle.runtime import Runtime
from serving.clinic import ClinicProfile
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.db.types import utcnow
from serving.demo import load_demo_clinic
from serving.memory.records import PatternOutcomes
from serving.memory.service import Memory
from serving.practice.backend import PracticeBackend
from serving.practice.models import Patient
from serving.settings import Settings

EVAL_CHANNEL = "eval"


def pinned_settings(model: str) -> dict[str, Any]:
    """Settings an evaluated app must not take from the environment: the model under test
    (`offline`, or an OpenAI-compatible model name, reached with OPENAI_API_KEY /
    OPENAI_BASE_URL), the demo clinic's profile, `bundle_path` rather than a registry alias,
    and the memory store (the SQL one, in the scratch database)."""
    chosen: dict[str, Any] = (
        {"llm_provider": "offline"}
        if model == "offline"
        else {"llm_provider": "openai", "openai_model": model}
    )
    # Memory in the scratch database itself, so a reset forgets it with the rest.
    return {
        **chosen,
        "clinic_profile_path": None,
        "mlflow_tracking_uri": None,
        "memory_backend": "sql",
    }


def evaluation_settings(
    database_url: str,
    *,
    bundle_path: Path,
    architecture: str,
    model: str,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """The evaluated app's settings; `overrides` (e.g. an integration key) win."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "log_level": "WARNING",
        "agent_architecture": architecture,
        "bundle_path": bundle_path,
        "load_demo_data": False,
        **pinned_settings(model),
        **(overrides or {}),
    }
    return Settings(_env_file=None, **values)


class EvaluationClock:
    """The evaluated app's "now", which the evaluation moves: `clock.set(moment)`, then every
    turn and every slot search of the app reads that moment until it is moved again."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or utcnow()

    def __call__(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the evaluation clock needs an aware datetime")
        self._now = moment


@dataclass(frozen=True)
class Exchange:
    """One patient turn and what came back."""

    sent: str
    """The patient's text, or `[button <data>]`."""
    reply: Reply
    latency_ms: float


class ScratchClinic:
    """`async with ScratchClinic(...) as clinic`: the demo clinic behind a real assistant.

    `settings` overrides the evaluation settings (an integration key for the chat API, say);
    `long_running` builds the app as `dental serve` does (the start-up heap frozen out of full
    collections), for figures comparable to a served app; `clock` is the app's "now" (the
    assistant's and the practice backend's; `evals.booking` runs it at each request's day).
    The demo clinic itself is loaded at the real date, as `dental serve --demo` loads it.
    """

    def __init__(
        self,
        *,
        bundle_path: Path,
        architecture: str,
        model: str = "offline",
        settings: Mapping[str, Any] | None = None,
        long_running: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._bundle_path = bundle_path
        self._architecture = architecture
        self._model = model
        self._overrides = dict(settings or {})
        self._long_running = long_running
        self._clock = clock
        self._stack = AsyncExitStack()
        self._app: FastAPI | None = None
        self._database: Database | None = None
        self._template = Path()
        self._live = Path()

    async def __aenter__(self) -> ScratchClinic:
        scratch = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="dental-")))
        self._template, self._live = scratch / "demo.db", scratch / "live.db"
        template = Database(f"sqlite+aiosqlite:///{self._template}")
        try:
            await upgrade_database(template.engine)
            await load_demo_clinic(template, self._settings(self._template))
        finally:
            await template.dispose()  # the last connection checkpoints the WAL into the file
        shutil.copyfile(self._template, self._live)
        settings = self._settings(self._live)
        self._database = Database(settings.database_url)
        self._stack.push_async_callback(self._database.dispose)
        self._app = create_app(
            settings,
            database=self._database,
            long_running=self._long_running,
            clock=self._clock,
        )
        await self._stack.enter_async_context(self._app.router.lifespan_context(self._app))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    def _settings(self, path: Path) -> Settings:
        return evaluation_settings(
            f"sqlite+aiosqlite:///{path}",
            bundle_path=self._bundle_path,
            architecture=self._architecture,
            model=self._model,
            overrides=self._overrides,
        )

    @property
    def app(self) -> FastAPI:
        if self._app is None:
            raise RuntimeError("use the scratch clinic inside `async with`")
        return self._app

    @property
    def database(self) -> Database:
        if self._database is None:
            raise RuntimeError("use the scratch clinic inside `async with`")
        return self._database

    @property
    def assistant(self) -> Assistant:
        assistant: Assistant = self.app.state.assistant
        return assistant

    @property
    def backend(self) -> PracticeBackend:
        backend: PracticeBackend = self.app.state.practice
        return backend

    @property
    def timezone(self) -> ZoneInfo:
        """The clinic's time zone: the clinic-local days and hours of its requests."""
        settings: Settings = self.app.state.settings
        return ZoneInfo(settings.timezone)

    @property
    def profile(self) -> ClinicProfile:
        profile: ClinicProfile = self.app.state.clinic.current()
        return profile

    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime()
        return runtime

    @property
    def memory(self) -> Memory:
        memory: Memory = self.app.state.memory
        return memory

    async def pattern_outcomes(self) -> list[PatternOutcomes]:
        """What followed each memory pattern in this clinic's memory, read now (every queued
        write done, not the figures the app may have kept from earlier in the run)."""
        await self.memory.settled()
        self.memory.forget_stats()
        return await self.memory.pattern_stats()

    async def reset(self) -> None:
        """Back to the demo clinic as loaded: every connection closed, the file replaced (once
        the memory's queued writes are done: they write to this file)."""
        await self.app.state.memory.settled()
        await self.database.dispose()
        for suffix in ("-wal", "-shm"):
            self._live.with_name(self._live.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(self._template, self._live)

    async def patient(self, phone: str | None) -> Patient | None:
        """The demo patient with this phone, as a channel that verified them would pass it."""
        if phone is None:
            return None
        [patient] = await self.backend.search_patient(phone=phone)
        return patient

    async def send(
        self,
        conversation: str,
        *,
        text: str | None = None,
        button: str | None = None,
        patient: Patient | None = None,
    ) -> Exchange:
        started = time.perf_counter()
        reply = await self.assistant.respond(
            Inbound(
                channel=EVAL_CHANNEL,
                user_id=conversation,
                text=text,
                button=button,
                patient=patient,
            )
        )
        elapsed = (time.perf_counter() - started) * 1000
        sent = text if text is not None else f"[button {button}]"
        return Exchange(sent=sent, reply=reply, latency_ms=elapsed)
