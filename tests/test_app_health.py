"""The app's operational surface: probes, version, OpenAPI, errors and its lifespan."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evals.bench.local_process import free_port
from serving import __version__, build_info
from serving.app import DatabaseNotMigrated, create_app
from serving.bundle.load import load_bundle
from serving.db import models
from serving.db.engine import Database
from serving.db.migrate import head_revision, upgrade_database
from serving.settings import Settings
from tests.asgi import running


@pytest.fixture
def app_database_url(empty_database_url: str) -> str:
    """A new, unmigrated database of each backend for the app under test."""
    return empty_database_url


@pytest.fixture
def app_settings(app_database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=app_database_url,
        environment="test",
    )


async def test_health_answers_while_the_process_runs(app_settings: Settings) -> None:
    async with running(create_app(app_settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_is_503_before_migrations_and_200_after(
    app_settings: Settings, app_database_url: str
) -> None:
    database = Database(app_database_url)
    try:
        async with running(create_app(app_settings, database=database)) as client:
            before = await client.get("/ready")
            await upgrade_database(database.engine)
            after = await client.get("/ready")
    finally:
        await database.dispose()

    assert before.status_code == 503
    assert before.json() == {
        "status": "not_ready",
        "database": "ok",
        "migrations": {"current": None, "head": head_revision()},
        "failed": ["migrations"],
    }
    assert after.status_code == 200
    assert after.json() == {
        "status": "ready",
        "database": "ok",
        "migrations": {"current": head_revision(), "head": head_revision()},
        "failed": [],
    }


async def test_ready_is_503_when_the_database_is_unreachable_and_hides_its_url() -> None:
    url = f"postgresql+asyncpg://clinic:s3cret-pw@127.0.0.1:{free_port()}/clinic"
    settings = Settings(_env_file=None, database_url=url, environment="test")
    async with running(create_app(settings)) as client:
        response = await client.get("/ready")
        health = await client.get("/health")

    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready",
        "database": "unavailable",
        "migrations": None,
        "failed": ["database"],
    }
    assert "s3cret-pw" not in response.text and "127.0.0.1" not in response.text
    assert health.status_code == 200, "liveness must not depend on the database"


async def test_version_reports_the_recorded_build(
    app_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = build_info.write_build_info(
        tmp_path / "_build_info.json",
        repo_dir=tmp_path,  # not a git checkout: the commit comes from the build argument
        environ={"DENTAL_GIT_COMMIT": "4f2c9e1d"},
    )
    monkeypatch.setattr(build_info, "BUILD_INFO_PATH", tmp_path / "_build_info.json")

    async with running(create_app(app_settings)) as client:
        response = await client.get("/api/version")

    assert response.status_code == 200
    assert response.json() == {
        "app": "dental-clinic-ai",
        "version": __version__,
        "commit": "4f2c9e1d",
        "build_time": recorded.build_time,
        "bundle": load_bundle(app_settings.bundle_path).version,
    }


async def test_openapi_describes_the_service(app_settings: Settings) -> None:
    async with running(create_app(app_settings)) as client:
        schema = (await client.get("/openapi.json")).json()
    assert schema["info"]["title"] == "dental-clinic-ai"
    assert schema["info"]["version"] == __version__
    assert "dental clinic" in schema["info"]["description"]
    assert {"/health", "/ready", "/api/version", "/metrics"} <= set(schema["paths"])


async def test_unhandled_errors_answer_500_json_without_details(app_settings: Settings) -> None:
    app = create_app(app_settings)

    @app.get("/api/v1/explode")
    async def explode() -> None:
        raise RuntimeError("patient +972501234567 broke SELECT * FROM patients")

    async with running(app) as client:
        response = await client.get("/api/v1/explode")

    request_id = response.headers["X-Request-ID"]
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "request_id": request_id}
    assert "972501234567" not in response.text and "SELECT" not in response.text


async def test_a_database_passed_in_is_left_open_for_its_owner(
    app_settings: Settings, app_database_url: str
) -> None:
    database = Database(app_database_url)
    try:
        async with running(create_app(app_settings, database=database)) as client:
            assert (await client.get("/health")).status_code == 200
        await database.ping()  # still usable after the app shut down
    finally:
        await database.dispose()


async def test_demo_clinic_is_loaded_at_start_up_when_asked(
    app_settings: Settings, app_database_url: str
) -> None:
    database = Database(app_database_url)
    try:
        await upgrade_database(database.engine)
        settings = app_settings.model_copy(update={"load_demo_data": True})
        async with running(create_app(settings, database=database)) as client:
            assert (await client.get("/ready")).status_code == 200
        async with database.transaction() as session:
            providers = await session.scalar(select(func.count()).select_from(models.Provider))
    finally:
        await database.dispose()
    assert providers


async def test_demo_clinic_is_refused_on_an_unmigrated_database(app_settings: Settings) -> None:
    settings = app_settings.model_copy(update={"load_demo_data": True})
    app = create_app(settings)
    with pytest.raises(DatabaseNotMigrated, match="dental db upgrade"):
        async with app.router.lifespan_context(app):
            pass


async def test_only_a_long_running_app_freezes_its_start_up_heap(
    app_settings: Settings, app_database_url: str
) -> None:
    """Serving processes freeze what start-up built out of the collector's walks (full
    collections had stopped the event loop for 180-260 ms); apps built by tests do not, or
    their garbage would never be collected."""
    database = Database(app_database_url)
    await upgrade_database(database.engine)
    try:
        gc.unfreeze()
        async with running(create_app(app_settings, database=database)) as client:
            assert (await client.get("/ready")).status_code == 200
            assert gc.get_freeze_count() == 0
        long_running = create_app(app_settings, database=database, long_running=True)
        try:
            async with running(long_running) as client:
                assert (await client.get("/ready")).status_code == 200
                frozen = gc.get_freeze_count()
        finally:
            gc.unfreeze()
    finally:
        await database.dispose()
    assert frozen > 100_000  # the app's imports and start-up objects, not a handful
