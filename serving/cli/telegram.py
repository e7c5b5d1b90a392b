"""`dental telegram ...`: connect the bot to Telegram (run once by a deploy) or poll for
development."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
from collections.abc import Coroutine
from datetime import timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import typer
from telegram.error import Conflict, TelegramError

from serving.app import create_app
from serving.bundle.load import load_bundle
from serving.channels.telegram.bot import LONG_POLL_SECONDS, build_bot
from serving.channels.telegram.channel import TelegramChannel
from serving.channels.telegram.commands import publish_commands
from serving.channels.telegram.inbox import DeadLetter, Inbox
from serving.cli.support import fail, operator_settings
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.observability.logging import configure_logging
from serving.settings import Settings

T = TypeVar("T")

DEFAULT_ALLOWED_UPDATES = "message,edited_message,callback_query"
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

telegram_app = typer.Typer(
    help="The Telegram bot: `set-webhook` once per deploy (production), `poll` for "
    "development without a public URL. Needs TELEGRAM_BOT_TOKEN; the webhook also "
    "TELEGRAM_WEBHOOK_SECRET. See docs/TELEGRAM.md.",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)


@telegram_app.command("set-webhook")
def set_webhook(
    url: Annotated[
        str,
        typer.Option(help="The public HTTPS URL of POST /telegram/webhook on this service."),
    ],
    allowed_updates: Annotated[
        str, typer.Option(help="Comma-separated update types Telegram should send.")
    ] = DEFAULT_ALLOWED_UPDATES,
    max_connections: Annotated[
        int, typer.Option(help="Parallel deliveries Telegram may make.", min=1, max=100)
    ] = 40,
    drop_pending_updates: Annotated[
        bool, typer.Option(help="Discard updates Telegram queued while no webhook was set.")
    ] = False,
) -> None:
    """Point Telegram at this service's webhook with the secret TELEGRAM_WEBHOOK_SECRET, and
    publish the command menus in Hebrew and English. Run once per deploy, not per replica."""
    settings = _settings()
    secret = settings.telegram_webhook_secret
    if secret is None or not SECRET_PATTERN.match(secret.get_secret_value()):
        fail("TELEGRAM_WEBHOOK_SECRET must be set: 1-256 characters of A-Z, a-z, 0-9, _ and -")
    _check_url(url)
    updates = [kind.strip() for kind in allowed_updates.split(",") if kind.strip()]

    async def run() -> list[str]:
        client = build_bot(settings)
        try:
            await client.bot.set_webhook(
                url,
                secret_token=secret.get_secret_value(),
                allowed_updates=updates,
                max_connections=max_connections,
                drop_pending_updates=drop_pending_updates,
            )
            return await publish_commands(client.bot, load_bundle(settings.bundle_path).message)
        finally:
            await client.close()

    menus = _telegram(run())
    typer.echo(f"webhook set to {url} (updates: {', '.join(updates)})")
    typer.echo(f"command menus set: {', '.join(code or 'default' for code in menus)}")


@telegram_app.command("delete-webhook")
def delete_webhook(
    drop_pending_updates: Annotated[
        bool, typer.Option(help="Also discard the updates Telegram has queued.")
    ] = False,
) -> None:
    """Stop webhook delivery (for example before `dental telegram poll`)."""
    settings = _settings()

    async def run() -> None:
        client = build_bot(settings)
        try:
            await client.bot.delete_webhook(drop_pending_updates=drop_pending_updates)
        finally:
            await client.close()

    _telegram(run())
    typer.echo("webhook deleted")


@telegram_app.command("poll")
def poll(
    once: Annotated[
        bool, typer.Option("--once", help="Fetch the waiting updates, answer them, and exit.")
    ] = False,
) -> None:
    """Development: fetch updates with long polling (no public URL needed) and answer them
    through the same inbox as the webhook. Migrates the database first. Ctrl-C stops."""
    settings = _settings()
    configure_logging(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_poll(settings, once=once))


@telegram_app.command("work")
def work() -> None:
    """Answer stored updates without serving HTTP: the answering side of a deployment whose
    webhook replicas run with TELEGRAM_ANSWER_UPDATES=false. Any number may run; each chat
    is served by one of them at a time. Ctrl-C stops."""
    settings = _settings().model_copy(update={"telegram_answer_updates": True})
    configure_logging(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_work(settings))


@telegram_app.command("prune")
def prune(
    older_than_days: Annotated[
        int | None,
        typer.Option(
            help="Delete answered updates received more than this many days ago "
            "(default: TELEGRAM_UPDATE_RETENTION_DAYS).",
            min=1,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count them; delete nothing.")] = False,
) -> None:
    """Delete stored updates past their retention now. The answering processes do this every
    hour by themselves; pending updates are never deleted."""
    settings = _settings(require_token=False)
    days = older_than_days or settings.telegram_update_retention_days
    count = asyncio.run(_prune(settings, timedelta(days=days), dry_run=dry_run))
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {count} answered update(s) received more than {days} day(s) ago")


@telegram_app.command("failed")
def failed(
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.", min=1)] = 50,
) -> None:
    """List dead-lettered updates (status `failed`): updates python-telegram-bot could not
    parse, or whose every attempt failed. The patient got an apology when their chat could be
    read; the chat's later updates went on. No message text is shown."""
    settings = _settings(require_token=False)
    letters = asyncio.run(_dead_letters(settings, limit))
    if not letters:
        typer.echo("no dead-lettered updates")
        return
    typer.echo("update_id\tkind\tattempts\treceived (UTC)\treason")
    for letter in letters:
        received = f"{letter.received_at:%Y-%m-%d %H:%M:%S}"
        typer.echo(
            f"{letter.update_id}\t{letter.kind}\t{letter.attempts}\t{received}\t{letter.reason}"
        )


