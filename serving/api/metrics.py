"""`/metrics`: this app's Prometheus metrics (requests, latency, errors, build)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from serving.api.deps import MetricsDep

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition."}},
)
async def metrics(metrics: MetricsDep, accept: Annotated[str, Header()] = "") -> Response:
    body, content_type = metrics.render(accept)
    return Response(content=body, media_type=content_type)
