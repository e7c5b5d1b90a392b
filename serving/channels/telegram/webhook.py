"""`POST /telegram/webhook`: Telegram delivers updates here (set up by `dental telegram
set-webhook`). A thin router: check the secret, read a bounded body, store the update, answer
200 at once; the inbox worker answers the patient."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from serving.channels.telegram.channel import TelegramChannel
from serving.channels.telegram.updates import MalformedUpdate, update_id_of

logger = logging.getLogger(__name__)

router = APIRouter(tags=["telegram"])

MAX_BODY_BYTES = 256 * 1024
"""Far above any real update (a 4096-character message with entities is ~40 KB)."""


class WebhookAck(BaseModel):
    ok: bool
    duplicate: bool


@router.post("/telegram/webhook", response_model=WebhookAck)
async def telegram_webhook(
    request: Request,
    x_telegram_bot_api_secret_token: Annotated[str | None, Header()] = None,
) -> WebhookAck:
    """Receive one update from Telegram. 401 without the exact secret token, 400 for a body
    that is not an update, 413 for one over 256 KB, 503 when the channel is not configured."""
    channel: TelegramChannel | None = getattr(request.app.state, "telegram", None)
    if channel is None or not channel.webhook_enabled:
        raise HTTPException(
            503,
            detail="the Telegram webhook is not configured: set TELEGRAM_BOT_TOKEN and "
            "TELEGRAM_WEBHOOK_SECRET",
        )
    if not channel.secret_matches(x_telegram_bot_api_secret_token):
        logger.warning("telegram webhook refused: wrong or missing secret token")
        raise HTTPException(401, detail="wrong or missing X-Telegram-Bot-Api-Secret-Token")
    payload = _parse(await _bounded_body(request))
    stored = await channel.accept(payload)
    return WebhookAck(ok=True, duplicate=not stored)


async def _bounded_body(request: Request) -> bytes:
    """The body, refused as soon as it is known to exceed the limit (never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise HTTPException(413, detail=f"an update is at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, detail=f"an update is at most {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
        update_id_of(payload)
    except (ValueError, MalformedUpdate) as error:
        detail = str(error) if isinstance(error, MalformedUpdate) else "the body is not JSON"
        raise HTTPException(400, detail=detail) from None
    assert isinstance(payload, dict)
    return payload
