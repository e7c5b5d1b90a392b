"""`POST /telegram/webhook`: Telegram delivers updates here (set up by `dental telegram
set-webhook`). A thin router: check the secret, read a bounded body, store the update, answer
200 at once; the inbox worker answers the patient."""

from __future__ import annotations

import json
import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from serving.channels.telegram.channel import TelegramChannel
from serving.channels.telegram.updates import MalformedUpdate, update_id_of

logger = logging.getLogger(__name__)

router = APIRouter(tags=["telegram"])

MAX_BODY_BYTES = 256 * 1024
"""Far above any real update (a 4096-character message with entities is ~40 KB)."""
MAX_DEPTH = 64
"""Far above any real update (a button press on a reply to a message is about 8 levels)."""


class WebhookAck(BaseModel):
    ok: bool
    duplicate: bool


@router.post("/telegram/webhook", response_model=WebhookAck)
async def telegram_webhook(
    request: Request,
    x_telegram_bot_api_secret_token: Annotated[str | None, Header()] = None,
) -> WebhookAck:
    """Receive one update from Telegram. 401 without the exact secret token, 400 for a body
    that is not strict JSON (no NaN, nesting at most 64 deep, valid Unicode) or not an
    update, 413 for one over 256 KB, 503 when the channel is not configured."""
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
    """The update, or 400 with what is wrong (never the body itself: it is the patient's)."""
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise HTTPException(400, detail=_too_deep()) from None
    except ValueError:
        raise HTTPException(400, detail="the body is not JSON") from None
    problem = _strictness_problem(payload)
    if problem is not None:
        raise HTTPException(400, detail=problem)
    try:
        update_id_of(payload)
    except MalformedUpdate as error:
        raise HTTPException(400, detail=str(error)) from None
    assert isinstance(payload, dict)
    return payload


def _refuse_constant(name: str) -> Any:
    """`NaN`, `Infinity` and `-Infinity` are not JSON (Python accepts them; PostgreSQL does
    not, so storing such an update would fail and Telegram would deliver it again forever)."""
    raise ValueError(f"{name} is not JSON")


def _too_deep() -> str:
    return f"the body is nested deeper than {MAX_DEPTH} levels"


def _strictness_problem(payload: Any) -> str | None:
    """What makes a parsed body unfit to store, walked without recursion: nesting past
    MAX_DEPTH, a number JSON cannot carry (an exponent overflowing to infinity), or a string
    that is not valid Unicode (a lone surrogate such as "\\ud800", which json accepts and
    every later encode of the text would fail on)."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return _too_deep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not _is_unicode(key):
                    return "a key is not valid Unicode text"
                stack.append((item, depth + 1))
        elif isinstance(value, str) and not _is_unicode(value):
            return "a string is not valid Unicode text (a lone surrogate)"
        elif isinstance(value, float) and not math.isfinite(value):
            return "a number is out of range"
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
