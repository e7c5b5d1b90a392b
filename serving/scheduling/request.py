"""What a patient asks for when they book or move a visit: `SlotRequest`.

One model for both brains: the offline NLU fills it from the message, an OpenAI-compatible
model fills the same fields through the booking tools' arguments, and the conversation keeps
the request so far (a later message refines it). docs/BOOKING_REQUESTS.md defines every field;
the evaluation's labels follow the same page.

`unmet` says which of the request's time constraints a start time breaks; the provider is
matched by the tools (it needs the practice system's providers).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAY_CODES: tuple[Weekday, ...] = get_args(Weekday)
"""In `date.weekday()` order: Monday is 0."""

PartOfDay = Literal["first_thing", "morning", "lunchtime", "afternoon", "evening"]
PART_OF_DAY_WINDOWS: dict[PartOfDay, tuple[time, time]] = {
    "first_thing": (time(8), time(9)),
    "morning": (time(8), time(12)),
    "lunchtime": (time(12), time(14)),
    "afternoon": (time(12), time(16)),
    "evening": (time(16), time(20)),
}
"""When a visit said to be in that part of the day may start: [from, to)."""

Constraint = Literal["provider", "dates", "weekdays", "not_weekdays", "time"]
"""The parts of a request a slot can fail, in the order they are reported."""


LATER_STEP = timedelta(minutes=15)
""""Later" starts at the next quarter hour after the latest time offered."""


def later_in_the_day(offered: list[datetime]) -> time:
    """Where "later in the day" starts after these offered (clinic-local) times: past the
    latest hour of day among them, whatever day it fell on (an offer running into tomorrow
    morning must not pull "later" back to the morning)."""
    latest = max(offered, key=lambda moment: moment.time())
    quarter = int(LATER_STEP.total_seconds() // 60)
    after = latest + timedelta(minutes=quarter - latest.minute % quarter)
    return after.time() if after.date() == latest.date() else time.max


def earlier_in_the_day(offered: list[datetime]) -> time:
    """Where "earlier in the day" ends: before the earliest hour of day offered."""
    return min(moment.time() for moment in offered)


def weekday_code(day: date) -> Weekday:
    return WEEKDAY_CODES[day.weekday()]


class SlotRequest(BaseModel):
    """A booking or reschedule request: every field optional, `None` or empty = any."""

    model_config = ConfigDict(extra="ignore")

    treatment: str | None = None
    """A treatment code of the practice system."""
    provider: str | None = None
    """Who the patient asked for, as named: a name, surname, title or role ("Dr. Mizrahi",
    "נועה", "hygienist"); resolved against the clinic's providers by the tools."""
    not_providers: list[int] = Field(default_factory=list)
    """Providers the patient declined ("with someone else"), by id."""
    date_from: date | None = None
    date_to: date | None = None
    weekdays: list[Weekday] = Field(default_factory=list)
    """Only these weekdays; empty: any."""
    not_weekdays: list[Weekday] = Field(default_factory=list)
    time_from: time | None = None
    """The visit starts at or after this clinic-local time."""
    time_to: time | None = None
    """The visit starts before this clinic-local time."""

    @model_validator(mode="after")
    def _ordered(self) -> SlotRequest:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        if self.time_from and self.time_to and self.time_to <= self.time_from:
            raise ValueError("time_to is not after time_from")
        return self

    def refined(self, newer: SlotRequest) -> SlotRequest:
        """This request with what a later message said: a field it sets replaces this one's,
        declined weekdays and providers add up, and a new date range drops the old weekdays
        unless it names its own."""
        values = self.model_dump()
        said = newer.model_dump(exclude_defaults=True)
        if "date_from" in said or "date_to" in said:
            values["date_from"], values["date_to"] = newer.date_from, newer.date_to
            values["weekdays"] = newer.weekdays
        if "time_from" in said or "time_to" in said:
            values["time_from"], values["time_to"] = newer.time_from, newer.time_to
        for field in ("treatment", "provider", "weekdays"):
            if field in said:
                values[field] = said[field]
        for field in ("not_weekdays", "not_providers"):
            values[field] = sorted(set(values[field]) | set(said.get(field, [])))
        if "weekdays" in said:
            values["not_weekdays"] = [d for d in values["not_weekdays"] if d not in newer.weekdays]
        if "provider" in said:
            values["not_providers"] = []
        return SlotRequest.model_validate(values)

    def unmet(self, local_start: datetime) -> list[Constraint]:
        """The time constraints a visit starting at `local_start` (clinic-local) breaks."""
        day = local_start.date()
        broken: list[Constraint] = []
        if (self.date_from and day < self.date_from) or (self.date_to and day > self.date_to):
            broken.append("dates")
        if self.weekdays and weekday_code(day) not in self.weekdays:
            broken.append("weekdays")
        if weekday_code(day) in self.not_weekdays:
            broken.append("not_weekdays")
        clock = local_start.time().replace(tzinfo=None)
        if (self.time_from and clock < self.time_from) or (self.time_to and clock >= self.time_to):
            broken.append("time")
        return broken

    @property
    def constrains_time(self) -> bool:
        return bool(
            self.date_from
            or self.date_to
            or self.weekdays
            or self.not_weekdays
            or self.time_from
            or self.time_to
        )
