"""The served app behind `POST /api/v1/chat` for end-to-end tests: one per architecture and
language, on the test's database.

Import the fixtures into a test module (registered under their short names, so a test's
parameters do not shadow the imported functions):

    from tests.chat_app import (  # noqa: F401
        architecture_fixture, chat_client_fixture, language_fixture,
    )

A test of a conversation in both languages takes its engines, architectures and languages
from `EVERY_ARCHITECTURE_AND_LANGUAGE`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from serving.app import create_app
from serving.db.engine import Database
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY
from tests.clinic_time import today_from
from tests.conftest import DB_BACKENDS, make_settings

ARCHITECTURES = ["alex", "team"]
LANGUAGES = ["en", "he"]
CLINIC_MORNING = 9
"""The hour of today the chat app's clock starts at: what it offers is the same at any hour."""

EVERY_ARCHITECTURE_AND_LANGUAGE = pytest.mark.parametrize(
    ("db_backend", "architecture", "language"),
    [
        (engine, architecture, language)
        for engine in DB_BACKENDS
        for architecture in ARCHITECTURES
        for language in LANGUAGES
        if engine == "sqlite" or language == "he"
    ],
    indirect=True,
)
"""Each architecture in each language on SQLite, and each architecture in Hebrew on
PostgreSQL. The queries a conversation makes are the same whatever the language of its words:
the engine is crossed with the architectures (which call the practice backend in their own
order) and with the language that stores non-ASCII text, and English on PostgreSQL would repeat
what the other three prove."""


@pytest.fixture(name="architecture", params=ARCHITECTURES)
def architecture_fixture(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="language", params=LANGUAGES)
def language_fixture(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="client")
async def chat_client_fixture(
    database_url: str, database: Database, architecture: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url, integration_key=INTEGRATION_KEY, agent_architecture=architecture
    )
    app = create_app(settings, database=database, clock=today_from(CLINIC_MORNING))
    async with running(app) as http:
        yield http
