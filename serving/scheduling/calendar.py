"""When the clinic is closed: Shabbat, public holidays (and their eves), configured closures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

FRIDAY, SATURDAY = 4, 5


@dataclass(frozen=True)
class ClinicCalendar:
    """Closures in the clinic's time zone.

    Jewish holidays, like Shabbat, begin at sundown: the eve of a public holiday closes at the
    same hour as Friday (`shabbat_starts_friday`).
    """

    tz: ZoneInfo
    observe_shabbat: bool = True
    shabbat_starts_friday: time = time(14, 0)
    shabbat_ends_saturday: time = time(20, 0)
    holiday_calendar: Mapping[date, str] | None = None
    closures: Mapping[date, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        timezone: str,
        observe_shabbat: bool,
        shabbat_starts_friday: time,
        shabbat_ends_saturday: time,
        holidays_country: str | None,
        closures: Mapping[date, str] | None = None,
    ) -> ClinicCalendar:
        calendar = holidays.country_holidays(holidays_country) if holidays_country else None
        return cls(
            tz=ZoneInfo(timezone),
            observe_shabbat=observe_shabbat,
            shabbat_starts_friday=shabbat_starts_friday,
            shabbat_ends_saturday=shabbat_ends_saturday,
            holiday_calendar=calendar,
            closures=dict(closures or {}),
        )

    def holiday_name(self, day: date) -> str | None:
        if self.holiday_calendar is None:
            return None
        return self.holiday_calendar.get(day)

    def closed_intervals(self, day: date) -> list[tuple[datetime, datetime, str]]:
        """Closed periods that touch the local `day`, as aware datetimes with a reason."""
        start_of_day = datetime.combine(day, time.min, self.tz)
        end_of_day = start_of_day + timedelta(days=1)
        closed: list[tuple[datetime, datetime, str]] = []
        if day in self.closures:
            closed.append((start_of_day, end_of_day, self.closures[day]))
        holiday = self.holiday_name(day)
        if holiday:
            closed.append((start_of_day, end_of_day, f"public holiday: {holiday}"))
        eve_of = self.holiday_name(day + timedelta(days=1))
        if eve_of and not holiday:
            eve_start = datetime.combine(day, self.shabbat_starts_friday, self.tz)
            closed.append((eve_start, end_of_day, f"eve of public holiday: {eve_of}"))
        if self.observe_shabbat and day.weekday() == FRIDAY:
            friday_start = datetime.combine(day, self.shabbat_starts_friday, self.tz)
            closed.append((friday_start, end_of_day, "Shabbat"))
        if self.observe_shabbat and day.weekday() == SATURDAY:
            saturday_end = datetime.combine(day, self.shabbat_ends_saturday, self.tz)
            closed.append((start_of_day, saturday_end, "Shabbat"))
        return closed

    def closure_reason(self, starts_at: datetime, ends_at: datetime) -> str | None:
        """Why the clinic is closed during any part of [starts_at, ends_at), or None if open."""
        day = starts_at.astimezone(self.tz).date()
        last_day = ends_at.astimezone(self.tz).date()
        while day <= last_day:
            for closed_from, closed_to, reason in self.closed_intervals(day):
                if closed_from < ends_at and starts_at < closed_to:
                    return reason
            day += timedelta(days=1)
        return None
