"""Locust users for `evals.bench.telegram`: Telegram delivering updates to the webhook.

Run by the benchmark in a child process (`python -m locust -f evals/bench/telegram_locustfile.py
--headless ...`); never import it from other code (Locust monkey-patches the standard library
with gevent).

Each user is one private chat that receives an update every `TELEGRAM_BENCH_INTERVAL` seconds
on average, at random moments (a Poisson process: the next update comes an exponentially
distributed time after the previous one was due, whatever the server's answer time). Patients
write independently of each other, so many chats together arrive as a Poisson stream, which is
how a busy bot's traffic reaches its webhook. (Locust's `constant_throughput` keeps each user's
phase: after any stall every late user fires at once and they stay in step, so the server
would see all chats in one burst per interval, a load no set of independent patients makes.)
The stream is mostly patients' text messages in Hebrew and English, some commands and button
presses, and 1 in 20 updates delivered a second time (Telegram's retry after a timeout), which
must be acknowledged as a duplicate.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from typing import Any

from locust import FastHttpUser, constant_throughput, task

SECRET = os.environ.get("TELEGRAM_BENCH_SECRET", "")
INTERVAL = float(os.environ.get("TELEGRAM_BENCH_INTERVAL", "1.0"))
TEXTS = (
    "what are your opening hours?",
    "hi",
    "I want to book a cleaning next week",
    "מה שעות הפתיחה?",
    "שלום",
    "אני רוצה לקבוע תור לבדיקה",
    "do you take Maccabi insurance?",
    "how much do I owe?",
)
COMMANDS = ("/start", "/help")
_chat_ids = itertools.count(1_000_000)
_rng = random.Random()  # noqa: S311 - load generation, not security


PACING = os.environ.get("TELEGRAM_BENCH_PACING", "poisson")
"""`poisson` (the default, above) or `in-step`: Locust's `constant_throughput`, kept as a
stress test; after any stall every chat fires at once, and they stay in step."""
_in_step = constant_throughput(1.0 / INTERVAL)


class TelegramChat(FastHttpUser):
    def wait_time(self) -> float:
        """Until this chat's next update is due (open loop: answer time does not slow it)."""
        if PACING == "in-step":
            return float(_in_step(self))
        self.due += _rng.expovariate(1.0 / INTERVAL)
        return max(0.0, self.due - time.monotonic())

    def on_start(self) -> None:
        self.due = time.monotonic() + _rng.uniform(0, INTERVAL)
        self.chat_id = next(_chat_ids) * 100 + _rng.randrange(100)
        self.updates = itertools.count(self.chat_id * 10_000)
        self.last: dict[str, Any] | None = None

    def _message(self, text: str) -> dict[str, Any]:
        return {
            "update_id": next(self.updates),
            "message": {
                "message_id": _rng.randrange(1, 1 << 30),
                "date": int(time.time()),
                "chat": {"id": self.chat_id, "type": "private", "first_name": "Bench"},
                "from": {"id": self.chat_id, "is_bot": False, "first_name": "Bench"},
                "text": text,
            },
        }

    def _press(self) -> dict[str, Any]:
        return {
            "update_id": next(self.updates),
            "callback_query": {
                "id": str(_rng.randrange(1 << 40)),
                "from": {"id": self.chat_id, "is_bot": False, "first_name": "Bench"},
                "chat_instance": "bench",
                "data": "quick:invoices",
                "message": {
                    "message_id": 1,
                    "date": int(time.time()),
                    "chat": {"id": self.chat_id, "type": "private"},
                    "text": "menu",
                },
            },
        }

    def _post(self, update: dict[str, Any], name: str, duplicate: bool = False) -> None:
        with self.client.post(
            "/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif duplicate and response.json().get("duplicate") is False:
                response.failure("a re-delivered update was stored twice")
            else:
                response.success()

    @task(16)
    def text_message(self) -> None:
        self.last = self._message(_rng.choice(TEXTS))
        self._post(self.last, "update: text message")

    @task(2)
    def command(self) -> None:
        self.last = self._message(_rng.choice(COMMANDS))
        self._post(self.last, "update: command")

    @task(1)
    def button_press(self) -> None:
        self.last = self._press()
        self._post(self.last, "update: button press")

    @task(1)
    def redelivery(self) -> None:
        """Telegram re-sends the last update (it timed out waiting for our answer)."""
        if self.last is None:
            self.text_message()
            return
        self._post(self.last, "update: re-delivered", duplicate=True)
