"""Clinic set-up from the dashboard (`/api/v1/admin/clinic/...`, admins): providers, their
working hours, treatments, closures and the public profile, through the same service as
`dental clinic ...` (serving.clinic_setup). A refused change answers 422 (404 for an unknown
provider, treatment or closure) naming what to fix, and writes nothing. Each change is in the
audit trail (no patient data is involved, but who changed the clinic is attributable).
The assistant offers the new hours and quotes the new profile on its next turn.
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import audit_log
from serving.api.staff_auth import require
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
    TreatmentChange,
    TreatmentIn,
    TreatmentOut,
)
from serving.clinic_setup.service import ClinicSetup
from serving.scheduling.request import WEEKDAY_CODES
from serving.staff.audit import AuditContext

router = APIRouter(prefix="/api/v1/admin/clinic", tags=["staff"])

Setup = Annotated[AuditContext, Depends(require("setup"))]


class Window(BaseModel):
    """One weekly working window: weekday as Python counts (Monday 0 ... Sunday 6)."""

    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6)
    starts: time
    ends: time


class HoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    windows: list[Window] = Field(max_length=50)


class ProvidersOut(BaseModel):
    items: list[ProviderOut]


class TreatmentsOut(BaseModel):
    items: list[TreatmentOut]


class ClosuresOut(BaseModel):
    items: list[Closure]


def _setup(request: Request) -> ClinicSetup:
    setup: ClinicSetup = request.app.state.clinic_setup
    return setup


async def setup_refused(request: Request, exc: Exception) -> JSONResponse:
    """404 for an unknown provider, treatment or closure; 409 for the schedule of a clinic
    that keeps it in its own practice system; 422 for any other refused change."""
    assert isinstance(exc, SetupError)
    status, code = (
        (404, "not_found")
        if isinstance(exc, NotFound)
        else (409, "kept_in_practice_system")
        if isinstance(exc, KeptElsewhere)
        else (422, "invalid_request")
    )
    return JSONResponse({"error": code, "message": str(exc)}, status_code=status)


async def _changed(
    request: Request, context: AuditContext, action: str, subject: str, **detail: Any
) -> None:
    await audit_log(request).record(context, f"clinic.{action}", subject=subject, detail=detail)


@router.get("", response_model=ClinicFile)
async def clinic(request: Request, context: Setup) -> ClinicFile:
    """The whole clinic, as `dental clinic export` writes it."""
    return await _setup(request).export_clinic()


@router.get("/profile", response_model=ProfileOut)
async def profile(request: Request, context: Setup) -> ProfileOut:
    return await _setup(request).profile()


@router.put("/profile", response_model=ProfileOut)
async def change_profile(body: ProfileChange, request: Request, context: Setup) -> ProfileOut:
    """Change the fields given; the others keep their values."""
    changed = await _setup(request).update_profile(body)
    fields = sorted(body.model_dump(exclude_none=True))
    await _changed(request, context, "profile.update", "profile", fields=fields)
    return changed


@router.get("/providers", response_model=ProvidersOut)
async def providers(request: Request, context: Setup) -> ProvidersOut:
    return ProvidersOut(items=await _setup(request).providers())


@router.post("/providers", response_model=ProviderOut, status_code=201)
async def add_provider(body: ProviderIn, request: Request, context: Setup) -> ProviderOut:
    added = await _setup(request).add_provider(body)
    await _changed(request, context, "provider.add", f"provider:{added.id}")
    return added


@router.patch("/providers/{provider_id}", response_model=ProviderOut)
async def change_provider(
    provider_id: int, body: ProviderChange, request: Request, context: Setup
) -> ProviderOut:
    changed = await _setup(request).update_provider(str(provider_id), body)
    fields = sorted(body.model_dump(exclude_none=True))
    await _changed(request, context, "provider.update", f"provider:{provider_id}", fields=fields)
    return changed


@router.delete("/providers/{provider_id}", response_model=ProviderOut)
async def deactivate_provider(provider_id: int, request: Request, context: Setup) -> ProviderOut:
    """Providers are deactivated, never deleted: their past appointments keep their name."""
    changed = await _setup(request).deactivate_provider(str(provider_id))
    await _changed(request, context, "provider.deactivate", f"provider:{provider_id}")
    return changed


@router.put("/providers/{provider_id}/hours", response_model=ProviderOut)
async def set_hours(
    provider_id: int, body: HoursIn, request: Request, context: Setup
) -> ProviderOut:
    """Replace the provider's weekly hours; the slot search and the hours the assistant
    quotes follow on the next turn."""
    windows = [
        HoursWindow(day=WEEKDAY_CODES[w.weekday], starts_at=w.starts, ends_at=w.ends)
        for w in body.windows
    ]
    changed = await _setup(request).set_hours(str(provider_id), windows)
    await _changed(
        request, context, "provider.hours", f"provider:{provider_id}", windows=len(windows)
    )
    return changed


@router.get("/treatments", response_model=TreatmentsOut)
async def treatments(request: Request, context: Setup) -> TreatmentsOut:
    return TreatmentsOut(items=await _setup(request).treatments())


@router.post("/treatments", response_model=TreatmentOut, status_code=201)
async def add_treatment(body: TreatmentIn, request: Request, context: Setup) -> TreatmentOut:
    added = await _setup(request).add_treatment(body)
    await _changed(request, context, "treatment.add", f"treatment:{added.code}")
    return added


@router.patch("/treatments/{code}", response_model=TreatmentOut)
async def change_treatment(
    code: str, body: TreatmentChange, request: Request, context: Setup
) -> TreatmentOut:
    changed = await _setup(request).update_treatment(code, body)
    fields = sorted(body.model_dump(exclude_none=True))
    await _changed(request, context, "treatment.update", f"treatment:{changed.code}", fields=fields)
    return changed


@router.delete("/treatments/{code}", status_code=204)
async def remove_treatment(code: str, request: Request, context: Setup) -> None:
    """Refused (422) while appointments or treatment plans use the treatment."""
    await _setup(request).remove_treatment(code)
    await _changed(request, context, "treatment.remove", f"treatment:{code[:60]}")


@router.get("/closures", response_model=ClosuresOut)
async def closures(request: Request, context: Setup, since: date | None = None) -> ClosuresOut:
    return ClosuresOut(items=await _setup(request).closures(since=since))


@router.post("/closures", response_model=Closure, status_code=201)
async def add_closure(body: Closure, request: Request, context: Setup) -> Closure:
    added = await _setup(request).add_closure(body)
    await _changed(request, context, "closure.add", f"closure:{added.day.isoformat()}")
    return added


@router.delete("/closures/{day}", status_code=204)
async def remove_closure(day: date, request: Request, context: Setup) -> None:
    await _setup(request).remove_closure(day)
    await _changed(request, context, "closure.remove", f"closure:{day.isoformat()}")
