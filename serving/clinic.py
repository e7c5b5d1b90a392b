"""The clinic's public profile: name, phones, address, parking, hours, insurance, payment.

Configuration, not a prompt: the assistant answers clinic questions from this file (and prices
from the practice system), so a model never invents them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

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


class ClinicProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Bilingual
    phone: str
    urgent_line: str
    address: Bilingual
    parking: Bilingual
    hours: Bilingual
    insurance: Bilingual
    payment: Bilingual
    location: Location | None = None

    def topic(self, topic: ClinicTopic, language: str) -> str:
        value: Bilingual = getattr(self, topic)
        return value(language)


def load_clinic_profile(path: Path | None = None) -> ClinicProfile:
    data = yaml.safe_load((path or DEMO_PROFILE).read_text(encoding="utf-8"))
    return ClinicProfile.model_validate(data)
