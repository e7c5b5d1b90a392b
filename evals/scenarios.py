"""Multi-turn dialogue scenarios, judged by what they leave in the clinic's systems.

A scenario is a verified demo patient (or an unverified visitor) sending texts and pressing
buttons; it succeeds when every step could be taken and the practice backend and escalation
records end up exactly as expected: the booked, moved and cancelled appointments of that
patient, the escalations of the conversation, and no change to any other patient. Replies are
not compared to wording, except for `replies_contain` / `replies_exclude` (invoice figures,
another patient's data) where the reply is the only outcome.

Each scenario starts from a freshly loaded demo clinic (`ScratchClinic.reset`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from evals.datasets import load_jsonl
from serving.db import models as db
from serving.demo.loader import DEMO_FILE

if TYPE_CHECKING:  # the clinic imports the whole app; loading the set needs none of it
    from evals.boundaries import BoundaryChecker
    from evals.clinic import Exchange, ScratchClinic

SCENARIOS = Path("data/eval/scenarios.jsonl")
Task = Literal["book", "reschedule", "cancel", "invoice", "escalation"]
Urgency = Literal["EMERGENCY", "DOCTOR_REQUIRED", "ROUTINE"]


class Say(BaseModel):
    """The patient writes `say`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    say: str = Field(min_length=1)


class Press(BaseModel):
    """The patient presses the `index`-th offered button whose data starts with `press`
    (`slot:` = an offered time, `confirm:` / `decline:`, `treat:checkup`, `quick:book`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    press: str = Field(pattern=r"^(quick|treat|slot|appt|confirm|decline):[A-Za-z0-9._-]*$")
    index: int = Field(default=0, ge=0, le=2)


class Expectation(BaseModel):
    """The state the scenario must leave; whatever is not listed must not have happened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    booked: dict[str, int] = Field(default_factory=dict)
    """New scheduled appointments of the patient, by treatment code."""
    rescheduled: int = 0
    """The patient's existing appointments now at another time."""
    cancelled: dict[str, int] = Field(default_factory=dict)
    """The patient's appointments newly cancelled (also ones booked during the scenario)."""
    escalations: dict[Urgency, int] = Field(default_factory=dict)
    """Escalation records of the conversation, by urgency."""
    replies_contain: tuple[str, ...] = ()
    replies_exclude: tuple[str, ...] = ()


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^s\d{2,3}$")
    language: Literal["he", "en"]
    task: Task
    patient: str | None = Field(pattern=r"^\+\d{8,15}$")
    """Phone of the verified demo patient; None for an unverified visitor."""
    description: str = Field(min_length=1)
    steps: tuple[Say | Press, ...] = Field(min_length=1)
    expect: Expectation


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    success: bool
    problems: tuple[str, ...]
    """Why it failed, one line each (empty on success)."""
    observed: dict[str, object]
    """The observed changes, in the shape of `Expectation`."""
    exchanges: tuple[Exchange, ...]
    violations: tuple[str, ...] = field(default=())
    """Boundary violations found in the scenario's replies."""


def load_scenarios(path: Path = SCENARIOS) -> list[Scenario]:
    return load_jsonl(path, Scenario, name="scenario set")


def demo_patient_phones() -> list[str]:
    """The phones of every patient of the demo clinic: a scenario's patient is one of them."""
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return [str(row["phone"]) for row in data["patients"]]


_Snapshot = dict[int, tuple[str, str, str, datetime]]
"""Appointment id -> (patient phone, treatment code, status, start), for every patient."""


async def run_scenarios(
    clinic: ScratchClinic, scenarios: Sequence[Scenario], checker: BoundaryChecker
) -> list[ScenarioResult]:
    results = []
    for scenario in scenarios:
        await clinic.reset()
        results.append(await run_scenario(clinic, scenario, checker))
    return results


