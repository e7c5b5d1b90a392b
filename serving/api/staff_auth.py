"""Staff sign-in (`/api/v1/auth/...`) and the one dependency every staff route declares:
`require(permission)`, which checks the bearer token and the caller's role and hands the route
an `AuditContext` (who, from where, why) to record what it reads or changes.

`Authorization: Bearer <access token>` on every staff call. The refresh token is an HttpOnly,
SameSite=Strict cookie scoped to `/api/v1/auth`, so page scripts never see it. The private
doctor links (`/doctor/<token>`) are a separate credential and never accept staff tokens.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from serving.api.deps import staff_accounts, staff_sessions
from serving.ratelimit import RateKey, RateLimiter
from serving.staff.accounts import LoginRefused
from serving.staff.audit import MAX_REASON, AuditContext
from serving.staff.roles import GRANTS, Permission
from serving.staff.sessions import SessionTokens, StaffPrincipal

router = APIRouter(prefix="/api/v1/auth", tags=["staff"])

REFRESH_COOKIE = "dental_staff_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"
REASON_HEADER = "X-Access-Reason"


class StaffRefused(Exception):
    """401 (no valid token) or 403 (the role may not); answered as JSON with the reason."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


async def staff_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StaffRefused)
    headers = {"WWW-Authenticate": 'Bearer realm="staff"'} if exc.status == 401 else None
    return JSONResponse(
        {"error": exc.code, "message": str(exc)}, status_code=exc.status, headers=headers
    )


def client_address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


class StaffAccess:
    """The dependency of a staff route that needs `permission` (see serving.staff.roles).
    Routes declare it as `Annotated[AuditContext, Depends(require("..."))]`; the role-matrix
    test finds every staff route's permission through `permission`."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(
        self,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_access_reason: Annotated[str | None, Header(max_length=MAX_REASON)] = None,
    ) -> AuditContext:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise StaffRefused(401, "unauthorized", "sign in: a staff bearer token is required")
        principal = await staff_sessions(request).principal(token.strip())
        if principal is None:
            raise StaffRefused(401, "unauthorized", "the token is not valid or has expired")
        if not principal.may(self.permission):
            raise StaffRefused(
                403, "forbidden", f"the {principal.role} role may not use {self.permission}"
            )
        request.state.staff = principal
        return AuditContext(principal, client_address(request), x_access_reason)


def require(permission: Permission) -> StaffAccess:
    return StaffAccess(permission)


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_in: int
    """Seconds the access token is valid; refresh before then (`POST /api/v1/auth/refresh`)."""


class MeOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    permissions: list[str]


def _tokens_response(request: Request, tokens: SessionTokens) -> JSONResponse:
    response = JSONResponse(
        TokenOut(
            access_token=tokens.access_token,
            expires_in=int(tokens.access_expires_in.total_seconds()),
        ).model_dump()
    )
    response.set_cookie(
        REFRESH_COOKIE,
        tokens.refresh_token,
        max_age=int(tokens.refresh_expires_in.total_seconds()),
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https"
        or str(request.app.state.settings.public_base_url).startswith("https"),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/login", response_model=TokenOut)
async def login(body: LoginIn, request: Request) -> Response:
    """Sign in with e-mail and password. 401 for a wrong e-mail or password (not told apart);
    429 with Retry-After while the account is locked after repeated failures, or while this
    address has made too many attempts (`STAFF_LOGINS_PER_ADDRESS`)."""
    address = client_address(request)
    limiter: RateLimiter = request.app.state.staff_login_limiter
    if address is not None and (refusal := await limiter.hit([RateKey.address(address)])):
        return JSONResponse(
            {
                "error": "rate_limited",
                "message": f"too many sign-in attempts: try again in {refusal.retry_after} s",
            },
            status_code=429,
            headers={"Retry-After": str(refusal.retry_after)},
        )
    try:
        account = await staff_accounts(request).authenticate(body.email, body.password)
    except LoginRefused as refused:
        if refused.locked_for is not None:
            seconds = max(1, int(refused.locked_for.total_seconds()))
            return JSONResponse(
                {
                    "error": "account_locked",
                    "message": "too many wrong passwords: the account is locked for "
                    f"{(seconds + 59) // 60} min",
                },
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
        return JSONResponse(
            {"error": "login_failed", "message": "wrong e-mail or password"}, status_code=401
        )
    tokens = await staff_sessions(request).start(account, client_address=address)
    return _tokens_response(request, tokens)


@router.post("/refresh", response_model=TokenOut)
async def refresh(request: Request) -> Response:
    """New tokens for the refresh cookie; 401 when it is missing, expired or signed out."""
    token = request.cookies.get(REFRESH_COOKIE)
    tokens = await staff_sessions(request).refresh(token) if token else None
    if tokens is None:
        response = JSONResponse(
            {"error": "unauthorized", "message": "sign in again"}, status_code=401
        )
        response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH)
        return response
    return _tokens_response(request, tokens)


@router.post("/logout", status_code=204)
async def logout(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Sign out: the session of the bearer token, or of the refresh cookie, ends at once."""
    sessions = staff_sessions(request)
    scheme, _, token = (authorization or "").partition(" ")
    principal = await sessions.principal(token.strip()) if scheme.lower() == "bearer" else None
    if principal is not None:
        await sessions.end(session_id=principal.session_id)
    elif (cookie := request.cookies.get(REFRESH_COOKIE)) is not None:
        await sessions.end(refresh_token=cookie)
    response = Response(status_code=204)
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH)
    return response


@router.get("/me", response_model=MeOut)
async def me(
    context: Annotated[AuditContext, Depends(require("conversations"))],
) -> MeOut:
    """Who the token belongs to and what their role may do (the dashboard shows its menus)."""
    principal: StaffPrincipal = context.principal
    return MeOut(
        id=principal.user_id,
        email=principal.email,
        name=principal.name,
        role=principal.role,
        permissions=sorted(GRANTS[principal.role]),
    )
