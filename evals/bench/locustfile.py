"""Locust users for `flows.load_test`: patients chatting with the assistant, and a baseline.

The flow runs this file in a child process (`python -m locust -f evals/bench/locustfile.py
--headless ...`). Never import it from other code: importing Locust monkey-patches the
standard library with gevent.

Who the users are:
- `VerifiedPatient`: a patient of the clinic on a trusted integration (the integration key and
  the patient's phone), in English or Hebrew: greets, books (asks, taps a slot, confirms), asks
  about invoices, the clinic and the next appointment.
- `AnonymousVisitor`: someone on the web chat without an identity: clinic questions, and a
  booking request that is answered with "first tell me who you are".
- `HealthProbe`: `GET /health` at the same pace, the baseline for the same machine and run.

Every user waits a think time between messages (default 2-6 s: reading the reply and typing
the next message). Configuration comes from the flow through environment variables
(`LOAD_TEST_*`), so the integration key never appears on a command line.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from locust import HttpUser, between, task

INTEGRATION_KEY_VARIABLE = "LOAD_TEST_INTEGRATION_KEY"
PHONES_VARIABLE = "LOAD_TEST_PATIENT_PHONES"
"""Comma-separated phones of patients the target clinic knows (its verified patients)."""
THINK_TIME_VARIABLE = "LOAD_TEST_THINK_TIME"
"""`min,max` seconds between two messages of one user."""

REQUEST_TIMEOUT_SECONDS = 30.0


def _think_time() -> tuple[float, float]:
    low, _, high = os.environ.get(THINK_TIME_VARIABLE, "2,6").partition(",")
    return float(low), float(high)


THINK_TIME_SECONDS = _think_time()


@dataclass(frozen=True)
class Say:
    """The patient types `text`."""

    step: str
    text: str


@dataclass(frozen=True)
class Tap:
    """The patient taps the first button of the last reply whose data starts with `prefix`;
    skipped when the reply offered none (e.g. no free slot)."""

    step: str
    prefix: str


Step = Say | Tap
Conversation = tuple[Step, ...]

VERIFIED_CONVERSATIONS: tuple[Conversation, ...] = (
    (
        Say("greeting", "hi"),
        Say("booking request", "I want to book a cleaning next week"),
        Tap("pick a slot", "slot:"),
        Tap("confirm booking", "confirm:"),
        Say("thanks", "thanks!"),
    ),
    (
        Say("greeting", "שלום"),
        Say("booking request", "אני רוצה לקבוע תור לבדיקה"),
        Tap("pick a slot", "slot:"),
        Tap("confirm booking", "confirm:"),
        Say("thanks", "תודה רבה"),
    ),
    (
        Say("greeting", "good morning"),
        Say("invoice question", "how much do I owe?"),
        Say("clinic info", "what are your opening hours?"),
        Say("next appointment", "when is my next appointment?"),
        Say("thanks", "thanks, bye"),
    ),
    (
        Say("greeting", "היי"),
        Say("invoice question", "כמה אני חייב?"),
        Say("clinic info", "מה הכתובת של המרפאה?"),
        Say("next appointment", "מתי התור הבא שלי?"),
        Say("thanks", "תודה"),
    ),
)

ANONYMOUS_CONVERSATIONS: tuple[Conversation, ...] = (
    (
        Say("greeting", "hello"),
        Say("clinic info", "what are your opening hours?"),
        Say("clinic info", "where is the clinic?"),
        Say("booking request", "can I book a checkup?"),
    ),
    (
        Say("greeting", "שלום"),
        Say("clinic info", "מה שעות הפתיחה?"),
        Say("clinic info", "איפה המרפאה?"),
        Say("booking request", "אפשר לקבוע תור?"),
    ),
)


class ChatUser(HttpUser):
    """One person in one chat window after another: each conversation gets a fresh user id."""

    abstract = True
    wait_time = between(*THINK_TIME_SECONDS)
    conversations: tuple[Conversation, ...] = ()
    kind = "chat"

    def on_start(self) -> None:
        self._steps: Iterator[Step] = iter(())
        self._user_id = ""
        self._buttons: list[dict[str, str]] = []

    def headers(self) -> dict[str, str]:
        return {}

    def identity(self) -> dict[str, str]:
        return {}

    def check(self, step: Step, reply: dict[str, Any]) -> str | None:
        """What is wrong with a well-formed reply, or None."""
        return None

    @task
    def send_next_message(self) -> None:
        step, body = self._next_turn()
        with self.client.post(
            "/api/v1/chat",
            json={"user_id": self._user_id, **body, **self.identity()},
            headers=self.headers(),
            name=f"{self.kind}: {step.step}",
            timeout=REQUEST_TIMEOUT_SECONDS,
            catch_response=True,
        ) as response:
            if response.status_code == 0:  # no HTTP answer at all: say what happened instead
                response.failure(f"no response: {response.error!r}")
                return
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                reply = response.json()
            except ValueError:
                response.failure("reply is not JSON")
                return
            if not isinstance(reply, dict) or not reply.get("reply"):
                response.failure("reply without text")
                return
            problem = self.check(step, reply)
            if problem is not None:
                response.failure(problem)
                return
            self._buttons = list(reply.get("buttons") or [])

    def _next_turn(self) -> tuple[Step, dict[str, str]]:
        while True:
            step = next(self._steps, None)
            if step is None:
                self._start_conversation()
                continue
            if isinstance(step, Say):
                return step, {"text": step.text}
            button = next((b for b in self._buttons if b["data"].startswith(step.prefix)), None)
            if button is not None:
                return step, {"button": button["data"]}

    def _start_conversation(self) -> None:
        self._steps = iter(random.choice(self.conversations))  # noqa: S311 - not security
        self._user_id = f"load-{uuid.uuid4().hex[:16]}"
        self._buttons = []


class VerifiedPatient(ChatUser):
    weight = 3
    conversations = VERIFIED_CONVERSATIONS
    kind = "patient"

    def on_start(self) -> None:
        super().on_start()
        key = os.environ.get(INTEGRATION_KEY_VARIABLE, "")
        phones = [p for p in os.environ.get(PHONES_VARIABLE, "").split(",") if p]
        if not key or not phones:
            raise RuntimeError(
                f"VerifiedPatient needs {INTEGRATION_KEY_VARIABLE} and {PHONES_VARIABLE}"
            )
        self._authorization = f"Bearer {key}"
        self._phone = random.choice(phones)  # noqa: S311 - not security

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._authorization}

    def identity(self) -> dict[str, str]:
        return {"phone": self._phone}

    def check(self, step: Step, reply: dict[str, Any]) -> str | None:
        actions = {action.get("type") for action in reply.get("actions") or []}
        if "identity_required" in actions:
            return "a verified patient was asked to identify"
        return None


class AnonymousVisitor(ChatUser):
    weight = 1
    conversations = ANONYMOUS_CONVERSATIONS
    kind = "anonymous"


class HealthProbe(HttpUser):
    """The baseline: the cheapest endpoint of the same server, at the same pace."""

    wait_time = between(*THINK_TIME_SECONDS)

    @task
    def health(self) -> None:
        self.client.get("/health", name="health", timeout=REQUEST_TIMEOUT_SECONDS)
