"""The booking request model, the provider names in it, and the times of day the offline
model reads (docs/BOOKING_REQUESTS.md): the parts the slot search and the NLU share."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from serving.agents.offline.providers import ProviderReader
from serving.agents.offline.times import TimeReader, TimeWindow
from serving.bundle.lexicon import Lexicon, message_words
from serving.practice.models import Provider
from serving.practice.providers import match_providers
from serving.scheduling.request import SlotRequest, earlier_in_the_day, later_in_the_day
from tests.clinic_time import CLINIC_TZ

LEXICON = Path(__file__).resolve().parents[1] / "prompts" / "offline" / "lexicon.yaml"
TEAM = [
    Provider(id=1, name="Dr. Avi Cohen", name_he='ד"ר אבי כהן', role="dentist"),
    Provider(id=2, name="Dr. Rivka Mizrahi", name_he='ד"ר רבקה מזרחי', role="dentist"),
    Provider(id=3, name="Noa Peretz, RDH", name_he="נועה פרץ, שיננית", role="hygienist"),
]
NAMES = tuple(name for p in TEAM for name in (p.name, p.name_he))


@pytest.fixture(scope="module")
def times() -> TimeReader:
    lexicon = Lexicon.model_validate(yaml.safe_load(LEXICON.read_text(encoding="utf-8")))
    return TimeReader(lexicon.times, not_typos=lexicon.matching.not_typos)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), CLINIC_TZ)


THURSDAY = date(2026, 12, 10)


# -- SlotRequest -------------------------------------------------------------------------------


def test_unmet_names_each_broken_part() -> None:
    request = SlotRequest(
        date_from=date(2026, 12, 7),
        date_to=date(2026, 12, 18),
        weekdays=["thu", "mon"],
        not_weekdays=["sun"],
        time_from=time(17),
        time_to=time(19),
    )
    assert request.unmet(at(THURSDAY, 17, 30)) == []
    assert request.unmet(at(THURSDAY, 19)) == ["time"], "the end is exclusive"
    assert request.unmet(at(THURSDAY, 16, 45)) == ["time"]
    assert request.unmet(at(date(2026, 12, 9), 18)) == ["weekdays"]
    assert request.unmet(at(date(2026, 12, 13), 18)) == ["weekdays", "not_weekdays"]
    assert request.unmet(at(date(2026, 12, 24), 8)) == ["dates", "time"]
    assert SlotRequest().unmet(at(THURSDAY, 3)) == [], "nothing asked, nothing broken"


@pytest.mark.parametrize(
    "values",
    [
        {"date_from": date(2026, 12, 10), "date_to": date(2026, 12, 9)},
        {"time_from": time(17), "time_to": time(17)},
        {"weekdays": ["thursday"]},
    ],
)
def test_an_impossible_request_is_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SlotRequest.model_validate(values)


def test_a_later_message_refines_what_was_said() -> None:
    first = SlotRequest(
        treatment="filling", provider="Dr. Mizrahi", weekdays=["thu"], time_from=time(17)
    )
    assert first.refined(SlotRequest(not_weekdays=["sun"])) == first.model_copy(
        update={"not_weekdays": ["sun"]}
    ), "an exclusion adds"
    moved = first.refined(SlotRequest(date_from=date(2026, 12, 14), date_to=date(2026, 12, 20)))
    assert (moved.date_from, moved.weekdays, moved.time_from) == (date(2026, 12, 14), [], time(17))
    assert first.refined(SlotRequest(time_to=time(10))).time_from is None, "a new window"
    other = first.model_copy(update={"not_providers": [2]}).refined(SlotRequest(provider="Noa"))
    assert (other.provider, other.not_providers) == ("Noa", [])
    assert first.refined(SlotRequest(treatment="checkup")).provider == "Dr. Mizrahi"


# -- providers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mention", "ids"),
    [
        ("Dr. Mizrahi", [2]),
        ("mizrachi", [2]),
        ("MIZRAHI", [2]),
        ('לד"ר מזרחי', [2]),
        ("אצל רבקה", [2]),
        ("dr avi", [1]),
        ("כהן", [1]),
        ("Cohen", [1]),
        ("the hygienist", [3]),
        ("השיננית", [3]),
        ("Noa", [3]),
        ("Dr. Levi", []),
        ("Dr.", []),
        ("", []),
    ],
)
def test_a_mention_names_providers(mention: str, ids: list[int]) -> None:
    assert [p.id for p in match_providers(mention, TEAM)] == ids


@pytest.mark.parametrize(
    ("text", "provider"),
    [
        ("can I see Dr. Mizrahi on Thursday", "Dr. Rivka Mizrahi"),
        ("with rivka please", "Dr. Rivka Mizrahi"),
        ('תור אצל ד"ר כהן', 'ד"ר אבי כהן'),
        ("למזרחי", 'ד"ר רבקה מזרחי'),
        ("a cleaning with the hygienist", "hygienist"),
        ("Dr Levinson on Monday", "Dr Levinson"),
        ("I need a dentist on Monday", None),
        ("a cleaning next week", None),
    ],
)
def test_the_offline_model_finds_the_provider_named(text: str, provider: str | None) -> None:
    assert ProviderReader().find(message_words(text), NAMES)[0] == provider


# -- times of day -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("after 5pm", (time(17), None)),
        ("after 5", (time(17), None)),
        ("from 17:30", (time(17, 30), None)),
        ("אחרי חמש", (time(17), None)),
        ("not before 9 in the morning", (time(9), None)),
        ("before 10", (None, time(10))),
        ("עד 11", (None, time(11))),
        ("before noon", (None, time(12))),
        ("between 2 and 4", (time(14), time(16))),
        ("בין 2 ל-4", (time(14), time(16))),
        ("between 11 and 1", (time(11), time(13))),
        ("14:00-16:00", (time(14), time(16))),
        ("at 3", (time(14), time(16))),
        ("בסביבות 10", (time(9), time(11))),
        ("חמש וחצי בערב", (time(16, 30), time(18, 30))),
        ("at 5:30 pm", (time(16, 30), time(18, 30))),
        ("around nine in the evening", (time(20), time(22))),
        ("in the morning", (time(8), time(12))),
        ('אחה"צ', (time(12), time(16))),
        ("lunchtime", (time(12), time(14))),
        ("first thing", (time(8), time(9))),
        ("after work", (time(16), time(20))),
        ("morning, before 10", (time(8), time(10))),
        ("good morning, can I book", None),
        ("after two weeks", None),
        ("one morning next week", (time(8), time(12))),
        ("רק בבקרים", (time(8), time(12))),
        ("at half past five", (time(16, 30), time(18, 30))),
        ("early February", None),
        ("in 3 days", None),
        ("a checkup", None),
    ],
)
def test_reads_the_time_of_day(
    times: TimeReader, text: str, window: tuple[time | None, time | None] | None
) -> None:
    found = times.read(message_words(text))
    expected = TimeWindow(*window) if window else TimeWindow()
    assert found == expected


def test_later_and_earlier_follow_the_hours_offered_not_the_days() -> None:
    """An offer that runs from this afternoon into tomorrow morning: "later" is after the
    latest hour of day offered, "earlier" before the earliest, whichever day each fell on."""
    tz = CLINIC_TZ
    offered = [
        datetime(2026, 12, 6, 15, 30, tzinfo=tz),
        datetime(2026, 12, 6, 17, 30, tzinfo=tz),
        datetime(2026, 12, 7, 12, 0, tzinfo=tz),
    ]
    assert later_in_the_day(offered) == time(17, 45)
    assert later_in_the_day([datetime(2026, 12, 7, 12, 10, tzinfo=tz)]) == time(12, 15)
    assert earlier_in_the_day(offered) == time(12, 0)
    assert later_in_the_day([datetime(2026, 12, 7, 23, 50, tzinfo=tz)]) == time.max
