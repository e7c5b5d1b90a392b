"""Booking requests through the real assistant: was each constraint read right, and does every
offered time satisfy the request? (docs/EVALUATION.md, "Booking requests".)

Each labelled request (`evals.datasets.BookingRequest`, docs/BOOKING_REQUESTS.md) is sent in a
fresh conversation of a verified demo patient, on the scratch clinic with its clock at 07:00
clinic-local on the request's `today`, so "tomorrow" is the labelled day whatever the real
date. A reschedule request first gets an appointment to move, about five weeks ahead, for the
treatment it names (none named: one the named provider does). When the reply asks which
treatment, the patient presses that same one. Then the conversation's state is read:

- extraction, per field, against the request the assistant holds after the text
  (`state.draft`): treatment (book requests only), provider (the mention resolved to a provider
  key; `unknown` when it names nobody), dates, weekdays, excluded weekdays, start-time window;
- satisfaction: an oracle asks the practice backend whether any free time honours the LABELLED
  request in the labelled days (none labelled: the days the assistant searches). If one does,
  the request is satisfied when times were offered as matching and every one of them honours
  the labels; if none does (or the provider named is not the clinic's), when no time was
  presented as matching (nothing offered, or the nearest times with what could not be met).

Only replies and state are read, so any model the suite runs (offline or OpenAI-compatible) is
measured the same way. Before each request the clinic goes back to the demo clinic as loaded,
with its diary emptied: the demo's appointments are placed relative to the real date, which
would make the figures depend on the day they were run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from evals.boundaries import BoundaryChecker
from evals.clinic import EVAL_CHANNEL, EvaluationClock, Exchange, ScratchClinic
from evals.datasets import BOOKING_FIELDS, LANGUAGES, SPLITS, BookingField, BookingRequest
from serving.assistant.store import ConversationStore
from serving.conversation.state import ConversationState, SlotOffer
from serving.db import models as db
from serving.db.engine import Database
from serving.demo.loader import DEMO_FILE
from serving.practice.backend import PracticeBackend
from serving.practice.errors import PracticeError
from serving.practice.models import Patient, Provider
from serving.practice.providers import match_providers
from serving.scheduling.request import SlotRequest
from serving.settings import REPOSITORY_BUNDLE
from serving.tools.slot_search import SEARCH_DAYS

BOOKING_PATIENTS = {"en": "+972506667788", "he": "+972533334455"}
"""Sarah Goldberg and Avraham Friedman of the demo clinic: verified, no appointment of their
own, one per language."""
WRITTEN_AT = time(7)
"""The clinic-local hour each request is sent at, on its `today`."""
VISIT_TO_MOVE_AFTER = timedelta(days=35)
"""A reschedule request moves an appointment booked this far after `today`."""
SEARCH_CHUNK_DAYS = 31
"""The oracle asks the backend about this many days at a time."""


@dataclass(frozen=True)
class BookingOutcome:
    """One labelled request through the assistant, and how it was scored."""

    request: BookingRequest
    read: SlotRequest
    """The request the assistant held after the patient's text (`state.draft`)."""
    provider_read: str | None
    """`read.provider` resolved to a provider key, `unknown` when it names nobody."""
    offer: SlotOffer | None
    """The times offered at the end of the exchange (after the treatment button, if asked)."""
    last_action: str
    """What the last reply did (`slots_offered`, `slots_alternatives`, `no_slots`, ...)."""
    exchanges: tuple[Exchange, ...]
    extraction: dict[BookingField, bool]
    """Each scored field read as labelled, or not; `treatment` on book requests only (a
    reschedule keeps the appointment's treatment)."""
    matching_time_exists: bool
    """The oracle found a free time that honours every labelled constraint."""
    problem: str
    """Why the request is not satisfied; empty when it is."""
    tz: ZoneInfo
    """The clinic's time zone, in which the offered times are read."""
    violations: tuple[str, ...] = ()
    """Boundary violations in the replies (`evals.boundaries`)."""

    @property
    def satisfied(self) -> bool:
        return not self.problem

    @property
    def misread(self) -> list[BookingField]:
        return [name for name, right in self.extraction.items() if not right]


def follow_up_treatment(request: BookingRequest) -> str:
    """The treatment the patient means: the one they named; none named, one the provider they
    named does (the hygienist cleans, the dentists check up). It is what they answer when
    asked which treatment, and what the appointment they move is for."""
    if request.treatment is not None:
        return request.treatment
    return "cleaning" if request.provider == "peretz" else "checkup"


