"""Readiness: can this instance serve patients right now?

Liveness only says the process runs; readiness is what a load balancer or Kubernetes uses to
decide whether to send traffic here. It needs the database reachable and its schema at the
revision this code expects (an instance started before `dental db upgrade` must not take
requests that would fail on missing tables).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from serving.db.engine import Database
from serving.db.migrate import MigrationStatus, migration_status

logger = logging.getLogger(__name__)

Check = Literal["database", "migrations"]

CHECK_TIMEOUT_SECONDS = 5.0
"""A probe must answer quickly even when the database host is unreachable (no TCP reset)."""


@dataclass(frozen=True)
class Readiness:
    database_ok: bool
    migrations: MigrationStatus | None
    failed: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.failed


async def check_readiness(database: Database) -> Readiness:
    """Check the database, then its migrations; `failed` names the checks that did not pass."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await database.ping()
            status = await migration_status(database.engine)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        # The exception text can name hosts and users; the type is enough to start looking.
        logger.warning("readiness: database unavailable", extra={"error": type(exc).__name__})
        return Readiness(database_ok=False, migrations=None, failed=["database"])
    if not status.is_current:
        logger.warning(
            "readiness: database schema is not at the head revision; run `dental db upgrade`",
            extra={"current": status.current, "head": status.head},
        )
        return Readiness(database_ok=True, migrations=status, failed=["migrations"])
    return Readiness(database_ok=True, migrations=status)
