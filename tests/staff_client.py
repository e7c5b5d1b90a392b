"""Staff on the served app: an account per role and a signed-in client for each.

    from tests.staff_client import staff_app_fixture  # noqa: F401

`staff_app` is the app on the test's database (both engines), with a `StaffDesk` that creates
accounts through the production `StaffAccounts` and signs in through `POST /api/v1/auth/login`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI

from serving.app import create_app
from serving.db.engine import Database
from serving.db.types import utcnow
from serving.staff.accounts import StaffAccounts
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "doctor", "receptionist")


@dataclass
class StaffDesk:
    app: FastAPI
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def accounts(self) -> StaffAccounts:
        accounts: StaffAccounts = self.app.state.staff_accounts
        return accounts

    async def account(self, role: str, *, email: str | None = None) -> str:
        """A new account with `role`; its e-mail."""
        address = email or f"{role}@staff.example"
        await self.accounts.create(
            email=address, name=f"{role.title()} Tester", role=role, password=PASSWORD
        )
        return address

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return await self.http.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )

    async def headers(self, role: str) -> dict[str, str]:
        """Bearer headers of a signed-in account with `role` (created on first use)."""
        if role not in self.tokens:
            response = await self.sign_in(await self.account(role))
            assert response.status_code == 200, response.text
            self.tokens[role] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(name="staff_app")
async def staff_app_fixture(database_url: str, database: Database) -> AsyncIterator[StaffDesk]:
    async with staff_desk(database_url, database) as desk:
        yield desk


@asynccontextmanager
async def staff_desk(
    database_url: str,
    database: Database,
    *,
    clock: Callable[[], datetime] = utcnow,
    **overrides: object,
) -> AsyncIterator[StaffDesk]:
    """The app on `database` with `overrides` of the test settings, and its staff desk."""
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY, **overrides)
    app = create_app(settings, database=database, clock=clock)
    async with running(app) as http:
        yield StaffDesk(app, http)
