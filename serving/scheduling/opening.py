"""The clinic's opening hours, derived from the records the slot search uses: the providers'
weekly working windows, cut by the same closures (Shabbat, public holidays and their eves,
the clinic's own closed days). "When are you open?" and "are you open on Friday?" are answered
from here, so the hours quoted are the hours bookable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from serving.scheduling.calendar import FRIDAY, SATURDAY, ClinicCalendar
from serving.scheduling.slots import WeeklyWindow

Opening = tuple[time, time]
"""One opening period of a day (start, end), clinic-local."""
WEEK_FROM_SUNDAY = (6, 0, 1, 2, 3, 4, SATURDAY)
"""Weekdays (Monday = 0) in the order an Israeli week is read; Saturday last."""


def merged(periods: Iterable[Opening]) -> tuple[Opening, ...]:
    """Overlapping or touching periods joined, earliest first."""
    result: list[Opening] = []
    for start, end in sorted(periods):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return tuple(result)


def _without(periods: tuple[Opening, ...], cut_from: time, cut_to: time) -> tuple[Opening, ...]:
    kept: list[Opening] = []
    for start, end in periods:
        if start < cut_from:
            kept.append((start, min(end, cut_from)))
        if end > cut_to:
            kept.append((max(start, cut_to), end))
    return tuple((s, e) for s, e in kept if s < e)


@dataclass(frozen=True)
class ClinicHours:
    """When someone is working, day by day, and the calendar that closes days."""

    windows: tuple[WeeklyWindow, ...]
    calendar: ClinicCalendar

    @classmethod
    def of(cls, windows: Iterable[WeeklyWindow], calendar: ClinicCalendar) -> ClinicHours:
        return cls(windows=tuple(windows), calendar=calendar)

    def regular(self, weekday: int) -> tuple[Opening, ...]:
        """The usual opening on a weekday (Monday = 0): every provider's windows joined, cut by
        Shabbat when the clinic keeps it (a week's holidays vary, so they are not here)."""
        periods = merged((w.starts_at, w.ends_at) for w in self.windows if w.weekday == weekday)
        if self.calendar.observe_shabbat and weekday == FRIDAY:
            periods = _without(periods, self.calendar.shabbat_starts_friday, time.max)
        if self.calendar.observe_shabbat and weekday == SATURDAY:
            periods = _without(periods, time.min, self.calendar.shabbat_ends_saturday)
        return periods

    def on(self, day: date) -> tuple[Opening, ...]:
        """The opening on one date: the weekday's windows less that date's closures."""
        periods = merged(
            (w.starts_at, w.ends_at) for w in self.windows if w.weekday == day.weekday()
        )
        for closed_from, closed_to, _reason in self.calendar.closed_intervals(day):
            start = closed_from.astimezone(self.calendar.tz)
            end = closed_to.astimezone(self.calendar.tz)
            cut_from = start.time() if start.date() == day else time.min
            next_day = datetime.combine(day + timedelta(days=1), time.min, self.calendar.tz)
            cut_to = time.max if end >= next_day else end.time()
            if cut_from == time.min and cut_to == time.max:
                return ()
            periods = _without(periods, cut_from, cut_to)
        return periods

    def week(self) -> list[tuple[list[int], tuple[Opening, ...]]]:
        """The regular week as runs of consecutive open days with the same hours, from Sunday:
        e.g. [([6, 0, 1, 2, 3], 08:00-20:00), ([4], 08:00-13:00)]. Closed days are left out."""
        runs: list[tuple[list[int], tuple[Opening, ...]]] = []
        previous: int | None = None
        for weekday in WEEK_FROM_SUNDAY:
            periods = self.regular(weekday)
            if not periods:
                previous = None
                continue
            if runs and previous is not None and runs[-1][1] == periods:
                runs[-1][0].append(weekday)
            else:
                runs.append(([weekday], periods))
            previous = weekday
        return runs

    @property
    def is_open_some_day(self) -> bool:
        return any(self.regular(weekday) for weekday in range(7))
