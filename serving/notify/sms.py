"""SMS through Twilio's Messages API (https://www.twilio.com/docs/messaging/api/message-resource)."""

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


class TwilioSms:
    """Sends a notice's `short` text as an SMS from one Twilio number."""

    channel = "sms"

    def __init__(
        self,
        account_sid: str,
        auth_token: SecretStr,
        sender: str,
        *,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._sender = sender
        self._client = httpx.AsyncClient(
            auth=httpx.BasicAuth(account_sid, auth_token.get_secret_value()),
            timeout=timeout,
            follow_redirects=False,
        )

    async def send(self, to: str, notice: Notice) -> Delivery:
        form = {"To": to, "From": self._sender, "Body": notice.short}
        try:
            response = await self._client.post(self._url, data=form)
        except httpx.HTTPError as exc:
            delivery = network_failure(exc)
        else:
            delivery = _delivery(response, to)
        if delivery.delivered:
            logger.info("SMS notice accepted by Twilio")
        else:
            logger.warning("SMS notice not sent: %s", delivery.error)
        return delivery

    async def close(self) -> None:
        await self._client.aclose()


def _delivery(response: httpx.Response, to: str) -> Delivery:
    body = response_object(response)
    if response.is_success:  # 201 Created
        sid = body.get("sid")
        return Delivery(delivered=True, external_id=str(sid) if sid else None)
    retryable = response.status_code == 429 or response.status_code >= 500
    code, message = body.get("code"), body.get("message")
    if code is None or not isinstance(message, str):
        return Delivery(
            delivered=False, error=f"twilio http {response.status_code}", retryable=retryable
        )
    # Twilio's messages quote the number they refused ("The 'To' number +1500... is not ...").
    text = redact_numbers(message.replace(to, "<number>") if to else message)
    return Delivery(
        delivered=False, error=f"twilio {code}: {text[:MAX_ERROR_CHARS]}", retryable=retryable
    )
