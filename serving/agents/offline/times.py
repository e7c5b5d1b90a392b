"""The time of day a patient asks for, in Hebrew and English: `TimeReader`.

Reads the window a visit may start in, `[time_from, time_to)`, as docs/BOOKING_REQUESTS.md
defines it:

- a part of the day ("in the morning", 'אחה"צ', "lunchtime", "first thing"):
  `serving.scheduling.request.PART_OF_DAY_WINDOWS`; greetings ("good morning") are not one;
- "after 5", "from 17:00", "אחרי חמש": from that hour; "before 10", "עד 10": until it;
  "between 3 and 6", "בין 3 ל-6", "14:00-16:00": both; "at 3", "around 3", "בסביבות 3", a
  clock time alone ("10:30"): an hour either side;
- hours in digits (12- or 24-hour, "5pm", "5:30", "17.30") or words ("five", "חמש", "noon",
  "צהריים", "חמש וחצי"); 1 to 7 without a.m. are afternoon hours, an hour followed by a part
  of the day is read in it ("9 in the evening" is 21:00);
- a count followed by a unit or a month is not an hour ("after two weeks", "ב-3 בינואר").

Several windows in one message narrow each other ("Thursday morning before 10" is 08:00-10:00);
when they cannot all hold, the hours written win over a part of the day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Literal

from serving.agents.offline.phrases import PhraseIndex, PhraseMatch
from serving.bundle.lexicon import Phrases, TimeWords
from serving.scheduling.request import PART_OF_DAY_WINDOWS, PartOfDay

__all__ = ["TimeReader", "TimeWindow"]

_CLOCK = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?$")
_CLOCK_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?-(\d{1,2})(?::(\d{2}))?$")
_LAST_HOUR = 23
_PM_UNTIL = 7
"""Hours 1 to 7 written without a.m. are afternoon hours: nobody books a 5 a.m. filling."""
_AT_PREFIX = "ב"
_LINK_PREFIX = "ל"
"""Hebrew glues 'at' and 'to' to an hour in words: "בשלוש", "בין שתיים לארבע"."""
_PLAUSIBLE: dict[PartOfDay, tuple[int, int]] = {
    "first_thing": (6, 10),
    "morning": (6, 11),
    "lunchtime": (11, 14),
    "afternoon": (12, 18),
    "evening": (15, 23),
}
"""The hours a part of the day can qualify: "9 in the evening" is 21:00, "one morning" none."""
_Marker = Literal[
    "after", "before", "between", "at", "link", "am", "pm", "half", "half_past", "not_hour"
]


@dataclass(frozen=True)
class TimeWindow:
    """Where a visit may start, clinic-local: `[time_from, time_to)`; None is open."""

    time_from: time | None = None
    time_to: time | None = None

    def __bool__(self) -> bool:
        return self.time_from is not None or self.time_to is not None


@dataclass(frozen=True)
class _Message:
    """One message as the hour readers see it."""

    words: Sequence[str]
    markers: dict[int, tuple[_Marker, int]]
    """Where each time word ("after", "and", "pm", ...) starts: its kind and end."""
    hours: dict[int, PhraseMatch[int]]
    """Hours written as words, by start."""
    skip: frozenset[int]
    """Positions that said something else (a date, a refinement, a part-of-day phrase)."""
    parts: frozenset[int]
    """Positions of parts of the day: "at noon" is lunchtime, not an hour."""


@dataclass(frozen=True)
class _Hour:
    minutes: int
    end: int
    """The position after the words that wrote it."""
    qualified: bool = False
    """Written with a.m., p.m. or a part of the day: an hour even without "at"."""


class TimeReader:
    """Compiled once from the lexicon's time words; `read` is fast per message."""

    def __init__(self, words: TimeWords, *, not_typos: Iterable[str] = ()) -> None:
        markers: list[tuple[str, _Marker]] = []
        kinds: tuple[tuple[_Marker, Phrases], ...] = (
            ("after", words.after),
            ("before", words.before),
            ("between", words.between),
            ("at", words.at),
            ("link", words.range_links),
            ("am", words.am),
            ("pm", words.pm),
            ("half", words.half),
            ("half_past", words.half_past),
            ("not_hour", words.not_hours),
        )
        for kind, phrases in kinds:
            markers += [(p, kind) for p in phrases.all()]
        self._markers = PhraseIndex(markers, typos=False)
        self._hours: PhraseIndex[int] = PhraseIndex(list(words.hours.all().items()), typos=False)
        self._parts = PhraseIndex(
            [(p, part) for part, phrases in words.parts_of_day.items() for p in phrases.all()],
            not_typos=tuple(not_typos),
        )
        self._greetings = PhraseIndex(
            [(p, True) for p in words.not_parts_of_day.all()], typos=False
        )

    def read(
        self,
        words: Sequence[str],
        *,
        dates: frozenset[int] = frozenset(),
        skip: frozenset[int] = frozenset(),
    ) -> TimeWindow:
        """The window in a message's words; `dates`: positions that said a date (no hour
        there, though "tonight" may still be a part of the day); `skip`: positions that said
        something else."""
        return self.read_positions(words, dates=dates, skip=skip)[0]

    def read_positions(
        self,
        words: Sequence[str],
        *,
        dates: frozenset[int] = frozenset(),
        skip: frozenset[int] = frozenset(),
    ) -> tuple[TimeWindow, frozenset[int]]:
        """The window and the positions that said it."""
        parts = self._parts_of_day(words, skip)
        phrases = {
            p
            for match in parts
            if match.end - match.start > 1
            for p in range(match.start, match.end)
        }
        hours_skip = dates | skip | phrases  # "אחרי הצהריים" is the afternoon, not "after noon"
        part_words = frozenset(p for match in parts for p in range(match.start, match.end))
        markers: dict[int, tuple[_Marker, int]] = {}
        for match in self._markers.find(words):
            for kind in match.payloads:
                markers.setdefault(match.start, (kind, match.end))
        hours = {m.start: m for m in self._hours.find(words)}
        message = _Message(words, markers, hours, hours_skip, part_words)
        used: set[int] = set()
        windows: list[TimeWindow] = []
        position = 0
        while position < len(words):
            found = self._window_at(message, position)
            if found is None:
                position += 1
                continue
            window, end = found
            windows.append(window)
            used.update(range(position, end))
            position = end
        hours_window = _narrowed(windows)
        part = next((m for m in parts if used.isdisjoint(range(m.start, m.end))), None)
        if part is not None:
            part_window = TimeWindow(*PART_OF_DAY_WINDOWS[part.payloads[0]])
            hours_window = _narrowed([hours_window, part_window] if hours_window else [part_window])
            used.update(range(part.start, part.end))
        return hours_window, frozenset(used)

    def _window_at(self, message: _Message, position: int) -> tuple[TimeWindow, int] | None:
        if position in message.skip:
            return None
        marker = message.markers.get(position)
        if marker is not None and marker[0] in ("after", "before", "between", "at"):
            kind, start = marker
            if kind == "at" and start in message.parts:
                return None  # "at noon" is lunchtime, a part of the day
            first = self._hour(message, start)
            if first is None:
                return None
            second = self._second_hour(message, first.end)
            if kind in ("between", "after") and second is not None:
                return _between(first.minutes, second.minutes), second.end
            if kind == "between":
                return None
            return _one_sided(kind, first.minutes), first.end
        word = message.words[position]
        glued = message.hours.get(position)
        at_glued = glued is not None and not glued.literal and word.startswith(_AT_PREFIX)
        if at_glued and position not in message.parts:
            at = self._hour(message, position)  # "בשלוש": at three
            if at is not None:
                return _one_sided("at", at.minutes), at.end
        if clock_range := _CLOCK_RANGE.match(word):
            first_minutes = _minutes(clock_range.group(1), clock_range.group(2))
            second_minutes = _minutes(clock_range.group(3), clock_range.group(4))
            if first_minutes is not None and second_minutes is not None:
                return _between(first_minutes, second_minutes), position + 1
        alone = self._hour(message, position)
        if alone is not None and (alone.qualified or ":" in word or "." in word):
            return _one_sided("at", alone.minutes), alone.end  # "10:30", "5pm", "חמש בערב"
        return None

    def _second_hour(self, message: _Message, position: int) -> _Hour | None:
        """The hour after "and" / "to" / "ל" ("between 3 and 6", "בין 3 לחמש")."""
        link = message.markers.get(position)
        if link is not None and link[0] == "link":
            return self._hour(message, link[1])
        glued = message.hours.get(position)
        if (
            glued is not None
            and not glued.literal
            and message.words[position].startswith(_LINK_PREFIX)
        ):
            return self._hour(message, position)
        return None

    def _hour(self, message: _Message, position: int) -> _Hour | None:
        """The hour written at `position`, read with any "half", a.m./p.m. or part of the day
        after it; None when nothing there is an hour."""
        if position >= len(message.words) or position in message.skip:
            return None
        past = 0
        if _next_is(message.markers, position, ("half_past",)):  # "half past five"
            past, position = 30, message.markers[position][1]
            if position >= len(message.words):
                return None
        word = message.words[position]
        match = message.hours.get(position)
        if (clock := _CLOCK.match(word)) is not None:
            minutes = _minutes(clock.group(1), clock.group(2))
            end = position + 1
        elif match is not None:
            minutes = match.payloads[0] * 60
            end = match.end
        else:
            return None
        if minutes is None or _next_is(message.markers, end, ("not_hour",)):
            return None
        minutes += past
        if _next_is(message.markers, end, ("half",)):
            minutes += 30
            end = message.markers[end][1]
        hour = minutes // 60
        qualified = True
        if _next_is(message.markers, end, ("am",)):
            end = message.markers[end][1]
            minutes -= 12 * 60 if hour == 12 else 0
        elif _next_is(message.markers, end, ("pm",)):
            end = message.markers[end][1]
            minutes += 12 * 60 if hour < 12 else 0
        elif (part := self._part_right_after(message.words, end)) is not None:
            part_name, end = part
            if part_name in ("lunchtime", "afternoon", "evening") and hour < 12:
                minutes += 12 * 60
            earliest, latest = _PLAUSIBLE[part_name]
            if not earliest <= minutes // 60 <= latest:
                return None  # "one morning" is a day, not 1 a.m.
        else:
            qualified = False
            if 1 <= hour <= _PM_UNTIL:
                minutes += 12 * 60
        if minutes >= 24 * 60:
            return None
        return _Hour(minutes, end, qualified)

    def _part_right_after(
        self, words: Sequence[str], position: int
    ) -> tuple[PartOfDay, int] | None:
        for match in self._parts.find(words[position : position + 4]):
            if match.start == 0:
                return match.payloads[0], position + match.end
        return None

    def _parts_of_day(
        self, words: Sequence[str], skip: frozenset[int]
    ) -> list[PhraseMatch[PartOfDay]]:
        """The parts of the day named, greetings ("good morning") left out."""
        greetings = {
            p for m in self._greetings.find(words) if m.literal for p in range(m.start, m.end)
        }
        return [
            match
            for match in self._parts.find(words)
            if greetings.isdisjoint(range(match.start, match.end))
            and skip.isdisjoint(range(match.start, match.end))
        ]


