"""`TelegramChannel`: the Telegram channel of one replica, assembled from the settings and the
app's assistant (the bot client, the inbox, the handler, the sender and the worker)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from serving.assistant.runtime import Runtime
from serving.assistant.service import Assistant
from serving.assistant.store import ConversationStore
from serving.channels.telegram.bot import BotClient, build_bot
from serving.channels.telegram.handlers import UpdateHandler
from serving.channels.telegram.inbox import Inbox
from serving.channels.telegram.outbound import RetryPolicy, Sender, Sleep
from serving.channels.telegram.worker import ChatWorker, DeadLetterCounter
from serving.clinic import ClinicProfile
from serving.db.engine import Database
from serving.practice.backend import PracticeBackend
from serving.settings import Settings


class TelegramChannel:
    def __init__(
        self,
        settings: Settings,
        *,
        database: Database,
        assistant: Assistant,
        backend: PracticeBackend,
        clinic: ClinicProfile,
        runtime: Callable[[], Runtime],
        sleep: Sleep = asyncio.sleep,
        retry_policy: RetryPolicy | None = None,
        count_dead_letter: DeadLetterCounter | None = None,
    ) -> None:
        self.client: BotClient = build_bot(settings)
        self.inbox = Inbox(database)
        self.sender = Sender(self.client.bot, database, policy=retry_policy, sleep=sleep)
        self.handler = UpdateHandler(
            bot=self.client.bot,
            assistant=assistant,
            store=ConversationStore(database),
            backend=backend,
            clinic=clinic,
            runtime=runtime,
            sender=self.sender,
            phone_region=settings.default_phone_region,
            timezone=settings.timezone,
        )
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