async def _dead_letters(settings: Settings, limit: int) -> list[DeadLetter]:
    database = Database(settings.database_url)
    try:
        return await Inbox(database).dead_letters(limit=limit)
    finally:
        await database.dispose()


async def _prune(settings: Settings, older_than: timedelta, *, dry_run: bool) -> int:
    database = Database(settings.database_url)
    try:
        return await Inbox(database).prune(older_than, dry_run=dry_run)
    finally:
        await database.dispose()


async def _work(settings: Settings) -> None:
    database = Database(settings.database_url)
    try:
        app = create_app(settings, database=database, long_running=True)
        async with app.router.lifespan_context(app):
            await asyncio.Event().wait()
    finally:
        await database.dispose()


async def _poll(settings: Settings, *, once: bool) -> None:
    database = Database(settings.database_url)
    try:
        await upgrade_database(database.engine)
        app = create_app(settings, database=database, long_running=not once)
        async with app.router.lifespan_context(app):
            channel: TelegramChannel | None = app.state.telegram
            if channel is None:
                fail("TELEGRAM_BOT_TOKEN is not set")
            offset: int | None = None
            while True:
                updates = await channel.client.bot.get_updates(
                    offset=offset,
                    timeout=0 if once else LONG_POLL_SECONDS,
                    allowed_updates=DEFAULT_ALLOWED_UPDATES.split(","),
                )
                for update in updates:
                    await channel.accept(update.to_dict())
                    offset = update.update_id + 1
                if once:
                    if offset is not None:  # confirm them, or Telegram sends them again
                        await channel.client.bot.get_updates(offset=offset, timeout=0)
                    await channel.worker.drain()
                    typer.echo(f"answered {len(updates)} update(s)")
                    return
    except Conflict:
        fail("a webhook is set for this bot: run `dental telegram delete-webhook` first")
    except TelegramError as error:
        fail(f"Telegram refused: {type(error).__name__}: {error.message}")
    finally:
        await database.dispose()


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    loopback = False
    try:
        loopback = ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        fail("the webhook URL must be https:// (Telegram delivers only over HTTPS)")
    if not parts.path.endswith("/telegram/webhook"):
        fail("the webhook URL must end with /telegram/webhook")


def _telegram(work: Coroutine[Any, Any, T]) -> T:
    """Run a Bot API conversation, turning Telegram's refusals into one operator line."""
    try:
        return asyncio.run(work)
    except TelegramError as error:
        fail(f"Telegram refused: {type(error).__name__}: {error.message}")


def _settings(*, require_token: bool = True) -> Settings:
    settings = operator_settings()
    if require_token and settings.telegram_bot_token is None:
        fail("TELEGRAM_BOT_TOKEN is not set")
    return settings
