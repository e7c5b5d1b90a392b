"""`/api/v1/memory/{patient_id}`: what the assistant remembers of a patient (GET), a copy of
everything it holds about them (GET .../export) and its erasure (DELETE), docs/PRIVACY.md.

Two credentials reach these routes, both as `Authorization: Bearer <token>`: a staff access
token whose role has `memory.read` (reading, export) or `memory.erase` (erasure); or a
patient's private link token (`/my-data#<token>`), which reaches that one patient's data only,
for reading, export and erasure alike. Thin: the work and its audit are in serving.privacy.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse

from serving.api.deps import audit_log, get_database, get_settings, staff_sessions
from serving.api.staff_auth import StaffAccess, StaffRefused, client_address
from serving.memory.service import Memory
from serving.memory.store import MemoryUnavailable
from serving.privacy.erasure import MAX_PATIENT_ID, InvalidPatientId
from serving.privacy.patient_data import PatientData
from serving.privacy.patient_links import PatientAccess, PatientLinkRefused, PatientLinks
from serving.privacy.requester import Requester
from serving.staff.audit import MAX_REASON, AuditContext, PatientSelf

router = APIRouter(tags=["privacy"])

NO_STORE: Final = {"Cache-Control": "no-store"}
T = TypeVar("T")
PatientId = Annotated[int, Path(ge=1, le=MAX_PATIENT_ID, description="The practice system's id.")]


def patient_links(request: Request) -> PatientLinks:
    links: PatientLinks = request.app.state.patient_links
    return links


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise StaffRefused(
            401, "unauthorized", "a staff bearer token or a patient link is required"
        )
    return token.strip()


async def _link(request: Request, token: str) -> PatientAccess:
    """What the patient link `token` opens; 401 when it opens nothing (unknown or expired)."""
    try:
        return await patient_links(request).resolve(token)
    except PatientLinkRefused as refused:
        raise StaffRefused(401, "unauthorized", str(refused)) from None


class MemoryAccess(StaffAccess):
    """A staff member whose role has `permission`, or the patient of the `patient_id` in the
    path through their own link (any other patient's id: 403)."""

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        patient_id: PatientId,
        authorization: Annotated[str | None, Header()] = None,
        x_access_reason: Annotated[str | None, Header(max_length=MAX_REASON)] = None,
    ) -> Requester:
        token = _bearer(authorization)
        principal = await staff_sessions(request).principal(token)
        if principal is not None:
            if not principal.may(self.permission):
                raise StaffRefused(
                    403, "forbidden", f"the {principal.role} role may not use {self.permission}"
                )
            request.state.staff = principal
            return AuditContext(principal, client_address(request), x_access_reason)
        link = await _link(request, token)
        if link.patient_id != patient_id:
            raise StaffRefused(403, "forbidden", "this link opens its own patient's data only")
        return PatientSelf(patient_id=link.patient_id, client_address=client_address(request))


Reader = Annotated[Requester, Depends(MemoryAccess("memory.read"))]
Eraser = Annotated[Requester, Depends(MemoryAccess("memory.erase"))]


def _patient_data(request: Request) -> PatientData:
    memory: Memory = request.app.state.memory
    return PatientData(
        get_database(request),
        memory=memory,
        audit=audit_log(request),
        backend=request.app.state.practice,
        phone_region=get_settings(request).default_phone_region,
    )


async def _answer(work: Awaitable[T]) -> T | JSONResponse:
    """The store out of reach: 503, nothing changed; an id no table can hold: 422."""
    try:
        return await work
    except MemoryUnavailable:
        return JSONResponse(
            {"error": "memory_unavailable", "message": "the memory store cannot be reached"},
            status_code=503,
            headers={"Retry-After": "30", **NO_STORE},
        )
    except InvalidPatientId as error:
        return JSONResponse({"error": "invalid_request", "message": str(error)}, status_code=422)


@router.get("/api/v1/my-data")
async def my_link(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> JSONResponse:
    """For the `/my-data` page: whose data the patient's link opens, and until when. Staff
    tokens are not links: 401."""
    link = await _link(request, _bearer(authorization))
    return JSONResponse(
        {"patient_id": link.patient_id, "expires_at": link.expires_at.isoformat()},
        headers=NO_STORE,
    )


@router.get("/api/v1/memory/{patient_id}")
async def remembered(request: Request, requester: Reader, patient_id: PatientId) -> Any:
    """What is remembered: the usual dentist and time of day, the latest outcomes, open
    escalations, the conversations' language, and how often each pattern was seen."""
    result = await _answer(_patient_data(request).remembered(requester, patient_id))
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(result, headers=NO_STORE)


@router.get("/api/v1/memory/{patient_id}/export")
async def export(request: Request, requester: Reader, patient_id: PatientId) -> Any:
    """Everything the assistant holds about the patient, as a JSON file to download."""
    result = await _answer(_patient_data(request).export(requester, patient_id))
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(
        result,
        headers={
            "Content-Disposition": f'attachment; filename="patient-{patient_id}-data.json"',
            **NO_STORE,
        },
    )


@router.delete("/api/v1/memory/{patient_id}")
async def erase(request: Request, requester: Eraser, patient_id: PatientId) -> Any:
    """Erase the patient's data from the memory store, then the app database; the receipt
    says what each removed and what is kept, and why. 503 (nothing changed) when the memory
    store cannot be reached."""
    result = await _answer(_patient_data(request).erase(requester, patient_id))
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(result.as_json(), headers=NO_STORE)
