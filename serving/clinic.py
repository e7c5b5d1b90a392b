"""The clinic's public profile: name, phones, address, parking, hours, insurance, payment.

Configuration, not a prompt: the assistant answers clinic questions from this file (and prices
and appointment lengths from the practice system), so a model never invents them. The hours
are written twice: as text, the answer to "when are you open?", and as the regular week
(`opening_hours`), from which one day's hours are answered ("are you open on Friday?").
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

DEMO_PROFILE = Path(__file__).parent / "demo" / "clinic_profile.yaml"
ClinicTopic = Literal["hours", "address", "parking", "insurance", "payment"]


class Bilingual(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    en: str
    he: str

    def __call__(self, language: str) -> str:
        return self.he if language == "he" else self.en


class Location(BaseModel):
    """Where the clinic is on a map (WGS 84), for channels that can show it (Telegram venue)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


Opening = tuple[time, time]
"""When the clinic opens and closes on a day, clinic-local."""
_WEEKDAY_FIELDS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""In Python's order: `_WEEKDAY_FIELDS[day.weekday()]`."""


class OpeningHours(BaseModel):
    """The regular week, day by day; a day left out is closed. Public holidays and one-off
    closures are not here: the practice system's calendar keeps them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mon: Opening | None = None
    tue: Opening | None = None
    wed: Opening | None = None
    thu: Opening | None = None
    fri: Opening | None = None
    sat: Opening | None = None
    sun: Opening | None = None

    @field_validator("*")
    @classmethod
    def _opens_before_it_closes(cls, value: Opening | None) -> Opening | None:
        if value is not None and value[0] >= value[1]:
            raise ValueError(f"opens at {value[0]:%H:%M}, not before it closes at {value[1]:%H:%M}")
        return value

    def on(self, day: date) -> Opening | None:
        """The opening and closing time on `day`'s weekday, or None when closed that day."""
        opening: Opening | None = getattr(self, _WEEKDAY_FIELDS[day.weekday()])
        return opening


class ClinicProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Bilingual
    phone: str
    urgent_line: str
    address: Bilingual
    parking: Bilingual
    hours: Bilingual
    opening_hours: OpeningHours | None = None
    """Without it, a question about one day is answered with the `hours` text."""
    insurance: Bilingual
    payment: Bilingual
    location: Location | None = None

    def topic(self, topic: ClinicTopic, language: str) -> str:
        value: Bilingual = getattr(self, topic)
        return value(language)


def load_clinic_profile(path: Path | None = None) -> ClinicProfile:
    data = yaml.safe_load((path or DEMO_PROFILE).read_text(encoding="utf-8"))
    return ClinicProfile.model_validate(data)
