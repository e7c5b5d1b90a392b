"""Channels patients write on (Telegram); each hands messages to `Assistant.respond`."""
