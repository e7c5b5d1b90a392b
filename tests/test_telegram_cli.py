"""`dental telegram ...` as a deploy and a developer run it, against the Bot API stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from serving.cli import app
from tests.telegram_client import SECRET
from tests.telegram_stand_in import TOKEN, BotApiStandIn, bot_api_fixture  # noqa: F401


def dental(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def telegram_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bot_api: BotApiStandIn, database_url: str
) -> BotApiStandIn:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", bot_api.base_url)
    return bot_api


def test_set_webhook_and_command_menus(telegram_env: BotApiStandIn) -> None:
    result = dental(
        "telegram",
        "set-webhook",
        "--url",
        "https://clinic.example/telegram/webhook",
        "--drop-pending-updates",
    )
    assert result.exit_code == 0, result.output
    [webhook] = telegram_env.sent("setWebhook")
    assert webhook.params["url"] == "https://clinic.example/telegram/webhook"
    assert webhook.params["secret_token"] == SECRET
    assert webhook.params["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert webhook.params["drop_pending_updates"] is True
    menus = {
        c.params.get("language_code"): c.params["commands"]
        for c in telegram_env.sent("setMyCommands")
    }
    assert set(menus) == {"he", "en", None}
    assert [c["command"] for c in menus["he"]] == [
        "start",
        "help",
        "language",
        "location",
        "mydata",
    ]
    assert menus["he"][0]["description"] == "להתחיל מחדש"
    assert SECRET not in result.output and TOKEN not in result.output

    assert dental("telegram", "delete-webhook").exit_code == 0
    assert len(telegram_env.sent("deleteWebhook")) == 1


def test_set_webhook_refuses_bad_urls_and_missing_secret(
    telegram_env: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = dental("telegram", "set-webhook", "--url", "http://clinic.example/telegram/webhook")
    assert plain.exit_code == 1 and "https://" in plain.output
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")
    missing = dental("telegram", "set-webhook", "--url", "https://clinic.example/telegram/webhook")
    assert missing.exit_code == 1 and "TELEGRAM_WEBHOOK_SECRET" in missing.output
    assert telegram_env.sent("setWebhook") == []


def test_a_rejected_token_is_one_line_without_the_token(
    telegram_env: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "999:wrong-token")
    result = dental("telegram", "delete-webhook")
    assert result.exit_code == 1 and "Telegram refused" in result.output
    assert "wrong-token" not in result.output


def test_poll_once_answers_through_the_same_inbox(telegram_env: BotApiStandIn) -> None:
    for update_id, text in ((1, "/start"), (2, "what are your opening hours?")):
        telegram_env.queue_update(
            {
                "update_id": update_id,
                "message": {
                    "message_id": update_id,
                    "date": 1,
                    "chat": {"id": 4242, "type": "private"},
                    "from": {
                        "id": 4242,
                        "is_bot": False,
                        "first_name": "Dev",
                        "language_code": "en",
                    },
                    "text": text,
                },
            }
        )
    result = dental("telegram", "poll", "--once")
    assert result.exit_code == 0, result.output
    assert "answered 2 update(s)" in result.output
    replies = telegram_env.messages_to(4242)
    assert "automated assistant" in replies[0].text and "08:00" in replies[-1].text
    offsets = [c.params.get("offset") for c in telegram_env.sent("getUpdates")]
    assert offsets[-1] == 3, "the fetched updates are confirmed to Telegram"
    assert telegram_env.updates == []
