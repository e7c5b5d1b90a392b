"""Telegram through the Bot API's sendMessage (https://core.telegram.org/bots/api#sendmessage)."""

from __future__ import annotations

import logging

import httpx
from pydantic import SecretStr

from serving.notify.errors import (
    MAX_ERROR_CHARS,
    network_failure,
    redact_numbers,
    response_object,
)
from serving.notify.notice import Delivery, Notice

logger = logging.getLogger(__name__)


class TelegramMessenger:
    """Sends a notice's full text to a Telegram chat from the clinic's bot."""

    channel = "telegram"

    def __init__(
        self,
        bot_token: SecretStr,
        *,
        api_base_url: str = "https://api.telegram.org/bot",
        timeout: float = 10.0,
    ) -> None:
        self._token = bot_token.get_secret_value()
        self._url = f"{api_base_url}{self._token}/sendMessage"
        # httpx logs every request URL at INFO, and this URL holds the bot token.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def send(self, to: str, notice: Notice) -> Delivery:
        try:
            chat_id = int(to)
        except ValueError:
            return Delivery(delivered=False, error="telegram chat id is not a number")
        payload = {
            "chat_id": chat_id,
            "text": notice.text,
            "link_preview_options": {"is_disabled": True},
        }
        try:
            response = await self._client.post(self._url, json=payload)
        except httpx.HTTPError as exc:
            # Only the type: httpx's messages quote the URL, and with it the token.
            delivery = network_failure(exc)
        else:
            delivery = self._delivery(response)
        if delivery.delivered:
            logger.info("Telegram notice sent")
        else:
            logger.warning("Telegram notice not sent: %s", delivery.error)
        return delivery

    async def close(self) -> None:
        await self._client.aclose()

    def _delivery(self, response: httpx.Response) -> Delivery:
        body = response_object(response)
        result = body.get("result")
        if body.get("ok") is True and isinstance(result, dict):
            message_id = result.get("message_id")
            return Delivery(delivered=True, external_id=str(message_id) if message_id else None)
        code = body.get("error_code")
        if not isinstance(code, int):
            code = response.status_code
        retryable = code == 429 or code >= 500
        description = body.get("description")
        if not isinstance(description, str):
            return Delivery(delivered=False, error=f"telegram {code}", retryable=retryable)
        text = redact_numbers(description.replace(self._token, "<token>"))
        parameters = body.get("parameters")
        if isinstance(parameters, dict) and "retry_after" in parameters:
            text += f" (retry after {parameters['retry_after']} s)"
        return Delivery(
            delivered=False, error=f"telegram {code}: {text[:MAX_ERROR_CHARS]}", retryable=retryable
        )
