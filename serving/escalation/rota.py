"""The on-call rota: the dentists the clinic alerts, their weekly shifts, and who that is at a
given moment.

At a moment, the dentists alerted are those whose shift covers it (in the clinic's time zone);
when no shift covers it, the fallback dentists; when the clinic keeps no shifts at all, every
active dentist on the rota. A shift written `sun-thu 08:00-18:00` covers those days; one that
ends at or before it starts (`fri 18:00-08:00`) runs past midnight.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from serving.db.engine import Database
from serving.db.escalation_models import OnCallDoctor, OnCallShift
from serving.practice.errors import InvalidRequest
from serving.practice.phone import normalize_phone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SHIFT = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$"
)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class RotaError(ValueError):
    """A rota change that cannot be made as asked; nothing was changed."""


@dataclass(frozen=True)
class Shift:
    weekday: int
    """0 is Monday."""
    starts: time
    ends: time

    def label(self) -> str:
        return f"{DAYS[self.weekday]} {self.starts:%H:%M}-{self.ends:%H:%M}"

    def covers(self, local: datetime) -> bool:
        """Whether the clinic-local moment falls in this shift (on its day, or past midnight
        on the next day for a shift that runs overnight)."""
        at = local.time()
        overnight = self.ends <= self.starts
        if local.weekday() == self.weekday:
            return self.starts <= at and (overnight or at < self.ends)
        next_day = (self.weekday + 1) % 7
        return overnight and local.weekday() == next_day and at < self.ends


@dataclass(frozen=True)
class Doctor:
    """A dentist on the rota, as the notifications address them."""

    id: int
    name: str
    email: str
    phone: str
    telegram_chat_id: int | None
    language: str
    fallback: bool
    shifts: tuple[Shift, ...]


def parse_shift(spec: str) -> list[Shift]:
    """`sun-thu 08:00-18:00` → one Shift per day. RotaError for anything else."""
    found = _SHIFT.match(spec.strip().lower())
    if found is None:
        raise RotaError(
            f"a shift is written like 'sun-thu 08:00-18:00' or 'fri 18:00-08:00', not {spec!r}"
        )
    try:
        first = DAYS.index(found["first"])
        last = DAYS.index(found["last"] or found["first"])
        starts, ends = (
            time.fromisoformat(_padded(found["start"])),
            time.fromisoformat(_padded(found["end"])),
        )
    except ValueError:
        raise RotaError(
            f"unknown day or time in the shift {spec!r} (days: {', '.join(DAYS)})"
        ) from None
    if starts == ends:
        raise RotaError(f"the shift {spec!r} starts and ends at the same time")
    days = [(first + step) % 7 for step in range((last - first) % 7 + 1)]
    return [Shift(day, starts, ends) for day in days]


def _padded(clock: str) -> str:
    hours, minutes = clock.split(":")
    return f"{int(hours):02d}:{minutes}"


class OnCallRota:
    def __init__(self, database: Database, *, timezone: str, phone_region: str = "IL") -> None:
        self._db = database
        self._tz = ZoneInfo(timezone)
        self._region = phone_region

    async def add(
        self,
        *,
        name: str,
        email: str,
        phone: str,
        telegram_chat_id: int | None = None,
        language: str = "he",
        fallback: bool = False,
        shifts: Sequence[str] = (),
    ) -> Doctor:
        """Put a dentist on the rota. RotaError (nothing written) for a bad value or an e-mail
        already on it."""
        name = " ".join(name.split())
        if not 1 <= len(name) <= 120:
            raise RotaError("a name of 1 to 120 characters is required")
        email = email.strip().lower()
        if not _EMAIL.match(email) or len(email) > 254:
            raise RotaError("not a valid e-mail address")
        try:
            phone = normalize_phone(phone, self._region)
        except InvalidRequest as error:
            raise RotaError(str(error)) from None
        if language not in ("he", "en"):
            raise RotaError("the language is 'he' or 'en'")
        if telegram_chat_id is not None and telegram_chat_id == 0:
            raise RotaError("a Telegram chat id is a non-zero number")
        parsed = [shift for spec in shifts for shift in parse_shift(spec)]
        row = OnCallDoctor(
            name=name,
            email=email,
            phone=phone,
            telegram_chat_id=telegram_chat_id,
            language=language,
            fallback=fallback,
            active=True,
            shifts=[OnCallShift(weekday=s.weekday, starts=s.starts, ends=s.ends) for s in parsed],
        )
        try:
            async with self._db.transaction() as session:
                session.add(row)
                await session.flush()
                doctor_id = row.id
        except IntegrityError:
            raise RotaError("a dentist with that e-mail is already on the rota") from None
        found = await self.get(doctor_id)
        assert found is not None
        return found

    async def get(self, doctor_id: int) -> Doctor | None:
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(OnCallDoctor)
                .where(OnCallDoctor.id == doctor_id, OnCallDoctor.active)
                .options(selectinload(OnCallDoctor.shifts))
            )
            return None if row is None else _doctor(row)

    async def doctors(self) -> list[Doctor]:
        """Every active dentist on the rota, by name."""
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(OnCallDoctor)
                .where(OnCallDoctor.active)
                .options(selectinload(OnCallDoctor.shifts))
                .order_by(OnCallDoctor.name, OnCallDoctor.id)
            )
            return [_doctor(row) for row in rows]

    async def remove(self, who: str) -> Doctor:
        """Take a dentist (by id or e-mail) off the rota: their shifts go; the notifications
        and links already sent keep their record. RotaError when no such dentist."""
        async with self._db.transaction() as session:
            query = select(OnCallDoctor).options(selectinload(OnCallDoctor.shifts))
            if who.strip().isdigit():
                query = query.where(OnCallDoctor.id == int(who))
            else:
                query = query.where(func.lower(OnCallDoctor.email) == who.strip().lower())
            row = await session.scalar(query.where(OnCallDoctor.active))
            if row is None:
                raise RotaError("no dentist with that id or e-mail is on the rota")
            removed = _doctor(row)
            await session.execute(delete(OnCallShift).where(OnCallShift.doctor_id == row.id))
            # Deactivated, not deleted: a notification's record still names who was alerted,
            # and the e-mail can be added again (it is freed).
            row.active = False
            row.email = f"removed-{row.id}-{row.email}"[:254]
        return removed

    async def on_call(self, at: datetime) -> list[Doctor]:
        """Who is alerted about an escalation raised at `at` (see the module's docstring)."""
        doctors = await self.doctors()
        local = at.astimezone(self._tz)
        covering = [d for d in doctors if any(shift.covers(local) for shift in d.shifts)]
        if covering:
            return covering
        fallback = [d for d in doctors if d.fallback]
        if fallback:
            return fallback
        if any(d.shifts for d in doctors):
            return []  # a rota with shifts and a gap, and no fallback: nobody to alert
        return doctors


def _doctor(row: OnCallDoctor) -> Doctor:
    return Doctor(
        id=row.id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        telegram_chat_id=row.telegram_chat_id,
        language=row.language,
        fallback=row.fallback,
        shifts=tuple(Shift(s.weekday, s.starts, s.ends) for s in row.shifts),
    )
