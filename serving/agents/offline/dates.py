"""Dates in Hebrew and English messages, relative to the clinic's today: `DateReader`.

`DateReader(lexicon.dates).read(text, today=...)` returns a `DateRange`: the days a message
asks about (`date_from`, `date_to`; None when it names none), the weekdays it keeps or
excludes, and a weekday/date `mismatch` to ask about. docs/BOOKING_REQUESTS.md defines every
form; hours and parts of the day: `serving.agents.offline.times`. How words resolve (the week runs
Sunday to Saturday, as in Israel):

- "today" / "tomorrow" / "day after tomorrow" ("היום", "מחר", "מחרתיים"): that one day.
- A weekday, bare or with "this" / "next" ("Tuesday", "next Tuesday", "יום ג'", "יום שלישי הבא"):
  its next occurrence strictly after today — a patient writing "Monday" on a Monday means next
  week's; only the word "today" names today. With a week ("Tuesday next week", "ביום שלישי
  בשבוע הבא", "Thursday in two weeks") it is that week's day.
- "this week" / "השבוע": today to Saturday; "next week" / "שבוע הבא": next Sunday to Saturday.
  "this month" / "next month" and a month alone ("in December", "בדצמבר") cover the month.
- "in 3 days": that one day; "in two weeks" / "בעוד שבועיים": the week that holds that day;
  "within a week" / "תוך שבוע": today to that day.
- A week of a month ("the 2nd week of March", "סוף החודש", "end of next month"): days
  1-7, 8-14, 15-21, 22-28, or the last seven.
- Explicit dates, day first as written in Israel: "3/12", "3.12", "3/12/2026", "2026-12-03",
  "December 3", "3rd of December", "3 בדצמבר". Without a year, a date already past this year
  is next year's ("3/1" in November is January 3rd next year); with a year, a past date is
  ignored. A day of the month ("on the 14th", "ה-14"): the next such day.
- A weekday written next to a date ("Thursday 17 December", "17/12 (Thu)", "יום חמישי
  ה-17.12"), with at most a linking word between them (the lexicon's `weekday_date_links`:
  "the", "ה"), or next to a day of the month ("Thursday the 17th"): the date, when it falls on
  that weekday. When it does not ("Monday 17 December" and the 17th is a Thursday), neither
  is guessed: the range leaves both out and `mismatch` holds the two days the patient may
  mean (the weekday's day in the date's week, or the next one when that is past, and the
  date), for the caller to ask.
- Several weekdays ("Monday or Tuesday"), a recurring one ("Thursdays", "every Thursday",
  "בימי חמישי"), or one with a wider range ("Thursdays in January"): `weekdays`, the dates as
  what else the message says sets them. After "not", "except", "חוץ מ": `not_weekdays`.

No range ever starts before today.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, NamedTuple

import holidays

from serving.agents.offline.phrases import PhraseIndex
from serving.bundle.lexicon import MONTHS, WEEKDAYS, DateWords, Phrases, message_words
from serving.scheduling.request import WEEKDAY_CODES, Weekday

__all__ = ["DateRange", "DateReader", "WeekdayMismatch"]

_Kind = Literal[
    "day", "weekday", "this_week", "next_week", "this_month", "next_month", "month",
    "from_now", "within", "unit", "number", "date", "year", "week_of_month", "within_tail",
    "after_holidays",
]  # fmt: skip
_WEEK = 7
_MIDDLE = 5
_HOLIDAYS_AHEAD = 60
_AFTER_HOLIDAYS_DAYS = 14
"""'After the holidays': the two weeks that follow them."""
_UNAVAILABLE_REACH = 6
_DAY_KINDS = frozenset({"day", "weekday", "date", "number", "this_week", "next_week", "month"})
_EXCEPT_REACH = 4
"""'not' reaches a weekday at most this many words on: 'rather not be in on Tuesdays'."""
_FIRST_DAY_NOT_HOUR = 13
"""'ב-15' alone is the 15th; 'ב-9' is nine o'clock."""