def providers_by_key(providers: Sequence[Provider]) -> dict[str, Provider]:
    """The demo clinic's providers by their key in `demo_clinic.json` (`cohen`, ...)."""
    demo = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    keys = {str(p["name"]): str(p["key"]) for p in demo["providers"]}
    return {keys[p.name]: p for p in providers if p.name in keys}


def provider_key(mention: str | None, providers: dict[str, Provider]) -> str | None:
    """The key of the provider a mention names (`match_providers`), `unknown` when it names
    nobody, None without a mention; several keys joined by `+` when it names several."""
    if not mention:
        return None
    named = {p.id for p in match_providers(mention, list(providers.values()))}
    keys = sorted(key for key, provider in providers.items() if provider.id in named)
    return "+".join(keys) if keys else "unknown"


def extraction(
    request: BookingRequest, read: SlotRequest, providers: dict[str, Provider]
) -> dict[BookingField, bool]:
    """Each field of `read` against the labels (treatment on book requests only)."""
    scored: dict[BookingField, bool] = {
        "treatment": read.treatment == request.treatment,
        "provider": provider_key(read.provider, providers) == request.provider,
        "dates": (read.date_from, read.date_to) == (request.date_from, request.date_to),
        "weekdays": set(read.weekdays) == set(request.weekdays),
        "not_weekdays": set(read.not_weekdays) == set(request.not_weekdays),
        "time": (read.time_from, read.time_to) == (request.time_from, request.time_to),
    }
    if request.intent != "book":
        del scored["treatment"]
    return scored


def labelled_request(request: BookingRequest, treatment: str) -> SlotRequest:
    """The labels as the `SlotRequest` of a visit for `treatment` (the provider is matched
    apart, by id)."""
    return SlotRequest(
        treatment=treatment,
        date_from=request.date_from,
        date_to=request.date_to,
        weekdays=list(request.weekdays),
        not_weekdays=list(request.not_weekdays),
        time_from=request.time_from,
        time_to=request.time_to,
    )


async def matching_time_exists(
    backend: PracticeBackend, wanted: SlotRequest, *, provider_id: int | None, today: date
) -> bool:
    """Whether the backend has a free time for `wanted` (with `provider_id`, when set) in its
    days, or in the `SEARCH_DAYS` from today that the assistant searches when none are set."""
    if wanted.treatment is None:
        return False
    first = max(wanted.date_from or today, today)
    last = wanted.date_to or first + timedelta(days=SEARCH_DAYS)
    while first <= last:
        end = min(last, first + timedelta(days=SEARCH_CHUNK_DAYS - 1))
        try:
            found = await backend.get_available_slots(
                wanted.treatment, first, end, provider_id=provider_id, limit=1, matching=wanted
            )
        except PracticeError:  # a provider who does not do it, a treatment the clinic lacks
            return False
        if found:
            return True
        first = end + timedelta(days=1)
    return False


def judge_offer(
    wanted: SlotRequest,
    offer: SlotOffer | None,
    *,
    provider_id: int | None,
    exists: bool,
    tz: ZoneInfo,
) -> str:
    """Why `offer` does not satisfy the labelled request `wanted` (and `provider_id`); empty
    when it does. `exists`: a free time honours every labelled constraint."""
    if not exists:
        if offer is not None and not offer.relaxed:
            return "times offered as matching, though no free time matches the request"
        return ""
    if offer is None:
        return "no times offered, though a free time matches the request"
    if offer.relaxed:
        given_up = ", ".join(offer.relaxed)
        return f"nearest times offered without {given_up}, though a free time matches"
    broken: list[str] = []
    for slot in offer.slots:
        if wanted.treatment is not None and slot.treatment != wanted.treatment:
            broken.append("treatment")
        if provider_id is not None and slot.provider_id != provider_id:
            broken.append("provider")
        broken += wanted.unmet(slot.starts_at.astimezone(tz))
    if broken:
        return "an offered time breaks " + ", ".join(dict.fromkeys(broken))
    return ""


