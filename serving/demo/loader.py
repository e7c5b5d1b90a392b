"""Loads `demo_clinic.json` into an empty database.

Upcoming appointments are placed relative to the day of loading, through the practice backend
itself, so they always respect working hours, Shabbat and holidays.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from serving.clinic import DEMO_PROFILE, load_clinic_profile
from serving.clinic_setup.service import ClinicSetup
from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import OnCallDoctor
from serving.db.types import utcnow
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.factory import booking_rules_from_settings, schedule_kept_in
from serving.settings import Settings

DEMO_FILE = Path(__file__).with_name("demo_clinic.json")
WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class DemoRefused(RuntimeError):
    """Demo data was asked for where it must not go (a production database)."""


def demo_clinic_data() -> dict[str, Any]:
    """The demo clinic as written in `demo_clinic.json` (also what `dental odoo seed-demo`
    writes into Odoo)."""
    data: dict[str, Any] = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return data


async def load_demo_clinic(database: Database, settings: Settings) -> bool:
    """Load the demo clinic; False if the database already has one (then only its profile is
    stored, if it has none)."""
    if settings.environment == "production":
        raise DemoRefused("demo data is never loaded into a production environment")
    data = demo_clinic_data()
    # The demo profile goes in wherever none is set, also next to demo data loaded before
    # profiles lived in the database.
    await ClinicSetup(database).seed_profile(load_clinic_profile(DEMO_PROFILE))
    if schedule_kept_in(settings) is not None:
        # The practice records belong in the clinic's Odoo (`dental odoo seed-demo`); the
        # on-call dentist is the app's own.
        return await _load_oncall(database, data)
    async with database.transaction() as session:
        if await session.scalar(select(func.count()).select_from(db.Provider)):
            return False
        treatments = {
            t["code"]: db.TreatmentType(**{**t, "price": Decimal(t["price"])})
            for t in data["treatment_types"]
        }
        session.add_all(treatments.values())
        providers = {p["key"]: _provider(p, treatments) for p in data["providers"]}
        session.add_all(providers.values())
        for closure in data["closures"]:
            session.add(
                db.ClinicClosure(day=date.fromisoformat(closure["day"]), reason=closure["reason"])
            )
        session.add_all(OnCallDoctor(**doctor, active=True) for doctor in data["oncall"])
        patients = [_patient(p) for p in data["patients"]]
        session.add_all(patients)
        await session.flush()
        for row, patient in zip(data["patients"], patients, strict=True):
            session.add_all(_records_of(row, patient.id, treatments))
            session.add_all(
                _past_visit(past, patient.id, providers, treatments) for past in row.get("past", [])
            )
        provider_ids = {key: p.id for key, p in providers.items()}
        patient_ids = [p.id for p in patients]

    backend = BuiltinPracticeBackend(database, booking_rules_from_settings(settings))
    for row, patient_id in zip(data["patients"], patient_ids, strict=True):
        for visit in row.get("upcoming", []):
            await _book_upcoming(backend, patient_id, visit, provider_ids)
    return True


async def _load_oncall(database: Database, data: dict[str, Any]) -> bool:
    async with database.transaction() as session:
        if await session.scalar(select(func.count()).select_from(OnCallDoctor)):
            return False
        session.add_all(OnCallDoctor(**doctor, active=True) for doctor in data["oncall"])
    return True


def _provider(row: dict[str, Any], treatments: dict[str, db.TreatmentType]) -> db.Provider:
    return db.Provider(
        name=row["name"],
        name_he=row["name_he"],
        role=row["role"],
        working_hours=[
            db.WorkingHours(
                weekday=WEEKDAYS[day],
                starts_at=time.fromisoformat(s),
                ends_at=time.fromisoformat(e),
            )
            for day, (s, e) in row["hours"].items()
        ],
        treatment_types=[treatments[code] for code in row["treatments"]],
    )


def _patient(row: dict[str, Any]) -> db.Patient:
    return db.Patient(
        first_name=row["first_name"],
        last_name=row["last_name"],
        name_he=row["name_he"],
        phone=row["phone"],
        email=row["email"],
        language=row["language"],
        date_of_birth=date.fromisoformat(row["date_of_birth"]),
        allergies=[db.PatientAllergy(**a) for a in row.get("allergies", [])],
    )


def _records_of(
    row: dict[str, Any], patient_id: int, treatments: dict[str, db.TreatmentType]
) -> list[db.Base]:
    """Invoices, notes and treatment plan of one demo patient."""
    records: list[db.Base] = []
    for invoice in row.get("invoices", []):
        lines = [
            db.InvoiceLine(
                description=line["description"],
                quantity=line["quantity"],
                unit_price=Decimal(line["unit_price"]),
            )
            for line in invoice["lines"]
        ]
        records.append(
            db.Invoice(
                number=invoice["number"],
                patient_id=patient_id,
                issued_on=date.fromisoformat(invoice["issued_on"]),
                due_on=date.fromisoformat(invoice["due_on"]),
                amount_total=sum((line.unit_price * line.quantity for line in lines), Decimal(0)),
                amount_paid=Decimal(invoice["amount_paid"]),
                lines=lines,
            )
        )
    records += [
        db.PatientNote(
            patient_id=patient_id,
            author=note["author"],
            body=note["body"],
            for_patient=note.get("for_patient", False),
        )
        for note in row.get("notes", [])
    ]
    if plan := row.get("plan"):
        records.append(
            db.TreatmentPlan(
                patient_id=patient_id,
                title=plan["title"],
                status=plan["status"],
                items=[
                    db.TreatmentPlanItem(
                        treatment_type=treatments[code],
                        tooth=tooth,
                        status=status,
                        estimated_price=Decimal(price),
                    )
                    for code, tooth, status, price in plan["items"]
                ],
            )
        )
    return records


def _past_visit(
    row: dict[str, Any],
    patient_id: int,
    providers: dict[str, db.Provider],
    treatments: dict[str, db.TreatmentType],
) -> db.Appointment:
    treatment = treatments[row["treatment"]]
    starts_at = (utcnow() - timedelta(days=row["days_ago"])).replace(
        hour=7, minute=0, second=0, microsecond=0
    )
    return db.Appointment(
        patient_id=patient_id,
        provider_id=providers[row["provider"]].id,
        treatment_type_id=treatment.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=treatment.duration_minutes),
        status="completed",
    )


async def _book_upcoming(
    backend: BuiltinPracticeBackend,
    patient_id: int,
    visit: dict[str, Any],
    provider_ids: dict[str, int],
) -> None:
    """Book the first free slot from `days_ahead` on, at or after `not_before` local time."""
    provider_id = provider_ids[visit["provider"]] if visit["provider"] else None
    not_before = time.fromisoformat(visit["not_before"])
    first_day = datetime.now(backend.timezone).date() + timedelta(days=visit["days_ahead"])
    for week in range(8):
        day_from = first_day + timedelta(days=7 * week)
        slots = await backend.get_available_slots(
            visit["treatment"],
            day_from,
            day_from + timedelta(days=6),
            provider_id=provider_id,
            limit=100,
        )
        for slot in slots:
            if slot.starts_at.astimezone(backend.timezone).time() >= not_before:
                await backend.create_appointment(
                    patient_id, visit["treatment"], slot.starts_at, provider_id=slot.provider_id
                )
                return
    raise RuntimeError(f"no free slot for the demo {visit['treatment']} visit in 8 weeks")
