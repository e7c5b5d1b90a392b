"""The set-up service's inputs and outputs: pydantic models, usable as API bodies as they are.

Names are checked here (lengths, codes, currencies); rules across records (a provider's name is
unique, hours do not overlap, a treatment's performers exist) are the service's.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from serving.clinic import ClinicProfile
from serving.scheduling.request import WEEKDAY_CODES, Weekday

Role = Literal["dentist", "hygienist"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
TreatmentCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9_]{1,40}$")
]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoursWindow(_Record):
    """One weekly working window of a provider, clinic-local."""

    day: Weekday
    starts_at: time
    ends_at: time

    @property
    def weekday(self) -> int:
        """Python's weekday, Monday = 0."""
        return WEEKDAY_CODES.index(self.day)


class ProviderIn(_Record):
    name: Name = Field(description="The provider's name in English, unique in the clinic.")
    name_he: Name
    role: Role


class ProviderChange(_Record):
    """Fields to change; the others keep their values."""

    name: Name | None = None
    name_he: Name | None = None
    role: Role | None = None
    active: bool | None = None


class ProviderOut(_Record):
    id: int
    name: str
    name_he: str
    role: Role
    active: bool
    hours: list[HoursWindow]
    treatments: list[str] = Field(description="Codes of the treatments they perform.")


class TreatmentIn(_Record):
    code: TreatmentCode
    name: Name
    name_he: Name
    duration_minutes: int = Field(ge=5, le=480)
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: Currency = "ILS"
    providers: list[Name] = Field(
        default_factory=list, description="Names (English) of the providers who perform it."
    )


class TreatmentChange(_Record):
    """Fields to change; the others keep their values."""

    name: Name | None = None
    name_he: Name | None = None
    duration_minutes: int | None = Field(default=None, ge=5, le=480)
    price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    currency: Currency | None = None
    providers: list[Name] | None = None


class TreatmentOut(_Record):
    code: str
    name: str
    name_he: str
    duration_minutes: int
    price: Decimal
    currency: str
    providers: list[str]


class Closure(_Record):
    """A whole day the clinic is closed beyond Shabbat and public holidays."""

    day: date
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


ProfileText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class ProfileChange(_Record):
    """Profile fields to change, flat (one per language); the others keep their values.
    Latitude and longitude go together."""

    name_en: Name | None = None
    name_he: Name | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    urgent_line: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = (
        None
    )
    address_en: ProfileText | None = None
    address_he: ProfileText | None = None
    parking_en: ProfileText | None = None
    parking_he: ProfileText | None = None
    insurance_en: ProfileText | None = None
    insurance_he: ProfileText | None = None
    payment_en: ProfileText | None = None
    payment_he: ProfileText | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class ProfileOut(_Record):
    profile: ClinicProfile
    set_up: bool = Field(description="False until someone has set the profile.")
    version: int


class ProviderSpec(_Record):
    """A provider in the clinic file, with their hours as written ("sun-thu 08:00-16:00")."""

    name: Name
    name_he: Name
    role: Role
    active: bool = True
    hours: list[str] = Field(default_factory=list)


class ClinicFile(_Record):
    """The whole clinic as `dental clinic export` writes it and `import` reads it."""

    profile: ClinicProfile | None = None
    providers: list[ProviderSpec] = Field(default_factory=list)
    treatments: list[TreatmentIn] = Field(default_factory=list)
    closures: list[Closure] = Field(default_factory=list)