def _next_is(markers: dict[int, tuple[_Marker, int]], position: int, kinds: Sequence[str]) -> bool:
    marker = markers.get(position)
    return marker is not None and marker[0] in kinds


def _minutes(hour_text: str, minute_text: str | None) -> int | None:
    hour, minute = int(hour_text), int(minute_text or 0)
    if hour > _LAST_HOUR or minute >= 60:
        return None
    return hour * 60 + minute


def _clock(minutes: int) -> time:
    minutes = max(0, min(minutes, 24 * 60 - 1))
    return time(minutes // 60, minutes % 60)


def _one_sided(kind: _Marker, minutes: int) -> TimeWindow:
    if kind == "after":
        return TimeWindow(time_from=_clock(minutes))
    if kind == "before":
        return TimeWindow(time_to=_clock(minutes))
    return TimeWindow(_clock(minutes - 60), _clock(minutes + 60))


def _between(first: int, second: int) -> TimeWindow:
    """ "from 10 to 2": the second hour is after the first."""
    while second <= first and second < 12 * 60:
        second += 12 * 60
    if second <= first:
        return TimeWindow(time_from=_clock(first))
    return TimeWindow(_clock(first), _clock(second))


def _narrowed(windows: Sequence[TimeWindow]) -> TimeWindow:
    """Every window at once; the first one alone when they cannot all hold (what is asked
    comes first, the reason after: "after 4pm? I'm at work until 3:30")."""
    if not windows:
        return TimeWindow()
    starts = [w.time_from for w in windows if w.time_from is not None]
    ends = [w.time_to for w in windows if w.time_to is not None]
    window = TimeWindow(max(starts, default=None), min(ends, default=None))
    if window.time_from and window.time_to and window.time_to <= window.time_from:
        return windows[0]
    return window
