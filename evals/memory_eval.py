"""Memory: does a returning patient book in fewer turns? (docs/EVALUATION.md, "Memory: a
returning patient books in fewer turns".)

Each `Habit` is a demo patient who always sees one provider at one part of the day. On the
scratch clinic, its clock set by the evaluation, the patient books twice through the chat
(real turns, each visit asked for in words: that provider, that part of the day), three weeks
apart. Three weeks after the second visit they open a new conversation and ask for a visit
without saying with whom or when. A scripted patient then answers every reply: it presses the
first offered time that fits its habit (the provider and the hours read off the button, as a
patient reads them), confirms when asked, and otherwise says its preference in words. The
figure is the number of turns from the request to the booking.

Each habit runs twice on a freshly loaded clinic: with memory, and without it (the memory
store emptied before the returning conversation, so the assistant recalls nothing). The
patients' words are this file's own, in English and Hebrew.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from serving.scheduling.request import PART_OF_DAY_WINDOWS, PartOfDay
from serving.settings import REPOSITORY_BUNDLE

if TYPE_CHECKING:  # the clinic imports the whole app; the report needs none of it
    from evals.clinic import EvaluationClock, Exchange, ScratchClinic
    from serving.conversation.turn import Button
    from serving.practice.models import Patient, Provider

Arm = Literal["with_memory", "without_memory"]
ARMS: tuple[Arm, ...] = ("with_memory", "without_memory")
MAX_TURNS = 8
"""A returning patient not booked after this many turns counts as not booked."""
BETWEEN_VISITS = timedelta(weeks=3)
FIRST_DAY_AT = time(8)
"""The clinic-local hour the first conversation starts at."""
_CLOCK_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")


@dataclass(frozen=True)
class Habit:
    id: str
    phone: str
    """The demo patient's phone."""
    language: Literal["he", "en"]
    treatment: str
    provider: str
    """The provider's name in the practice system (English)."""
    part_of_day: PartOfDay
    visit_request: str
    """How the patient asks for each of the two earlier visits: treatment, provider, part of
    the day."""
    request: str
    """The returning patient's request: the treatment only."""
    preference: str
    """What the patient says when the offered times do not suit them."""


HABITS: tuple[Habit, ...] = (
    Habit(
        id="m1",
        phone="+12025550143",
        language="en",
        treatment="checkup",
        provider="Dr. Rivka Mizrahi",
        part_of_day="evening",
        visit_request="Please book me a checkup with Dr. Mizrahi in the evening",
        request="Hi there, could you set me up with a checkup?",
        preference="I'd rather see Dr. Mizrahi, ideally in the evening",
    ),
    Habit(
        id="m2",
        phone="+972504445566",
        language="he",
        treatment="checkup",
        provider="Dr. Avi Cohen",
        part_of_day="morning",
        visit_request='אני צריכה בדיקה אצל ד"ר כהן בבוקר',
        request="שלום, אפשר לקבוע לי בדיקה?",
        preference='אני מעדיפה אצל ד"ר כהן, בבוקר אם אפשר',
    ),
    Habit(
        id="m3",
        phone="+972549876543",
        language="en",
        treatment="cleaning",
        provider="Noa Peretz, RDH",
        part_of_day="afternoon",
        visit_request="Book a cleaning with the hygienist in the afternoon please",
        request="Hello, I'm due for a cleaning, can you find me a time?",
        preference="Could it be with the hygienist, in the afternoon?",
    ),
    Habit(
        id="m4",
        phone="+972542223344",
        language="he",
        treatment="filling",
        provider="Dr. Rivka Mizrahi",
        part_of_day="afternoon",
        visit_request='סתימה אצל ד"ר מזרחי אחר הצהריים בבקשה',
        request="היי, אני צריך לקבוע סתימה",
        preference='עדיף אצל ד"ר מזרחי, אחר הצהריים',
    ),
)


@dataclass(frozen=True)
class Booking:
    """One conversation of the scripted patient until booked (or given up)."""

    turns: int | None
    """Turns from the request to the booking; None when not booked within MAX_TURNS."""
    exchanges: tuple[Exchange, ...]


@dataclass(frozen=True)
class MemoryOutcome:
    habit: Habit
    arm: Arm
    returning: Booking
    """The returning patient's new conversation: what is measured."""
    history_booked: bool
    """Both earlier visits were booked (the history memory learns from)."""
    exchanges: tuple[Exchange, ...]
    """Every turn of the run: the earlier visits' conversations, then the returning one."""
    violations: tuple[str, ...] = ()
    """Boundary violations in the replies of every conversation of the run."""


