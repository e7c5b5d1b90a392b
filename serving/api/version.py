"""`/api/version`: which build is answering, so every reply can be traced to code and artifacts."""

from __future__ import annotations

from typing import Final, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from serving.api.deps import BuildInfoDep

router = APIRouter(tags=["operations"])

APP_NAME: Final = "dental-clinic-ai"


class VersionInfo(BaseModel):
    app: Literal["dental-clinic-ai"] = APP_NAME
    version: str = Field(description="Version of the serving code.")
    commit: str = Field(description="Git commit the build was made from, or `unknown`.")
    build_time: str = Field(description="When the build was made (UTC, ISO 8601), or `unknown`.")
    bundle: str | None = Field(
        default=None,
        description="Version of the prompt bundle (prompts, safety rules, memory patterns) in "
        "use; null while the app serves without a versioned bundle.",
    )


@router.get("/api/version", summary="The running build")
async def version(build_info: BuildInfoDep, request: Request) -> VersionInfo:
    runtime = getattr(request.app.state, "runtime", None)
    return VersionInfo(
        version=build_info.version,
        commit=build_info.commit,
        build_time=build_info.build_time,
        bundle=runtime().bundle.version if runtime else None,
    )