_DAY_MONTH = re.compile(r"^(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2}|\d{4}))?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_NUMBER = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_ORDINAL_DAY = re.compile(r"^\d{1,2}(?:st|nd|rd|th)$")
_YEAR = re.compile(r"^(20\d\d)$")


class WeekdayMismatch(NamedTuple):
    """A weekday and a date written together that fall on different days: the two days the
    patient may mean, in calendar order."""

    first: date
    second: date


class DateRange(NamedTuple):
    """The days a message asks about (inclusive), and the weekdays it keeps or excludes."""

    date_from: date | None
    date_to: date | None
    weekdays: tuple[Weekday, ...] = ()
    not_weekdays: tuple[Weekday, ...] = ()
    mismatch: WeekdayMismatch | None = None


@dataclass(frozen=True)
class _Word:
    kind: _Kind
    value: int = 0
    month: int = 0
    year: int | None = None


@dataclass(frozen=True)
class _Item:
    start: int
    end: int
    word: _Word
    prefixed: bool = False


@dataclass(frozen=True)
class _Dated:
    """An explicit date and the words that wrote it."""

    start: int
    end: int
    day: date
    alone: bool = False
    """A day of the month that is a date even without a weekday beside it."""


class DateReader:
    """Reads date ranges and parts of the day; compiled once from the lexicon's date words."""

    def __init__(
        self,
        words: DateWords,
        *,
        not_typos: Iterable[str] = (),
        holidays_country: str | None = None,
    ) -> None:
        not_typos = tuple(not_typos)  # read by three indexes
        entries: list[tuple[str, _Word]] = []
        entries += [(p, _Word("day", n)) for p, n in words.relative_days.all().items()]
        for weekday, phrases in words.weekdays.items():
            entries += [(p, _Word("weekday", WEEKDAYS.index(weekday))) for p in phrases.all()]
        for month, phrases in words.months.items():
            entries += [(p, _Word("month", MONTHS.index(month) + 1)) for p in phrases.all()]
        named: tuple[tuple[_Kind, Phrases], ...] = (
            ("this_week", words.this_week),
            ("next_week", words.next_week),
            ("this_month", words.this_month),
            ("next_month", words.next_month),
            ("from_now", words.from_now),
            ("within", words.within),
        )
        for kind, phrases in named:
            entries += [(p, _Word(kind)) for p in phrases.all()]
        entries += [(p, _Word("unit", n)) for p, n in words.units.all().items()]
        entries += [(p, _Word("number", n)) for p, n in words.numbers.all().items()]
        entries += [(p, _Word("week_of_month", n)) for p, n in words.week_of_month.all().items()]
        entries += [(p, _Word("within_tail")) for p in words.within_tails.all()]
        entries += [(p, _Word("after_holidays")) for p in words.after_holidays.all()]
        self._holidays = holidays.country_holidays(holidays_country) if holidays_country else None
        self._days = PhraseIndex(entries, not_typos=not_typos)
        self._except = PhraseIndex([(p, True) for p in words.except_words.all()], typos=False)
        self._joins = frozenset(w for p in words.list_joins.all() for w in message_words(p))
        self._month_leads = frozenset(w for p in words.month_leads.all() for w in message_words(p))
        self._also_words = frozenset(
            w for p in words.months_also_words.all() for w in message_words(p)
        )
        self._ranges = frozenset(w for p in words.range_words.all() for w in message_words(p))
        self._bare_weekdays = {
            word: WEEKDAYS.index(weekday)
            for weekday, word_list in words.bare_weekdays.items()
            for word in word_list
        }
        self._unavailable = PhraseIndex([(p, True) for p in words.unavailable.all()], typos=False)
        self._fillers = frozenset(w for p in words.except_fillers.all() for w in message_words(p))
        self._recurring = PhraseIndex(
            [(p, True) for p in words.recurring_markers.all()], typos=False
        )
        self._links = frozenset(w for p in words.weekday_date_links.all() for w in message_words(p))
        self._day_markers = frozenset(
            w for p in words.day_of_month_markers.all() for w in message_words(p)
        )
        self._day_leads = frozenset(
            w for p in words.day_of_month_leads.all() for w in message_words(p)
        )
        self._day_tails = frozenset(tuple(message_words(p)) for p in words.day_of_month_tails.all())

    def read(self, text: str, *, today: date) -> DateRange:
        return self.read_words(message_words(text), today=today)[0]

    def read_words(self, words: Sequence[str], *, today: date) -> tuple[DateRange, frozenset[int]]:
        """The range in a message's words (`message_words`) and the positions that said it."""
        items = self._wanted(self._items(words), words)
        days: list[date] = []
        dated: list[_Dated] = []
        month_days: list[_Dated] = []  # "the 17th"
        weekdays: list[_Item] = []
        week: tuple[date, date] | None = None
        span: tuple[date, date] | None = None
        used: set[int] = set()
        i = 0
        while i < len(items):
            item = items[i]
            taken = 1
            kind = item.word.kind
            if kind in ("from_now", "within"):
                count, unit, taken = _count_and_unit(items, i)
                if unit is not None:
                    ahead = today + timedelta(days=count * unit)
                    if kind == "within":
                        span = (today, ahead)
                    elif unit >= _WEEK:  # "in two weeks": that week
                        week = _week_of(ahead)
                    else:
                        days.append(ahead)
                else:
                    taken = 0
            elif (ahead_of := _length_before_tail(items, i)) is not None:
                span, taken = (today, today + timedelta(days=ahead_of[0])), ahead_of[1]
            elif kind == "after_holidays" and (after := self._after_holidays(today)):
                span = (after, after + timedelta(days=_AFTER_HOLIDAYS_DAYS - 1))
            elif kind == "week_of_month" and (month := _month_after(items, i, today)):
                span, taken = _week_of_month(item.word.value, month[0], today), month[1]
            elif kind == "number" and _next_is(items, i, "month", gap=1):  # "3 בדצמבר"
                year, taken = _year_after(items, i + 1)
                explicit = _explicit(item.word.value, items[i + 1].word.value, year, today)
                dated += [_Dated(item.start, items[i + taken - 1].end, d) for d in explicit]
            elif kind == "month" and _next_is(items, i, "number"):  # "December 3rd"
                year, taken = _year_after(items, i + 1)
                explicit = _explicit(items[i + 1].word.value, item.word.value, year, today)
                dated += [_Dated(item.start, items[i + taken - 1].end, d) for d in explicit]
            elif kind == "month" and self._month_alone(item, items, i, words):
                span = _month_range(item.word.value, today)
            elif kind == "date":
                explicit = _explicit(item.word.value, item.word.month, item.word.year, today)
                dated += [_Dated(item.start, item.end, d) for d in explicit]
            elif kind == "number" and (month_day := self._day_of_month(item, words, today)):
                month_days.append(month_day)
                taken = 0
            elif kind == "day":
                days.append(today + timedelta(days=item.word.value))
            elif kind == "weekday":
                weekdays.append(item)
            elif kind in ("this_week", "next_week"):
                week = _week_of(today + timedelta(days=_WEEK if kind == "next_week" else 0))
            elif kind in ("this_month", "next_month"):
                span = _this_or_next_month(kind, today)
            else:
                taken = 0
            if taken:
                used.update(range(item.start, items[i + taken - 1].end))
            i += max(taken, 1)
        mismatch: WeekdayMismatch | None = None
        free: list[_Item] = []
        excluded = self._excluded(weekdays, words)
        for weekday in weekdays:
            if weekday in excluded:
                used.update(range(weekday.start, weekday.end))
                continue
            paired = self._dated_beside(weekday, dated, words)
            if paired is None and (paired := self._dated_beside(weekday, month_days, words)):
                used.update(range(paired.start, paired.end))
                month_days.remove(paired)
                dated.append(paired)
            if paired is None:
                free.append(weekday)
            elif paired.day.weekday() != weekday.word.value:
                dated.remove(paired)
                near = _weekday_near(weekday.word.value, paired.day, today)
                mismatch = WeekdayMismatch(min(near, paired.day), max(near, paired.day))
        free = self._weekday_ranges(free, words)
        recurring = len({w.word.value for w in free}) > 1 or any(
            self._recurring_weekday(w, words) for w in free
        )
        if free and (recurring or (span is not None and week is None and not days)):
            keep = tuple(
                sorted({WEEKDAY_CODES[w.word.value] for w in free}, key=WEEKDAY_CODES.index)
            )
        else:
            keep = ()
            days += [_weekday_on_or_after(w.word.value, today, week) for w in free]
        for alone in month_days:  # "on the 14th", "ב-31 לחודש"
            if alone.alone:
                days.append(alone.day)
                used.update(range(alone.start, alone.end))
        used.update(p for w in free for p in range(w.start, w.end))
        days += [d.day for d in dated]
        date_from, date_to = _range(days, week, span, today)
        not_days = tuple(
            sorted({WEEKDAY_CODES[w.word.value] for w in excluded}, key=WEEKDAY_CODES.index)
        )
        reading = DateRange(date_from, date_to, keep, not_days, mismatch)
        return reading, frozenset(used)

    def _month_alone(
        self, item: _Item, items: Sequence[_Item], i: int, words: Sequence[str]
    ) -> bool:
        """A month named without a day is the month asked for: "in February", "בפברואר",
        "for February", "February works"; "may" and "march" only after such a word."""
        led = item.start > 0 and words[item.start - 1] in self._month_leads
        if item.prefixed or led or _previous_is(items, i, "from_now"):
            return True
        return not any(w in self._also_words for w in words[item.start : item.end])

    def _after_holidays(self, today: date) -> date | None:
        """The day after the next run of public holidays (days at most a week apart, as the
        autumn holidays or Pesach's first and last days), if one starts within two months."""
        if self._holidays is None:
            return None
        day, last = today, None
        while day <= today + timedelta(days=_HOLIDAYS_AHEAD) or last is not None:
            if day in self._holidays:
                last = day
            elif last is not None and (day - last).days > _WEEK:
                return last + timedelta(days=1)
            day += timedelta(days=1)
        return None

    def _wanted(self, items: list[_Item], words: Sequence[str]) -> list[_Item]:
        """Without the days written right after "can't make", "לא אוכל" when the message names
        another: "the 3rd is impossible for me, I cannot, so the 5th?" wants the 5th."""
        dropped: set[int] = set()
        for match in self._unavailable.find(words):
            after = [i for i in items if match.end <= i.start < match.end + _UNAVAILABLE_REACH]
            for item in after:  # the first mention after it, and what is written with it
                apart = item.start - max(dropped) if dropped else 0
                if apart > 2 or (apart > 1 and item.word.kind not in ("month", "year")):
                    break
                dropped.update(range(item.start, item.end))
        kept = [i for i in items if i.start not in dropped]
        if dropped and any(i.word.kind in _DAY_KINDS for i in kept):
            return kept
        return items

    def _weekday_ranges(self, free: list[_Item], words: Sequence[str]) -> list[_Item]:
        """ "Sunday to Wednesday", "ראשון עד רביעי": every weekday from the first to the last."""
        ordered = sorted(free, key=lambda w: w.start)
        for first, last in itertools.pairwise(ordered):
            between = words[first.end : last.start]
            if between and all(w in self._ranges for w in between):
                sunday_first = [(d + 1) % 7 for d in (first.word.value, last.word.value)]
                if sunday_first[0] < sunday_first[1]:
                    return free + [
                        _Item(first.start, last.end, _Word("weekday", (d - 1) % 7))
                        for d in range(sunday_first[0] + 1, sunday_first[1])
                    ]
        return free

    def _excluded(self, weekdays: Sequence[_Item], words: Sequence[str]) -> list[_Item]:
        """The weekdays after "not", "except", "חוץ מ" (with at most a few words such as "to
        be in on" between), and those listed with them ("any day except Tuesdays or Fridays")."""
        ends = {m.end for m in self._except.find(words)}
        excluded: list[_Item] = []
        for weekday in sorted(weekdays, key=lambda w: w.start):
            before = weekday.start
            while before > 0 and before not in ends and words[before - 1] in self._fillers:
                before -= 1
            after_except = before in ends and weekday.start - before <= _EXCEPT_REACH
            listed = bool(excluded) and all(
                w in self._joins for w in words[excluded[-1].end : weekday.start]
            )
            if after_except or listed:
                excluded.append(weekday)
        return excluded

    def _recurring_weekday(self, weekday: _Item, words: Sequence[str]) -> bool:
        """ "Thursdays", "every Thursday", "בימי חמישי": any such day, not the next one."""
        if words[weekday.end - 1].endswith("days") or words[weekday.start].endswith("ימי"):
            return True  # "Thursdays", "(ב)ימי חמישי"
        return any(m.end == weekday.start for m in self._recurring.find(words))

    def choose(self, words: Sequence[str], options: WeekdayMismatch, *, today: date) -> date | None:
        """The one of `options` the words name by date, weekday or day of the month."""
        found, _ = self.read_words(words, today=today)
        if found.date_from == found.date_to and found.date_from in options:
            return found.date_from  # one day, written as a date: "17/12"
        items = self._items(words)
        weekdays = {i.word.value for i in items if i.word.kind == "weekday"}
        numbers = {  # written in digits: "the second one" is not the 1st
            i.word.value for i in items if i.word.kind == "number" and words[i.start][0].isdigit()
        }
        named = [d for d in options if d.weekday() in weekdays or d.day in numbers]
        return named[0] if len(named) == 1 else None

    def _day_of_month(self, item: _Item, words: Sequence[str], today: date) -> _Dated | None:
        """The next day of the month a number names, when it is written as one: beside a
        weekday, "17th", "the 17", "ה-17"; alone, also after "on" or "ב" ("on the 17th";
        "ב-17", from 13 on: lower numbers there are hours), or before "of the month",
        "לחודש"."""
        position, word = item.start, words[item.start]
        previous = words[position - 1] if position > 0 else ""
        marked = previous in self._day_markers
        written_as_day = bool(_ORDINAL_DAY.match(word)) or (marked and word.isdigit())
        lead = words[position - 1 - marked] if position - marked > 0 else ""
        tail = any(tuple(words[item.end : item.end + len(t)]) == t for t in self._day_tails)
        alone = tail or (
            lead in self._day_leads
            and (written_as_day or (word.isdigit() and item.word.value >= _FIRST_DAY_NOT_HOUR))
        )
        if not (written_as_day or alone) or item.word.value < 1:
            return None
        month = today.replace(day=1)
        for _ in range(12):
            if item.word.value <= calendar.monthrange(month.year, month.month)[1]:
                day = month.replace(day=item.word.value)
                if day >= today:
                    return _Dated(item.start, item.end, day, alone=alone)
            month = (month + timedelta(days=32)).replace(day=1)
        return None

    def _dated_beside(
        self, weekday: _Item, dated: Sequence[_Dated], words: Sequence[str]
    ) -> _Dated | None:
        """The date written right before or after the weekday, if any ("Thursday the 17th of
        December", "17.12 ביום חמישי")."""
        for candidate in dated:
            if candidate.start >= weekday.end:
                between = words[weekday.end : candidate.start]
            elif candidate.end <= weekday.start:
                between = words[candidate.end : weekday.start]
            else:
                continue
            if len(between) <= 1 and all(word in self._links for word in between):
                return candidate
        return None

    def _items(self, words: Sequence[str]) -> list[_Item]:
        items = [
            _Item(m.start, m.end, m.payloads[0], prefixed=not m.literal)
            for m in self._days.find(words)
        ]
        taken = {p for item in items for p in range(item.start, item.end)}
        for position, word in enumerate(words):
            if position not in taken and (parsed := _numeric(word)) is not None:
                items.append(_Item(position, position + 1, parsed))
        listed = self._listed_bare_weekdays(words, items)
        named = {item.start for item in listed}
        items = [i for i in items if i.start not in named] + listed
        return sorted(items, key=lambda item: item.start)

    def _listed_bare_weekdays(self, words: Sequence[str], items: Sequence[_Item]) -> list[_Item]:
        """Hebrew weekday names that are also ordinals ("שני": Monday, or second) count as
        weekdays when listed with another weekday: "שלישי או ראשון", "ימי שני או ראשון"."""
        weekdays = {p for i in items if i.word.kind == "weekday" for p in range(i.start, i.end)}
        taken = {p for i in items if i.word.kind != "number" for p in range(i.start, i.end)}
        bare = {
            p: self._bare_weekdays[w]
            for p, w in enumerate(words)
            if p not in taken and w in self._bare_weekdays
        }
        links = self._joins | self._ranges
        listed = [
            p
            for p in sorted(bare)
            if any(
                0 <= other < len(words)
                and (other in weekdays or other in bare)
                and words[(p + other) // 2] in links
                for other in (p - 2, p + 2)
            )
        ]
        return [_Item(p, p + 1, _Word("weekday", bare[p])) for p in listed]


def _numeric(word: str) -> _Word | None:
    if match := _DAY_MONTH.match(word):
        day, month, year = match.groups()
        full_year = None if year is None else int(year) + (2000 if len(year) == 2 else 0)
        return _Word("date", int(day), int(month), full_year)
    if match := _ISO_DATE.match(word):
        year, month, day = match.groups()
        return _Word("date", int(day), int(month), int(year))
    if match := _YEAR.match(word):
        return _Word("year", int(match.group(1)))
    if match := _NUMBER.match(word):
        return _Word("number", int(match.group(1)))
    return None


def _next_is(items: Sequence[_Item], i: int, kind: _Kind, *, gap: int = 0) -> bool:
    return (
        i + 1 < len(items)
        and items[i + 1].word.kind == kind
        and items[i + 1].start - items[i].end <= gap
    )


def _previous_is(items: Sequence[_Item], i: int, kind: _Kind) -> bool:
    return i > 0 and items[i - 1].word.kind == kind and items[i].start == items[i - 1].end


def _year_after(items: Sequence[_Item], i: int) -> tuple[int | None, int]:
    """The year written right after items[i], if any, and how many items the date used."""
    if _next_is(items, i, "year"):
        return items[i + 1].word.value, 3
    return None, 2


def _count_and_unit(items: Sequence[_Item], i: int) -> tuple[int, int | None, int]:
    """After 'in' / 'within': (count, days per unit or None, items used including 'in')."""
    if _next_is(items, i, "unit"):
        return 1, items[i + 1].word.value, 2
    if _next_is(items, i, "number") and _next_is(items, i + 1, "unit"):
        return items[i + 1].word.value, items[i + 2].word.value, 3
    return 0, None, 1


def _explicit(day: int, month: int, year: int | None, today: date) -> list[date]:
    try:
        when = date(year or today.year, month, day)
    except ValueError:
        return []
    if when >= today:
        return [when]
    if year is not None:
        return []
    try:
        return [when.replace(year=today.year + 1)]
    except ValueError:  # February 29th
        return []


def _length_before_tail(items: Sequence[_Item], i: int) -> tuple[int, int] | None:
    """ "the two weeks ahead", "בשבועיים הקרובים", "10 הימים הקרובים": (days, items used)."""
    if items[i].word.kind == "unit" and _next_is(items, i, "within_tail", gap=1):
        return items[i].word.value, 2
    if (
        items[i].word.kind == "number"
        and _next_is(items, i, "unit", gap=1)
        and _next_is(items, i + 1, "within_tail", gap=1)
    ):
        return items[i].word.value * items[i + 1].word.value, 3
    return None


def _week_of(day: date) -> tuple[date, date]:
    """The Sunday-to-Saturday week that holds `day`."""
    sunday = day - timedelta(days=(day.weekday() + 1) % 7)
    return sunday, sunday + timedelta(days=6)


def _this_or_next_month(kind: _Kind, today: date) -> tuple[date, date]:
    """The days of "this month" or "next month"."""
    first = today.replace(day=1)
    if kind == "next_month":
        first = (first + timedelta(days=32)).replace(day=1)
    return _month_range(first.month, today, first.year)


def _month_after(
    items: Sequence[_Item], i: int, today: date
) -> tuple[tuple[date, date], int] | None:
    """The month named right after a week of the month ("2nd week of March", "סוף
    החודש"): its days and how many items the two took."""
    for ahead in (1, 2):
        if i + ahead >= len(items) or items[i + ahead].start - items[i].end > 2:
            return None
        following = items[i + ahead]
        if following.word.kind == "month":
            return _month_range(following.word.value, today), ahead + 1
        if following.word.kind in ("this_month", "next_month"):
            return _this_or_next_month(following.word.kind, today), ahead + 1
    return None


def _week_of_month(week: int, month: tuple[date, date], today: date) -> tuple[date, date]:
    """Days 1-7, 8-14, ... of the month; its last seven days for 0 ("the last week", "end");
    the 11th to the 20th for the middle (5)."""
    first, last = month
    if week == 0:
        return max(last - timedelta(days=6), today), last
    if week == _MIDDLE:
        return max(first + timedelta(days=10), today), first + timedelta(days=19)
    start = first + timedelta(days=_WEEK * (week - 1))
    return start, min(start + timedelta(days=6), last)


def _month_range(month: int, today: date, year: int | None = None) -> tuple[date, date]:
    if year is None:
        year = today.year if month >= today.month else today.year + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, 1), date(year, month, last)


def _weekday_on_or_after(weekday: int, today: date, week: tuple[date, date] | None) -> date:
    if week is not None:
        sunday = week[1] - timedelta(days=6)
        in_week = sunday + timedelta(days=(weekday + 1) % 7)
        if in_week >= today:
            return in_week
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _weekday_near(weekday: int, day: date, today: date) -> date:
    """The weekday's day in the (Sunday to Saturday) week of `day`; the next one if past."""
    sunday = day - timedelta(days=(day.weekday() + 1) % 7)
    near = sunday + timedelta(days=(weekday + 1) % 7)
    return near if near >= today else near + timedelta(days=7)


def _range(
    days: list[date],
    week: tuple[date, date] | None,
    span: tuple[date, date] | None,
    today: date,
) -> tuple[date | None, date | None]:
    if days:
        first, last = min(days), max(days)
    elif week is not None:
        first, last = week
    elif span is not None:
        first, last = span
    else:
        return None, None
    if last < today:
        return None, None
    return max(first, today), last