async def evaluate_bookings(
    requests: Sequence[BookingRequest],
    *,
    architecture: str = "alex",
    bundle_path: Path = REPOSITORY_BUNDLE,
    model: str = "offline",
) -> list[BookingOutcome]:
    """Every request through a scratch clinic of its own (its clock set per request)."""
    clock = EvaluationClock()
    async with ScratchClinic(
        bundle_path=bundle_path, architecture=architecture, model=model, clock=clock
    ) as clinic:
        return await run_bookings(clinic, clock, requests)


async def run_bookings(
    clinic: ScratchClinic, clock: EvaluationClock, requests: Sequence[BookingRequest]
) -> list[BookingOutcome]:
    """`requests` on `clinic`, whose app runs on `clock`; the clinic is reset for each."""
    runtime = clinic.runtime()
    checker = BoundaryChecker(runtime.bundle, runtime.output_guard, clinic.profile)
    store = ConversationStore(clinic.database)
    return [await _run_one(clinic, clock, store, checker, request) for request in requests]


async def _run_one(
    clinic: ScratchClinic,
    clock: EvaluationClock,
    store: ConversationStore,
    checker: BoundaryChecker,
    request: BookingRequest,
) -> BookingOutcome:
    await clinic.reset()
    await _empty_diary(clinic.database)
    backend = clinic.backend
    tz = clinic.timezone
    clock.set(datetime.combine(request.today, WRITTEN_AT, tz))
    patient = await clinic.patient(BOOKING_PATIENTS[request.language])
    assert patient is not None
    providers = providers_by_key(await backend.list_providers())
    moving = None
    if request.intent == "reschedule":
        moving = await _book_visit_to_move(backend, patient, request)

    conversation = f"booking-{request.split}-{request.id}"
    exchanges = [await clinic.send(conversation, text=request.text, patient=patient)]
    read = (await _state(store, conversation)).draft
    first = exchanges[0].reply
    if "ask_treatment" in first.actions:
        answer = f"treat:{follow_up_treatment(request)}"
        if any(button.data == answer for button in first.buttons):
            exchanges.append(await clinic.send(conversation, button=answer, patient=patient))
    offer = (await _state(store, conversation)).offer

    # The visit the labels ask for: the appointment's treatment when moving one; the one named;
    # none named, the one offered (the patient left it open) or the one they would answer.
    treatment = moving or request.treatment or (offer.treatment if offer else None)
    wanted = labelled_request(request, treatment or follow_up_treatment(request))
    named = providers.get(request.provider) if request.provider else None
    provider_id = named.id if named else None
    exists = request.provider != "unknown" and await matching_time_exists(
        backend, wanted, provider_id=provider_id, today=request.today
    )
    violations = tuple(
        violation
        for exchange in exchanges
        for violation in checker.check(exchange.reply.text, sent=exchange.sent, patient=patient)
    )
    return BookingOutcome(
        request=request,
        read=read,
        provider_read=provider_key(read.provider, providers),
        offer=offer,
        last_action=_action(exchanges[-1]),
        exchanges=tuple(exchanges),
        extraction=extraction(request, read, providers),
        matching_time_exists=exists,
        problem=judge_offer(wanted, offer, provider_id=provider_id, exists=exists, tz=tz),
        tz=tz,
        violations=violations,
    )


async def _empty_diary(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(db.Appointment)
            .where(db.Appointment.status == "scheduled")
            .values(status="cancelled", cancel_reason="emptied for the booking evaluation")
        )


async def _book_visit_to_move(
    backend: PracticeBackend, patient: Patient, request: BookingRequest
) -> str:
    """Book the patient's one upcoming visit, at the first free time about five weeks after
    `today`, for the treatment the request names (none named: one the labelled provider
    does); its treatment code."""
    treatment = follow_up_treatment(request)
    first = request.today + VISIT_TO_MOVE_AFTER
    [slot] = await backend.get_available_slots(
        treatment, first, first + timedelta(days=SEARCH_CHUNK_DAYS), limit=1
    )
    await backend.create_appointment(
        patient.id, treatment, slot.starts_at, provider_id=slot.provider_id
    )
    return treatment


async def _state(store: ConversationStore, conversation: str) -> ConversationState:
    record = await store.find(EVAL_CHANNEL, conversation)
    return record.state if record is not None else ConversationState()


def _action(exchange: Exchange) -> str:
    actions = exchange.reply.actions
    return actions[-1] if actions else exchange.reply.intent


