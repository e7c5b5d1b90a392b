"""Serving follows the registry alias without a restart, and survives a registry that fails.

A real MLflow store (SQLite, shared by the session, one alias per test) and the real app, its
lifespan running, talked to over HTTP in-process: promotion and rollback are MLflow alias moves,
`/api/version` and the stored replies say which bundle answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from serving.app import create_app
from serving.bundle.load import load_bundle
from serving.bundle.registry import BundleRegistry, RegisteredBundle
from serving.bundle.source import BundleSource
from serving.db import models as db
from serving.db.engine import Database
from serving.settings import REPOSITORY_BUNDLE, Settings
from tests.asgi import running
from tests.aws_stand_in import closed_port_url_fixture  # noqa: F401 - registers the fixture
from tests.conftest import make_settings
from tests.test_registry import (  # noqa: F401 - fixtures register by being imported
    alias_fixture,
    bundle_b_fixture,
    registry_fixture,
    release_copy,
    shared_registry_fixture,
    stored_bundle_dir,
    tamper,
    tracking_uri_fixture,
    versions_fixture,
)

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)

EMBEDDED = load_bundle(REPOSITORY_BUNDLE).version
POLL_DEADLINE_SECONDS = 20


def registry_settings(
    database_url: str, following: BundleRegistry, alias_name: str, cache: Path, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "mlflow_tracking_uri": following.tracking_uri,
        "bundle_registry_model": following.model_name,
        "bundle_alias": alias_name,
        "bundle_cache_dir": cache,
        "bundle_poll_seconds": 3600,  # tests call refresh() themselves unless they test polling
        **overrides,
    }
    return make_settings(database_url, **values)


async def served_bundle(client: httpx.AsyncClient) -> str:
    response = await client.get("/api/version")
    assert response.status_code == 200
    bundle: str = response.json()["bundle"]
    return bundle


async def reply_bundle(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/api/v1/chat", json={"user_id": "hot-swap", "text": "What are your opening hours?"}
    )
    assert response.status_code == 200, response.text
    bundle: str = response.json()["bundle_version"]
    return bundle


async def last_stored_bundle(database: Database) -> str | None:
    async with database.transaction() as session:
        return await session.scalar(
            select(db.Message.bundle_version)
            .where(db.Message.role == "assistant")
            .order_by(db.Message.id.desc())
            .limit(1)
        )


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> float:
    """Seconds until `check` holds; fails after POLL_DEADLINE_SECONDS."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > POLL_DEADLINE_SECONDS:
            pytest.fail(f"{what} did not happen within {POLL_DEADLINE_SECONDS}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def source_of(app: FastAPI) -> BundleSource:
    source: BundleSource = app.state.bundle_source
    return source


# ---------------------------------------------------------------------------------------------
# Promotion and rollback, live
# ---------------------------------------------------------------------------------------------


async def test_promotion_and_rollback_swap_the_bundle_without_a_restart(
    database_url: str,
    database: Database,
    shared_registry: BundleRegistry,
    versions: tuple[RegisteredBundle, RegisteredBundle],
    alias: str,
    tmp_path: Path,
) -> None:
    a, b = versions
    shared_registry.set_alias(a, alias)
    settings = registry_settings(database_url, shared_registry, alias, tmp_path / "bundles")
    app = create_app(settings, database=database)
    source = source_of(app)

    async with running(app) as client:
        assert await served_bundle(client) == a.bundle_version
        assert await reply_bundle(client) == a.bundle_version
        assert source.registered == a

        shared_registry.set_alias(b, alias)  # what `dental bundle promote` does
        assert await source.refresh() is True
        assert await source.refresh() is False, "nothing new the second time"

        assert await served_bundle(client) == b.bundle_version
        assert await reply_bundle(client) == b.bundle_version
        assert await last_stored_bundle(database) == b.bundle_version

        assert shared_registry.rollback(alias) == a  # `dental bundle rollback`
        assert await source.refresh() is True

        assert await served_bundle(client) == a.bundle_version
        assert await reply_bundle(client) == a.bundle_version
        assert await last_stored_bundle(database) == a.bundle_version


async def test_the_poll_loop_follows_the_alias(
    database_url: str,
    database: Database,
    shared_registry: BundleRegistry,
    versions: tuple[RegisteredBundle, RegisteredBundle],
    alias: str,
    tmp_path: Path,
) -> None:
    a, b = versions
    shared_registry.set_alias(a, alias)
    settings = registry_settings(
        database_url, shared_registry, alias, tmp_path / "bundles", bundle_poll_seconds=0.2
    )
    app = create_app(settings, database=database)

    async with running(app) as client:
        assert await served_bundle(client) == a.bundle_version

        shared_registry.set_alias(b, alias)
        await eventually(lambda: _serves(client, b), "the swap to the promoted bundle")
        assert await reply_bundle(client) == b.bundle_version

        shared_registry.rollback(alias)
        await eventually(lambda: _serves(client, a), "the swap back after rollback")
        assert await reply_bundle(client) == a.bundle_version

    assert source_of(app).registered == a


async def _serves(client: httpx.AsyncClient, version: RegisteredBundle) -> bool:
    return await served_bundle(client) == version.bundle_version


# ---------------------------------------------------------------------------------------------
# Failures keep the current bundle
# ---------------------------------------------------------------------------------------------


async def test_a_registry_that_goes_down_leaves_the_current_bundle_serving(
    database_url: str,
    database: Database,
    tracking_uri: str,
    versions: tuple[RegisteredBundle, RegisteredBundle],
    alias: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The store's database becomes unreadable mid-run (a failed disk, a broken restore)."""
    a, _ = versions
    store = tmp_path / "mlflow.db"
    shutil.copyfile(tracking_uri.removeprefix("sqlite:///"), store)
    copy = BundleRegistry(f"sqlite:///{store}", "bundles-shared")
    copy.set_alias(a, alias)
    app = create_app(
        registry_settings(database_url, copy, alias, tmp_path / "bundles"), database=database
    )
    source = source_of(app)

    async with running(app) as client:
        assert await served_bundle(client) == a.bundle_version
        healthy = store.read_bytes()
        store.write_bytes(b"\0" * len(healthy))  # in place: MLflow's open connections see it

        with caplog.at_level(logging.WARNING, logger="serving.bundle.source"):
            assert await source.refresh() is False
            assert await source.refresh() is False

        assert await served_bundle(client) == a.bundle_version
        assert await reply_bundle(client) == a.bundle_version
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "serving.bundle.source"
        ]
        assert len(warnings) == 1, "an outage is logged once, not on every poll"
        assert f"still serving {a.bundle_version}" in warnings[0]
        assert "failed while reading alias" in warnings[0]

        store.write_bytes(healthy)
        assert await source.refresh() is False, "back, and the alias has not moved"
        assert await served_bundle(client) == a.bundle_version


async def test_a_restart_while_the_registry_is_down_serves_the_last_promoted_bundle(
    database_url: str,
    database: Database,
    shared_registry: BundleRegistry,
    versions: tuple[RegisteredBundle, RegisteredBundle],
    alias: str,
    tmp_path: Path,
    closed_port_url: str,
) -> None:
    _, b = versions
    shared_registry.set_alias(b, alias)
    cache = tmp_path / "bundles"
    settings = registry_settings(database_url, shared_registry, alias, cache)
    first = create_app(settings, database=database)
    async with running(first) as client:
        assert await served_bundle(client) == b.bundle_version

    down = BundleRegistry(closed_port_url, shared_registry.model_name)
    restarted = create_app(registry_settings(database_url, down, alias, cache), database=database)
    started = time.monotonic()
    async with running(restarted) as client:
        assert time.monotonic() - started < 10, "start-up waited too long for the registry"
        assert await served_bundle(client) == b.bundle_version
        assert await reply_bundle(client) == b.bundle_version
        assert source_of(restarted).registered == b

    no_cache = registry_settings(database_url, down, alias, tmp_path / "empty-cache")
    async with running(create_app(no_cache, database=database)) as client:
        assert await served_bundle(client) == EMBEDDED


async def test_a_tampered_promotion_is_rejected_and_the_current_bundle_kept(
    database_url: str,
    database: Database,
    registry: BundleRegistry,
    alias: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = registry.register(REPOSITORY_BUNDLE)
    c = registry.register(release_copy(tmp_path / "c", "1.0.2", edit="New wording."))
    registry.set_alias(a, alias)
    cache = tmp_path / "bundles"
    app = create_app(registry_settings(database_url, registry, alias, cache), database=database)
    source = source_of(app)

    async with running(app) as client:
        assert await served_bundle(client) == a.bundle_version
        tamper(stored_bundle_dir(registry, c))
        registry.set_alias(c, alias)

        with caplog.at_level(logging.WARNING, logger="serving.bundle.source"):
            assert await source.refresh() is False

        assert await served_bundle(client) == a.bundle_version
        assert await reply_bundle(client) == a.bundle_version
        assert await last_stored_bundle(database) == a.bundle_version
        assert "failed verification after download" in caplog.text

    model_cache = cache / registry.model_name
    assert sorted(p.name for p in model_cache.iterdir()) == [f"{alias}.json", "v1"]
    pointer = json.loads((model_cache / f"{alias}.json").read_text(encoding="utf-8"))
    assert pointer["bundle_version"] == a.bundle_version


async def test_an_alias_not_yet_set_serves_the_embedded_bundle_until_it_is(
    database_url: str,
    database: Database,
    shared_registry: BundleRegistry,
    versions: tuple[RegisteredBundle, RegisteredBundle],
    alias: str,
    tmp_path: Path,
) -> None:
    _, b = versions
    settings = registry_settings(database_url, shared_registry, alias, tmp_path / "bundles")
    app = create_app(settings, database=database)

    async with running(app) as client:
        assert await served_bundle(client) == EMBEDDED
        assert source_of(app).registered is None

        shared_registry.set_alias(b, alias)
        assert await source_of(app).refresh() is True
        assert await served_bundle(client) == b.bundle_version


async def test_without_a_registry_the_repository_bundle_serves(
    database_url: str, database: Database
) -> None:
    app = create_app(make_settings(database_url), database=database)

    async with running(app) as client:
        assert await served_bundle(client) == EMBEDDED
        assert await reply_bundle(client) == EMBEDDED
        assert await source_of(app).refresh() is False
        assert source_of(app).registered is None
