"""The command menu Telegram shows next to the text box, in Hebrew and in English."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Bot, BotCommand

from serving.channels.telegram.handlers import COMMANDS

MENU_LANGUAGES = ("he", "en")


async def publish_commands(bot: Bot, message: Callable[[str, str], str]) -> list[str]:
    """setMyCommands for Hebrew and English users, and English for everyone else; `message`
    is the catalog text of (language, key).

    Returns the language codes set ("" is the default menu).
    """
    published = []
    for code, language in (("he", "he"), ("en", "en"), ("", "en")):
        commands = [
            BotCommand(name, message(language, f"telegram_command_{name}")) for name in COMMANDS
        ]
        await bot.set_my_commands(commands, language_code=code or None)
        published.append(code)
    return published