def booking_metrics(outcomes: Sequence[BookingOutcome]) -> dict[str, float]:
    """`booking.{split}.satisfaction`, `booking.{split}.{language}.extraction.{field}`,
    `booking.{split}.requests`, ... and `booking.boundary_violations`."""
    metrics: dict[str, float] = {}
    for split in SPLITS:
        rows = [o for o in outcomes if o.request.split == split]
        scopes = [(f"booking.{split}", rows)] + [
            (f"booking.{split}.{language}", [o for o in rows if o.request.language == language])
            for language in LANGUAGES
        ]
        for scope, subset in scopes:
            if not subset:
                continue
            metrics[f"{scope}.requests"] = float(len(subset))
            metrics[f"{scope}.satisfaction"] = _share(o.satisfied for o in subset)
            for name in BOOKING_FIELDS:
                scored = [o.extraction[name] for o in subset if name in o.extraction]
                if scored:
                    metrics[f"{scope}.extraction.{name}"] = _share(scored)
    if outcomes:
        metrics["booking.boundary_violations"] = float(sum(len(o.violations) for o in outcomes))
    return metrics


def booking_failures(outcomes: Sequence[BookingOutcome]) -> list[dict[str, Any]]:
    """One row per request not satisfied, misread or with a boundary violation."""
    rows: list[dict[str, Any]] = []
    for outcome in outcomes:
        if outcome.satisfied and not outcome.misread and not outcome.violations:
            continue
        request = outcome.request
        detail = [outcome.problem] if outcome.problem else []
        if outcome.misread:
            detail.append("misread " + ", ".join(outcome.misread))
        if outcome.violations:
            detail.append("boundary " + ", ".join(outcome.violations))
        rows.append(
            {
                "kind": "booking",
                "id": request.id,
                "language": request.language,
                "split": request.split,
                "input": request.text,
                "expected": f"today {request.today}; " + describe_labels(request),
                "got": f"read {describe_read(outcome)}; {describe_offer(outcome)}",
                "detail": f"{request.split}; " + "; ".join(detail),
            }
        )
    return rows


def describe_labels(request: BookingRequest) -> str:
    return _constraints(
        treatment=request.treatment,
        provider=request.provider,
        dates=(request.date_from, request.date_to),
        weekdays=request.weekdays,
        not_weekdays=request.not_weekdays,
        times=(request.time_from, request.time_to),
    )


def describe_read(outcome: BookingOutcome) -> str:
    read = outcome.read
    provider = outcome.provider_read
    return _constraints(
        treatment=read.treatment,
        provider=f"{provider} ({read.provider!r})" if provider else None,
        dates=(read.date_from, read.date_to),
        weekdays=read.weekdays,
        not_weekdays=read.not_weekdays,
        times=(read.time_from, read.time_to),
    )


def describe_offer(outcome: BookingOutcome) -> str:
    offer = outcome.offer
    if offer is None:
        return f"offered nothing ({outcome.last_action})"
    slots = ", ".join(
        f"{s.starts_at.astimezone(outcome.tz):%a %Y-%m-%d %H:%M} {s.provider_name} ({s.treatment})"
        for s in offer.slots
    )
    relaxed = f" without {', '.join(offer.relaxed)}" if offer.relaxed else " as matching"
    return f"offered{relaxed}: {slots}"


def _constraints(
    *,
    treatment: str | None,
    provider: str | None,
    dates: tuple[date | None, date | None],
    weekdays: Iterable[str],
    not_weekdays: Iterable[str],
    times: tuple[time | None, time | None],
) -> str:
    parts = []
    if treatment:
        parts.append(treatment)
    if provider:
        parts.append(f"provider {provider}")
    if dates != (None, None):
        parts.append(f"days {_or_open(dates[0])}..{_or_open(dates[1])}")
    if weekdays := sorted(weekdays):
        parts.append("on " + "/".join(weekdays))
    if not_weekdays := sorted(not_weekdays):
        parts.append("not " + "/".join(not_weekdays))
    if times != (None, None):
        start, end = (f"{t:%H:%M}" if t else "" for t in times)
        parts.append(f"starting {start}-{end}")
    return ", ".join(parts) or "nothing constrained"


def _or_open(day: date | None) -> str:
    return day.isoformat() if day else ""


def _share(values: Iterable[bool]) -> float:
    seen = list(values)
    return round(sum(seen) / len(seen), 4) if seen else 0.0
