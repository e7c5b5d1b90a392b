"""The Telegram channel: webhook (production) or long polling (development) into a durable
per-chat queue in the app database, answered through the assistant with python-telegram-bot as
the Bot API client. See docs/TELEGRAM.md."""
