"""The booking-request evaluation (`evals.booking`): requests labelled here, run through the real
scratch clinic with its clock at each request's day, and scored field by field and by the
offered times. The dev and held-out sets are measured by the suite, never asserted here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from evals.booking import (
    BookingOutcome,
    booking_failures,
    booking_metrics,
    extraction,
    judge_offer,
    labelled_request,
    providers_by_key,
    run_bookings,
)
from evals.clinic import EvaluationClock, ScratchClinic
from evals.datasets import BOOKING_FIELDS, BookingRequest
from serving.conversation.state import OfferedSlot, SlotOffer
from serving.practice.models import Provider
from serving.scheduling.request import SlotRequest
from serving.settings import REPOSITORY_BUNDLE

CLINIC_TZ = ZoneInfo("Asia/Jerusalem")
SUNDAY = date(2026, 12, 6)
"""The day most requests here are written: Tuesday is the 8th, Wednesday the 9th."""


def labels(**values: Any) -> BookingRequest:
    """A book request written on `SUNDAY`, constraining nothing but what `values` sets."""
    defaults: dict[str, Any] = {
        "id": "t-en-001",
        "language": "en",
        "today": SUNDAY,
        "intent": "book",
        "text": "(a request)",
        "treatment": None,
        "provider": None,
        "date_from": None,
        "date_to": None,
        "weekdays": (),
        "not_weekdays": (),
        "time_from": None,
        "time_to": None,
        "note": "test",
    }
    return BookingRequest.model_validate({**defaults, **values})


TUESDAY_MORNING_WITH_COHEN = labels(
    id="t-en-honoured",
    text="Can I book a checkup with Dr. Cohen on Tuesday morning?",
    treatment="checkup",
    provider="cohen",
    date_from=date(2026, 12, 8),
    date_to=date(2026, 12, 8),
    time_from=time(8),
    time_to=time(12),
)
AFTER_ONE_LABEL = TUESDAY_MORNING_WITH_COHEN.model_copy(
    update={"id": "t-en-broken", "time_from": time(13), "time_to": None}
)
"""The same text labelled "after 1pm" (Dr. Cohen has Tuesday afternoons): the morning times
offered break the labelled time."""
MIZRAHI_ON_WEDNESDAY = labels(
    id="t-en-impossible",
    text="a filling with Dr. Mizrahi on Wednesday please",
    treatment="filling",
    provider="mizrahi",
    date_from=date(2026, 12, 9),
    date_to=date(2026, 12, 9),
)
"""Dr. Mizrahi does not work on Wednesdays: nothing can satisfy it."""
UNKNOWN_DENTIST = labels(
    id="t-he-unknown",
    language="he",
    today=date(2026, 12, 8),
    text='אפשר תור לבדיקה אצל ד"ר לוי מחר?',
    treatment="checkup",
    provider="unknown",
    date_from=date(2026, 12, 9),
    date_to=date(2026, 12, 9),
)
NO_TREATMENT_NAMED = labels(
    id="t-en-ask",
    today=date(2026, 12, 17),
    text="can I come in tomorrow after 4?",
    date_from=date(2026, 12, 18),
    date_to=date(2026, 12, 18),
    time_from=time(16),
)
"""Asked which treatment, the patient presses "checkup"; Friday the 18th closes at 13:00."""
MOVE_TO_MONDAY = labels(
    id="t-en-move",
    today=date(2026, 12, 17),
    intent="reschedule",
    text="please move my appointment to Monday afternoon",
    date_from=date(2026, 12, 21),
    date_to=date(2026, 12, 21),
    time_from=time(12),
    time_to=time(16),
)
REQUESTS = (
    TUESDAY_MORNING_WITH_COHEN,
    AFTER_ONE_LABEL,
    MIZRAHI_ON_WEDNESDAY,
    UNKNOWN_DENTIST,
    NO_TREATMENT_NAMED,
    MOVE_TO_MONDAY,
)


@pytest.fixture(scope="module")
async def outcomes() -> AsyncIterator[dict[str, BookingOutcome]]:
    clock = EvaluationClock()
    async with ScratchClinic(
        bundle_path=REPOSITORY_BUNDLE, architecture="alex", clock=clock
    ) as clinic:
        scored = await run_bookings(clinic, clock, REQUESTS)
        yield {outcome.request.id: outcome for outcome in scored}


async def test_a_request_honoured_on_the_labelled_day(
    outcomes: dict[str, BookingOutcome],
) -> None:
    honoured = outcomes["t-en-honoured"]
    assert honoured.extraction == dict.fromkeys(BOOKING_FIELDS, True)
    assert honoured.matching_time_exists
    assert honoured.satisfied and honoured.problem == ""
    assert honoured.last_action == "slots_offered"
    assert honoured.offer is not None and honoured.offer.relaxed == []
    # "Tuesday" counted from the labelled Sunday, whatever the real date is.
    for slot in honoured.offer.slots:
        local = slot.starts_at.astimezone(honoured.tz)
        assert local.date() == date(2026, 12, 8) and time(8) <= local.time() < time(12)
        assert slot.provider_name == "Dr. Avi Cohen"


async def test_offered_times_that_break_the_labels_are_not_satisfied(
    outcomes: dict[str, BookingOutcome],
) -> None:
    broken = outcomes["t-en-broken"]
    assert broken.matching_time_exists
    assert broken.problem == "an offered time breaks time"
    assert broken.misread == ["time"]
    [row] = booking_failures([broken])
    assert row["kind"] == "booking" and row["id"] == "t-en-broken"
    assert row["split"] == "dev" and row["language"] == "en"
    assert row["input"] == AFTER_ONE_LABEL.text
    assert row["expected"] == (
        "today 2026-12-06; checkup, provider cohen, days 2026-12-08..2026-12-08, starting 13:00-"
    )
    assert row["got"].startswith(
        "read checkup, provider cohen ('Dr. Avi Cohen'), days 2026-12-08..2026-12-08, "
        "starting 08:00-12:00; offered as matching: Tue 2026-12-08 08:00 Dr. Avi Cohen (checkup)"
    )
    assert row["detail"] == "dev; an offered time breaks time; misread time"


async def test_an_impossible_request_answered_honestly_is_satisfied(
    outcomes: dict[str, BookingOutcome],
) -> None:
    impossible = outcomes["t-en-impossible"]
    assert not impossible.matching_time_exists
    assert impossible.offer is not None and impossible.offer.relaxed  # the nearest times
    assert impossible.last_action == "slots_alternatives"
    assert impossible.satisfied
    # The same offer presented as matching would not be.
    as_matching = impossible.offer.model_copy(update={"relaxed": []})
    wanted = labelled_request(MIZRAHI_ON_WEDNESDAY, "filling")
    assert judge_offer(wanted, as_matching, provider_id=None, exists=False, tz=impossible.tz) == (
        "times offered as matching, though no free time matches the request"
    )

    unknown = outcomes["t-he-unknown"]
    assert unknown.provider_read == "unknown" and unknown.extraction["provider"]
    assert not unknown.matching_time_exists and unknown.satisfied


async def test_the_treatment_question_is_answered_and_a_reschedule_moves_a_visit(
    outcomes: dict[str, BookingOutcome],
) -> None:
    asked = outcomes["t-en-ask"]
    assert [e.sent for e in asked.exchanges] == [NO_TREATMENT_NAMED.text, "[button treat:checkup]"]
    assert asked.extraction["treatment"]  # none named, none read
    assert asked.read.treatment is None and asked.offer is not None
    assert asked.offer.treatment == "checkup"
    # Friday closes at 13:00: no visit after 4, and none was presented as one.
    assert not asked.matching_time_exists and asked.satisfied

    moved = outcomes["t-en-move"]
    assert "treatment" not in moved.extraction  # a reschedule keeps the visit's treatment
    assert moved.offer is not None and moved.offer.appointment_id is not None
    assert moved.satisfied, moved.problem


def test_each_extraction_field_is_scored_on_its_own() -> None:
    request = labels(
        treatment="filling",
        provider="mizrahi",
        date_from=date(2026, 12, 13),
        date_to=date(2026, 12, 19),
        weekdays=("mon", "thu"),
        not_weekdays=("fri",),
        time_from=time(16),
        time_to=time(20),
    )
    right = SlotRequest(
        treatment="filling",
        provider="rivka",
        date_from=date(2026, 12, 13),
        date_to=date(2026, 12, 19),
        weekdays=["thu", "mon"],
        not_weekdays=["fri"],
        time_from=time(16),
        time_to=time(20),
    )
    providers = providers_by_key(_demo_providers())
    assert extraction(request, right, providers) == dict.fromkeys(BOOKING_FIELDS, True)
    wrong: dict[str, dict[str, Any]] = {
        "treatment": {"treatment": "checkup"},
        "provider": {"provider": "Dr. Levi"},
        "dates": {"date_to": date(2026, 12, 13)},
        "weekdays": {"weekdays": ["mon"]},
        "not_weekdays": {"not_weekdays": []},
        "time": {"time_to": None},
    }
    for field, change in wrong.items():
        scored = extraction(request, right.model_copy(update=change), providers)
        assert [name for name, ok in scored.items() if not ok] == [field], field
    reschedule = request.model_copy(update={"intent": "reschedule"})
    assert "treatment" not in extraction(reschedule, right, providers)
    unnamed = labels(provider=None)
    assert (
        extraction(unnamed, SlotRequest(provider="the hygienist"), providers)["provider"] is False
    )
    assert extraction(labels(provider="peretz"), SlotRequest(provider="השיננית"), providers)[
        "provider"
    ]


def test_an_offer_is_judged_against_every_labelled_constraint() -> None:
    tz = CLINIC_TZ
    wanted = labelled_request(TUESDAY_MORNING_WITH_COHEN, "checkup")

    def offer(
        *starts: datetime, provider_id: int = 1, relaxed: list[str] | None = None
    ) -> SlotOffer:
        slots = [
            OfferedSlot(
                starts_at=start,
                provider_id=provider_id,
                provider_name="Dr. Avi Cohen",
                provider_name_he='ד"ר אבי כהן',
                treatment="checkup",
            )
            for start in starts
        ]
        return SlotOffer(treatment="checkup", slots=slots, relaxed=relaxed or [])

    nine = datetime(2026, 12, 8, 9, tzinfo=tz)
    one_pm = datetime(2026, 12, 8, 13, tzinfo=tz)
    wednesday = datetime(2026, 12, 9, 9, tzinfo=tz)

    def judged(candidate: SlotOffer | None, exists: bool = True) -> str:
        return judge_offer(wanted, candidate, provider_id=1, exists=exists, tz=tz)

    assert judged(offer(nine)) == ""
    assert judged(offer(nine, one_pm)) == "an offered time breaks time"
    assert judged(offer(wednesday)) == "an offered time breaks dates"
    assert judged(offer(nine, provider_id=2)) == "an offered time breaks provider"
    assert judged(None) == "no times offered, though a free time matches the request"
    assert judged(offer(wednesday, relaxed=["dates"])) == (
        "nearest times offered without dates, though a free time matches"
    )
    assert judged(None, exists=False) == ""
    assert judged(offer(wednesday, relaxed=["dates"]), exists=False) == ""


async def test_metrics_per_split_language_and_field(outcomes: dict[str, BookingOutcome]) -> None:
    metrics = booking_metrics(list(outcomes.values()))
    assert metrics["booking.dev.requests"] == 6
    assert metrics["booking.dev.en.requests"] == 5 and metrics["booking.dev.he.requests"] == 1
    assert metrics["booking.dev.satisfaction"] == round(5 / 6, 4)
    assert metrics["booking.dev.en.satisfaction"] == 0.8
    assert metrics["booking.dev.extraction.time"] == round(5 / 6, 4)
    assert metrics["booking.dev.extraction.treatment"] == 1.0  # 5 book requests
    assert metrics["booking.boundary_violations"] == 0
    assert not any(name.startswith("booking.heldout") for name in metrics)


def _demo_providers() -> list[Provider]:
    return [
        Provider(id=1, name="Dr. Avi Cohen", name_he='ד"ר אבי כהן', role="dentist"),
        Provider(id=2, name="Dr. Rivka Mizrahi", name_he='ד"ר רבקה מזרחי', role="dentist"),
        Provider(id=3, name="Noa Peretz, RDH", name_he="נועה פרץ, שיננית", role="hygienist"),
    ]
