"""`TelegramChannel`: the Telegram channel of one replica, assembled from the settings and the
app's assistant (the bot client, the inbox, the handler, the sender and the worker).

It is also the assistant's way out to Telegram patients (`serving.assistant.Channel`): a
message that does not answer an update (a dentist's reply, a reminder) goes through the same
`Sender`, with its retries and its record of what could not be delivered.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from serving.assistant import Assistant, Button, Image, Place, Recipient
from serving.channels.telegram.bot import BotClient, build_bot
from serving.channels.telegram.formatting import escape_html, html_chunks
from serving.channels.telegram.handlers import UpdateHandler, venue
from serving.channels.telegram.inbox import Inbox
from serving.channels.telegram.keyboards import inline_spec
from serving.channels.telegram.outbound import Outgoing, RetryPolicy, Sender, Sleep
from serving.channels.telegram.worker import ChatWorker, DeadLetterCounter
from serving.db.engine import Database
from serving.settings import Settings


class TelegramChannel:
    def __init__(
        self,
        settings: Settings,
        *,
        database: Database,
        assistant: Assistant,
        sleep: Sleep = asyncio.sleep,
        retry_policy: RetryPolicy | None = None,
        count_dead_letter: DeadLetterCounter | None = None,
    ) -> None:
        self.client: BotClient = build_bot(settings)
        self.inbox = Inbox(database)
        self.sender = Sender(self.client.bot, database, policy=retry_policy, sleep=sleep)
        self.handler = UpdateHandler(bot=self.client.bot, assistant=assistant, sender=self.sender)
        self.worker = ChatWorker(
            self.inbox,
            self.handler,
            self.sender,
            concurrency=settings.telegram_workers,
            retention=timedelta(days=settings.telegram_update_retention_days),
            count_dead_letter=count_dead_letter,
        )
        self._answers = settings.telegram_answer_updates
        secret = settings.telegram_webhook_secret
        self._secret = secret.get_secret_value().encode() if secret is not None else None

    @property
    def webhook_enabled(self) -> bool:
        return bool(self._secret)

    def secret_matches(self, header: str | None) -> bool:
        """Constant-time check of the webhook's secret token header."""
        if not self._secret or header is None:
            return False
        return hmac.compare_digest(header.encode(), self._secret)

    async def accept(self, payload: dict[str, Any]) -> bool:
        """Store an update (False if it was a re-delivery) and wake the worker."""
        stored = await self.inbox.accept(payload)
        if stored:
            self.worker.wake()
        return stored

    async def start(self) -> None:
        if self._answers:
            await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.client.close()

    # --- the assistant's way out (serving.assistant.Channel) ------------------------------

    async def send_text(self, to: Recipient, text: str, buttons: Sequence[Button]) -> bool:
        chat_id = int(to.user_id)  # a private chat's id is its user's id
        chunks = html_chunks(text)
        calls = [Outgoing("send_message", {"chat_id": chat_id, "text": c}) for c in chunks[:-1]]
        last: dict[str, Any] = {"chat_id": chat_id, "text": chunks[-1]}
        keyboard = inline_spec(buttons)
        if keyboard is not None:
            last["keyboard"] = keyboard
        calls.append(Outgoing("send_message", last))
        return await self._deliver_all(calls)

    async def send_location(self, to: Recipient, place: Place) -> bool:
        return await self._deliver_all([venue(int(to.user_id), place)])

    async def send_image(self, to: Recipient, image: Image) -> bool:
        params = {
            "chat_id": int(to.user_id),
            "upload": base64.b64encode(image.data).decode("ascii"),
            "filename": image.filename,
            "caption": escape_html(image.caption),
        }
        return await self._deliver_all([Outgoing("send_photo", params)])

    async def _deliver_all(self, calls: list[Outgoing]) -> bool:
        """Each call in order; stops at the first that could not be delivered (recorded)."""
        for call in calls:
            if not await self.sender.deliver(call):
                return False
        return True
