"""The built-in practice system, stored in the app database.

Double booking is refused by the database (see migration 0001); the checks here exist to give
a precise error first. Every method runs in one transaction, so a refused request writes
nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from serving.db import models as db
from serving.db.engine import Database
from serving.db.types import utcnow
from serving.practice import checks
from serving.practice import models as rec
from serving.practice.booking import (
    PATIENT_BUSY,
    TAKEN,
    bookable_until,
    free_slots,
    most_telling,
    with_closures,
)
from serving.practice.checks import MAX_SEARCH_RESULTS
from serving.practice.errors import (
    AppointmentNotFound,
    ClinicClosed,
    InvalidRequest,
    InvoiceNotFound,
    OutsideWorkingHours,
    PatientNotFound,
    PracticeError,
    PracticeUnavailable,
    SlotUnavailable,
    TimeInPast,
    UnknownProvider,
)
from serving.practice.phone import normalize_phone
from serving.scheduling.opening import ClinicHours
from serving.scheduling.request import SlotRequest
from serving.scheduling.slots import BookingRules, WeeklyWindow


class BuiltinPracticeBackend:
    """`PracticeBackend` on the app database."""

    def __init__(
        self,
        database: Database,
        rules: BookingRules,
        *,
        default_phone_region: str = "IL",
        clock: Callable[[], datetime] = utcnow,
        setup_cache_seconds: float = 0.0,
    ) -> None:
        self._db = database
        self._rules = rules
        self._region = default_phone_region
        self._now = clock
        self._setup_cache_seconds = setup_cache_seconds
        self._providers: tuple[float, list[rec.Provider]] | None = None

    @property
    def timezone(self) -> ZoneInfo:
        """The clinic's time zone: dates given to and taken from this backend are local to it."""
        return self._rules.calendar.tz

    # --- patients -----------------------------------------------------------------------------

    async def search_patient(
        self, *, phone: str | None = None, name: str | None = None, email: str | None = None
    ) -> list[rec.Patient]:
        checks.require_search_criteria(phone, name, email)
        query = select(db.Patient).order_by(db.Patient.id).limit(MAX_SEARCH_RESULTS)
        if phone is not None:
            query = query.where(db.Patient.phone == normalize_phone(phone, self._region))
        if name is not None:
            query = query.where(_name_matches(name))
        if email is not None:
            query = query.where(func.lower(db.Patient.email) == checks.email_address(email))
        async with self._session(read_only=True) as session:
            return [_patient(p) for p in (await session.scalars(query)).all()]

    async def get_patient(self, patient_id: int) -> rec.Patient:
        async with self._session(read_only=True) as session:
            return _patient(await _require_patient(session, patient_id))

    async def get_patient_allergies(self, patient_id: int) -> list[rec.Allergy]:
        async with self._session(read_only=True) as session:
            patient = await _require_patient(session, patient_id)
            rows = await session.scalars(
                select(db.PatientAllergy)
                .where(db.PatientAllergy.patient_id == patient.id)
                .order_by(db.PatientAllergy.id)
            )
            return [
                rec.Allergy(substance=a.substance, reaction=a.reaction, severity=a.severity)
                for a in rows
            ]

    async def get_patient_notes(self, patient_id: int) -> list[rec.PatientNote]:
        async with self._session(read_only=True) as session:
            await _require_patient(session, patient_id)
            rows = await session.scalars(
                select(db.PatientNote)
                .where(db.PatientNote.patient_id == patient_id)
                .order_by(db.PatientNote.created_at, db.PatientNote.id)
            )
            return [_note(n) for n in rows]

    async def add_patient_note(
        self, patient_id: int, body: str, *, author: str, for_patient: bool = False
    ) -> rec.PatientNote:
        text, who = checks.note_text(body, author)
        async with self._session() as session:
            await _require_patient(session, patient_id)
            note = db.PatientNote(
                patient_id=patient_id, author=who, body=text, for_patient=for_patient
            )
            session.add(note)
            await session.flush()
            return _note(note)

    async def get_treatment_plan(self, patient_id: int) -> rec.TreatmentPlan | None:
        async with self._session(read_only=True) as session:
            await _require_patient(session, patient_id)
            plans = (
                await session.scalars(
                    select(db.TreatmentPlan)
                    .where(
                        db.TreatmentPlan.patient_id == patient_id,
                        db.TreatmentPlan.status.in_(("active", "proposed")),
                    )
                    .options(
                        selectinload(db.TreatmentPlan.items).selectinload(
                            db.TreatmentPlanItem.treatment_type
                        )
                    )
                    .order_by(db.TreatmentPlan.created_at.desc(), db.TreatmentPlan.id.desc())
                )
            ).all()
            if not plans:
                return None
            plan = next((p for p in plans if p.status == "active"), plans[0])
            return _plan(plan)

    # --- invoices -----------------------------------------------------------------------------

    async def get_patient_invoices(self, patient_id: int) -> list[rec.InvoiceSummary]:
        async with self._session(read_only=True) as session:
            await _require_patient(session, patient_id)
            rows = await session.scalars(
                select(db.Invoice)
                .where(db.Invoice.patient_id == patient_id)
                .order_by(db.Invoice.issued_on.desc(), db.Invoice.id.desc())
            )
            return [_invoice_summary(i) for i in rows]

    async def get_invoice_details(self, patient_id: int, invoice_number: str) -> rec.InvoiceDetails:
        number = checks.invoice_number(invoice_number)
        async with self._session(read_only=True) as session:
            await _require_patient(session, patient_id)
            invoice = await session.scalar(
                select(db.Invoice)
                .where(db.Invoice.number == number, db.Invoice.patient_id == patient_id)
                .options(selectinload(db.Invoice.lines))
            )
            if invoice is None:
                raise InvoiceNotFound(f"no invoice {number} for this patient")
            lines = tuple(
                rec.InvoiceLine(
                    description=line.description, quantity=line.quantity, unit_price=line.unit_price
                )
                for line in invoice.lines
            )
            return rec.InvoiceDetails(**_invoice_summary(invoice).model_dump(), lines=lines)

    # --- schedule -----------------------------------------------------------------------------

    async def list_providers(self) -> list[rec.Provider]:
        """The active providers. Nearly every turn asks, and they change rarely: a copy is
        kept for `setup_cache_seconds` (another process's edit shows within that), and a change
        made through this process drops it at once (`forget_setup`)."""
        cached, now = self._providers, monotonic()
        if cached is not None and now - cached[0] < self._setup_cache_seconds:
            return list(cached[1])
        async with self._session(read_only=True) as session:
            rows = await session.scalars(
                select(db.Provider).where(db.Provider.active).order_by(db.Provider.id)
            )
            providers = [_provider(p) for p in rows]
        self._providers = (now, providers)
        return list(providers)

    def forget_setup(self) -> None:
        self._providers = None

    async def clinic_hours(self, provider_id: int | None = None) -> ClinicHours:
        query = (
            select(db.WorkingHours.weekday, db.WorkingHours.starts_at, db.WorkingHours.ends_at)
            .join(db.Provider)
            .where(db.Provider.active)
        )
        async with self._session(read_only=True) as session:
            if provider_id is not None:
                if not await session.scalar(
                    select(db.Provider.id).where(db.Provider.id == provider_id, db.Provider.active)
                ):
                    raise UnknownProvider(f"no active provider with id {provider_id}")
                query = query.where(db.Provider.id == provider_id)
            windows = [
                WeeklyWindow(weekday, start, end)
                for weekday, start, end in (await session.execute(query))
            ]
            rules = await self._rules_with_closures(session)
        return ClinicHours.of(windows, rules.calendar)

    async def appointments_between(
        self, start: datetime, end: datetime, *, provider_id: int | None = None
    ) -> list[rec.Appointment]:
        checks.time_range(start, end)
        query = _appointments().where(
            db.Appointment.starts_at >= start, db.Appointment.starts_at < end
        )
        if provider_id is not None:
            query = query.where(db.Appointment.provider_id == provider_id)
        async with self._session(read_only=True) as session:
            rows = await session.scalars(
                query.order_by(db.Appointment.starts_at, db.Appointment.id)
            )
            return [_appointment(a) for a in rows]

    async def get_appointment(self, appointment_id: int) -> rec.Appointment:
        async with self._session(read_only=True) as session:
            appointment = await session.scalar(
                _appointments().where(db.Appointment.id == appointment_id)
            )
            if appointment is None:
                raise AppointmentNotFound(f"no appointment {appointment_id}")
            return _appointment(appointment)

    async def list_treatment_types(self) -> list[rec.TreatmentType]:
        async with self._session(read_only=True) as session:
            rows = await session.scalars(select(db.TreatmentType).order_by(db.TreatmentType.id))
            return [_treatment(t) for t in rows]

    async def get_available_slots(
        self,
        treatment_code: str,
        date_from: date,
        date_to: date,
        *,
        provider_id: int | None = None,
        limit: int = 20,
        matching: SlotRequest | None = None,
    ) -> list[rec.Slot]:
        now = self._now()
        first_day = checks.slot_search_days(
            date_from, date_to, limit, now.astimezone(self._rules.calendar.tz).date()
        )
        async with self._session(read_only=True) as session:
            treatment = await _require_treatment(session, treatment_code)
            providers = await _providers_for(session, treatment, provider_id)
            rules = await self._rules_with_closures(session)
            window_start = datetime.combine(first_day, time.min, rules.calendar.tz)
            window_end = datetime.combine(date_to + timedelta(days=1), time.min, rules.calendar.tz)
            busy = await _busy_by_provider(session, providers, window_start, window_end)
        return free_slots(
            treatment_code=treatment.code,
            duration=timedelta(minutes=treatment.duration_minutes),
            providers=[(_provider(p), _weekly(_windows(p))) for p in providers],
            busy=busy,
            first_day=first_day,
            last_day=date_to,
            rules=rules,
            now=now,
            limit=limit,
            matching=matching,
        )

    async def list_patient_appointments(
        self, patient_id: int, *, include_past: bool = False
    ) -> list[rec.Appointment]:
        async with self._session(read_only=True) as session:
            await _require_patient(session, patient_id)
            query = _appointments().where(db.Appointment.patient_id == patient_id)
            if not include_past:
                query = query.where(
                    db.Appointment.status == "scheduled", db.Appointment.ends_at >= self._now()
                )
            rows = await session.scalars(query.order_by(db.Appointment.starts_at))
            return [_appointment(a) for a in rows]

    async def create_appointment(
        self,
        patient_id: int,
        treatment_code: str,
        starts_at: datetime,
        *,
        provider_id: int | None = None,
        notes: str | None = None,
    ) -> rec.Appointment:
        notes = checks.appointment_notes(notes)
        async with self._session() as session:
            await _require_patient(session, patient_id)
            treatment = await _require_treatment(session, treatment_code)
            providers = await _providers_for(session, treatment, provider_id)
            provider, ends_at = await self._first_bookable(
                session, providers, starts_at, treatment, patient_id, exclude_id=None
            )
            appointment = db.Appointment(
                patient_id=patient_id,
                provider_id=provider.id,
                treatment_type_id=treatment.id,
                starts_at=starts_at,
                ends_at=ends_at,
                status="scheduled",
                notes=notes,
            )
            session.add(appointment)
            await session.flush()
            return await _load_appointment(session, appointment.id)

    async def reschedule_appointment(
        self,
        patient_id: int,
        appointment_id: int,
        new_starts_at: datetime,
        *,
        provider_id: int | None = None,
    ) -> rec.Appointment:
        async with self._session() as session:
            appointment = await self._changeable_appointment(session, patient_id, appointment_id)
            treatment = appointment.treatment_type
            providers = await _providers_for(
                session, treatment, provider_id or appointment.provider_id
            )
            provider, ends_at = await self._first_bookable(
                session, providers, new_starts_at, treatment, patient_id, exclude_id=appointment.id
            )
            appointment.provider_id = provider.id
            appointment.starts_at = new_starts_at
            appointment.ends_at = ends_at
            await session.flush()
            return await _load_appointment(session, appointment.id)

    async def cancel_appointment(
        self, patient_id: int, appointment_id: int, *, reason: str | None = None
    ) -> rec.Appointment:
        reason = checks.cancel_reason(reason)
        async with self._session() as session:
            appointment = await self._changeable_appointment(session, patient_id, appointment_id)
            appointment.status = "cancelled"
            appointment.cancel_reason = reason
            await session.flush()
            return await _load_appointment(session, appointment.id)

    # --- internals ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction (`read_only`: one that only reads, and so never waits for a writer);
        database errors become practice errors an operator can act on."""
        try:
            async with self._db.read() if read_only else self._db.transaction() as session:
                yield session
        except PracticeError:
            raise
        except IntegrityError as exc:
            if "overlap" in str(exc.orig):
                raise SlotUnavailable("that time was just taken; please choose another") from None
            raise InvalidRequest("the change conflicts with existing records") from None
        except (DBAPIError, OSError) as exc:
            raise PracticeUnavailable(
                f"the practice database is unavailable ({type(exc).__name__}); try again shortly"
            ) from None

    async def _rules_with_closures(self, session: AsyncSession) -> BookingRules:
        rows = await session.execute(select(db.ClinicClosure.day, db.ClinicClosure.reason))
        return with_closures(self._rules, {day: reason for day, reason in rows})

    async def _first_bookable(
        self,
        session: AsyncSession,
        providers: Sequence[db.Provider],
        starts_at: datetime,
        treatment: db.TreatmentType,
        patient_id: int,
        *,
        exclude_id: int | None,
    ) -> tuple[db.Provider, datetime]:
        """The first provider free at `starts_at`; the most telling refusal otherwise."""
        rules = await self._rules_with_closures(session)
        duration = timedelta(minutes=treatment.duration_minutes)
        now = self._now()
        refusals: list[SlotUnavailable] = []
        for provider in providers:
            try:
                ends_at = bookable_until(
                    starts_at=starts_at,
                    duration=duration,
                    windows=_windows(provider),
                    rules=rules,
                    now=now,
                )
            except (OutsideWorkingHours, ClinicClosed) as closed:
                refusals.append(closed)
                continue
            if await _overlapping(
                session, db.Appointment.patient_id, patient_id, starts_at, ends_at, exclude_id
            ):
                raise SlotUnavailable(PATIENT_BUSY)
            if not await _overlapping(
                session, db.Appointment.provider_id, provider.id, starts_at, ends_at, exclude_id
            ):
                return provider, ends_at
            refusals.append(SlotUnavailable(TAKEN))
        raise most_telling(refusals)

    async def _changeable_appointment(
        self, session: AsyncSession, patient_id: int, appointment_id: int
    ) -> db.Appointment:
        await _require_patient(session, patient_id)
        appointment = await session.scalar(
            _appointments().where(
                db.Appointment.id == appointment_id, db.Appointment.patient_id == patient_id
            )
        )
        if appointment is None:
            raise AppointmentNotFound(f"no appointment {appointment_id} for this patient")
        if appointment.status != "scheduled":
            raise InvalidRequest(f"that appointment is already {appointment.status}")
        if appointment.starts_at <= self._now():
            raise TimeInPast("that appointment has already started or taken place")
        return appointment


# --- queries ----------------------------------------------------------------------------------


def _name_matches(name: str) -> ColumnElement[bool]:
    full_name = db.Patient.first_name + " " + db.Patient.last_name
    conditions = []
    for word in checks.name_words(name):
        pattern = f"%{word}%"
        conditions.append(
            or_(func.lower(full_name).like(pattern), func.lower(db.Patient.name_he).like(pattern))
        )
    return and_(*conditions)


async def _require_patient(session: AsyncSession, patient_id: int) -> db.Patient:
    patient = await session.get(db.Patient, patient_id)
    if patient is None:
        raise PatientNotFound(f"no patient with id {patient_id}")
    return patient


async def _require_treatment(session: AsyncSession, code: str) -> db.TreatmentType:
    treatment = await session.scalar(
        select(db.TreatmentType).where(db.TreatmentType.code == checks.treatment_code(code))
    )
    if treatment is None:
        known = await session.scalars(select(db.TreatmentType.code).order_by(db.TreatmentType.id))
        raise checks.unknown_treatment(code, known)
    return treatment


async def _providers_for(
    session: AsyncSession, treatment: db.TreatmentType, provider_id: int | None
) -> list[db.Provider]:
    query = (
        select(db.Provider)
        .where(
            db.Provider.active,
            db.Provider.treatment_types.any(db.TreatmentType.id == treatment.id),
        )
        .options(selectinload(db.Provider.working_hours))
        .order_by(db.Provider.id)
    )
    if provider_id is not None:
        query = query.where(db.Provider.id == provider_id)
    providers = list((await session.scalars(query)).all())
    if not providers:
        if provider_id is not None:
            raise UnknownProvider(
                f"provider {provider_id} does not exist or does not perform {treatment.code}"
            )
        raise UnknownProvider(f"no active provider performs {treatment.code}")
    return providers


async def _busy_by_provider(
    session: AsyncSession, providers: Sequence[db.Provider], start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    rows = await session.execute(
        select(db.Appointment.provider_id, db.Appointment.starts_at, db.Appointment.ends_at).where(
            db.Appointment.provider_id.in_([p.id for p in providers]),
            db.Appointment.status == "scheduled",
            db.Appointment.starts_at < end,
            db.Appointment.ends_at > start,
        )
    )
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for provider_id, busy_start, busy_end in rows:
        busy.setdefault(provider_id, []).append((busy_start, busy_end))
    return busy


async def _overlapping(
    session: AsyncSession,
    column: InstrumentedAttribute[int],
    value: int,
    starts_at: datetime,
    ends_at: datetime,
    exclude_id: int | None,
) -> bool:
    query = select(db.Appointment.id).where(
        column == value,
        db.Appointment.status == "scheduled",
        db.Appointment.starts_at < ends_at,
        db.Appointment.ends_at > starts_at,
    )
    if exclude_id is not None:
        query = query.where(db.Appointment.id != exclude_id)
    return (await session.scalar(query.limit(1))) is not None


def _appointments() -> Select[db.Appointment]:
    return select(db.Appointment).options(
        selectinload(db.Appointment.provider), selectinload(db.Appointment.treatment_type)
    )


async def _load_appointment(session: AsyncSession, appointment_id: int) -> rec.Appointment:
    appointment = await session.scalar(
        _appointments()
        .where(db.Appointment.id == appointment_id)
        .execution_options(populate_existing=True)
    )
    assert appointment is not None
    return _appointment(appointment)


# --- mapping rows to records ------------------------------------------------------------------


def _windows(provider: db.Provider) -> list[WeeklyWindow]:
    return [WeeklyWindow(w.weekday, w.starts_at, w.ends_at) for w in provider.working_hours]


def _weekly(windows: list[WeeklyWindow]) -> Callable[[date], list[WeeklyWindow]]:
    """Windows that are the same every week, as the slot search asks for them day by day."""
    return lambda _day: windows


def _patient(p: db.Patient) -> rec.Patient:
    return rec.Patient.model_validate(p, from_attributes=True)


def _provider(p: db.Provider) -> rec.Provider:
    return rec.Provider(
        id=p.id,
        name=p.name,
        name_he=p.name_he,
        role="hygienist" if p.role == "hygienist" else "dentist",
    )


def _treatment(t: db.TreatmentType) -> rec.TreatmentType:
    return rec.TreatmentType(
        code=t.code,
        name=t.name,
        name_he=t.name_he,
        duration_minutes=t.duration_minutes,
        price=t.price,
        currency=t.currency,
    )


def _appointment(a: db.Appointment) -> rec.Appointment:
    return rec.Appointment.model_validate(
        {
            "id": a.id,
            "patient_id": a.patient_id,
            "provider_id": a.provider_id,
            "provider_name": a.provider.name,
            "provider_name_he": a.provider.name_he,
            "treatment_code": a.treatment_type.code,
            "treatment_name": a.treatment_type.name,
            "treatment_name_he": a.treatment_type.name_he,
            "starts_at": a.starts_at,
            "ends_at": a.ends_at,
            "status": a.status,
        }
    )


def _invoice_summary(i: db.Invoice) -> rec.InvoiceSummary:
    return rec.InvoiceSummary(
        number=i.number,
        issued_on=i.issued_on,
        due_on=i.due_on,
        currency=i.currency,
        amount_total=i.amount_total,
        amount_paid=i.amount_paid,
    )


def _note(n: db.PatientNote) -> rec.PatientNote:
    return rec.PatientNote(
        id=n.id, author=n.author, body=n.body, created_at=n.created_at, for_patient=n.for_patient
    )


def _plan(plan: db.TreatmentPlan) -> rec.TreatmentPlan:
    return rec.TreatmentPlan.model_validate(
        {
            "id": plan.id,
            "title": plan.title,
            "status": plan.status,
            "items": [
                {
                    "treatment_code": item.treatment_type.code,
                    "treatment_name": item.treatment_type.name,
                    "treatment_name_he": item.treatment_type.name_he,
                    "tooth": item.tooth,
                    "status": item.status,
                    "estimated_price": item.estimated_price,
                }
                for item in plan.items
            ],
        }
    )