async def evaluate_memory(
    habits: Sequence[Habit] = HABITS,
    *,
    architecture: str = "alex",
    bundle_path: Path = REPOSITORY_BUNDLE,
    model: str = "offline",
) -> list[MemoryOutcome]:
    """Every habit with memory and without, on a scratch clinic of its own."""
    from evals.clinic import EvaluationClock, ScratchClinic

    clock = EvaluationClock()
    async with ScratchClinic(
        bundle_path=bundle_path, architecture=architecture, model=model, clock=clock
    ) as clinic:
        return [
            await run_habit(clinic, clock, habit, arm, start=first_morning(clinic.timezone))
            for habit in habits
            for arm in ARMS
        ]


async def run_habit(
    clinic: ScratchClinic, clock: EvaluationClock, habit: Habit, arm: Arm, *, start: datetime
) -> MemoryOutcome:
    """Two visits booked as the habit says, then the returning conversation, on a freshly
    loaded clinic whose clock starts at `start`."""
    from evals.boundaries import BoundaryChecker
    from serving.memory.service import Memory

    await clinic.reset()
    memory: Memory = clinic.app.state.memory
    await memory.store.clear()  # a store outside the app database is not reset with it
    memory.forget_stats()
    runtime = clinic.runtime()
    checker = BoundaryChecker(runtime.bundle, runtime.output_guard, clinic.profile)
    patient = await clinic.patient(habit.phone)
    assert patient is not None
    providers = await clinic.backend.list_providers()
    [provider] = [p for p in providers if p.name == habit.provider]
    patient_script = _ScriptedPatient(clinic, patient, habit, provider)
    exchanges: list[Exchange] = []
    booked_visits = 0
    for visit in (1, 2):
        clock.set(start + (visit - 1) * BETWEEN_VISITS)
        earlier = await patient_script.book(f"memory-{habit.id}-{arm}-{visit}", habit.visit_request)
        exchanges += earlier.exchanges
        booked_visits += earlier.turns is not None
    if arm == "without_memory":
        await memory.settled()
        await memory.store.clear()
    clock.set(start + 2 * BETWEEN_VISITS)
    returning = await patient_script.book(f"memory-{habit.id}-{arm}-returning", habit.request)
    exchanges += returning.exchanges
    violations = tuple(
        violation
        for exchange in exchanges
        for violation in checker.check(exchange.reply.text, sent=exchange.sent, patient=patient)
    )
    return MemoryOutcome(
        habit=habit,
        arm=arm,
        returning=returning,
        history_booked=booked_visits == 2,
        exchanges=tuple(exchanges),
        violations=violations,
    )


class _ScriptedPatient:
    """Accepts only a time that fits its habit; says its preference otherwise."""

    def __init__(
        self, clinic: ScratchClinic, patient: Patient, habit: Habit, provider: Provider
    ) -> None:
        self._clinic = clinic
        self._patient = patient
        self._habit = habit
        self._provider_label = provider.name if habit.language == "en" else provider.name_he

    async def book(self, conversation: str, request: str) -> Booking:
        exchanges = [await self._send(conversation, text=request)]
        while len(exchanges) < MAX_TURNS:
            reply = exchanges[-1].reply
            if "booked" in reply.actions:
                return Booking(turns=len(exchanges), exchanges=tuple(exchanges))
            exchanges.append(await self._answer(conversation, reply.buttons))
        booked = "booked" in exchanges[-1].reply.actions
        return Booking(turns=len(exchanges) if booked else None, exchanges=tuple(exchanges))

    async def _answer(self, conversation: str, buttons: Sequence[Button]) -> Exchange:
        confirm = [b for b in buttons if b.data.startswith("confirm:")]
        if confirm:
            return await self._send(conversation, button=confirm[0].data)
        fitting = [b for b in buttons if b.data.startswith("slot:") and self.fits(b.text)]
        if fitting:
            return await self._send(conversation, button=fitting[0].data)
        treatment = f"treat:{self._habit.treatment}"
        if any(b.data == treatment for b in buttons):
            return await self._send(conversation, button=treatment)
        return await self._send(conversation, text=self._habit.preference)

    def fits(self, label: str) -> bool:
        """Whether an offered time, as its button reads, is with the habit's provider and
        starts in its part of the day."""
        found = _CLOCK_TIME.search(label)
        if found is None or self._provider_label not in label:
            return False
        start, end = PART_OF_DAY_WINDOWS[self._habit.part_of_day]
        return start <= time(int(found[1]), int(found[2])) < end

    async def _send(
        self, conversation: str, *, text: str | None = None, button: str | None = None
    ) -> Exchange:
        return await self._clinic.send(
            conversation, text=text, button=button, patient=self._patient
        )


