"""A brand-new, empty app database for a benchmark run: a SQLite file or a PostgreSQL database.

The benchmarks start real servers (`dental serve`) on it, as an operator would; PostgreSQL is
the production engine (several serving processes or replicas), SQLite the embedded default.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

Engine = Literal["sqlite", "postgresql"]

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
"""A PostgreSQL server and a role allowed to create databases (TEST_POSTGRES_URL)."""


@contextmanager
def scratch_database(engine: Engine, workdir: Path, *, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file in `workdir`, or a PostgreSQL database
    named `<prefix>_<random>` on POSTGRES_ADMIN_URL's server, dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'{prefix}.db'}"
        return
    admin = make_url(POSTGRES_ADMIN_URL)
    name = f"{prefix}_{secrets.token_hex(4)}"

    async def execute(statement: str) -> None:
        server = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with server.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await server.dispose()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
