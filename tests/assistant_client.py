"""A patient's side of the chat API, for end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

INTEGRATION_KEY = "test-integration-key"
DANA_PHONE = "+972501234567"
JOHN_PHONE = "+12025550143"


@dataclass
class Patient:
    """One patient talking through a trusted integration (or anonymously without a phone)."""

    client: httpx.AsyncClient
    user_id: str
    phone: str | None = None
    trusted: bool = True

    async def send(
        self, text: str | None = None, *, button: str | None = None, expect: int = 200
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"user_id": self.user_id, "text": text, "button": button}
        if self.phone is not None:
            body["phone"] = self.phone
        headers = {"Authorization": f"Bearer {INTEGRATION_KEY}"} if self.trusted else {}
        response = await self.client.post("/api/v1/chat", json=body, headers=headers)
        assert response.status_code == expect, response.text
        reply: dict[str, Any] = response.json()
        return reply

    async def press(self, reply: dict[str, Any], prefix: str, index: int = 0) -> dict[str, Any]:
        """Press the `index`-th button whose data starts with `prefix`."""
        matching = [b for b in reply["buttons"] if b["data"].startswith(prefix)]
        assert len(matching) > index, f"no {prefix!r} button in {reply['buttons']}"
        return await self.send(button=matching[index]["data"])
