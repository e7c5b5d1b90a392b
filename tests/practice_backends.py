"""The practice backends the contract suite (tests/test_practice_contract.py) runs on, each
holding the demo clinic, behind one fixture: `practice`.

- "builtin-sqlite", "builtin-postgresql": the built-in backend on a copy of the demo database.
- "odoo-16" … "odoo-19": the Odoo backend on the wire-level stand-in (tests/odoo_stand_in)
  of that version, seeded through `serving.practice.odoo.seed` once per session and restored
  to that state before each test. The app database plays no part, so they run once.
- "odoo-real": the Odoo backend on a real Odoo, only when ODOO_TEST_URL, ODOO_TEST_DB,
  ODOO_TEST_USER and ODOO_TEST_API_KEY are set (docs/ODOO.md). With ODOO_TEST_ADMIN_LOGIN and
  ODOO_TEST_ADMIN_PASSWORD the demo clinic is seeded there first (idempotently) and the tests
  that change the clinic's set-up run too; without, the demo must be there already. Whatever a
  test creates there is removed after it.

Import the fixtures into a test module (`from tests.practice_backends import
odoo_stand_ins_fixture, practice_fixture  # noqa: F401`). Every backend runs on the same
clock: 10:00 today in the clinic, running on, so the slots offered do not depend on the hour
the tests run at. Run on the real Odoo, the suite ends with the calls it made there and their
latency (`real_odoo_figures`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from serving.db import models as db
from serving.db.engine import Database
from serving.demo.loader import DEMO_FILE
from serving.practice.backend import PracticeBackend
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.factory import booking_rules_from_settings
from serving.practice.odoo.backend import OdooPracticeBackend
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.connection import OdooAddress, OdooConnection
from serving.practice.odoo.records import odoo_datetime
from serving.practice.odoo.seed import seed_demo_clinic
from tests.clinic_time import CLINIC_TZ, today, today_from
from tests.conftest import demo_database_copy, make_settings
from tests.odoo_stand_in import OdooStandIn, running_odoo
from tests.postgres_copies import PostgresCopies

CLOCK_HOUR = 10
REAL_ODOO_VARIABLES = ("ODOO_TEST_URL", "ODOO_TEST_DB", "ODOO_TEST_USER", "ODOO_TEST_API_KEY")
STAND_IN_VERSIONS = ("16.0", "17.0", "18.0", "19.0")


def real_odoo_configured() -> bool:
    return all(os.environ.get(name) for name in REAL_ODOO_VARIABLES)


KINDS = [
    "builtin-sqlite",
    "builtin-postgresql",
    *(f"odoo-{v.split('.')[0]}" for v in STAND_IN_VERSIONS),
    *(["odoo-real"] if real_odoo_configured() else []),
]


@dataclass(frozen=True)
class Call:
    model: str
    method: str
    outcome: str
    seconds: float


REAL_ODOO_CALLS: list[Call] = []
"""Every call the suite made to the real Odoo, for `real_odoo_figures`."""


def real_odoo_figures() -> list[str]:
    """Calls to the real Odoo and their latency (p50, p95), each model.method and in all."""
    if not REAL_ODOO_CALLS:
        return []
    by_call: dict[str, list[float]] = {}
    for call in REAL_ODOO_CALLS:
        by_call.setdefault(f"{call.model}.{call.method}", []).append(call.seconds)
    rows = [("all calls", [c.seconds for c in REAL_ODOO_CALLS]), *sorted(by_call.items())]
    failed = sum(1 for call in REAL_ODOO_CALLS if call.outcome != "ok")
    lines = [f"{len(REAL_ODOO_CALLS)} calls to the real Odoo, {failed} refused or failed"]
    for name, seconds in rows:
        ordered = sorted(seconds)
        p50 = ordered[len(ordered) // 2] * 1000
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000
        lines.append(f"{name:45} {len(ordered):5}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    return lines


@dataclass
class Practice:
    """A backend under test, and what a test needs to arrange the clinic behind it."""

    kind: str
    backend: PracticeBackend
    now: Callable[[], datetime]

    @property
    def is_odoo(self) -> bool:
        return self.kind.startswith("odoo")

    def with_settings(self, **overrides: object) -> PracticeBackend:
        """Another backend on the same clinic, with other settings (booking rules)."""
        raise NotImplementedError

    async def appointment_count(self) -> int:
        """Every appointment stored, cancelled ones included."""
        raise NotImplementedError

    async def close_day(self, day: date, reason: str) -> None:
        """Close the whole clinic on a day (a closure; in Odoo, a company-wide leave)."""
        raise NotImplementedError

    async def rename_provider(self, provider_id: int, name: str) -> None:
        raise NotImplementedError


@dataclass
class BuiltinPractice(Practice):
    database: Database
    database_url: str

    def with_settings(self, **overrides: object) -> PracticeBackend:
        settings = make_settings(self.database_url, **overrides)
        return BuiltinPracticeBackend(
            self.database,
            booking_rules_from_settings(settings),
            clock=self.now,
            setup_cache_seconds=settings.clinic_setup_cache_seconds,
        )

    async def appointment_count(self) -> int:
        async with self.database.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(db.Appointment)) or 0)

    async def close_day(self, day: date, reason: str) -> None:
        async with self.database.transaction() as session:
            session.add(db.ClinicClosure(day=day, reason=reason))

    async def rename_provider(self, provider_id: int, name: str) -> None:
        async with self.database.transaction() as session:
            await session.execute(
                update(db.Provider).where(db.Provider.id == provider_id).values(name=name)
            )


@dataclass
class OdooPractice(Practice):
    address: OdooAddress
    reader: OdooConnection
    """The API user's own connection, for the test's reads."""
    admin: OdooConnection | None
    """An administrator's connection, for changes to the clinic's set-up (None: not given)."""
    stand_in: OdooStandIn | None = None
    """The stand-in serving it (None: a real Odoo), for fault injection."""
    calls: list[Call] = field(default_factory=list)
    """Every call the backends of this test made to Odoo."""
    undo: list[Callable[[], object]] = field(default_factory=list)
    """What puts back the set-up a test changed (run after it)."""

    def with_settings(self, **overrides: object) -> PracticeBackend:
        return odoo_backend(odoo_client(self.address, self.calls), self.now, **overrides)

    async def appointment_count(self) -> int:
        return int(
            self.reader.call(
                "calendar.event", "search_count", [[]], {"context": {"active_test": False}}
            )
        )

    async def close_day(self, day: date, reason: str) -> None:
        start = datetime.combine(day, time.min, CLINIC_TZ)
        self._admin().call(
            "resource.calendar.leaves",
            "create",
            [
                {
                    "name": reason,
                    "calendar_id": False,
                    "resource_id": False,
                    "date_from": odoo_datetime(start),
                    "date_to": odoo_datetime(start + timedelta(days=1, seconds=-1)),
                    "time_type": "leave",
                }
            ],
        )

    async def rename_provider(self, provider_id: int, name: str) -> None:
        admin = self._admin()
        [user] = admin.call("res.users", "read", [[provider_id]], {"fields": ["name"]})
        admin.call("res.users", "write", [[provider_id], {"name": name}])
        self.undo.append(
            lambda: admin.call("res.users", "write", [[provider_id], {"name": user["name"]}])
        )

    def _admin(self) -> OdooConnection:
        if self.admin is None:
            pytest.skip("changes the clinic's set-up: needs ODOO_TEST_ADMIN_LOGIN/_PASSWORD")
        return self.admin


def odoo_client(address: OdooAddress, calls: list[Call]) -> OdooClient:
    """A client that notes every call in `calls`."""

    def count(model: str, method: str, outcome: str, seconds: float) -> None:
        calls.append(Call(model, method, outcome, seconds))

    return OdooClient(address, timeout=10, connections=4, on_call=count)


def odoo_practice(
    kind: str,
    clock: Callable[[], datetime],
    address: OdooAddress,
    reader: OdooConnection,
    admin: OdooConnection | None,
    stand_in: OdooStandIn | None = None,
) -> OdooPractice:
    calls = REAL_ODOO_CALLS if kind == "odoo-real" else []
    backend = odoo_backend(odoo_client(address, calls), clock)
    return OdooPractice(
        kind,
        backend,
        clock,
        address=address,
        reader=reader,
        admin=admin,
        stand_in=stand_in,
        calls=calls,
    )


def odoo_backend(
    client: OdooClient, clock: Callable[[], datetime], **overrides: object
) -> OdooPracticeBackend:
    settings = make_settings("sqlite+aiosqlite://", practice_backend="odoo", **overrides)
    return OdooPracticeBackend(
        client,
        booking_rules_from_settings(settings),
        clock=clock,
        cache_seconds=settings.odoo_cache_seconds,
        default_duration_minutes=settings.odoo_default_duration_minutes,
    )


def demo_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(DEMO_FILE).read_text(encoding="utf-8"))
    return data


# --- the real Odoo ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RealOdoo:
    address: OdooAddress
    admin: OdooAddress | None


@functools.cache
def real_odoo() -> RealOdoo:
    """The real Odoo of ODOO_TEST_*, with the demo clinic in it (seeded once a session)."""
    url, database, login, key = (os.environ[name] for name in REAL_ODOO_VARIABLES)
    address = OdooAddress(url=url, database=database, login=login, api_key=key)
    admin = None
    if os.environ.get("ODOO_TEST_ADMIN_LOGIN") and os.environ.get("ODOO_TEST_ADMIN_PASSWORD"):
        admin = OdooAddress(
            url=url,
            database=database,
            login=os.environ["ODOO_TEST_ADMIN_LOGIN"],
            api_key=os.environ["ODOO_TEST_ADMIN_PASSWORD"],
        )
        seed_demo_clinic(OdooConnection(admin, timeout=60), demo_data(), today=today())
    reader = OdooConnection(address, timeout=30)
    if not reader.call("res.partner", "search_count", [[("email", "=", "dana.levi@example.com")]]):
        pytest.fail(
            "the real Odoo has no demo clinic: run `dental odoo seed-demo` against it, or set "
            "ODOO_TEST_ADMIN_LOGIN and ODOO_TEST_ADMIN_PASSWORD so the tests seed it",
            pytrace=False,
        )
    return RealOdoo(address=address, admin=admin)


def _highest_ids(connection: OdooConnection) -> dict[str, int]:
    """The newest record of each model a test may add to (to remove what it added)."""
    highest = {}
    for model in ("calendar.event", "mail.message", "resource.calendar.leaves"):
        rows = connection.call(
            model,
            "search_read",
            [[]],
            {"fields": ["id"], "order": "id desc", "limit": 1, "context": {"active_test": False}},
        )
        highest[model] = rows[0]["id"] if rows else 0
    return highest


def _remove_added(
    reader: OdooConnection, admin: OdooConnection | None, before: dict[str, int]
) -> None:
    for model, highest in before.items():
        connection = admin if admin is not None else reader
        domain: list[Any] = [("id", ">", highest)]
        if model == "mail.message":
            domain.append(("model", "=", "res.partner"))
        ids = [
            row["id"]
            for row in connection.call(
                model,
                "search_read",
                [domain],
                {"fields": ["id"], "context": {"active_test": False}},
            )
        ]
        if ids:
            connection.call(model, "unlink", [ids])


# --- the stand-ins ----------------------------------------------------------------------------


class SeededStandIns:
    """One stand-in per Odoo version, started and seeded with the demo clinic at first use."""

    def __init__(self) -> None:
        self._servers = ExitStack()
        self._seeded: dict[str, tuple[OdooStandIn, Any]] = {}

    def demo(self, version: str) -> OdooStandIn:
        """The stand-in of `version` holding the demo clinic as seeded, nothing else."""
        if version not in self._seeded:
            stand_in = self._servers.enter_context(running_odoo(version))
            seed_demo_clinic(
                OdooConnection(admin_address(stand_in), timeout=30), demo_data(), today=today()
            )
            self._seeded[version] = (stand_in, stand_in.snapshot())
        stand_in, state = self._seeded[version]
        stand_in.restore(state)
        return stand_in

    def close(self) -> None:
        self._servers.close()


def api_address(stand_in: OdooStandIn) -> OdooAddress:
    return OdooAddress(
        url=stand_in.url,
        database=stand_in.database,
        login=stand_in.api_login,
        api_key=stand_in.api_key,
    )


def admin_address(stand_in: OdooStandIn) -> OdooAddress:
    return OdooAddress(
        url=stand_in.url,
        database=stand_in.database,
        login=stand_in.admin_login,
        api_key=stand_in.admin_password,
    )


@pytest.fixture(name="odoo_stand_ins", scope="session")
def odoo_stand_ins_fixture() -> Iterator[SeededStandIns]:
    stand_ins = SeededStandIns()
    yield stand_ins
    stand_ins.close()


# --- the fixture ------------------------------------------------------------------------------


@pytest.fixture(name="practice", params=KINDS)
async def practice_fixture(
    request: pytest.FixtureRequest,
    demo_templates: dict[str, str],
    postgres_copies: PostgresCopies,
    odoo_stand_ins: SeededStandIns,
    tmp_path: Path,
) -> AsyncIterator[Practice]:
    kind: str = request.param
    clock = today_from(CLOCK_HOUR)
    if kind.startswith("builtin-"):
        engine = kind.removeprefix("builtin-")
        async with demo_database_copy(engine, demo_templates, postgres_copies, tmp_path) as url:
            database = Database(url)
            try:
                backend = BuiltinPracticeBackend(
                    database, booking_rules_from_settings(make_settings(url)), clock=clock
                )
                yield BuiltinPractice(kind, backend, clock, database=database, database_url=url)
            finally:
                await database.dispose()
        return
    if kind == "odoo-real":
        real = real_odoo()
        reader = OdooConnection(real.address, timeout=30)
        admin = OdooConnection(real.admin, timeout=30) if real.admin else None
        before = _highest_ids(reader)
        practice = odoo_practice(kind, clock, real.address, reader, admin)
        try:
            yield practice
        finally:
            for undo in reversed(practice.undo):
                undo()
            _remove_added(reader, admin, before)
        return
    stand_in = odoo_stand_ins.demo(f"{kind.removeprefix('odoo-')}.0")
    yield odoo_practice(
        kind,
        clock,
        api_address(stand_in),
        OdooConnection(api_address(stand_in), timeout=10),
        OdooConnection(admin_address(stand_in), timeout=10),
        stand_in=stand_in,
    )
