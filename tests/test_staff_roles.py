"""Every staff route × every role: the role table of serving/staff/roles.py, enforced.

The routes are found in the app itself (each declares `require(permission)`), so a route added
later is in the matrix without editing this file, and a route under the staff prefixes without
a permission fails it. Requests carry ids that do not exist and no body: an allowed role gets
past the check (a 404/422 or a real answer), a refused one gets 403, nobody signed in 401 —
and nothing is changed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from serving.api.staff_auth import StaffAccess
from serving.staff.roles import GRANTS, ROLES
from tests.asgi import served
from tests.staff_client import StaffDesk, staff_app_fixture  # noqa: F401

STAFF_PREFIXES = ("/api/v1/admin/", "/staff/api/")
UNKNOWN_ID = "999999"


@pytest.fixture
def db_backend() -> str:
    """Role checks read only the session and account rows: one engine proves them."""
    return "sqlite"


def staff_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, permission) of every route that declares a staff permission."""
    found = []
    for prefix, route in _api_routes(app.router.routes, ""):
        path = prefix + route.path
        permissions = {
            dependency.call.permission
            for dependency in _all_dependencies(route.dependant)
            if isinstance(dependency.call, StaffAccess)
        }
        if path.startswith(STAFF_PREFIXES):
            assert len(permissions) == 1, f"{path} must declare exactly one permission"
        for method in sorted(route.methods or ()):
            found.extend((method, path, permission) for permission in permissions)
    return found


def _api_routes(routes: Sequence[object], prefix: str) -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with the prefix it is served under, through included routers (this
    FastAPI keeps an included router as a wrapper around the original)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        elif (router := getattr(route, "original_router", None)) is not None:
            context = getattr(route, "include_context", None)
            yield from _api_routes(router.routes, prefix + getattr(context, "prefix", ""))


def _all_dependencies(dependant: object) -> list[object]:
    out: list[object] = []
    for dependency in getattr(dependant, "dependencies", []):
        out.append(dependency)
        out.extend(_all_dependencies(dependency))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", UNKNOWN_ID, path)


async def status_of(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> int:
    """The status only: an event stream is closed as soon as its headers arrive."""
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    async with http.stream(method, concrete(path), headers=headers, json=body) as response:
        return response.status_code


@pytest.fixture
async def live(staff_app: StaffDesk) -> AsyncIterator[tuple[StaffDesk, httpx.AsyncClient]]:
    async with served(staff_app.app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield staff_app, http


async def test_every_staff_route_enforces_the_role_table(
    live: tuple[StaffDesk, httpx.AsyncClient],
) -> None:
    desk, http = live
    routes = staff_routes(desk.app)
    assert {permission for _, _, permission in routes} >= {"conversations"}
    headers = {role: await desk.headers(role) for role in ROLES}
    mismatches = []
    for method, path, permission in routes:
        anonymous = await status_of(http, method, path, {})
        if anonymous != 401:
            mismatches.append(f"anonymous {method} {path}: {anonymous}")
        for role in ROLES:
            status = await status_of(http, method, path, headers[role])
            allowed = permission in GRANTS[role]
            if allowed and status in {401, 403}:
                mismatches.append(f"{role} {method} {path} ({permission}): refused {status}")
            if not allowed and status != 403:
                mismatches.append(f"{role} {method} {path} ({permission}): got {status}")
    assert not mismatches, "\n".join(mismatches)


async def test_every_route_under_the_staff_prefix_declares_a_permission(
    staff_app: StaffDesk,
) -> None:
    guarded = {path for _, path, _ in staff_routes(staff_app.app)}
    assert "/api/v1/auth/me" in guarded
    for prefix, route in _api_routes(staff_app.app.router.routes, ""):
        if (prefix + route.path).startswith(STAFF_PREFIXES):
            assert prefix + route.path in guarded
