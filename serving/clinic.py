"""The clinic's public profile: name, phones, address, parking, insurance, payment, location.

Configuration, not a prompt: the assistant answers clinic questions from the profile (and
prices, appointment lengths and opening hours from the practice system's records), so a model
never invents them. The profile lives in the database (`serving.clinic_setup`, edited from the
CLI or the staff dashboard); a YAML file of the same shape seeds it and is the import format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEMO_PROFILE = Path(__file__).parent / "demo" / "clinic_profile.yaml"
ClinicTopic = Literal["hours", "address", "parking", "insurance", "payment"]
ProfileTopic = Literal["address", "parking", "insurance", "payment"]
"""The topics answered from the profile's texts; the hours come from the working hours."""
RETIRED_FIELDS = ("hours", "opening_hours")
"""Written by older profile files; the hours are now generated from the providers' working
hours, so these are read and ignored."""


class Bilingual(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    en: str = Field(max_length=1000)
    he: str = Field(max_length=1000)

    def __call__(self, language: str) -> str:
        return self.he if language == "he" else self.en


class Location(BaseModel):
    """Where the clinic is on a map (WGS 84), for channels that can show it (Telegram venue)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


_UNSET = Bilingual(en="", he="")


class ClinicProfile(BaseModel):
    """What patients may be told about the clinic. An empty text means "not set up yet"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Bilingual
    phone: str = Field(default="", max_length=32)
    urgent_line: str = Field(default="", max_length=32)
    address: Bilingual = _UNSET
    parking: Bilingual = _UNSET
    insurance: Bilingual = _UNSET
    payment: Bilingual = _UNSET
    location: Location | None = None

    @model_validator(mode="before")
    @classmethod
    def _without_retired_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(name in data for name in RETIRED_FIELDS):
            return {key: value for key, value in data.items() if key not in RETIRED_FIELDS}
        return data

    def topic(self, topic: ProfileTopic, language: str) -> str:
        value: Bilingual = getattr(self, topic)
        return value(language)


NOT_SET_UP = ClinicProfile(name=Bilingual(en="the clinic", he="המרפאה"))
"""The profile of a clinic nobody has set up yet: a name to address patients with, nothing
else."""


class ProfileSource(Protocol):
    """Where the current profile is read: `refresh` (once per turn) picks up edits made by any
    process, `current` is then a plain attribute read."""

    def current(self) -> ClinicProfile: ...

    async def refresh(self) -> None: ...


class FixedProfile:
    """A profile that never changes (a test, an evaluation without a database)."""

    def __init__(self, profile: ClinicProfile) -> None:
        self._profile = profile

    def current(self) -> ClinicProfile:
        return self._profile

    async def refresh(self) -> None:
        return None


def load_clinic_profile(path: Path | None = None) -> ClinicProfile:
    data = yaml.safe_load((path or DEMO_PROFILE).read_text(encoding="utf-8"))
    return ClinicProfile.model_validate(data)
