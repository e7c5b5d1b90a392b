"""Runs labelled messages through the real assistant on a scratch copy of the demo clinic."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.datasets import LabelledMessage
from evals.metrics import Outcome
from serving.app import create_app
from serving.assistant.service import Assistant, Inbound
from serving.clinic import ClinicProfile
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.demo import load_demo_clinic
from serving.practice.backend import PracticeBackend
from serving.safety.output_guard import AllowedData
from serving.settings import REPOSITORY_BUNDLE, Settings

EVAL_PATIENT_PHONE = "+12025550143"
"""John Smith of the demo clinic: verified in every evaluated conversation."""


async def evaluate_messages(
    messages: Sequence[LabelledMessage],
    *,
    architecture: str = "alex",
    bundle_path: Path = REPOSITORY_BUNDLE,
    settings_overrides: dict[str, Any] | None = None,
) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="dental-eval-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'eval.db'}"
        # The bundle under evaluation, never the registry's production one (MLFLOW_TRACKING_URI).
        settings = Settings(
            _env_file=None,
            database_url=url,
            environment="test",
            agent_architecture=architecture,
            bundle_path=bundle_path,
            **{"mlflow_tracking_uri": None, **(settings_overrides or {})},
        )
        database = Database(url)
        try:
            await upgrade_database(database.engine)
            await load_demo_clinic(database, settings)
            app = create_app(settings, database=database)
            async with app.router.lifespan_context(app):
                return await _run_all(
                    app.state.assistant, app.state.practice, app.state.clinic, app, messages
                )
        finally:
            await database.dispose()


async def _run_all(
    assistant: Assistant,
    backend: PracticeBackend,
    clinic: ClinicProfile,
    app: object,
    messages: Sequence[LabelledMessage],
) -> list[Outcome]:
    [patient] = await backend.search_patient(phone=EVAL_PATIENT_PHONE)
    invoices = frozenset(i.number for i in await backend.get_patient_invoices(patient.id))
    allowed = AllowedData(
        phones=frozenset({patient.phone, clinic.phone, clinic.urgent_line}),
        emails=frozenset({patient.email or ""}),
        invoice_numbers=invoices,
        names=frozenset({patient.full_name}),
    )
    guard = app.state.runtime().output_guard  # type: ignore[attr-defined]
    outcomes: list[Outcome] = []
    for message in messages:
        started = time.perf_counter()
        reply = await assistant.respond(
            Inbound(
                channel="eval", user_id=f"eval-{message.id}", text=message.text, patient=patient
            )
        )
        elapsed = (time.perf_counter() - started) * 1000
        verdict = guard.check(reply.text, allowed=allowed)
        outcomes.append(
            Outcome(
                id=message.id,
                language=message.language,
                expected_urgency=message.urgency,
                urgency=reply.urgency,
                expected_intent=message.intent,
                intent=reply.intent,
                boundary_violations=tuple(verdict.violations),
                guard_interventions=len(reply.guard_events),
                llm_calls=reply.llm_calls,
                latency_ms=elapsed,
                tokens=reply.tokens,
            )
        )
    return outcomes
