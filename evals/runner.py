"""Runs labelled messages through the real assistant on the scratch clinic (`evals.clinic`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from evals.clinic import ScratchClinic
from evals.datasets import LabelledMessage
from evals.metrics import Outcome
from serving.assistant.service import Assistant, Inbound
from serving.clinic import ClinicProfile
from serving.practice.backend import PracticeBackend
from serving.safety.output_guard import AllowedData, OutputGuard
from serving.safety.triage import Triager
from serving.settings import REPOSITORY_BUNDLE

EVAL_PATIENT_PHONE = "+12025550143"
"""John Smith of the demo clinic: verified in every evaluated conversation."""


async def evaluate_messages(
    messages: Sequence[LabelledMessage],
    *,
    architecture: str = "alex",
    bundle_path: Path = REPOSITORY_BUNDLE,
    model: str = "offline",
) -> list[Outcome]:
    """Each message in its own conversation, from the demo clinic's verified patient, on
    `model` (`offline`, or an OpenAI-compatible model name; `evals.clinic.pinned_settings`)."""
    async with ScratchClinic(
        bundle_path=bundle_path, architecture=architecture, model=model
    ) as clinic:
        runtime = clinic.runtime()
        return await _run_all(
            clinic.assistant,
            clinic.backend,
            clinic.profile,
            runtime.output_guard,
            Triager(runtime.bundle.safety, clinic_urgent_line=clinic.profile.urgent_line),
            messages,
        )


async def _run_all(
    assistant: Assistant,
    backend: PracticeBackend,
    clinic: ClinicProfile,
    guard: OutputGuard,
    rules_only: Triager,
    messages: Sequence[LabelledMessage],
) -> list[Outcome]:
    """`rules_only` is the bundle's triage without its learned classifier (rules, and the
    fail-safe where the bundle has one): the "before" of each message."""
    [patient] = await backend.search_patient(phone=EVAL_PATIENT_PHONE)
    invoices = frozenset(i.number for i in await backend.get_patient_invoices(patient.id))
    allowed = AllowedData(
        phones=frozenset({patient.phone, clinic.phone, clinic.urgent_line}),
        emails=frozenset({patient.email or ""}),
        invoice_numbers=invoices,
        names=frozenset({patient.full_name}),
    )
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
                split=message.split,
                decided_by=reply.triage_decided_by or "",
                triage_score=reply.triage_score,
                intent_source=reply.intent_source,
                safety_question="safety_question" in reply.actions,
                rules_urgency=rules_only.triage(message.text).urgency.value,
            )
        )
    return outcomes
