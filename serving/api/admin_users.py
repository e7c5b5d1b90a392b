"""The staff console's staff accounts and on-call rota (`/api/v1/admin/users`, `/oncall`),
for admins. Thin: accounts go through serving.console.staff_users (audited, a generated
password shown once), the rota through serving.escalation.rota."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from serving.api.deps import AuditLogDep
from serving.api.staff_auth import require
from serving.console.staff_users import (
    AccountConflict,
    AccountWithPassword,
    StaffUsers,
    UnknownAccount,
)
from serving.escalation.rota import Doctor, OnCallRota, RotaError
from serving.staff.accounts import AccountError, StaffAccount
from serving.staff.audit import AuditContext
from serving.staff.passwords import MAX_LENGTH
from serving.staff.roles import Role

router = APIRouter(prefix="/api/v1/admin", tags=["staff"])

Users = Annotated[AuditContext, Depends(require("users"))]
OnCall = Annotated[AuditContext, Depends(require("oncall"))]


class UserItem(BaseModel):
    id: int
    email: str
    name: str
    role: str
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class UsersOut(BaseModel):
    items: list[UserItem]


class UserOut(BaseModel):
    user: UserItem


class UserWithPasswordOut(BaseModel):
    user: UserItem
    password: str | None
    """The generated password, shown this once; null when the request gave one."""


class UserIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=120)
    role: Role
    password: str | None = Field(default=None, max_length=MAX_LENGTH)


class ResetIn(BaseModel):
    password: str | None = Field(default=None, max_length=MAX_LENGTH)


class DoctorItem(BaseModel):
    id: int
    name: str
    email: str
    phone: str
    telegram_chat_id: int | None
    language: str
    fallback: bool
    shifts: list[str]
    """Weekly shifts in clinic time, one a day: "sun 08:00-18:00"."""


class DoctorsOut(BaseModel):
    items: list[DoctorItem]


class DoctorOut(BaseModel):
    doctor: DoctorItem


class DoctorIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    email: str = Field(min_length=3, max_length=254)
    phone: str = Field(min_length=3, max_length=40)
    telegram_chat_id: int | None = None
    language: Literal["he", "en"] = "he"
    fallback: bool = False
    shifts: list[str] = Field(default_factory=list, max_length=14)
    """Like `sun-thu 08:00-18:00` or `fri 18:00-08:00` (overnight)."""


def _users(request: Request) -> StaffUsers:
    users: StaffUsers = request.app.state.staff_users
    return users


def _rota(request: Request) -> OnCallRota:
    rota: OnCallRota = request.app.state.oncall_rota
    return rota


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _user(account: StaffAccount) -> UserItem:
    return UserItem(
        id=account.id,
        email=account.email,
        name=account.name,
        role=account.role,
        disabled=account.disabled,
        locked_until=account.locked_until,
        last_login_at=account.last_login_at,
        created_at=account.created_at,
    )


def _with_password(result: AccountWithPassword) -> JSONResponse:
    body = UserWithPasswordOut(user=_user(result.account), password=result.password)
    return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


def _doctor(doctor: Doctor) -> DoctorItem:
    return DoctorItem(
        id=doctor.id,
        name=doctor.name,
        email=doctor.email,
        phone=doctor.phone,
        telegram_chat_id=doctor.telegram_chat_id,
        language=doctor.language,
        fallback=doctor.fallback,
        shifts=[shift.label() for shift in doctor.shifts],
    )


@router.get("/users", response_model=UsersOut)
async def list_users(request: Request, context: Users) -> UsersOut:
    return UsersOut(items=[_user(a) for a in await _users(request).list()])


@router.post("/users", status_code=201, response_model=UserWithPasswordOut)
async def create_user(request: Request, context: Users, body: UserIn) -> JSONResponse:
    """A new account; without a password one is generated and returned this once.
    409 when the e-mail already has an account."""
    try:
        created = await _users(request).create(
            context, email=body.email, name=body.name, role=body.role, password=body.password
        )
    except AccountConflict as error:
        return _error(409, "conflict", str(error))
    except AccountError as error:
        return _error(422, "invalid_request", str(error))
    response = _with_password(created)
    response.status_code = 201
    return response


@router.post("/users/{user_id}/disable", response_model=UserOut)
async def disable_user(request: Request, context: Users, user_id: int) -> UserOut | JSONResponse:
    """Disable the account (its sessions end at once); 409 for your own account."""
    try:
        return UserOut(user=_user(await _users(request).disable(context, user_id)))
    except UnknownAccount as error:
        return _error(404, "not_found", str(error))
    except AccountConflict as error:
        return _error(409, "conflict", str(error))


@router.post("/users/{user_id}/reset", response_model=UserWithPasswordOut)
async def reset_user(
    request: Request, context: Users, user_id: int, body: ResetIn | None = None
) -> JSONResponse:
    """A new password (generated and returned this once when none is given); the account's
    sessions end and its lock-out clears."""
    try:
        reset = await _users(request).reset(
            context, user_id, body.password if body is not None else None
        )
    except UnknownAccount as error:
        return _error(404, "not_found", str(error))
    except AccountError as error:
        return _error(422, "invalid_request", str(error))
    return _with_password(reset)


@router.get("/oncall", response_model=DoctorsOut)
async def list_on_call(request: Request, context: OnCall) -> DoctorsOut:
    """The dentists on the rota, by name, with their weekly shifts."""
    return DoctorsOut(items=[_doctor(d) for d in await _rota(request).doctors()])


@router.post("/oncall", status_code=201, response_model=DoctorOut)
async def add_on_call(
    request: Request, context: OnCall, audit: AuditLogDep, body: DoctorIn
) -> DoctorOut | JSONResponse:
    """Put a dentist on the rota; 422 (nothing added) for a bad value or an e-mail already
    on it."""
    try:
        doctor = await _rota(request).add(
            name=body.name,
            email=body.email,
            phone=body.phone,
            telegram_chat_id=body.telegram_chat_id,
            language=body.language,
            fallback=body.fallback,
            shifts=body.shifts,
        )
    except RotaError as error:
        return _error(422, "invalid_request", str(error))
    await audit.record(context, "oncall.add", subject=f"oncall:{doctor.id}")
    return DoctorOut(doctor=_doctor(doctor))


@router.delete("/oncall/{doctor_id}", response_model=DoctorOut)
async def remove_on_call(
    request: Request, context: OnCall, audit: AuditLogDep, doctor_id: int
) -> DoctorOut | JSONResponse:
    """Take a dentist off the rota (links already sent keep working until they expire)."""
    rota = _rota(request)
    if await rota.get(doctor_id) is None:
        return _error(404, "not_found", f"no dentist {doctor_id} is on the rota")
    try:
        doctor = await rota.remove(str(doctor_id))
    except RotaError as error:  # removed meanwhile by someone else
        return _error(404, "not_found", str(error))
    await audit.record(context, "oncall.remove", subject=f"oncall:{doctor.id}")
    return DoctorOut(doctor=_doctor(doctor))