def first_morning(tz: ZoneInfo) -> datetime:
    """08:00 clinic-local tomorrow: the first conversation's day."""
    tomorrow = datetime.now(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, FIRST_DAY_AT, tz)


def memory_metrics(outcomes: Sequence[MemoryOutcome]) -> dict[str, float]:
    """`memory.<arm>.turns_to_book` (mean over the patients booked), `memory.<arm>.booked`
    (share booked within MAX_TURNS), `memory.patients`, `memory.turns_saved`, and the same
    per language (`memory.<arm>.<language>.turns_to_book`)."""
    if not outcomes:
        return {}
    metrics: dict[str, float] = {
        "memory.patients": float(len({o.habit.id for o in outcomes})),
        "memory.boundary_violations": float(sum(len(o.violations) for o in outcomes)),
        "memory.history_booked": _share(o.history_booked for o in outcomes),
    }
    for arm in ARMS:
        for language in ("all", "en", "he"):
            rows = [o for o in outcomes if o.arm == arm and language in ("all", o.habit.language)]
            if not rows:
                continue
            scope = f"memory.{arm}" if language == "all" else f"memory.{arm}.{language}"
            turns = [o.returning.turns for o in rows if o.returning.turns is not None]
            metrics[f"{scope}.booked"] = _share(o.returning.turns is not None for o in rows)
            if turns:
                metrics[f"{scope}.turns_to_book"] = round(mean(turns), 3)
    with_memory = metrics.get("memory.with_memory.turns_to_book")
    without = metrics.get("memory.without_memory.turns_to_book")
    if with_memory is not None and without is not None:
        metrics["memory.turns_saved"] = round(without - with_memory, 3)
    return metrics


def memory_failures(outcomes: Sequence[MemoryOutcome]) -> list[dict[str, Any]]:
    """Runs whose returning patient was not booked, or whose history was not: failing
    examples of the suite."""
    rows: list[dict[str, Any]] = []
    for outcome in outcomes:
        if outcome.returning.turns is not None and outcome.history_booked:
            continue
        problem = (
            "the earlier visits were not both booked"
            if not outcome.history_booked
            else f"not booked within {MAX_TURNS} turns"
        )
        rows.append(
            {
                "kind": "memory",
                "id": f"{outcome.habit.id}.{outcome.arm}",
                "language": outcome.habit.language,
                "input": " → ".join(e.sent for e in outcome.returning.exchanges),
                "expected": f"booked with {outcome.habit.provider} ({outcome.habit.part_of_day})",
                "got": problem,
                "detail": outcome.exchanges[-1].reply.text,
            }
        )
    return rows


def render_memory_report(outcomes: Sequence[MemoryOutcome]) -> str:
    """Turns to book per patient, with memory and without, and the means."""
    if not outcomes:
        return ""
    by_habit = {(o.habit.id, o.arm): o.returning.turns for o in outcomes}
    lines = [
        "memory: turns a returning patient takes to book (request to booking)",
        f"{'patient':10}{'language':>10}{'habit':>32}{'with memory':>14}{'without':>10}",
    ]
    for habit in dict.fromkeys(o.habit for o in outcomes):
        usual = f"{habit.provider.split(',')[0]}, {habit.part_of_day}"
        with_memory = by_habit.get((habit.id, "with_memory"))
        without = by_habit.get((habit.id, "without_memory"))
        lines.append(
            f"{habit.id:10}{habit.language:>10}{usual:>32}"
            f"{_turns(with_memory):>14}{_turns(without):>10}"
        )
    metrics = memory_metrics(outcomes)
    lines.append(
        f"{'mean':52}{_turns(metrics.get('memory.with_memory.turns_to_book')):>14}"
        f"{_turns(metrics.get('memory.without_memory.turns_to_book')):>10}"
    )
    return "\n".join(lines)


def _turns(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _share(values: Iterable[bool]) -> float:
    seen = list(values)
    return round(sum(seen) / len(seen), 4) if seen else 0.0


def main() -> None:
    outcomes = asyncio.run(evaluate_memory())
    print(render_memory_report(outcomes))


if __name__ == "__main__":
    main()