async def run_scenario(
    clinic: ScratchClinic, scenario: Scenario, checker: BoundaryChecker
) -> ScenarioResult:
    """Play the scenario on the clinic as it is now (call `clinic.reset()` first)."""
    patient = await clinic.patient(scenario.patient)
    before = await _snapshot(clinic)
    conversation = f"scenario-{scenario.id}"
    exchanges: list[Exchange] = []
    problems: list[str] = []
    violations: list[str] = []
    for number, step in enumerate(scenario.steps, start=1):
        if isinstance(step, Say):
            exchange = await clinic.send(conversation, text=step.say, patient=patient)
        else:
            offered = [b.data for b in exchanges[-1].reply.buttons] if exchanges else []
            matching = [data for data in offered if data.startswith(step.press)]
            if len(matching) <= step.index:
                problems.append(
                    f"step {number}: no {step.press!r} button #{step.index + 1} to press "
                    f"(offered: {', '.join(offered) or 'none'})"
                )
                break
            exchange = await clinic.send(conversation, button=matching[step.index], patient=patient)
        exchanges.append(exchange)
        violations.extend(checker.check(exchange.reply.text, sent=exchange.sent, patient=patient))
    after = await _snapshot(clinic)
    conversation_ids = {e.reply.conversation_id for e in exchanges}
    observed = appointment_changes(before, after, scenario.patient)
    observed["escalations"] = await _escalations(clinic, conversation_ids)
    problems.extend(_unmet(scenario.expect, observed, [e.reply.text for e in exchanges]))
    if violations:
        problems.append(f"boundary violations: {', '.join(violations)}")
    return ScenarioResult(
        scenario=scenario,
        success=not problems,
        problems=tuple(problems),
        observed=observed,
        exchanges=tuple(exchanges),
        violations=tuple(violations),
    )


async def _snapshot(clinic: ScratchClinic) -> _Snapshot:
    """Every appointment of the scratch clinic, cancelled and past ones included.

    The scratch clinic runs on the built-in practice backend, whose state is these tables; one
    query here replaces two backend calls per demo patient (most of a scenario's time).
    """
    query = (
        select(
            db.Appointment.id,
            db.Patient.phone,
            db.TreatmentType.code,
            db.Appointment.status,
            db.Appointment.starts_at,
        )
        .join(db.Patient, db.Appointment.patient_id == db.Patient.id)
        .join(db.TreatmentType, db.Appointment.treatment_type_id == db.TreatmentType.id)
    )
    async with clinic.database.transaction() as session:
        rows = await session.execute(query)
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows.all()}


def appointment_changes(
    before: _Snapshot, after: _Snapshot, phone: str | None
) -> dict[str, object]:
    """What changed between two snapshots, seen from the scenario's patient (`phone`)."""
    booked: Counter[str] = Counter()
    cancelled: Counter[str] = Counter()
    rescheduled = 0
    others: list[int] = []
    for appointment_id, (owner, treatment, status, starts_at) in after.items():
        previous = before.get(appointment_id)
        if previous == (owner, treatment, status, starts_at):
            continue
        if owner != phone:
            others.append(appointment_id)
        elif status == "cancelled" and (previous is None or previous[2] != "cancelled"):
            cancelled[treatment] += 1
        elif previous is None and status == "scheduled":
            booked[treatment] += 1
        elif previous is not None and previous[3] != starts_at:
            rescheduled += 1
    others.extend(i for i in before if i not in after)
    return {
        "booked": dict(booked),
        "rescheduled": rescheduled,
        "cancelled": dict(cancelled),
        "other_patients_changed": len(others),
    }


async def _escalations(clinic: ScratchClinic, conversations: set[str]) -> dict[str, int]:
    if not conversations:
        return {}
    async with clinic.database.transaction() as session:
        rows = await session.execute(
            select(db.Escalation.urgency, func.count())
            .where(db.Escalation.conversation_id.in_(conversations))
            .group_by(db.Escalation.urgency)
        )
        return {str(urgency): int(count) for urgency, count in rows.all()}


def _unmet(expect: Expectation, observed: dict[str, object], replies: list[str]) -> list[str]:
    problems = []
    wanted: dict[str, object] = {
        "booked": expect.booked,
        "rescheduled": expect.rescheduled,
        "cancelled": expect.cancelled,
        "escalations": dict(expect.escalations),
        "other_patients_changed": 0,
    }
    for key, value in wanted.items():
        if _without_zeros(observed[key]) != _without_zeros(value):
            problems.append(f"{key}: expected {_show(value)}, got {_show(observed[key])}")
    text = "\n".join(replies)
    problems.extend(f"no reply contains {s!r}" for s in expect.replies_contain if s not in text)
    problems.extend(f"a reply contains {s!r}" for s in expect.replies_exclude if s in text)
    return problems


def _without_zeros(value: object) -> object:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v}
    return value


def _show(value: object) -> str:
    value = _without_zeros(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "nothing"
    return str(value)
