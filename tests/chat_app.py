"""The served app behind `POST /api/v1/chat` for end-to-end tests: one per architecture and
language, on the test's database.

Import the fixtures into a test module (registered under their short names, so a test's
parameters do not shadow the imported functions):

    from tests.chat_app import (  # noqa: F401
        architecture_fixture, chat_client_fixture, language_fixture,
    )
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from serving.app import create_app
from serving.db.engine import Database
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY
from tests.conftest import make_settings

ARCHITECTURES = ["alex", "team"]


@pytest.fixture(name="architecture", params=ARCHITECTURES)
def architecture_fixture(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="language", params=["en", "he"])
def language_fixture(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="client")
async def chat_client_fixture(
    database_url: str, database: Database, architecture: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url, integration_key=INTEGRATION_KEY, agent_architecture=architecture
    )
    async with running(create_app(settings, database=database)) as http:
        yield http
