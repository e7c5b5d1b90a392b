"""The clinic's set-up: providers, their working hours, treatments, closures and the public
profile. Each change runs in one transaction and is checked whole first: a refused change
(`SetupError`, saying what to fix) writes nothing.

The assistant reads what is written here on its next turn: the slot search reads working
hours, treatments and closures from these tables, and the profile's version stamp tells every
process to read the profile again (`profile_source`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from serving.clinic import NOT_SET_UP, Bilingual, ClinicProfile, Location
from serving.clinic_setup.errors import KeptElsewhere, NotFound, SetupError
from serving.clinic_setup.records import (
    ClinicFile,
    Closure,
    HoursWindow,
    ProfileChange,
    ProfileOut,
    ProviderChange,
    ProviderIn,
    ProviderOut,
    ProviderSpec,
    TreatmentChange,
    TreatmentIn,
    TreatmentOut,
)
from serving.clinic_setup.weekly import checked_hours, format_hours, parse_hours
from serving.db import models as db
from serving.db.clinic_models import PROFILE_ROW_ID, ClinicProfileRow
from serving.db.engine import Database
from serving.practice.errors import InvalidRequest
from serving.practice.phone import normalize_phone
from serving.scheduling.request import WEEKDAY_CODES


class ClinicSetup:
    """Reads and changes the clinic's set-up in the app database."""

    def __init__(
        self,
        database: Database,
        *,
        phone_region: str = "IL",
        on_change: Callable[[], None] | None = None,
        schedule_kept_in: str | None = None,
    ) -> None:
        """`schedule_kept_in`: the clinic's own practice system ("Odoo") when its schedule
        lives there; only the profile is then read and changed here."""
        self._db = database
        self._region = phone_region
        self._on_change = on_change
        self._kept_in = schedule_kept_in

    def _schedule_here(self) -> None:
        if self._kept_in is not None:
            raise KeptElsewhere(self._kept_in)

    @asynccontextmanager
    async def _change(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; once it has committed, `on_change` tells this process's
        copies of the set-up (the profile, the providers) to read again."""
        async with self._db.transaction() as session:
            yield session
        if self._on_change is not None:
            self._on_change()

    # --- providers ----------------------------------------------------------------------------

    async def providers(self) -> list[ProviderOut]:
        self._schedule_here()
        async with self._db.read() as session:
            return [_provider_out(p) for p in await _all_providers(session)]

    async def add_provider(self, provider: ProviderIn) -> ProviderOut:
        self._schedule_here()
        async with self._change() as session:
            await _check_name_free(session, provider.name, None)
            row = db.Provider(
                name=provider.name, name_he=provider.name_he, role=provider.role, active=True
            )
            session.add(row)
            await session.flush()
            return _provider_out(await _provider(session, str(row.id)))

    async def update_provider(self, ref: str, change: ProviderChange) -> ProviderOut:
        """Rename, change the role of, deactivate or reactivate a provider (an inactive one is
        offered to no patient; their booked appointments stay)."""
        self._schedule_here()
        async with self._change() as session:
            row = await _provider(session, ref)
            if change.name is not None:
                await _check_name_free(session, change.name, row.id)
            for field, value in change.model_dump(exclude_none=True).items():
                setattr(row, field, value)
            await session.flush()
            return _provider_out(row)

    async def deactivate_provider(self, ref: str) -> ProviderOut:
        self._schedule_here()
        return await self.update_provider(ref, ProviderChange(active=False))

    async def set_hours(self, ref: str, hours: Sequence[HoursWindow]) -> ProviderOut:
        """Replace a provider's weekly hours (none: they take no appointments)."""
        self._schedule_here()
        windows = checked_hours(hours)
        async with self._change() as session:
            row = await _provider(session, ref)
            row.working_hours = [_working_hours(w) for w in windows]
            await session.flush()
            return _provider_out(row)

    # --- treatments ---------------------------------------------------------------------------

    async def treatments(self) -> list[TreatmentOut]:
        self._schedule_here()
        async with self._db.read() as session:
            return [_treatment_out(t, providers) for t, providers in await _treatments(session)]

    async def add_treatment(self, treatment: TreatmentIn) -> TreatmentOut:
        self._schedule_here()
        async with self._change() as session:
            if await _find_treatment(session, treatment.code) is not None:
                raise SetupError(f"a treatment with code {treatment.code!r} already exists")
            row = db.TreatmentType(
                **treatment.model_dump(exclude={"providers"}),
            )
            session.add(row)
            await session.flush()
            await _set_performers(session, row, treatment.providers)
            return await _treatment_of(session, row.code)

    async def update_treatment(self, code: str, change: TreatmentChange) -> TreatmentOut:
        self._schedule_here()
        async with self._change() as session:
            row = await _require_treatment(session, code)
            for field, value in change.model_dump(exclude_none=True, exclude={"providers"}).items():
                setattr(row, field, value)
            if change.providers is not None:
                await _set_performers(session, row, change.providers)
            await session.flush()
            return await _treatment_of(session, row.code)

    async def remove_treatment(self, code: str) -> None:
        """Remove a treatment no appointment or treatment plan refers to."""
        self._schedule_here()
        async with self._change() as session:
            row = await _require_treatment(session, code)
            await _check_unused(session, row)
            await session.delete(row)

    # --- closures -----------------------------------------------------------------------------

    async def closures(self, *, since: date | None = None) -> list[Closure]:
        self._schedule_here()
        query = select(db.ClinicClosure).order_by(db.ClinicClosure.day)
        if since is not None:
            query = query.where(db.ClinicClosure.day >= since)
        async with self._db.read() as session:
            return [Closure(day=c.day, reason=c.reason) for c in await session.scalars(query)]

    async def add_closure(self, closure: Closure) -> Closure:
        self._schedule_here()
        async with self._change() as session:
            if await session.scalar(
                select(db.ClinicClosure).where(db.ClinicClosure.day == closure.day)
            ):
                raise SetupError(f"{closure.day} is already a closed day")
            session.add(db.ClinicClosure(day=closure.day, reason=closure.reason))
        return closure

    async def remove_closure(self, day: date) -> None:
        self._schedule_here()
        async with self._change() as session:
            row = await session.scalar(select(db.ClinicClosure).where(db.ClinicClosure.day == day))
            if row is None:
                raise NotFound(f"{day} is not a closed day")
            await session.delete(row)

    # --- profile ------------------------------------------------------------------------------

    async def profile(self) -> ProfileOut:
        async with self._db.read() as session:
            row = await session.get(ClinicProfileRow, PROFILE_ROW_ID)
            if row is None:
                return ProfileOut(profile=NOT_SET_UP, set_up=False, version=0)
            return ProfileOut(
                profile=ClinicProfile.model_validate(row.data), set_up=True, version=row.version
            )

    async def update_profile(self, change: ProfileChange) -> ProfileOut:
        """Change some fields of the profile; the first change of a clinic not set up needs
        the clinic's name in both languages."""
        async with self._change() as session:
            row = await session.get(ClinicProfileRow, PROFILE_ROW_ID)
            if row is None and (change.name_en is None or change.name_he is None):
                raise SetupError(
                    "the clinic has no profile yet: give its name first (--name-en and --name-he)"
                )
            current = ClinicProfile.model_validate(row.data) if row is not None else None
            updated = self._checked(_changed(current, change))
            await _write_profile(session, row, updated)
        return await self.profile()

    async def replace_profile(self, profile: ClinicProfile) -> ProfileOut:
        profile = self._checked(profile)
        async with self._change() as session:
            await _write_profile(
                session, await session.get(ClinicProfileRow, PROFILE_ROW_ID), profile
            )
        return await self.profile()

    async def seed_profile(self, profile: ClinicProfile) -> bool:
        """Store `profile` if the clinic has none; False (nothing written) if it has one."""
        profile = self._checked(profile)
        async with self._change() as session:
            if await session.get(ClinicProfileRow, PROFILE_ROW_ID) is not None:
                return False
            await _write_profile(session, None, profile)
            return True

    def _checked(self, profile: ClinicProfile) -> ClinicProfile:
        """`profile` with its phones in E.164 form; SetupError for one that is not a phone."""
        phones = {}
        for field in ("phone", "urgent_line"):
            value: str = getattr(profile, field)
            try:
                phones[field] = normalize_phone(value, self._region) if value else ""
            except InvalidRequest as exc:
                raise SetupError(f"{field}: {exc}") from None
        return profile.model_copy(update=phones)

    # --- the whole clinic ---------------------------------------------------------------------

    async def export_clinic(self) -> ClinicFile:
        self._schedule_here()
        profile = await self.profile()
        async with self._db.read() as session:
            providers = [
                ProviderSpec(
                    name=p.name,
                    name_he=p.name_he,
                    role=p.role,
                    active=p.active,
                    hours=format_hours(_provider_out(p).hours),
                )
                for p in await _all_providers(session)
            ]
            treatments = [
                TreatmentIn(**_treatment_out(t, names).model_dump())
                for t, names in await _treatments(session)
            ]
        return ClinicFile(
            profile=profile.profile if profile.set_up else None,
            providers=providers,
            treatments=treatments,
            closures=await self.closures(),
        )

    async def import_clinic(self, clinic: ClinicFile) -> list[str]:
        """Make the clinic what `clinic` says, in one transaction, and return what changed
        (nothing for a file exported from this clinic). Providers are matched by name: one
        missing from the file is deactivated (appointments keep them); a treatment missing
        from it is removed, refused if appointments or plans use it; closures and the profile
        are replaced."""
        self._schedule_here()
        profile = self._checked(clinic.profile) if clinic.profile is not None else None
        hours = {spec.name: parse_hours(spec.hours) for spec in clinic.providers}
        _check_unique("provider", [p.name.casefold() for p in clinic.providers])
        _check_unique("treatment", [t.code for t in clinic.treatments])
        _check_unique("closed day", [str(c.day) for c in clinic.closures])
        changes: list[str] = []
        async with self._change() as session:
            existing = {p.name.casefold(): p for p in await _all_providers(session)}
            for spec in clinic.providers:
                row = existing.pop(spec.name.casefold(), None)
                if row is None:
                    row = db.Provider(name=spec.name, working_hours=[], treatment_types=[])
                    session.add(row)
                    changes.append(f"provider added: {spec.name}")
                before = (row.name, row.name_he, row.role, row.active, _windows_of(row))
                row.name, row.name_he, row.role, row.active = (
                    spec.name,
                    spec.name_he,
                    spec.role,
                    spec.active,
                )
                after_windows = sorted(
                    (w.weekday, w.starts_at, w.ends_at) for w in hours[spec.name]
                )
                if _windows_of(row) != after_windows:
                    row.working_hours = [_working_hours(w) for w in hours[spec.name]]
                if row.id is not None and before != (
                    spec.name,
                    spec.name_he,
                    spec.role,
                    spec.active,
                    after_windows,
                ):
                    changes.append(f"provider updated: {spec.name}")
            for row in existing.values():
                if row.active:
                    row.active = False
                    changes.append(f"provider deactivated: {row.name}")
            await session.flush()
            changes += await _import_treatments(session, clinic.treatments)
            changes += await _import_closures(session, clinic.closures)
            stored = await session.get(ClinicProfileRow, PROFILE_ROW_ID)
            if profile is not None and (
                stored is None or ClinicProfile.model_validate(stored.data) != profile
            ):
                await _write_profile(session, stored, profile)
                changes.append("profile replaced")
        return changes


# --- helpers -----------------------------------------------------------------------------------


async def _all_providers(session: AsyncSession) -> list[db.Provider]:
    rows = await session.scalars(
        select(db.Provider)
        .options(selectinload(db.Provider.working_hours), selectinload(db.Provider.treatment_types))
        .order_by(db.Provider.id)
    )
    return list(rows)


async def _provider(session: AsyncSession, ref: str) -> db.Provider:
    """The provider `ref` names: an id, or a name in English or Hebrew (any case)."""
    key = ref.strip()
    query = select(db.Provider).options(
        selectinload(db.Provider.working_hours), selectinload(db.Provider.treatment_types)
    )
    if key.isdigit():
        query = query.where(db.Provider.id == int(key))
    else:
        query = query.where(
            or_(func.lower(db.Provider.name) == key.lower(), db.Provider.name_he == key)
        )
    rows = list(await session.scalars(query))
    if not rows:
        raise NotFound(f"no provider {key!r} (see `dental clinic providers list`)")
    if len(rows) > 1:
        raise SetupError(f"{len(rows)} providers are called {key!r}; name one by its id")
    return rows[0]


async def _check_name_free(session: AsyncSession, name: str, own_id: int | None) -> None:
    query = select(db.Provider.id).where(func.lower(db.Provider.name) == name.lower())
    if own_id is not None:
        query = query.where(db.Provider.id != own_id)
    if await session.scalar(query) is not None:
        raise SetupError(f"a provider is already called {name!r}; names must be unique")


def _working_hours(window: HoursWindow) -> db.WorkingHours:
    return db.WorkingHours(
        weekday=window.weekday, starts_at=window.starts_at, ends_at=window.ends_at
    )


def _windows_of(row: db.Provider) -> list[tuple[int, object, object]]:
    return sorted((w.weekday, w.starts_at, w.ends_at) for w in row.working_hours)


def _provider_out(row: db.Provider) -> ProviderOut:
    return ProviderOut(
        id=row.id,
        name=row.name,
        name_he=row.name_he,
        role=row.role,
        active=row.active,
        hours=checked_hours(
            [
                HoursWindow(day=WEEKDAY_CODES[w.weekday], starts_at=w.starts_at, ends_at=w.ends_at)
                for w in row.working_hours
            ]
        ),
        treatments=sorted(t.code for t in row.treatment_types),
    )


async def _treatments(session: AsyncSession) -> list[tuple[db.TreatmentType, list[str]]]:
    rows = await session.execute(
        select(db.TreatmentType, db.Provider.name)
        .outerjoin(
            db.provider_treatments,
            db.provider_treatments.c.treatment_type_id == db.TreatmentType.id,
        )
        .outerjoin(db.Provider, db.Provider.id == db.provider_treatments.c.provider_id)
        .order_by(db.TreatmentType.id, db.Provider.id)
    )
    result: dict[int, tuple[db.TreatmentType, list[str]]] = {}
    for treatment, provider in rows:
        names = result.setdefault(treatment.id, (treatment, []))[1]
        if provider is not None:
            names.append(provider)
    return list(result.values())


async def _treatment_of(session: AsyncSession, code: str) -> TreatmentOut:
    for treatment, names in await _treatments(session):
        if treatment.code == code:
            return _treatment_out(treatment, names)
    raise NotFound(f"no treatment {code!r}")


def _treatment_out(row: db.TreatmentType, providers: list[str]) -> TreatmentOut:
    return TreatmentOut(
        code=row.code,
        name=row.name,
        name_he=row.name_he,
        duration_minutes=row.duration_minutes,
        price=row.price,
        currency=row.currency,
        providers=providers,
    )


async def _find_treatment(session: AsyncSession, code: str) -> db.TreatmentType | None:
    return await session.scalar(
        select(db.TreatmentType).where(db.TreatmentType.code == code.strip().lower())
    )


async def _require_treatment(session: AsyncSession, code: str) -> db.TreatmentType:
    row = await _find_treatment(session, code)
    if row is None:
        raise NotFound(f"no treatment {code!r} (see `dental clinic treatments list`)")
    return row


async def _set_performers(
    session: AsyncSession, treatment: db.TreatmentType, names: Sequence[str]
) -> None:
    performers = [await _provider(session, name) for name in dict.fromkeys(names)]
    await session.execute(
        db.provider_treatments.delete().where(
            db.provider_treatments.c.treatment_type_id == treatment.id
        )
    )
    if performers:
        await session.execute(
            db.provider_treatments.insert(),
            [{"provider_id": p.id, "treatment_type_id": treatment.id} for p in performers],
        )
    for provider in performers:
        await session.refresh(provider, ["treatment_types"])


async def _check_unused(session: AsyncSession, row: db.TreatmentType) -> None:
    for table, what in (
        (db.Appointment, "appointments"),
        (db.TreatmentPlanItem, "treatment plans"),
    ):
        if await session.scalar(select(exists().where(table.treatment_type_id == row.id))):
            raise SetupError(
                f"treatment {row.code!r} is used by {what}; it cannot be removed "
                "(change its name or price instead)"
            )


async def _import_treatments(session: AsyncSession, treatments: Sequence[TreatmentIn]) -> list[str]:
    changes: list[str] = []
    current = {t.code: (t, names) for t, names in await _treatments(session)}
    for spec in treatments:
        found = current.pop(spec.code, None)
        if found is not None and TreatmentIn(**_treatment_out(*found).model_dump()) == spec:
            continue
        row = found[0] if found is not None else db.TreatmentType(code=spec.code)
        for field, value in spec.model_dump(exclude={"providers"}).items():
            setattr(row, field, value)
        session.add(row)
        await session.flush()
        await _set_performers(session, row, spec.providers)
        changes.append(f"treatment {'updated' if found else 'added'}: {spec.code}")
    for row, _names in current.values():
        await _check_unused(session, row)
        await session.delete(row)
        changes.append(f"treatment removed: {row.code}")
    return changes


async def _import_closures(session: AsyncSession, closures: Sequence[Closure]) -> list[str]:
    wanted = {c.day: c.reason for c in closures}
    changes: list[str] = []
    for row in list(await session.scalars(select(db.ClinicClosure))):
        reason = wanted.pop(row.day, None)
        if reason is None:
            await session.delete(row)
            changes.append(f"closure removed: {row.day}")
        elif reason != row.reason:
            row.reason = reason
            changes.append(f"closure updated: {row.day}")
    await session.flush()
    for day, reason in sorted(wanted.items()):
        session.add(db.ClinicClosure(day=day, reason=reason))
        changes.append(f"closure added: {day}")
    return changes


def _check_unique(what: str, keys: Sequence[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise SetupError(f"the file names the {what} {key!r} twice")
        seen.add(key)


def _changed(current: ClinicProfile | None, change: ProfileChange) -> ClinicProfile:
    data = current.model_dump() if current is not None else {}
    for field in ("name", "address", "parking", "insurance", "payment"):
        texts = dict(data.get(field) or {"en": "", "he": ""})
        for language in ("en", "he"):
            value = getattr(change, f"{field}_{language}")
            if value is not None:
                texts[language] = value
        data[field] = Bilingual(**texts)
    for field in ("phone", "urgent_line"):
        if (value := getattr(change, field)) is not None:
            data[field] = value
    if (change.latitude is None) != (change.longitude is None):
        raise SetupError("give the latitude and the longitude together")
    if change.latitude is not None and change.longitude is not None:
        data["location"] = Location(latitude=change.latitude, longitude=change.longitude)
    return ClinicProfile.model_validate(data)


async def _write_profile(
    session: AsyncSession, row: ClinicProfileRow | None, profile: ClinicProfile
) -> None:
    data = profile.model_dump(mode="json")
    if row is None:
        session.add(ClinicProfileRow(id=PROFILE_ROW_ID, data=data, version=1))
    elif row.data != data:
        row.data = data
        row.version += 1
    await session.flush()
