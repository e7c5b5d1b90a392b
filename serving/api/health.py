"""Probes for load balancers and orchestrators: `/health` (liveness) and `/ready` (readiness)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from serving.api.deps import DatabaseDep
from serving.observability.readiness import Check, check_readiness

router = APIRouter(tags=["operations"])


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class MigrationsReport(BaseModel):
    current: str | None = Field(description="Revision the database is at; null if never migrated.")
    head: str | None = Field(description="Newest revision this code ships.")


class ReadinessReport(BaseModel):
    status: Literal["ready", "not_ready"]
    database: Literal["ok", "unavailable"]
    migrations: MigrationsReport | None = Field(
        description="Null when the database could not be reached."
    )
    failed: list[Check] = Field(default_factory=list, description="The checks that did not pass.")


@router.get("/health", summary="Liveness: the process is up")
async def health() -> Liveness:
    """Always 200 while the process can answer; says nothing about the database on purpose, so
    an orchestrator does not restart instances because PostgreSQL is briefly away."""
    return Liveness()


@router.get(
    "/ready",
    summary="Readiness: the database is reachable and fully migrated",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ReadinessReport}},
)
async def ready(database: DatabaseDep, response: Response) -> ReadinessReport:
    """200 when this instance can serve requests, else 503 naming the failed checks."""
    readiness = await check_readiness(database)
    if not readiness.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    migrations = readiness.migrations
    return ReadinessReport(
        status="ready" if readiness.ready else "not_ready",
        database="ok" if readiness.database_ok else "unavailable",
        migrations=(
            MigrationsReport(current=migrations.current, head=migrations.head)
            if migrations is not None
            else None
        ),
        failed=readiness.failed,
    )
