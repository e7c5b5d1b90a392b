"""Dates and times of day in Hebrew and English, relative to a fixed clinic-local today."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import pytest
import yaml

from serving.agents.offline.dates import DateRange, DateReader, WeekdayMismatch
from serving.agents.offline.times import TimeReader
from serving.bundle.lexicon import Lexicon, message_words
from serving.scheduling.request import PART_OF_DAY_WINDOWS

LEXICON = Path(__file__).resolve().parents[1] / "prompts" / "offline" / "lexicon.yaml"
THURSDAY = date(2026, 11, 26)
SUNDAY = date(2026, 11, 29)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.model_validate(yaml.safe_load(LEXICON.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def reader(lexicon: Lexicon) -> DateReader:
    return DateReader(lexicon.dates, not_typos=lexicon.matching.not_typos)


@pytest.fixture(scope="module")
def times(lexicon: Lexicon) -> TimeReader:
    return TimeReader(lexicon.times, not_typos=lexicon.matching.not_typos)


Window = str | tuple[time | None, time | None] | None


def read(reader: DateReader, times: TimeReader, text: str, today: date) -> tuple[object, ...]:
    """(date_from, date_to, window) as the NLU reads them: the window is a part of the day's
    name when it is exactly that part, else (time_from, time_to)."""
    words = message_words(text)
    dates, used = reader.read_words(words, today=today)
    window = times.read(words, dates=used)
    found: Window = None
    if window:
        found = (window.time_from, window.time_to)
        found = next((n for n, w in PART_OF_DAY_WINDOWS.items() if w == found), found)
    return dates.date_from, dates.date_to, found


def day(month: int, dom: int, year: int = 2026) -> date:
    return date(year, month, dom)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the examples of the issue
        ("next Tuesday morning", (day(12, 1), day(12, 1), "morning")),
        ("מחר אחרי הצהריים", (day(11, 27), day(11, 27), "afternoon")),
        ("יום ראשון הבא", (day(11, 29), day(11, 29), None)),
        ("this week", (day(11, 26), day(11, 28), None)),
        ("3/12", (day(12, 3), day(12, 3), None)),
        ("3/1", (day(1, 3, 2027), day(1, 3, 2027), None)),
        # relative days
        ("today", (THURSDAY, THURSDAY, None)),
        ("אפשר היום?", (THURSDAY, THURSDAY, None)),
        ("tomorrow", (day(11, 27), day(11, 27), None)),
        ("tommorow pls", (day(11, 27), day(11, 27), None)),
        ("למחר", (day(11, 27), day(11, 27), None)),
        ("day after tomorrow in the evening", (day(11, 28), day(11, 28), "evening")),
        ("מחרתיים בבוקר", (day(11, 28), day(11, 28), "morning")),
        ("tonight", (THURSDAY, THURSDAY, "evening")),
        # weekdays: the next occurrence after today, "this"/"next"/"הבא" alike
        ("ביום ג'", (day(12, 1), day(12, 1), None)),
        ("ביום שלישי", (day(12, 1), day(12, 1), None)),
        ("this monday", (day(11, 30), day(11, 30), None)),
        ("בשני בבוקר", (day(11, 30), day(11, 30), "morning")),
        ("ביום ב'", (day(11, 30), day(11, 30), None)),
        ("ביום ה' אחה\"צ", (day(12, 3), day(12, 3), "afternoon")),
        ("Thursday", (day(12, 3), day(12, 3), None)),
        # weeks and months
        ("next week", (day(11, 29), day(12, 5), None)),
        ("השבוע", (day(11, 26), day(11, 28), None)),
        ("בשבוע הבא", (day(11, 29), day(12, 5), None)),
        ("שבוע הבא", (day(11, 29), day(12, 5), None)),
        ("ביום שלישי בשבוע הבא", (day(12, 1), day(12, 1), None)),
        ("this month", (day(11, 26), day(11, 30), None)),
        ("next month", (day(12, 1), day(12, 31), None)),
        ("in december", (day(12, 1), day(12, 31), None)),
        ("בדצמבר", (day(12, 1), day(12, 31), None)),
        # distances
        ("in 3 days", (day(11, 29), day(11, 29), None)),
        ("in two weeks", (day(12, 6), day(12, 12), None)),
        ("בעוד 3 ימים", (day(11, 29), day(11, 29), None)),
        ("בעוד שבוע", (day(11, 29), day(12, 5), None)),
        ("בעוד יומיים", (day(11, 28), day(11, 28), None)),
        ("within a week", (day(11, 26), day(12, 3), None)),
        ("תוך שבועיים", (day(11, 26), day(12, 10), None)),
        # explicit dates, day first
        ("3.12", (day(12, 3), day(12, 3), None)),
        ("ב-3/12", (day(12, 3), day(12, 3), None)),
        ("3/12/2026", (day(12, 3), day(12, 3), None)),
        ("2026-12-10", (day(12, 10), day(12, 10), None)),
        ("December 3", (day(12, 3), day(12, 3), None)),
        ("Dec 3rd", (day(12, 3), day(12, 3), None)),
        ("the 3rd of December", (day(12, 3), day(12, 3), None)),
        ("3 בדצמבר", (day(12, 3), day(12, 3), None)),
        ("the 2nd of January", (day(1, 2, 2027), day(1, 2, 2027), None)),
        # parts of the day alone, and times
        ("בבוקר", (None, None, "morning")),
        ("afternoon is better", (None, None, "afternoon")),
        ("tomorrow at 10:30", (day(11, 27), day(11, 27), (time(9, 30), time(11, 30)))),
        ("tomorrow at 4:30", (day(11, 27), day(11, 27), (time(15, 30), time(17, 30)))),
        # greetings are not a time preference
        ("בוקר טוב", (None, None, None)),
        ("good morning, tomorrow evening?", (day(11, 27), day(11, 27), "evening")),
        ("מחר בבוקר טוב לי", (day(11, 27), day(11, 27), "morning")),
        # nothing, or nothing usable
        ("I'd like a cleaning", (None, None, None)),
        ("may I book?", (None, None, None)),
        ("3/1/2026", (None, None, None)),
        ("31/2", (None, None, None)),
        ("INV/2026/0042", (None, None, None)),
    ],
)
def test_reads_dates_relative_to_today(
    reader: DateReader,
    times: TimeReader,
    text: str,
    expected: tuple[date | None, date | None, Window],
) -> None:
    assert read(reader, times, text, THURSDAY) == expected


def test_a_weekday_with_next_week_is_that_weeks_day(reader: DateReader) -> None:
    assert reader.read("next Tuesday", today=SUNDAY).date_from == day(12, 1)
    assert reader.read("Tuesday next week", today=SUNDAY).date_from == day(12, 8)
    assert reader.read("יום שלישי בשבוע הבא", today=SUNDAY).date_from == day(12, 8)


def test_todays_weekday_means_next_week(reader: DateReader) -> None:
    assert reader.read("Sunday", today=SUNDAY).date_from == day(12, 6)
    assert reader.read("today", today=SUNDAY).date_from == SUNDAY


def test_weeks_start_on_sunday_across_the_year_end(reader: DateReader) -> None:
    wednesday = date(2026, 12, 30)
    assert reader.read("next week", today=wednesday) == DateRange(
        date(2027, 1, 3), date(2027, 1, 9)
    )
    assert reader.read("this week", today=wednesday) == DateRange(wednesday, date(2027, 1, 2))
    assert reader.read("יום ראשון", today=wednesday).date_from == date(2027, 1, 3)
    assert reader.read("in january", today=wednesday).date_from == date(2027, 1, 1)


@pytest.mark.parametrize(
    "text",
    [
        "today", "Monday", "this week", "next week", "this month", "3/1", "1/11", "25.11",
        "November 20", "בנובמבר", "in 3 days", "יום שישי", "שבת",
    ],
)  # fmt: skip
def test_never_a_range_in_the_past(reader: DateReader, text: str) -> None:
    for offset in range(0, 400, 7):
        today = THURSDAY + timedelta(days=offset)
        found = reader.read(text, today=today)
        if found.date_from is not None:
            assert found.date_to is not None
            assert today <= found.date_from <= found.date_to, (text, today, found)


def test_a_day_of_the_month_beside_a_weekday_is_the_next_such_day(reader: DateReader) -> None:
    # 26 November: the 30th is this month's, the 3rd next month's; 31 skips to December
    assert reader.read("Monday the 30th", today=THURSDAY).date_from == day(11, 30)
    assert reader.read("Thursday the 3rd", today=THURSDAY).date_from == day(12, 3)
    assert reader.read("Thursday the 31st", today=THURSDAY).date_from == day(12, 31)
    assert reader.read("the 3rd", today=THURSDAY).date_from is None, "alone, maybe a choice"
    assert reader.read("on the 3rd", today=THURSDAY).date_from == day(12, 3)
    assert reader.read("ב-30 לחודש", today=THURSDAY).date_from == day(11, 30)
    assert reader.read("ב-17", today=THURSDAY).date_from == day(12, 17)
    assert reader.read("ב-9", today=THURSDAY).date_from is None, "an hour"
    words = message_words("Thursday the 3rd please")
    assert reader.read_words(words, today=THURSDAY)[1] == {0, 2}, "3rd is no choice"


def test_read_words_reports_the_words_that_named_the_date(reader: DateReader) -> None:
    words = ["the", "2nd", "of", "december", "please"]
    found, positions = reader.read_words(words, today=THURSDAY)
    assert found.date_from == day(12, 2)
    assert positions == {1, 2, 3}


# A weekday with a date (today: Thursday 26 November 2026; 10 December is a Thursday).
@pytest.mark.parametrize(
    "text",
    [
        "can I come in on Thursday 10 December",
        "thursday, december 10th please",
        "Thursday the 10th of December",
        "10 Dec (Thursday) in the morning",
        "thu 10/12",
        "Thursday 10.12.2026",
        "ביום חמישי 10 בדצמבר",
        "יום ה' ה-10.12",
        "10/12 ביום חמישי",
        "ביום חמישי ב-10.12",
        "Thursday the 10th",
        "thursday 10th in the morning",
        "ביום חמישי ה-10",
    ],
)
def test_a_weekday_and_its_date_agreeing_give_the_date(reader: DateReader, text: str) -> None:
    found = reader.read(text, today=THURSDAY)
    assert (found.date_from, found.date_to, found.mismatch) == (day(12, 10), day(12, 10), None)


@pytest.mark.parametrize(
    ("text", "mismatch"),
    [
        # Monday of the date's week (Sunday to Saturday), and the date itself
        ("Monday 10 December", (day(12, 7), day(12, 10))),
        ("on saturday the 10th of december", (day(12, 10), day(12, 12))),
        ("tue 10/12 in the afternoon", (day(12, 8), day(12, 10))),
        ("יום ראשון 10 בדצמבר", (day(12, 6), day(12, 10))),
        ("ביום ב' ה-10.12", (day(12, 7), day(12, 10))),
        ("Friday the 10th", (day(12, 10), day(12, 11))),
        ("יום שישי ה-10", (day(12, 10), day(12, 11))),
        # the weekday's day in that week is past: the next one
        ("Wednesday 27/11", (day(11, 27), day(12, 2))),
    ],
)
def test_a_weekday_and_a_date_disagreeing_are_both_left_to_ask(
    reader: DateReader, text: str, mismatch: tuple[date, date]
) -> None:
    found = reader.read(text, today=THURSDAY)
    assert found.mismatch == WeekdayMismatch(*mismatch)
    assert (found.date_from, found.date_to) == (None, None), "neither day is guessed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Monday or 10/12", (day(11, 30), day(12, 10))),  # two days, not one
        ("monday, and also 10 december", (day(11, 30), day(12, 10))),
        ("10/12 or friday", (day(11, 27), day(12, 10))),
        ("thursday at 10", (day(12, 3), day(12, 3))),  # a day of the month must say so
        ("ביום חמישי ב-10", (day(12, 3), day(12, 3))),
        ("book 2 on thursday", (day(12, 3), day(12, 3))),
    ],
)
def test_a_weekday_apart_from_a_date_is_another_day(
    reader: DateReader, text: str, expected: tuple[date, date]
) -> None:
    found = reader.read(text, today=THURSDAY)
    assert ((found.date_from, found.date_to), found.mismatch) == (expected, None)


@pytest.mark.parametrize(
    ("answer", "chosen"),
    [
        ("Thursday", day(12, 10)),
        ("monday please", day(12, 7)),
        ("the 10th", day(12, 10)),
        ("7", day(12, 7)),
        ("10/12", day(12, 10)),
        ("ביום חמישי", day(12, 10)),
        ("ה-7", day(12, 7)),
        ("monday the 10th", None),  # names both
        ("friday", None),  # names neither
        ("1/1", None),
    ],
)
def test_an_answer_chooses_one_of_two_days(
    reader: DateReader, answer: str, chosen: date | None
) -> None:
    options = WeekdayMismatch(day(12, 7), day(12, 10))
    assert reader.choose(message_words(answer), options, today=THURSDAY) == chosen


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # weekdays kept, excluded, listed, ranged (today: Thursday 26 November 2026)
        ("any weekday apart from Tuesdays or Thursdays", ((), ("tue", "thu"))),
        ("I'd rather not be in on a Monday", ((), ("mon",))),
        ("not sure, maybe Monday?", ((), ())),
        ("כל יום חוץ מרביעי וחמישי", ((), ("wed", "thu"))),
        ("Mondays through Wednesdays", (("mon", "tue", "wed"), ())),
        ("בימי שני או שלישי", (("mon", "tue"), ())),
        ("שני או שלישי בשבוע הבא", (("mon", "tue"), ())),
        ("השני בבקשה", ((), ())),
    ],
)
def test_weekdays_kept_and_excluded(
    reader: DateReader, text: str, expected: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    found = reader.read(text, today=THURSDAY)
    assert (found.weekdays, found.not_weekdays) == expected


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("sometime in the 3 weeks ahead", (THURSDAY, day(12, 17))),
        ("בשלושת השבועות הקרובים", (THURSDAY, day(12, 17))),
        ("ביומיים הקרובים", (THURSDAY, day(11, 28))),
        ("from the 7th to the 9th of next month", (day(12, 7), day(12, 9))),
        ("the second week of January", (day(1, 8, 2027), day(1, 14, 2027))),
        ("mid January", (day(1, 11, 2027), day(1, 20, 2027))),
        ("early February", (day(2, 1, 2027), day(2, 7, 2027))),
        ("for February", (day(2, 1, 2027), day(2, 28, 2027))),
        ("may I come in February", (day(2, 1, 2027), day(2, 28, 2027))),
        ("סוף החודש", (THURSDAY, day(11, 30))),
        # the day the patient cannot make is not the one asked for, when another is named
        ("I can't do the 30th, could we move it to the 2nd of December", (day(12, 2), day(12, 2))),
        ("לא אוכל מחר, אפשר ביום ראשון?", (day(11, 29), day(11, 29))),
        ("can't wait, tomorrow please", (day(11, 27), day(11, 27))),
    ],
)
def test_ranges_of_days(reader: DateReader, text: str, span: tuple[date, date]) -> None:
    found = reader.read(text, today=THURSDAY)
    assert (found.date_from, found.date_to) == span


def test_after_the_holidays_is_after_the_run_of_public_holidays(lexicon: Lexicon) -> None:
    israel = DateReader(lexicon.dates, holidays_country="IL")
    # Pesach 2027: 22 and 28 April (Independence Day, 12 May, is two weeks later: not the run)
    for text in ("can I come after the holidays?", "אפשר אחרי החג?"):
        found = israel.read(text, today=date(2027, 4, 12))
        assert (found.date_from, found.date_to) == (date(2027, 4, 29), date(2027, 5, 12)), text
    # the autumn holidays, 2 to 23 October 2027, read from inside them
    autumn = israel.read("אחרי החגים", today=date(2027, 10, 5))
    assert autumn.date_from == date(2027, 10, 24)
    assert israel.read("after the holidays", today=date(2027, 1, 10)).date_from is None
    assert DateReader(lexicon.dates).read("after the holidays", today=date(2027, 4, 12)) == (
        DateRange(None, None)
    ), "a clinic without public holidays"
