"""Shared fixtures: every database test runs on SQLite and on this machine's PostgreSQL.

PostgreSQL is not optional: if it is unreachable the tests that need it fail with a clear
message (CI must never silently skip it). Each test gets its own database, copied from a
template that is migrated and loaded with the demo clinic once per session.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.demo import load_demo_clinic
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.factory import booking_rules_from_settings
from serving.settings import Settings
from tests.postgres_copies import PostgresCopies

pytest_plugins = ["tests.memory_stores"]
"""Fixtures every test module can ask for without importing them."""

HELDOUT_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "heldout.jsonl"
"""A dozen plain held-out-shaped messages (both languages, every urgency) for the tests of the
machinery: loading, slicing, reporting, gating, promotion. Not a measure: the real held-out
set is data/heldout/messages.jsonl, which tests never assert message by message."""
HELDOUT_BOOKINGS_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "heldout_bookings.jsonl"
"""Eight plain held-out-shaped booking requests (both languages, book and reschedule, one that
cannot be met, one naming a provider the clinic lacks), written for the tests of the machinery.
Not a measure: the real set is data/heldout/booking_requests.jsonl."""
DB_BACKENDS = ["sqlite", "postgresql"]
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
RUN_ID = uuid.uuid4().hex[:8]
TEST_DATABASE_PREFIX = f"dental_test_{RUN_ID}_"


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(_dsn(POSTGRES_URL), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()} is unreachable "
            f"({type(exc).__name__}: {exc}). Database tests run on SQLite AND PostgreSQL; "
            "start it (see .ci/run) or point TEST_POSTGRES_URL at one.",
            pytrace=False,
        )


async def _create_pg_database(name: str, template: str | None = None) -> str:
    admin = await _admin()
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await admin.close()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(name: str) -> None:
    admin = await _admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings: no `.env`, no secrets backends, the given database."""
    values: dict[str, object] = {"environment": "test", **overrides}
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        **values,
    )


@pytest.fixture(autouse=True)
def _session_logging() -> Iterator[None]:
    """Each test starts from the session's logging set-up. A command run in-process (typer's
    CliRunner) configures logging for the whole process, and later tests' CLI output would
    otherwise carry its log lines."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(params=DB_BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def empty_database_url(
    db_backend: str, postgres_copies: PostgresCopies, tmp_path: Path
) -> AsyncIterator[str]:
    """A brand-new, unmigrated database of the parametrized backend."""
    if db_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    url = await _create_pg_database(f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:8]}")
    yield url
    postgres_copies.drop(url)


@pytest.fixture(scope="session")
async def demo_templates(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, str]]:
    """Per backend: a database migrated and loaded with the demo clinic, to copy per test."""
    sqlite_path = tmp_path_factory.mktemp("template") / "demo.db"
    sqlite_url = f"sqlite+aiosqlite:///{sqlite_path}"
    pg_name = f"dental_tmpl_{RUN_ID}"
    templates = {"sqlite": sqlite_url, "postgresql": ""}
    for backend, url in (("sqlite", sqlite_url), ("postgresql", None)):
        if url is None:
            url = await _create_pg_database(pg_name)
            templates[backend] = url
        database = Database(url)
        await upgrade_database(database.engine)
        await load_demo_clinic(database, make_settings(url))
        await database.dispose()
    yield templates
    await _drop_pg_database(pg_name)


@pytest.fixture(scope="session")
def postgres_copies(demo_templates: dict[str, str]) -> Iterator[PostgresCopies]:
    """The tests' PostgreSQL databases: copies of the demo template made ahead of the tests,
    and any test database dropped behind them (tests/postgres_copies.py)."""
    template = make_url(demo_templates["postgresql"]).database
    assert template is not None
    copies = PostgresCopies(POSTGRES_URL, template, TEST_DATABASE_PREFIX)
    yield copies
    copies.close()


@asynccontextmanager
async def demo_database_copy(
    engine: str, demo_templates: dict[str, str], postgres_copies: PostgresCopies, tmp_path: Path
) -> AsyncIterator[str]:
    """A fresh copy of the migrated demo clinic on `engine` ("sqlite" or "postgresql")."""
    if engine == "sqlite":
        source = make_url(demo_templates["sqlite"]).database
        assert source is not None
        target = tmp_path / "app.db"
        shutil.copyfile(source, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    url = await postgres_copies.take()
    try:
        yield url
    finally:
        postgres_copies.drop(url)


@pytest.fixture
async def database_url(
    db_backend: str,
    demo_templates: dict[str, str],
    postgres_copies: PostgresCopies,
    tmp_path: Path,
) -> AsyncIterator[str]:
    """A fresh copy of the migrated demo clinic on the parametrized backend."""
    async with demo_database_copy(db_backend, demo_templates, postgres_copies, tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def backend(database: Database, settings: Settings) -> BuiltinPracticeBackend:
    return BuiltinPracticeBackend(database, booking_rules_from_settings(settings))


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A temporary Prefect server for flow tests (SQLite in a temp dir, no UI, no telemetry),
    shared by the session because it takes 10-15 s to start; yields its API URL.

    `prefect_test_harness` points this process's Prefect settings at it; PREFECT_API_URL is
    also exported so that child processes (`prefect deploy`, the `dental` CLI) use it too.
    """
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as patch:
        # Read by the server process at start-up: a test run must not phone home.
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with prefect_test_harness(server_startup_timeout=120):
            from prefect.settings import PREFECT_API_URL

            url = str(PREFECT_API_URL.value())
            patch.setenv("PREFECT_API_URL", url)
            yield url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many database tests ran on each engine, so a run proves both were exercised."""
    counts = {backend: {"passed": 0, "failed": 0} for backend in DB_BACKENDS}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome != "error":
                continue
            for backend in DB_BACKENDS:
                if f"[{backend}" in report.nodeid or f"-{backend}" in report.nodeid:
                    counts[backend]["passed" if outcome == "passed" else "failed"] += 1
    line = ", ".join(f"{b}: {c['passed']} passed, {c['failed']} failed" for b, c in counts.items())
    terminalreporter.write_sep("-", f"database tests by engine — {line}")
    # The contract suite's figures on a real Odoo (tests/practice_backends.py), when it ran there.
    practice_backends = sys.modules.get("tests.practice_backends")
    if practice_backends is not None:
        for figure in practice_backends.real_odoo_figures():
            terminalreporter.write_line(figure)
