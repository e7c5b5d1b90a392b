"""The `dental` command, run as an operator would: real settings from the environment, a real
SQLite file, and `dental serve` as a real server process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner, Result

from evals.bench.local_process import free_port
from serving import __version__, build_info
from serving.cli import app
from serving.db.engine import Database
from serving.db.migrate import head_revision
from serving.db.models import Provider
from serving.memory.neo4j_store import KEY_PROPERTY
from tests.bolt_server import BoltServer
from tests.test_neo4j_store import run_cypher

SERVE_TIMEOUT_SECONDS = 30


@pytest.fixture
def app_database_url(empty_database_url: str) -> str:
    return empty_database_url


@pytest.fixture
def operator_env(
    app_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The environment an operator would set; no stray `.env` from the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", app_database_url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.delenv("LOAD_DEMO_DATA", raising=False)
    yield


def dental(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def table_names(database_url: str) -> set[str]:
    async def inspect_tables() -> set[str]:
        database = Database(database_url)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        finally:
            await database.dispose()

    return asyncio.run(inspect_tables())


def provider_count(database_url: str) -> int:
    async def count() -> int:
        database = Database(database_url)
        try:
            async with database.transaction() as session:
                return int(await session.scalar(select(func.count()).select_from(Provider)) or 0)
        finally:
            await database.dispose()

    return asyncio.run(count())


def test_help_explains_the_product_and_its_commands() -> None:
    result = dental("--help")
    assert result.exit_code == 0
    assert "dental clinic" in result.output
    for command in ("serve", "db", "demo", "version"):
        assert command in result.output


def test_version_prints_the_recorded_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "_build_info.json"
    build_info.write_build_info(path, repo_dir=tmp_path, environ={"DENTAL_GIT_COMMIT": "9ab1c0de"})
    monkeypatch.setattr(build_info, "BUILD_INFO_PATH", path)

    text = dental("version")
    as_json = dental("version", "--json")

    assert text.exit_code == 0
    assert "9ab1c0de" in text.output and __version__ in text.output
    assert json.loads(as_json.output)["commit"] == "9ab1c0de"


@pytest.mark.usefixtures("operator_env")
def test_db_upgrade_creates_the_tables(app_database_url: str) -> None:
    result = dental("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert f"at revision {head_revision()}" in result.output
    assert "memory store (sql): prepared" in result.output
    assert {"alembic_version", "patients", "appointments", "invoices"} <= table_names(
        app_database_url
    )


@pytest.mark.usefixtures("operator_env")
def test_db_upgrade_prepares_the_memory_store(
    bolt_server: BoltServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Neo4j store's constraints come with the migration, not only at the app's start."""
    for label, key in KEY_PROPERTY.items():
        asyncio.run(run_cypher(bolt_server, f"DROP CONSTRAINT {label.lower()}_{key} IF EXISTS"))
    monkeypatch.setenv("MEMORY_BACKEND", "neo4j")
    monkeypatch.setenv("NEO4J_URI", bolt_server.uri)
    monkeypatch.setenv("NEO4J_USER", bolt_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", bolt_server.password)
    monkeypatch.setenv("NEO4J_DATABASE", bolt_server.database)

    result = dental("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "memory store (neo4j): prepared"
    constraints = asyncio.run(run_cypher(bolt_server, "SHOW CONSTRAINTS"))
    unique = {(c["labelsOrTypes"][0], c["properties"][0]) for c in constraints}
    assert unique == set(KEY_PROPERTY.items())


@pytest.mark.usefixtures("operator_env")
def test_db_upgrade_says_when_the_memory_store_cannot_be_prepared(
    app_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMORY_BACKEND", "neo4j")
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NEO4J_PASSWORD", "graph-secret-not-for-output")
    monkeypatch.setenv("NEO4J_TIMEOUT_SECONDS", "2")

    result = dental("db", "upgrade")

    assert result.exit_code == 1
    assert f"at revision {head_revision()} (newest)" in result.stdout  # the migration stands
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: the neo4j memory store cannot be prepared (neo4j prepare")
    assert "dental db upgrade" in line
    assert "graph-secret-not-for-output" not in result.output and "Traceback" not in result.output
    assert "patients" in table_names(app_database_url)

    monkeypatch.delenv("NEO4J_URI")
    missing = dental("db", "upgrade")
    assert missing.exit_code == 1
    assert "NEO4J_URI" in missing.stderr


@pytest.mark.usefixtures("operator_env")
def test_db_status_shows_pending_migrations_and_check_fails_on_them() -> None:
    pending = dental("db", "status")
    check = dental("db", "status", "--check")
    dental("db", "upgrade")
    current = dental("db", "status", "--check")

    assert pending.exit_code == 0 and "dental db upgrade" in pending.output
    assert check.exit_code == 1
    assert current.exit_code == 0 and "up to date" in current.output


@pytest.mark.usefixtures("operator_env")
def test_demo_load_migrates_then_loads_only_into_an_empty_database(app_database_url: str) -> None:
    first = dental("demo", "load")
    second = dental("demo", "load")

    assert first.exit_code == 0, first.output
    assert "loaded the demo clinic" in first.output
    assert second.exit_code == 0
    assert "already has clinic data" in second.output
    assert provider_count(app_database_url) == 3


@pytest.mark.usefixtures("operator_env")
def test_demo_load_refuses_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    result = dental("demo", "load")
    assert result.exit_code == 1
    assert "production" in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("operator_env")
def test_an_unreachable_database_is_one_clear_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql+asyncpg://clinic:s3cret-pw@127.0.0.1:{free_port()}/clinic"
    monkeypatch.setenv("DATABASE_URL", url)

    result = dental("db", "upgrade")

    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: cannot use the database at postgresql+asyncpg://clinic:***@")
    assert "s3cret-pw" not in result.output


@pytest.mark.usefixtures("operator_env")
def test_an_unsupported_database_url_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://clinic:s3cret-pw@db/clinic")
    result = dental("db", "status")
    assert result.exit_code == 1
    assert "not a database URL this app supports" in result.output
    assert "s3cret-pw" not in result.output


@pytest.mark.usefixtures("operator_env")
def test_an_invalid_setting_names_the_variable_not_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "eighty")
    result = dental("db", "status")
    assert result.exit_code == 1
    assert "PORT" in result.output and "eighty" not in result.output


def test_serve_runs_a_real_server(app_database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": app_database_url,
        "PORT": str(port),  # through settings, not --port: containers set PORT
        "ENVIRONMENT": "test",
    }
    env.pop("LOAD_DEMO_DATA", None)
    entry_point = Path(sys.executable).with_name("dental")
    command = [str(entry_point)] if entry_point.exists() else [sys.executable, "-m", "serving.cli"]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, "serve"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            health = _wait_until_up(server, f"{base}/health", log_path)
            version = httpx.get(f"{base}/api/version", timeout=5)
            ready = httpx.get(f"{base}/ready", timeout=5)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)

    assert health.json() == {"status": "ok"}
    assert version.status_code == 200
    assert version.json()["version"] == __version__
    assert ready.status_code == 200, "serve migrates the database first by default"
    access = [
        json.loads(line)
        for line in log_path.read_text().splitlines()
        if line.startswith("{") and '"serving.access"' in line
    ]
    assert {entry["route"] for entry in access} >= {"/health", "/api/version", "/ready"}


def _wait_until_up(server: subprocess.Popen[bytes], url: str, log_path: Path) -> httpx.Response:
    deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dental serve exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            response = httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return response
    pytest.fail(f"dental serve did not answer {url} within {SERVE_TIMEOUT_SECONDS} s")


def test_dental_and_the_server_load_no_evaluation_or_flow_code() -> None:
    """`dental --help` and the app import `evals` and `flows` only inside the commands that run
    them (the import-linter contract names those imports; this checks they stay lazy)."""
    probe = (
        "import sys\n"
        "import serving.app, serving.cli\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(serving.cli.app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted({name.partition('.')[0] for name in sys.modules} & {'evals', 'flows'}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
