"""Finding a patient and reading their clinical record from the staff console, each read
recorded in the audit trail (who looked, at whom; a search's words are not kept)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from serving.console.booking_views import (
    AllergyItem,
    ClinicalView,
    NoteItem,
    PatientItem,
    PlanItemView,
    PlanView,
)
from serving.practice.backend import PracticeBackend
from serving.practice.errors import InvalidRequest
from serving.practice.models import Patient
from serving.staff.audit import AuditContext, AuditLog

MIN_QUERY = 2
MAX_QUERY = 120
MAX_RESULTS = 20
_PHONE = re.compile(r"^\+?[\d\s().-]+$")


class StaffPatients:
    def __init__(self, *, backend: PracticeBackend, audit: AuditLog, timezone: str) -> None:
        self._backend = backend
        self._audit = audit
        self._tz = ZoneInfo(timezone)

    async def search(self, context: AuditContext, query: str) -> list[PatientItem]:
        """Patients whose name matches every word of `query`, or whose phone it is (a query
        of digits is taken as a phone number). InvalidRequest for a query too short or long."""
        query = " ".join(query.split())
        if not MIN_QUERY <= len(query) <= MAX_QUERY:
            raise InvalidRequest(f"search with {MIN_QUERY} to {MAX_QUERY} characters")
        if _PHONE.match(query) and sum(c.isdigit() for c in query) >= MIN_QUERY:
            found = await self._backend.search_patient(phone=query)
            kind = "phone"
        else:
            found = await self._backend.search_patient(name=query)
            kind = "name"
        items = [_patient(p) for p in found[:MAX_RESULTS]]
        await self._audit.record(
            context, "patient.search", detail={"by": kind, "count": len(items)}
        )
        return items

    async def clinical(self, context: AuditContext, patient_id: int) -> ClinicalView:
        """Allergies, notes and the current treatment plan; PatientNotFound if none."""
        allergies = await self._backend.get_patient_allergies(patient_id)
        notes = await self._backend.get_patient_notes(patient_id)
        plan = await self._backend.get_treatment_plan(patient_id)
        await self._audit.record(context, "patient.clinical.read", patient_id=patient_id)
        return ClinicalView(
            allergies=[
                AllergyItem(substance=a.substance, reaction=a.reaction, severity=a.severity)
                for a in allergies
            ],
            notes=[
                NoteItem(
                    id=n.id,
                    author=n.author,
                    body=n.body,
                    created_at=n.created_at.astimezone(self._tz),
                    for_patient=n.for_patient,
                )
                for n in notes
            ],
            plans=[]
            if plan is None
            else [
                PlanView(
                    id=plan.id,
                    title=plan.title,
                    status=plan.status,
                    items=[
                        PlanItemView(
                            treatment_code=i.treatment_code,
                            treatment_name=i.treatment_name,
                            tooth=i.tooth,
                            status=i.status,
                            estimated_price=str(i.estimated_price),
                        )
                        for i in plan.items
                    ],
                )
            ],
        )


def _patient(p: Patient) -> PatientItem:
    return PatientItem(id=p.id, name=p.full_name, name_he=p.name_he, phone=p.phone)
