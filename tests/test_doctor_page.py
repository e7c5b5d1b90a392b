"""The doctor chat page (`/doctor/<token>`) in a real headless Chromium.

The page is served by `render_doctor_page` from a small FastAPI app whose
`/api/v1/doctor/<token>` routes are an in-memory stand-in playing the API's JSON contract
(issue 13). A stand-in only here: the end-to-end test against the real API, with the real token
checks and database, belongs to the router. What is tested is the page's own behaviour: its
language and direction, what it shows first, that text stays text, that replies, hand-back and
bookings call the API, that the event stream is followed and resumed, and that a link that
stops working mid-session takes the patient's data off the screen.

`UPDATE_SCREENSHOTS=1` rewrites docs/screenshots/doctor-chat.png (a phone, 390x844).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Dialog, Page, Route, expect

from serving.api.doctor_page import render_doctor_link_page, render_doctor_page
from serving.api.web import router as web_router
from serving.web import (
    DOCTOR_PAGE_LINK_STATES,
    DOCTOR_UI_TEXT,
    STATIC_DIR,
    TEMPLATES_DIR,
)
from tests.browser import browser_fixture  # noqa: F401

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "doctor-chat.png"
SERVER_START_SECONDS = 30
CLINIC_TIME = ZoneInfo("Asia/Jerusalem")
EN = DOCTOR_UI_TEXT["en"]
HE = DOCTOR_UI_TEXT["he"]


# ---------------------------------------------------------------------------------------------
# The API's contract, played from memory
# ---------------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _today_at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    now = datetime.now(CLINIC_TIME)
    return (now + timedelta(days=days)).replace(hour=hour, minute=minute, second=0, microsecond=0)


@dataclass
class DoctorApiStandIn:
    """One escalated conversation behind one token, as `/api/v1/doctor/<token>` serves it."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    doctor_language: str = "en"
    identified: bool = True
    link_error: tuple[int, str] | None = None
    """(status, error) every route answers with once the link stops working."""
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    """(method, path under the token, JSON body) of every call that changes something."""
    stream_afters: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        opened = datetime.now(CLINIC_TIME) - timedelta(minutes=12)
        self.escalation: dict[str, Any] = {
            "id": "e-5f2a",
            "urgency": "EMERGENCY",
            "status": "open",
            "summary": "Swelling of the lower jaw since last night, pain 8/10, fever",
            "created_at": _iso(opened),
            "opened_at": None,
            "joined_at": None,
            "closed_at": None,
        }
        self.doctor = {"name": "Dr. Avi Cohen", "language": self.doctor_language}
        self.providers = [{"id": 2, "name": "Dr. Avi Cohen"}, {"id": 3, "name": "Dr. Noa Katz"}]
        self.treatments = [
            {"code": "checkup", "name": "Check-up", "duration_minutes": 30},
            {"code": "extraction", "name": "Extraction", "duration_minutes": 45},
        ]
        self.appointments: list[dict[str, Any]] = [
            self._appointment(7, "checkup", _today_at(10, days=9), 3)
        ]
        self.allergies = [
            {"substance": "Penicillin", "reaction": "rash", "severity": "severe"},
            {"substance": "Latex", "reaction": None, "severity": "mild"},
        ]
        self.messages: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any], int | None]] = []
        self.streams_dropped = 0
        self.streams_connected = 0
        self._next_message_id = 10
        self._next_appointment_id = 20
        self.add_message("patient", "My jaw is <b>swollen</b> since yesterday", opened)
        self.add_message(
            "assistant",
            "This sounds urgent. I have alerted the on-call dentist.\n"
            "If you find it hard to breathe or swallow, call 101 now.",
            opened + timedelta(seconds=5),
        )
        self.add_message(
            "doctor",
            "Hello, this is Dr. Cohen. Can you open your mouth fully?",
            opened + timedelta(minutes=3),
            delivery="failed",
        )
        self.events.clear()

    # -- state changes, from the test thread or the server's --

    def _appointment(
        self, number: int, code: str, starts: datetime, provider_id: int
    ) -> dict[str, Any]:
        treatment = next(t for t in self.treatments if t["code"] == code)
        provider = next(p for p in self.providers if p["id"] == provider_id)
        return {
            "id": number,
            "starts_at": _iso(starts),
            "ends_at": _iso(starts + timedelta(minutes=treatment["duration_minutes"])),
            "treatment_code": code,
            "treatment": treatment["name"],
            "provider_id": provider_id,
            "provider": provider["name"],
        }

    def add_message(
        self, role: str, text: str, when: datetime | None = None, delivery: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            self._next_message_id += 1
            message = {
                "id": self._next_message_id,
                "role": role,
                "text": text,
                "created_at": _iso(when or datetime.now(CLINIC_TIME)),
                "author": self.doctor["name"] if role == "doctor" else None,
                "delivery": (delivery or "sent") if role == "doctor" else None,
            }
            self.messages.append(message)
            self.events.append(("message", message, message["id"]))
            return message

    def push(self, event: str, data: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((event, data, None))

    def drop_streams(self) -> None:
        with self.lock:
            self.streams_dropped += 1

    def stop_link(self, status: int, error: str) -> None:
        with self.lock:
            self.link_error = (status, error)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "escalation": dict(self.escalation),
                "doctor": self.doctor,
                "patient": {
                    "id": 3 if self.identified else None,
                    "name": "Dana Levi" if self.identified else None,
                    "phone": "+972 52 555 0134" if self.identified else None,
                    "language": "he",
                    "channel": "telegram",
                    "appointments": list(self.appointments) if self.identified else [],
                    "allergies": list(self.allergies) if self.identified else [],
                },
                "messages": list(self.messages),
                "treatments": self.treatments,
                "providers": self.providers,
            }

    def slots(self, code: str, day: str, provider_id: int | None) -> list[dict[str, Any]]:
        date = datetime.fromisoformat(day).replace(tzinfo=CLINIC_TIME)
        duration = next(t for t in self.treatments if t["code"] == code)["duration_minutes"]
        taken = {a["starts_at"] for a in self.appointments}
        found = []
        for hour, minute, provider in ((9, 0, 2), (11, 30, 3), (16, 15, 2)):
            if provider_id is not None and provider != provider_id:
                continue
            starts = date.replace(hour=hour, minute=minute)
            if _iso(starts) in taken:
                continue
            found.append(
                {
                    "starts_at": _iso(starts),
                    "ends_at": _iso(starts + timedelta(minutes=duration)),
                    "provider_id": provider,
                    "provider": next(p["name"] for p in self.providers if p["id"] == provider),
                }
            )
        return found


def _sse(event: str, data: dict[str, Any], event_id: int | None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


def doctor_page_app(api: DoctorApiStandIn) -> FastAPI:
    """The page as the lead's router will serve it, and the API's contract from memory."""
    app = FastAPI()
    app.include_router(web_router)  # /static: the page's script and style sheet

    def refused(token: str) -> JSONResponse | None:
        if token != api.token:
            return JSONResponse({"error": "link_not_found", "message": "No such link."}, 404)
        if api.link_error is not None:
            status, error = api.link_error
            return JSONResponse({"error": error, "message": "This link is not usable."}, status)
        return None

    @app.get("/doctor/{token}")
    async def doctor_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        if token != api.token:
            return render_doctor_link_page(request, "link_not_found", lang)
        if api.link_error is not None:
            return render_doctor_link_page(request, api.link_error[1], lang)
        return render_doctor_page(
            request, token_path=token, language=lang, doctor_language=api.doctor["language"]
        )

    base = "/api/v1/doctor/{token}"

    @app.get(base)
    async def conversation(token: str) -> Response:
        return refused(token) or JSONResponse(api.snapshot())

    @app.post(base + "/messages")
    async def reply(token: str, request: Request) -> Response:
        if (answer := refused(token)) is not None:
            return answer
        body = await request.json()
        api.requests.append(("POST", "/messages", body))
        text = body.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 4000:
            return JSONResponse({"error": "invalid_text", "message": "1 to 4000 chars."}, 422)
        message = api.add_message("doctor", text)
        return JSONResponse({"message": message, "delivered": True}, 201)

    @app.post(base + "/close")
    async def close(token: str) -> Response:
        if (answer := refused(token)) is not None:
            return answer
        api.requests.append(("POST", "/close", None))
        with api.lock:
            api.escalation["status"] = "closed"
        return JSONResponse({"status": "closed", "transcript_saved": True})

    @app.get(base + "/slots")
    async def slots(
        token: str, treatment: str, date: str, provider_id: int | None = None
    ) -> Response:
        if (answer := refused(token)) is not None:
            return answer
        return JSONResponse({"slots": api.slots(treatment, date, provider_id)})

    @app.post(base + "/appointments")
    async def book(token: str, request: Request) -> Response:
        if (answer := refused(token)) is not None:
            return answer
        body = await request.json()
        api.requests.append(("POST", "/appointments", body))
        api._next_appointment_id += 1
        starts = datetime.fromisoformat(body["starts_at"])
        booked = api._appointment(
            api._next_appointment_id, body["treatment"], starts, body["provider_id"]
        )
        api.appointments.append(booked)
        api.appointments.sort(key=lambda a: str(a["starts_at"]))
        return JSONResponse({"appointment": booked}, 201)

    @app.post(base + "/appointments/{number}/move")
    async def move(token: str, number: int, request: Request) -> Response:
        if (answer := refused(token)) is not None:
            return answer
        body = await request.json()
        api.requests.append(("POST", f"/appointments/{number}/move", body))
        old = next(a for a in api.appointments if a["id"] == number)
        starts = datetime.fromisoformat(body["starts_at"])
        moved = api._appointment(number, old["treatment_code"], starts, body["provider_id"])
        api.appointments[api.appointments.index(old)] = moved
        return JSONResponse({"appointment": moved})

    @app.delete(base + "/appointments/{number}")
    async def cancel(token: str, number: int) -> Response:
        if (answer := refused(token)) is not None:
            return answer
        api.requests.append(("DELETE", f"/appointments/{number}", None))
        old = next(a for a in api.appointments if a["id"] == number)
        api.appointments.remove(old)
        return JSONResponse({"appointment": old})

    @app.get(base + "/events")
    async def events(token: str, after: str | None = None) -> Response:
        if (answer := refused(token)) is not None:
            return answer
        api.stream_afters.append(after)

        async def stream() -> AsyncIterator[str]:
            with api.lock:
                cursor = len(api.events)
                dropped = api.streams_dropped
                last = int(after) if after else 0
                backlog = [m for m in api.messages if m["id"] > last]
                api.streams_connected += 1
            yield ": keep-alive\n\n"
            for message in backlog:
                yield _sse("message", message, message["id"])
            while api.link_error is None:
                with api.lock:
                    if api.streams_dropped != dropped:
                        return
                    fresh, cursor = api.events[cursor:], len(api.events)
                for name, data, event_id in fresh:
                    yield _sse(name, data, event_id)
                await asyncio.sleep(0.05)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    return app


# ---------------------------------------------------------------------------------------------
# Served by uvicorn, opened in Chromium
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    url: str
    api: DoctorApiStandIn

    @property
    def page_path(self) -> str:
        return f"/doctor/{self.api.token}"


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _serve(api: DoctorApiStandIn) -> Iterator[Served]:
    sock = _listening_socket()
    server = uvicorn.Server(
        uvicorn.Config(
            doctor_page_app(api),
            log_config=None,
            access_log=False,
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test app did not start under uvicorn; see the log above")
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", api)
    finally:
        api.stop_link(410, "link_revoked")  # ends the open event streams
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """The page and the stand-in API; `@pytest.mark.parametrize("served", [{...}],
    indirect=True)` sets the stand-in's fields."""
    options: dict[str, Any] = getattr(request, "param", {})
    yield from _serve(DoctorApiStandIn(**options))


def open_page(
    browser: Browser, served: Served, query: str = "", *, phone: bool = False
) -> Iterator[Page]:
    viewport = {"width": 390, "height": 844} if phone else {"width": 1200, "height": 900}
    context = browser.new_context(
        base_url=served.url,
        locale="en-US",
        viewport=viewport,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
    )
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.goto(served.page_path + query)
    expect(page.locator("#doctor")).to_have_attribute("data-ready", "true")
    # Events pushed before the page's stream is connected would not reach it.
    wait_until(page, lambda: served.api.streams_connected > 0)
    try:
        yield page
    finally:
        context.close()
    assert not script_errors, f"the page's script failed: {script_errors}"


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    """The page on a desktop, its labels in English (the doctor's language)."""
    yield from open_page(browser, served)


def wait_until(page: Page, condition: Callable[[], bool], seconds: float = 10) -> None:
    """Let the page run until `condition` holds on the server's side."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the page did not get there in time")
        page.wait_for_timeout(50)


def accept_dialogs(page: Page) -> list[str]:
    """Say yes to every confirm(); the questions asked, in order."""
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return asked


# ---------------------------------------------------------------------------------------------
# Language, direction and what the dentist sees first
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "query", "language", "direction"),
    [
        ({"doctor_language": "en"}, "?lang=he", "he", "rtl"),
        ({"doctor_language": "he"}, "", "he", "rtl"),
        ({"doctor_language": "he"}, "?lang=en", "en", "ltr"),
        ({"doctor_language": "en"}, "", "en", "ltr"),
    ],
    indirect=["served"],
)
def test_the_page_reads_right_to_left_in_hebrew_and_left_to_right_in_english(
    browser: Browser, served: Served, query: str, language: str, direction: str
) -> None:
    for page in open_page(browser, served, query, phone=True):
        html = page.locator("html")
        expect(html).to_have_attribute("lang", language)
        expect(html).to_have_attribute("dir", direction)
        labels = DOCTOR_UI_TEXT[language]
        expect(page.locator("#urgency-badge")).to_have_text(labels["urgency_emergency"])
        expect(page.locator("#status-badge")).to_have_text(labels["status_open"])
        expect(page.locator("#reply-input")).to_have_attribute(
            "placeholder", labels["input_placeholder"]
        )
        # The patient's Hebrew-speaking phone number still reads left to right.
        phone = page.locator("a.patient__phone")
        expect(phone).to_have_attribute("href", "tel:+972525550134")
        expect(phone.locator("bdi")).to_have_attribute("dir", "ltr")
        # Messages keep their own direction whatever the labels' language.
        first = page.locator(".message--patient .bubble__line").first
        expect(first).to_have_attribute("dir", "auto")


def test_the_language_toggle_changes_labels_not_messages(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    page.get_by_role("button", name="עברית").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("button", name=HE["send"])).to_be_visible()
    expect(page.locator("#status-badge")).to_have_text(HE["status_open"])
    expect(page.locator(".message--patient .bubble").first).to_contain_text("My jaw is")
    assert page.evaluate("new URL(location.href).searchParams.get('lang')") == "he"


def test_the_patient_card_puts_allergies_first(page: Page) -> None:
    card = page.locator("#patient")
    expect(card.locator(".patient__name")).to_have_text("Dana Levi")
    allergies = card.locator(".allergies")
    expect(allergies).to_have_class(re.compile(r"\ballergies--present\b"))
    expect(allergies).to_contain_text("Penicillin")
    expect(allergies).to_contain_text(EN["severity_severe"])
    expect(allergies).to_contain_text("rash")
    expect(allergies).to_contain_text("Latex")
    border = allergies.evaluate("node => getComputedStyle(node).borderTopColor")
    assert border == "rgb(185, 28, 28)", "allergies on file are outlined in red"
    order = card.evaluate(
        """card => [...card.querySelectorAll('.allergies, .details, .appointments')]
                   .map(node => node.className.split(' ')[0])"""
    )
    assert order == ["allergies", "details", "appointments"], order
    expect(card).to_contain_text(EN["channel_telegram"])
    expect(card).to_contain_text(EN["language_he"])
    expect(card.locator(".appointment")).to_have_count(1)
    expect(card.locator(".appointment")).to_contain_text("Check-up · Dr. Noa Katz")

    header = page.locator("#escalation")
    expect(header).to_contain_text("Swelling of the lower jaw")
    expect(header.locator("#opened-at time")).to_have_count(1)
    badge_color = page.locator("#urgency-badge").evaluate(
        "node => getComputedStyle(node).backgroundColor"
    )
    assert badge_color == "rgb(185, 28, 28)", "an emergency badge is red"


def test_the_history_is_rendered_as_text_never_as_markup(page: Page) -> None:
    messages = page.locator("#messages .message")
    expect(messages).to_have_count(3)
    roles = [messages.nth(i).get_attribute("class") for i in range(3)]
    assert [re.search(r"message--(\w+)", r or "").group(1) for r in roles] == [
        "patient",
        "assistant",
        "doctor",
    ]
    expect(messages.first.locator(".bubble")).to_have_text(
        "My jaw is <b>swollen</b> since yesterday"
    )
    assert page.locator("#messages b").count() == 0
    expect(messages.nth(1).locator(".bubble__line")).to_have_count(2)
    doctor = messages.nth(2)
    expect(doctor).to_contain_text("Dr. Avi Cohen")
    expect(doctor.locator(".message__delivery")).to_have_text(EN["delivery_failed"])
    expect(doctor.locator("time")).to_have_count(1)


@pytest.mark.parametrize("served", [{"identified": False}], indirect=True)
def test_an_unidentified_patient_has_no_booking_panel(page: Page) -> None:
    expect(page.locator(".patient__name")).to_have_text(EN["unidentified_patient"])
    expect(page.locator("#patient")).to_contain_text(EN["no_allergies"])
    expect(page.locator("#patient")).to_contain_text(EN["no_phone"])
    expect(page.locator("#booking-unavailable")).to_have_text(EN["booking_unavailable"])
    expect(page.locator("#slot-search")).to_be_hidden()


# ---------------------------------------------------------------------------------------------
# Replying, live updates, handing back
# ---------------------------------------------------------------------------------------------


def test_a_reply_is_posted_and_shown(page: Page, served: Served) -> None:
    textbox = page.locator("#reply-input")
    textbox.fill("Please come to the clinic now, I will see you at 18:00.")
    with page.expect_response(re.compile(r"/messages$")):
        page.get_by_role("button", name=EN["send"]).click()

    assert served.api.requests[-1] == (
        "POST",
        "/messages",
        {"text": "Please come to the clinic now, I will see you at 18:00."},
    )
    mine = page.locator(".message--doctor").last
    expect(mine).to_contain_text("I will see you at 18:00")
    expect(mine.locator(".message__delivery")).to_have_text(EN["delivery_sent"])
    expect(textbox).to_have_value("")
    # The stream repeats the message: still shown once.
    page.wait_for_timeout(300)
    expect(page.locator(".message--doctor", has_text="18:00")).to_have_count(1)

    textbox.fill("And bring your medication list.")
    textbox.press("Enter")  # a keyboard: Enter sends
    expect(page.locator(".message--doctor").last).to_contain_text("medication list")


def test_a_failed_reply_can_be_sent_again(page: Page, served: Served) -> None:
    held: list[Route] = []
    page.route("**/messages", lambda route: held.append(route))
    textbox = page.locator("#reply-input")
    send = page.get_by_role("button", name=re.compile(f"{EN['send']}|{EN['sending']}"))
    textbox.fill("Are you able to swallow?")
    send.click()
    expect(send).to_be_disabled()
    expect(send).to_have_text(EN["sending"])
    wait_until(page, lambda: len(held) == 1)
    held[0].fulfill(status=500, json={"error": "internal_error"})
    expect(page.locator("#send-error")).to_contain_text(EN["error_server"])
    expect(send).to_be_enabled()
    expect(textbox).to_have_value("Are you able to swallow?")

    page.unroute("**/messages")
    page.get_by_role("button", name=EN["retry"]).click()
    expect(page.locator(".message--doctor").last).to_contain_text("able to swallow")
    expect(page.locator("#send-error")).to_be_hidden()
    assert served.api.requests[-1][2] == {"text": "Are you able to swallow?"}


def test_pushed_messages_appear_live_and_the_stream_resumes_after_a_drop(
    page: Page, served: Served
) -> None:
    api = served.api
    wait_until(page, lambda: len(api.stream_afters) >= 1)
    assert api.stream_afters[0] == str(api.messages[-1]["id"]), "it starts after the history"

    pushed = api.add_message("patient", "Yes, but it hurts a lot <script>x</script>")
    live = page.locator(f'[data-message-id="{pushed["id"]}"]')
    expect(live).to_contain_text("it hurts a lot <script>x</script>")
    expect(live).to_have_class(re.compile(r"\bmessage--patient\b"))

    failed = next(m for m in api.messages if m["role"] == "doctor")
    api.push("delivery", {"message_id": failed["id"], "delivery": "sent"})
    expect(page.locator(f'[data-message-id="{failed["id"]}"] .message__delivery')).to_have_text(
        EN["delivery_sent"]
    )
    api.push("escalation", {"status": "claimed", "urgency": "DOCTOR_REQUIRED"})
    expect(page.locator("#status-badge")).to_have_text(EN["status_claimed"])
    expect(page.locator("#urgency-badge")).to_have_text(EN["urgency_doctor_required"])

    api.drop_streams()
    wait_until(page, lambda: len(api.stream_afters) >= 2)
    assert api.stream_afters[1] == str(pushed["id"]), "reconnects after the newest message"
    after_drop = api.add_message("patient", "Are you still there?")
    expect(page.locator(f'[data-message-id="{after_drop["id"]}"]')).to_be_visible()
    expect(page.locator("#messages .message")).to_have_count(5)


def test_handing_back_closes_the_conversation(page: Page, served: Served) -> None:
    asked = accept_dialogs(page)
    with page.expect_response(re.compile(r"/close$")):
        page.get_by_role("button", name=EN["hand_back"]).click()

    assert asked == [EN["hand_back_confirm"]]
    assert served.api.requests[-1] == ("POST", "/close", None)
    expect(page.locator("#composer")).to_be_hidden()
    expect(page.locator("#closed-notice")).to_have_text(EN["closed_notice"])
    expect(page.locator("#status-badge")).to_have_text(EN["status_closed"])
    expect(page.get_by_role("button", name=EN["hand_back"])).to_be_hidden()
    expect(page.locator("#booking")).to_be_hidden()


def test_a_closed_event_from_the_stream_closes_the_page(page: Page, served: Served) -> None:
    served.api.push("closed", {})
    expect(page.locator("#composer")).to_be_hidden()
    expect(page.locator("#closed-notice")).to_be_visible()


@pytest.mark.parametrize(
    ("noticed_by", "status", "error"),
    [("a reply", 410, "link_revoked"), ("the stream's end", 410, "escalation_closed")],
)
def test_a_link_that_stops_working_mid_session_takes_the_data_off_the_page(
    page: Page, served: Served, noticed_by: str, status: int, error: str
) -> None:
    expect(page.locator(".patient__name")).to_have_text("Dana Levi")
    served.api.stop_link(status, error)  # the stand-in also ends the open event stream
    if noticed_by == "a reply":
        page.locator("#reply-input").fill("Still there?")
        page.get_by_role("button", name=EN["send"]).click()

    notice = page.locator("#link-notice")
    expect(notice).to_be_visible(timeout=10_000)
    expect(notice).to_contain_text(DOCTOR_PAGE_LINK_STATES["en"][error]["title"])
    expect(notice).to_contain_text(DOCTOR_PAGE_LINK_STATES["en"][error]["advice"])
    body = page.locator("body").inner_text()
    for private in ("Dana Levi", "Penicillin", "555 0134", "My jaw", "Swelling"):
        assert private not in body
    expect(page.locator("#reply-input")).to_have_count(0)


# ---------------------------------------------------------------------------------------------
# Booking for this patient
# ---------------------------------------------------------------------------------------------


def test_a_slot_is_booked_moved_and_cancelled(page: Page, served: Served) -> None:
    api = served.api
    asked = accept_dialogs(page)
    day = _today_at(9, days=2).date().isoformat()
    booking = page.locator("#booking")
    booking.get_by_label(EN["treatment_label"]).select_option("extraction")
    booking.get_by_label(EN["date_label"]).fill(day)
    booking.get_by_role("button", name=EN["find_slots"]).click()
    slots = booking.locator(".slot")
    expect(slots).to_have_count(3)
    expect(slots.first).to_contain_text("09:00")
    expect(slots.first).to_contain_text("Dr. Avi Cohen")

    chosen = api.slots("extraction", day, None)[1]
    with page.expect_response(re.compile(r"/appointments$")):
        slots.nth(1).get_by_role("button", name=EN["book"]).click()
    assert api.requests[-1] == (
        "POST",
        "/appointments",
        {"treatment": "extraction", "starts_at": chosen["starts_at"], "provider_id": 3},
    )
    appointments = page.locator("#patient .appointment")
    expect(appointments).to_have_count(2)  # the card is refreshed
    expect(page.locator("#booking-status")).to_contain_text(EN["booked"].split("{")[0].strip())
    expect(slots).to_have_count(0)

    booked = next(a for a in api.appointments if a["treatment_code"] == "extraction")
    row = page.locator(f'#patient .appointment[data-appointment-id="{booked["id"]}"]')
    row.get_by_role("button", name=EN["move"]).click()
    expect(page.locator("#moving")).to_be_visible()
    expect(booking.get_by_label(EN["treatment_label"])).to_be_disabled()
    expect(slots).to_have_count(2)  # the booked 11:30 is taken
    with page.expect_response(re.compile(r"/move$")):
        slots.last.get_by_role("button", name=EN["move_here"]).click()
    method, path, body = api.requests[-1]
    assert (method, path) == ("POST", f"/appointments/{booked['id']}/move")
    assert body["starts_at"].startswith(f"{day}T16:15") and body["provider_id"] == 2
    expect(page.locator("#moving")).to_be_hidden()
    expect(row).to_contain_text("Extraction · Dr. Avi Cohen")

    with page.expect_response(re.compile(rf"/appointments/{booked['id']}$")):
        row.get_by_role("button", name=EN["cancel_appointment"]).click()
    assert asked and asked[-1].startswith(EN["cancel_confirm"].split("{")[0])
    assert api.requests[-1] == ("DELETE", f"/appointments/{booked['id']}", None)
    expect(appointments).to_have_count(1)


# ---------------------------------------------------------------------------------------------
# The screenshot
# ---------------------------------------------------------------------------------------------


def test_the_page_on_a_phone(browser: Browser, served: Served, tmp_path: Path) -> None:
    for page in open_page(browser, served, phone=True):
        composer = page.locator("#composer")
        expect(composer).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "nothing wider than the phone's screen"
        box = composer.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 844 + 1, "the reply box is in view"
        page.locator("#reply-input").press("Enter")  # on a phone Enter is a new line
        assert not any(r[1] == "/messages" for r in served.api.requests)
        page.locator("#reply-input").fill("")
        page.locator("#reply-input").blur()
        page.screenshot(path=tmp_path / "doctor-chat.png")
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOT)


# ---------------------------------------------------------------------------------------------
# The server's side: headers, the "link not usable" page, the labels
# ---------------------------------------------------------------------------------------------


def test_the_page_keeps_the_token_private_and_loads_nothing_from_outside() -> None:
    api = DoctorApiStandIn()
    with TestClient(doctor_page_app(api)) as client:
        page = client.get(f"/doctor/{api.token}")
        linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assets = {url: client.get(url) for url in linked if not url.startswith("data:")}

    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert f'data-api-url="/api/v1/doctor/{api.token}"' in page.text
    assert {url.split("?")[0] for url in assets} == {
        "/static/text.js",
        "/static/doctor.js",
        "/static/common.css",
        "/static/doctor.css",
    }
    assert all(response.status_code == 200 for response in assets.values())
    assert "<script>" not in page.text and "style=" not in page.text, "no inline script or style"
    for source in (page.text, *(response.text for response in assets.values())):
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", source, re.IGNORECASE)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("link_not_found", 404),
        ("link_expired", 410),
        ("link_revoked", 410),
        ("escalation_closed", 410),
        ("anything-else", 404),
    ],
)
def test_a_link_that_is_not_usable_gets_a_clear_page_without_data(state: str, status: int) -> None:
    api = DoctorApiStandIn()
    if state != "link_not_found":
        api.stop_link(status, state)
    token = api.token if state != "link_not_found" else "x" * 43
    with TestClient(doctor_page_app(api)) as client:
        both = client.get(f"/doctor/{token}", headers={"Accept-Language": "he,en;q=0.5"})
        english = client.get(f"/doctor/{token}?lang=en")

    known = state if state in DOCTOR_PAGE_LINK_STATES["en"] else "link_not_found"
    assert both.status_code == english.status_code == status
    for response in (both, english):
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert "doctor.js" not in response.text
        for private in ("Dana Levi", "Penicillin", "0134", "jaw", api.token):
            assert private not in response.text
    assert both.text.index(DOCTOR_PAGE_LINK_STATES["he"][known]["title"]) < both.text.index(
        DOCTOR_PAGE_LINK_STATES["en"][known]["title"]
    ), "both languages, the browser's preferred first"
    assert '<html lang="he" dir="rtl">' in both.text
    assert DOCTOR_PAGE_LINK_STATES["en"][known]["advice"] in english.text
    assert DOCTOR_PAGE_LINK_STATES["he"][known]["title"] not in english.text
    assert '<html lang="en" dir="ltr">' in english.text


def test_every_label_the_doctor_page_uses_exists_in_both_languages() -> None:
    assert DOCTOR_UI_TEXT["he"].keys() == DOCTOR_UI_TEXT["en"].keys()
    assert DOCTOR_PAGE_LINK_STATES["he"].keys() == DOCTOR_PAGE_LINK_STATES["en"].keys()
    for texts in DOCTOR_PAGE_LINK_STATES.values():
        assert all(text["title"] and text["advice"] for text in texts.values())
    template = (TEMPLATES_DIR / "doctor.html").read_text(encoding="utf-8")
    script = (STATIC_DIR / "doctor.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-(?:text|placeholder|label|title)="([a-z_]+)"', template))
    used |= set(re.findall(r"\{\{\s*text\.([a-z_]+)", template))
    used |= set(re.findall(r'\bt\("([a-z_]+)"', script))
    used |= set(re.findall(r'uiLabel\([^)]*"([a-z_]+)"\)', script))
    # The labels picked by value: URGENCY_LABELS, STATUS_LABELS, ... in doctor.js.
    picked = "urgency|status|role|delivery|severity|channel|language|error"
    used |= set(re.findall(rf'"((?:{picked})_[a-z_]+)"', script))
    assert used, "the label references were not found; update this test's patterns"
    assert used <= DOCTOR_UI_TEXT["en"].keys(), used - DOCTOR_UI_TEXT["en"].keys()
