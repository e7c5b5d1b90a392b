"""Dead letters: an update that cannot be parsed, or whose every attempt fails, is given up
(status `failed`, its reason kept, one apology when the patient's private chat can be read),
and the chat's later updates are answered; `dental telegram failed` lists them and a metric
counts them. The issue's reproduction: a message without `message_id`/`date`/`from`, then a
valid message in the same chat."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from serving.cli import app
from tests.telegram_client import telegram_bot, telegram_settings
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401

CHAT = 561001
MALFORMED = {
    "update_id": 7001,
    "message": {"chat": {"id": CHAT, "type": "private"}, "text": "hi, my phone is 0501234567"},
}
GROUP_MALFORMED = {"update_id": 7003, "message": {"chat": {"id": -100, "type": "group"}}}


def valid_message(update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 2,
            "date": int(time.time()),
            "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "P"},
            "text": "what are your opening hours",
        },
    }


async def _scenario(database_url: str, bot_api: BotApiStandIn) -> tuple[list[Any], str]:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        for update in (MALFORMED, valid_message(7002), GROUP_MALFORMED):
            await bot.deliver(update)
        for _ in range(3):  # later passes find nothing left to do: no second apology
            await bot.drain()
        metrics = (await bot.client.get("/metrics")).text
        async with bot.app.state.database.transaction() as session:
            rows = (await session.execute(text("SELECT * FROM telegram_updates"))).mappings()
            stored = sorted(
                (row["update_id"], row["status"], row["attempts"], row.get("error")) for row in rows
            )
    return stored, metrics


def test_an_unreadable_update_is_dead_lettered_and_its_chat_goes_on(
    database_url: str, bot_api: BotApiStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows, metrics = asyncio.run(_scenario(database_url, bot_api))
    sent = bot_api.messages_to(CHAT)
    assert len(sent) == 2, [call.text for call in sent]
    apology, answer = sent
    assert "08:00" in answer.text, "the valid message after the unreadable one is answered"
    assert any("\u0590" <= char <= "\u05ff" for char in apology.text), "one apology, in Hebrew"
    assert "08:00" not in apology.text
    assert bot_api.sent(chat_id=-100) == [], "no apology into a group"
    unreadable = "KeyError: this message update has no 'date' field"
    assert rows == [
        (7001, "failed", 1, unreadable),
        (7002, "done", 1, None),
        (7003, "failed", 1, unreadable),
    ], "dead-lettered at the first attempt: parsing again would fail again"
    assert 'dental_telegram_dead_letters_total{cause="unreadable"} 2.0' in metrics

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)  # not needed to list them
    listed = CliRunner().invoke(app, ["telegram", "failed"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split("\t") == ["update_id", "kind", "attempts", "received (UTC)", "reason"]
    assert [line.split("\t")[0] for line in lines[1:]] == ["7003", "7001"]
    assert lines[2].split("\t")[1:3] == ["message", "1"] and lines[2].endswith(unreadable)
    assert "0501234567" not in listed.output, "no message text"
    one = CliRunner().invoke(app, ["telegram", "failed", "--limit", "1"])
    assert one.exit_code == 0 and len(one.output.splitlines()) == 2
