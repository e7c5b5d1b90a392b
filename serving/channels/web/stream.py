"""`GET /api/v1/chat/stream`: the web chat's way out. Server-sent events carry what the clinic
sends an open web chat outside a reply (a dentist's answer, a reminder), pushed through
`serving.channels.web.push`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from serving.pubsub import PushHub

router = APIRouter(prefix="/api/v1", tags=["assistant"])

WEB_VISITOR_PATTERN = r"^web-[0-9a-f]{32}$"
"""The web chat page's visitor ids: 128 random bits, so knowing one is owning the chat."""
STREAM_HEARTBEAT_SECONDS = 15.0


@router.get("/chat/stream", response_class=StreamingResponse)
async def chat_stream(
    request: Request,
    user_id: Annotated[str, Query(pattern=WEB_VISITOR_PATTERN)],
) -> StreamingResponse:
    """Server-sent events: the messages the clinic sends to this web chat visitor outside a
    reply (a dentist's answer, a reminder), as JSON `data:` lines, while the page is open.

    Only the web chat page's own random visitor ids (`web-` and 32 hex digits) may listen:
    the id is the page's secret, as it is for `POST /chat`.
    """
    hub: PushHub = request.app.state.web_push

    async def events() -> AsyncIterator[str]:
        async with hub.subscribe(user_id) as subscription:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                event = await subscription.next(STREAM_HEARTBEAT_SECONDS)
                if event is None:
                    yield ": keep-alive\n\n"
                else:
                    yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
