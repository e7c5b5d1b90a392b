"""Stored updates hold patients' messages as Telegram sent them: answered ones are deleted past
their retention, by the answering processes on their own and by `dental telegram prune`;
pending ones never are, and the dedupe still holds inside the retention."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from serving.channels.telegram.inbox import Inbox
from serving.cli import app
from serving.db.engine import Database
from serving.db.telegram_models import TelegramUpdate
from serving.db.types import utcnow
from tests.telegram_client import TelegramUser, hold_chat, telegram_bot, telegram_settings
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401

T = TypeVar("T")


async def _age(database: Database, message: dict[str, Any], days: float) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(TelegramUpdate)
            .where(TelegramUpdate.update_id == message["update_id"])
            .values(received_at=utcnow() - timedelta(days=days))
        )


async def _stored(database: Database) -> set[int]:
    async with database.transaction() as session:
        return set((await session.scalars(select(TelegramUpdate.update_id))).all())


async def test_answered_updates_past_retention_go_and_pending_ones_stay(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 8101)
        old = user.message_update(text="what are your opening hours?")
        recent = user.message_update(text="hi")
        for message in (old, recent):
            await bot.deliver(message)
        await bot.drain()
        # A chat whose replica died holding its lease: its update stays pending.
        stuck = TelegramUser(bot, 8102).message_update(text="hi")
        await hold_chat(database, 8102, lease=timedelta(hours=1))
        await bot.deliver(stuck)
        await _age(database, old, days=8)
        await _age(database, stuck, days=8)
        everything = {old["update_id"], recent["update_id"], stuck["update_id"]}
        assert await _stored(database) >= everything

        inbox: Inbox = bot.app.state.telegram.inbox
        assert await inbox.prune(timedelta(days=7), dry_run=True) == 1
        assert await _stored(database) >= everything, "a dry run deletes nothing"
        assert await inbox.prune(timedelta(days=7)) == 1
        left = await _stored(database)
        assert old["update_id"] not in left
        assert {recent["update_id"], stuck["update_id"]} <= left

        with pytest.raises(ValueError, match="24 hours"):
            await inbox.prune(timedelta(hours=23))
        again = await bot.post(recent)  # Telegram re-sending inside the retention
        assert again.json() == {"ok": True, "duplicate": True}


async def test_the_answering_process_applies_the_retention_by_itself(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    settings = telegram_settings(database_url, bot_api, telegram_update_retention_days=3)
    async with telegram_bot(settings, bot_api) as bot:
        old = TelegramUser(bot, 8103).message_update(text="hi")
        await bot.deliver(old)
        await bot.drain()
    await _age(database, old, days=4)
    assert old["update_id"] in await _stored(database)

    async with telegram_bot(settings, bot_api):  # a replica starting: it prunes at once
        deadline = time.monotonic() + 15
        while old["update_id"] in await _stored(database):
            assert time.monotonic() < deadline, "the update past retention was not deleted"
            await asyncio.sleep(0.1)


def test_dental_telegram_prune(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)  # not needed to prune

    async def on_database(work: Callable[[Database], Awaitable[T]]) -> T:
        database = Database(database_url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    async def store_old_answered(database: Database) -> None:
        inbox = Inbox(database)
        chat = {"id": 9, "type": "private"}
        message = {"update_id": 77, "message": {"message_id": 1, "date": 0, "chat": chat}}
        assert await inbox.accept(message)
        await inbox.finish(77, "done")
        await _age(database, message, days=10)

    asyncio.run(on_database(store_old_answered))
    runner = CliRunner()
    dry = runner.invoke(app, ["telegram", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 1 answered update(s) received more than 7 day(s) ago" in dry.output
    assert asyncio.run(on_database(_stored)) == {77}
    kept = runner.invoke(app, ["telegram", "prune", "--older-than-days", "30"])
    assert kept.exit_code == 0 and "deleted 0 " in kept.output, kept.output
    done = runner.invoke(app, ["telegram", "prune"])
    assert done.exit_code == 0 and "deleted 1 " in done.output, done.output
    assert asyncio.run(on_database(_stored)) == set()
    refused = runner.invoke(app, ["telegram", "prune", "--older-than-days", "0"])
    assert refused.exit_code == 2 and "older-than-days" in refused.output
