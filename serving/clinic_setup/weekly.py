"""Weekly hours as operators write them: "sun-thu 08:00-16:00", "fri 08:00-13:00"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import time
from itertools import pairwise

from serving.clinic_setup.errors import SetupError
from serving.clinic_setup.records import HoursWindow
from serving.scheduling.opening import WEEK_FROM_SUNDAY
from serving.scheduling.request import WEEKDAY_CODES

_SPEC = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)
_FORMAT_HINT = 'write hours as "sun-thu 08:00-16:00" or "fri 08:00-13:00"'


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text.zfill(5))
    except ValueError:
        raise SetupError(f"{text!r} is not a time of day (HH:MM); {_FORMAT_HINT}") from None


def _days(first: str, last: str | None) -> list[int]:
    for code in (first, last):
        if code is not None and code not in WEEKDAY_CODES:
            raise SetupError(f"{code!r} is not a day ({', '.join(WEEKDAY_CODES)}); {_FORMAT_HINT}")
    start = WEEK_FROM_SUNDAY.index(WEEKDAY_CODES.index(first))
    end = WEEK_FROM_SUNDAY.index(WEEKDAY_CODES.index(last or first))
    if end < start:
        raise SetupError(f"{first}-{last} runs backwards; the week runs sun, mon, ... sat")
    return list(WEEK_FROM_SUNDAY[start : end + 1])


def parse_hours(specs: Iterable[str]) -> list[HoursWindow]:
    """Windows from specs like "sun-thu 08:00-16:00"; checked by `checked_hours`."""
    windows: list[HoursWindow] = []
    for spec in specs:
        match = _SPEC.match(spec.lower())
        if match is None:
            raise SetupError(f"cannot read the hours {spec!r}; {_FORMAT_HINT}")
        start, end = _clock(match["start"]), _clock(match["end"])
        windows += [
            HoursWindow(day=WEEKDAY_CODES[day], starts_at=start, ends_at=end)
            for day in _days(match["first"], match["last"])
        ]
    return checked_hours(windows)


def checked_hours(windows: Sequence[HoursWindow]) -> list[HoursWindow]:
    """The windows in week order, or SetupError if one ends before it starts or two overlap
    on the same day (one may start when the other ends)."""
    ordered = sorted(windows, key=lambda w: (WEEK_FROM_SUNDAY.index(w.weekday), w.starts_at))
    for window in ordered:
        if window.starts_at >= window.ends_at:
            raise SetupError(
                f"{window.day} {window.starts_at:%H:%M}-{window.ends_at:%H:%M}: "
                "the start must be before the end"
            )
    for before, after in pairwise(ordered):
        if before.day == after.day and after.starts_at < before.ends_at:
            raise SetupError(
                f"{before.day}: {before.starts_at:%H:%M}-{before.ends_at:%H:%M} and "
                f"{after.starts_at:%H:%M}-{after.ends_at:%H:%M} overlap"
            )
    return ordered


def format_hours(windows: Sequence[HoursWindow]) -> list[str]:
    """Specs for `windows`, consecutive days with the same hours joined: the inverse of
    `parse_hours`, e.g. ["sun-thu 08:00-20:00", "fri 08:00-13:00"]."""
    by_day: dict[int, list[tuple[time, time]]] = {}
    for window in windows:
        by_day.setdefault(window.weekday, []).append((window.starts_at, window.ends_at))
    periods = sorted({p for day in by_day.values() for p in day})
    specs = []
    for start, end in periods:
        run: list[int] = []
        for weekday in (*WEEK_FROM_SUNDAY, None):
            if weekday is not None and (start, end) in by_day.get(weekday, []):
                run.append(weekday)
                continue
            if run:
                first, last = WEEKDAY_CODES[run[0]], WEEKDAY_CODES[run[-1]]
                days = first if first == last else f"{first}-{last}"
                specs.append((WEEK_FROM_SUNDAY.index(run[0]), f"{days} {start:%H:%M}-{end:%H:%M}"))
            run = []
    return [spec for _, spec in sorted(specs)]
