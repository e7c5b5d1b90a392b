"""The patient web chat page at `/`: served by the app, and used in a real headless Chromium
against the real app (uvicorn on a local port, SQLite with the demo clinic).

The conversations go to the real `POST /api/v1/chat` and the assistant behind it. Failures the
assistant cannot be asked to produce (a rate limit, a dropped connection, a reply full of HTML)
are played by intercepting the request in the browser, so the page's own handling is what is
tested and the server stays the real one. `UPDATE_SCREENSHOTS=1` rewrites
docs/screenshots/web-chat.png; otherwise nothing is written into the tree.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from fastapi import FastAPI
from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    Response,
    Route,
    expect,
)

from serving.app import create_app
from serving.assistant import Button, Outbox, Place
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.web import STATIC_DIR, TEMPLATES_DIR, UI_TEXT, UiLanguage, choose_ui_language
from tests.asgi import ServedApp, running, served_in_thread
from tests.browser import browser_fixture  # noqa: F401
from tests.conftest import make_settings

T = TypeVar("T")
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "web-chat.png"
SERVER_START_SECONDS = 30
REPLY_TIMEOUT_MS = 20_000
CHAT_ROUTE = "**/api/v1/chat"

ASSISTANT = ".message--assistant:not(.message--typing)"
USER = ".message--user"


# ---------------------------------------------------------------------------------------------
# The page as the app serves it
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def page_app(tmp_path: Path) -> FastAPI:
    """The app; the page itself never touches the database, so an empty SQLite file does."""
    return create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'page.db'}"))


@pytest.mark.parametrize(
    ("url", "headers", "language", "direction"),
    [
        ("/", {"Accept-Language": "he-IL,he;q=0.9,en-US;q=0.8"}, "he", "rtl"),
        ("/", {"Accept-Language": "en-GB,en;q=0.9,he;q=0.5"}, "en", "ltr"),
        ("/", {"Accept-Language": "ru-RU,ru;q=0.9"}, "en", "ltr"),
        ("/?lang=he", {"Accept-Language": "en"}, "he", "rtl"),
        ("/", {"Cookie": "ui_lang=he", "Accept-Language": "en"}, "he", "rtl"),
        ("/?lang=en", {"Cookie": "ui_lang=he"}, "en", "ltr"),
    ],
)
async def test_the_page_speaks_the_visitors_language(
    page_app: FastAPI, url: str, headers: dict[str, str], language: UiLanguage, direction: str
) -> None:
    async with running(page_app) as client:
        response = await client.get(url, headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f'<html lang="{language}" dir="{direction}">' in response.text
    labels = UI_TEXT[language]
    assert f'placeholder="{labels["input_placeholder"]}"' in response.text
    assert labels["automated_note"] in response.text


@pytest.mark.parametrize(
    ("requested", "remembered", "accept_language", "expected"),
    [
        (None, None, None, "en"),
        (None, None, "", "en"),
        (None, None, "fr, he;q=0.4, en;q=0.3", "he"),
        (None, None, "iw", "he"),
        (None, None, "he;q=0, en;q=0.1", "en"),
        (None, None, "he;q=bogus, en;q=0.2", "en"),
        ("xx", "HE", "en", "he"),
        ("en-US", "he", "he", "en"),
    ],
)
def test_the_interface_language_is_chosen_from_url_cookie_then_browser(
    requested: str | None, remembered: str | None, accept_language: str | None, expected: str
) -> None:
    assert choose_ui_language(requested, remembered, accept_language) == expected


async def test_the_page_loads_nothing_from_outside_the_app(page_app: FastAPI) -> None:
    async with running(page_app) as client:
        page = await client.get("/")
        linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assets = {url: await client.get(url) for url in linked if not url.startswith("data:")}

    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert {url.split("?")[0] for url in assets} == {
        "/static/text.js",
        "/static/chat.js",
        "/static/common.css",
        "/static/chat.css",
    }
    assert all(response.status_code == 200 for response in assets.values())
    content_types = {url.split("?")[0]: r.headers["content-type"] for url, r in assets.items()}
    assert content_types["/static/chat.js"].startswith("text/javascript")
    assert content_types["/static/chat.css"].startswith("text/css")
    for source in (page.text, *(response.text for response in assets.values())):
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", source, re.IGNORECASE), (
            "the page must work without a CDN: no external fonts, scripts or styles"
        )


def test_every_label_the_page_uses_exists_in_both_languages() -> None:
    assert UI_TEXT["he"].keys() == UI_TEXT["en"].keys()
    template = (TEMPLATES_DIR / "chat.html").read_text(encoding="utf-8")
    script = (STATIC_DIR / "chat.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-(?:text|placeholder|label|title)="([a-z_]+)"', template))
    used |= set(re.findall(r'\bt\("([a-z_]+)"', script))
    used |= set(re.findall(r'uiLabel\([^)]*"([a-z_]+)"\)', script))
    used |= set(re.findall(r'key: "([a-z_]+)"', script))
    used |= set(re.findall(r'"((?:escalation|error|verify)_[a-z_]+)"', script))
    assert used, "the label references were not found; update this test's patterns"
    assert used <= UI_TEXT["en"].keys(), used - UI_TEXT["en"].keys()


# ---------------------------------------------------------------------------------------------
# The page in a real browser, against the real app
# ---------------------------------------------------------------------------------------------


async def _prepare_clinic_database(url: str) -> None:
    database = Database(url)
    try:
        await upgrade_database(database.engine)
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def clinic_url(clinic: ServedApp) -> str:
    return clinic.url


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The real app served by uvicorn in a thread: migrated SQLite, demo clinic loaded."""
    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('web-chat') / 'clinic.db'}"
    # Its own thread and loop: the test session's event loop is not to be borrowed or closed.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _prepare_clinic_database(database_url)).result()
    app = create_app(make_settings(database_url, load_demo_data=True))
    with served_in_thread(app) as served:
        yield served


@pytest.fixture
def page(browser: Browser, clinic_url: str) -> Iterator[Page]:
    """A fresh visitor (own storage and cookies) with the chat page open in English."""
    context = browser.new_context(
        base_url=clinic_url, locale="en-US", viewport={"width": 1000, "height": 900}
    )
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    try:
        yield page
    finally:
        context.close()
    assert not script_errors, f"the page's script failed: {script_errors}"


def is_chat_response(response: Response) -> bool:
    return response.url.endswith("/api/v1/chat")


def send_text(page: Page, text: str) -> None:
    page.get_by_role("textbox").fill(text)
    page.get_by_role("textbox").press("Enter")


def wait_for_reply_number(page: Page, count: int) -> Locator:
    """The `count`th assistant message, once it is there (and the page is idle again)."""
    replies = page.locator(ASSISTANT)
    expect(replies).to_have_count(count, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".message--typing")).to_have_count(0)
    return replies.nth(count - 1)


def laid_out_direction(bubble: Locator) -> str:
    """Where the bubble's first line starts on screen: "rtl" (right edge) or "ltr" (left), as
    Chromium actually laid it out, not just what the `dir` attribute says."""
    return str(
        bubble.locator(".bubble__line").first.evaluate(
            """line => {
                const text = document.createTreeWalker(line, NodeFilter.SHOW_TEXT).nextNode();
                const range = document.createRange();
                range.setStart(text, 0);
                range.setEnd(text, 1);
                const first = range.getBoundingClientRect();
                const box = line.getBoundingClientRect();
                return first.left - box.left < box.right - first.right ? "ltr" : "rtl";
            }"""
        )
    )


def character_positions(line: Locator, text: str) -> list[float]:
    """The on-screen x of each character of `text` where it occurs in `line`."""
    positions = line.evaluate(
        """(line, text) => {
            const start = line.textContent.indexOf(text);
            const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
            const xs = [];
            let seen = 0;
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                for (let i = 0; i < node.length; i += 1, seen += 1) {
                    if (seen < start || seen >= start + text.length) continue;
                    const range = document.createRange();
                    range.setStart(node, i);
                    range.setEnd(node, i + 1);
                    xs.push(range.getBoundingClientRect().left);
                }
            }
            return xs;
        }""",
        text,
    )
    return [float(x) for x in positions]


def test_a_patient_chats_in_english_and_hebrew(page: Page, tmp_path: Path) -> None:
    """Needs the real `POST /api/v1/chat` (issue 3, the assistant): the page is the client."""
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.locator("#automated-note")).to_have_text(UI_TEXT["en"]["automated_note"])
    user_id = page.evaluate("localStorage.getItem('dental-chat.user-id')")
    assert re.fullmatch(r"web-[0-9a-f]{32}", user_id)

    send_text(page, "Hello! What can you help me with?")
    expect(page.locator(USER).last.locator(".bubble")).to_have_attribute("dir", "ltr")
    english = wait_for_reply_number(page, 1)
    expect(english.locator(".bubble")).to_have_attribute("dir", "ltr")
    expect(english.locator(".bubble")).to_have_attribute("lang", "en")
    expect(english.locator(".bubble")).not_to_be_empty()
    assert laid_out_direction(english.locator(".bubble")) == "ltr"

    # The assistant offers quick actions (book, invoices, a dentist) when greeted.
    offered = english.locator(".reply-button")
    expect(offered.first).to_be_visible()
    choice = offered.first.inner_text()
    offered.first.click()
    expect(page.locator(USER).last).to_contain_text(choice)
    follow_up = wait_for_reply_number(page, 2)
    expect(follow_up.locator(".bubble")).not_to_be_empty()
    expect(english.locator(".reply-buttons")).to_have_count(0)  # answered: gone

    with page.expect_response(is_chat_response) as before_reload:
        send_text(page, "שלום, אני רוצה לקבוע תור לבדיקה אצל רופא השיניים")
    conversation = before_reload.value.json()["conversation_id"]
    expect(page.locator(USER).last.locator(".bubble")).to_have_attribute("dir", "rtl")
    hebrew = wait_for_reply_number(page, 3)
    expect(hebrew.locator(".bubble")).to_have_attribute("dir", "rtl")
    expect(hebrew.locator(".bubble")).to_have_attribute("lang", "he")
    assert laid_out_direction(hebrew.locator(".bubble")) == "rtl"
    assert laid_out_direction(page.locator(USER).last.locator(".bubble")) == "rtl"
    expect(page.locator("html")).to_have_attribute("dir", "ltr")  # the UI stays in English

    page.screenshot(path=tmp_path / "web-chat.png")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # the tracked one, only when asked
        page.screenshot(path=SCREENSHOT)

    page.reload()  # the transcript is still there, and the server continues the conversation
    expect(page.locator(ASSISTANT)).to_have_count(3)
    assert page.evaluate("localStorage.getItem('dental-chat.user-id')") == user_id
    with page.expect_response(is_chat_response) as after_reload:
        send_text(page, "Thank you!")
    wait_for_reply_number(page, 4)
    assert after_reload.value.json()["conversation_id"] == conversation


def test_a_message_from_the_clinic_reaches_the_open_chat(page: Page, clinic: ServedApp) -> None:
    """A dentist's reply pushed to the conversation (serving.assistant.Outbox) shows up in the
    open page without the patient asking, with its reply button and the clinic on a map."""
    with page.expect_response(is_chat_response) as first:
        send_text(page, "Hello")
    wait_for_reply_number(page, 1)
    conversation = first.value.json()["conversation_id"]
    outbox: Outbox = clinic.app.state.outbox
    book = Button(text="Book an appointment", data="quick:book")
    dentist = "Dr. Cohen here: the X-ray looks fine, see you at the check-up."
    assert clinic.run(outbox.send_text(conversation, dentist, [book]))
    pushed = wait_for_reply_number(page, 2)
    expect(pushed.locator(".bubble")).to_have_text(dentist)
    expect(pushed.locator(".reply-button")).to_have_text("Book an appointment")
    pushed.locator(".reply-button").click()  # a pushed quick action is answered like any
    answered = wait_for_reply_number(page, 3)
    expect(answered.locator(".bubble")).not_to_be_empty()
    expect(page.locator(".notice--error")).to_have_count(0)

    place = Place("Dental Clinic", "12 Herzl St", latitude=32.0853, longitude=34.7818)
    assert clinic.run(outbox.send_location(conversation, place))
    location = wait_for_reply_number(page, 4)
    expect(location.locator(".bubble")).to_contain_text("12 Herzl St")
    link = location.locator("a.bubble__link")
    expect(link).to_have_text(UI_TEXT["en"]["open_map"])
    assert "mlat=32.0853" in str(link.get_attribute("href"))

    page.reload()  # pushed messages are part of the transcript
    expect(page.locator(ASSISTANT)).to_have_count(4)
    expect(page.locator(ASSISTANT).nth(1).locator(".bubble")).to_have_text(dentist)


def test_an_emergency_is_a_red_alert_with_the_escalation(page: Page) -> None:
    """Needs the real `POST /api/v1/chat`: triage answers an emergency with a fixed reply."""
    with page.expect_response(is_chat_response) as answered:
        send_text(page, "My face is swelling fast and I can't breathe properly")
    body = answered.value.json()

    reply = wait_for_reply_number(page, 1)
    assert body["urgency"] == "EMERGENCY"
    expect(reply).to_have_class(re.compile(r"\bmessage--emergency\b"))
    alert = page.get_by_role("alert")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("Emergency")
    border = alert.evaluate("node => getComputedStyle(node).borderTopColor")
    assert border == "rgb(185, 28, 28)", "the emergency banner is red"
    if body["escalation"] is not None:
        expect(reply.locator(".notice--escalation")).to_contain_text(body["escalation"]["id"])


def test_failures_are_shown_and_the_message_can_be_sent_again(page: Page) -> None:
    held: list[Route] = []
    page.route(CHAT_ROUTE, lambda route: held.append(route))
    textbox = page.get_by_role("textbox")
    send_button = page.get_by_role("button", name="Send")

    send_text(page, "Can I come on Sunday?")
    expect(page.locator(".message--typing")).to_be_visible()
    expect(send_button).to_be_disabled()
    textbox.fill("and on Monday?")
    textbox.press("Enter")  # ignored while the first message is on its way
    page.wait_for_timeout(300)
    assert len(held) == 1
    assert json.loads(held[0].request.post_data or "") == {
        "user_id": page.evaluate("localStorage.getItem('dental-chat.user-id')"),
        "text": "Can I come on Sunday?",
        "button": None,
    }
    assert "authorization" not in held[0].request.headers, "the web chat is anonymous"

    held[0].fulfill(
        status=429,
        headers={"Retry-After": "42"},
        json={"error": "rate_limited", "message": "too many messages: try again in 42 s"},
    )
    expect(page.locator(".notice--error")).to_have_text(UI_TEXT["en"]["error_rate_limited"])
    expect(page.locator(USER).first).to_have_class(re.compile(r"\bmessage--failed\b"))
    expect(page.locator(USER).first).to_contain_text("Not delivered")
    expect(send_button).to_be_enabled()
    expect(textbox).to_have_value("and on Monday?")  # what was typed meanwhile is kept

    textbox.fill("")
    page.unroute(CHAT_ROUTE)
    page.route(CHAT_ROUTE, lambda route: route.abort("internetdisconnected"))
    send_text(page, "Hello?")
    expect(page.locator(".notice--error").last).to_have_text(UI_TEXT["en"]["error_network"])
    expect(textbox).to_have_value("Hello?")  # ready to send again

    page.unroute(CHAT_ROUTE)
    page.route(
        CHAT_ROUTE,
        lambda route: route.fulfill(
            status=500, json={"error": "internal_error", "request_id": "req-42"}
        ),
    )
    send_text(page, "Hello?")
    expect(page.locator(".message--notice").last).to_contain_text(UI_TEXT["en"]["error_server"])
    expect(page.locator(".message--notice").last).to_contain_text("req-42")


def test_text_is_shown_as_text_never_as_markup(page: Page) -> None:
    markup = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    page.route(
        CHAT_ROUTE,
        lambda route: route.fulfill(
            json=chat_reply(
                f"You wrote {markup}\nשורה בעברית",
                buttons=[{"text": "<i>yes</i>", "data": "confirm:1"}],
            )
        ),
    )

    send_text(page, markup)
    reply = wait_for_reply_number(page, 1)

    expect(page.locator(USER).first.locator(".bubble")).to_have_text(markup)
    expect(reply.locator(".bubble__line").first).to_have_text(f"You wrote {markup}")
    expect(reply.get_by_role("button", name="<i>yes</i>")).to_be_visible()
    assert page.locator("#messages img, #messages b, #messages i").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_reply_button_sends_its_data_and_shows_its_text(page: Page) -> None:
    sent: list[dict[str, object]] = []

    def answer(route: Route) -> None:
        sent.append(json.loads(route.request.post_data or ""))
        if len(sent) == 1:
            reply = chat_reply(
                "Which time suits you?",
                buttons=[
                    {"text": "Sun 10:00", "data": "slot:2030-01-06T10:00"},
                    {"text": "Mon 09:30", "data": "slot:2030-01-07T09:30"},
                ],
            )
        else:
            reply = chat_reply(
                "A dentist will call you back.",
                urgency="DOCTOR_REQUIRED",
                escalation={"id": "esc-7", "urgency": "DOCTOR_REQUIRED"},
            )
        route.fulfill(json=reply)

    page.route(CHAT_ROUTE, answer)
    send_text(page, "book please")
    first = wait_for_reply_number(page, 1)
    first.get_by_role("button", name="Mon 09:30").click()
    second = wait_for_reply_number(page, 2)

    assert sent[1]["button"] == "slot:2030-01-07T09:30" and sent[1]["text"] is None
    expect(page.locator(USER).last).to_contain_text("Mon 09:30")
    expect(page.locator(".reply-button")).to_have_count(0)
    expect(second).to_have_class(re.compile(r"\bmessage--doctor\b"))
    expect(second.locator(".notice--escalation")).to_contain_text("esc-7")
    expect(page.get_by_role("alert")).to_have_count(0)  # only emergencies are alerts


def test_the_language_toggle_changes_the_labels_not_the_messages(
    page: Page, tmp_path: Path
) -> None:
    page.route(CHAT_ROUTE, lambda route: route.fulfill(json=chat_reply("Hello! How can I help?")))
    send_text(page, "hello")
    reply = wait_for_reply_number(page, 1)

    page.get_by_role("button", name="עברית").click()

    html = page.locator("html")
    expect(html).to_have_attribute("lang", "he")
    expect(html).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("textbox")).to_have_attribute(
        "placeholder", UI_TEXT["he"]["input_placeholder"]
    )
    expect(page.get_by_role("button", name=UI_TEXT["he"]["send"])).to_be_visible()
    expect(reply.locator(".bubble")).to_have_attribute("dir", "ltr")  # English stays English
    expect(page.locator(USER).first.locator(".bubble")).to_have_attribute("dir", "ltr")

    page.reload()  # the choice is remembered, and the conversation is still there
    expect(html).to_have_attribute("lang", "he")
    expect(page.locator("#automated-note")).to_have_text(UI_TEXT["he"]["automated_note"])
    expect(page.locator(ASSISTANT).first.locator(".bubble")).to_have_attribute("dir", "ltr")
    page.screenshot(path=tmp_path / "web-chat-hebrew-ui.png")


def test_phone_numbers_read_left_to_right_inside_hebrew(page: Page) -> None:
    page.route(
        CHAT_ROUTE,
        lambda route: route.fulfill(
            json=chat_reply("התקשרו למרפאה: +972 3 555 0100, עד 18:00.", language="he")
        ),
    )
    send_text(page, "מה הטלפון?")
    line = wait_for_reply_number(page, 1).locator(".bubble__line").first

    expect(line).to_have_text("התקשרו למרפאה: +972 3 555 0100, עד 18:00.")
    assert laid_out_direction(line.locator("xpath=..")) == "rtl"
    xs = character_positions(line, "+972 3 555 0100")
    assert xs == sorted(xs), "the number is written left to right, the + first"


def chat_reply(
    reply: str,
    *,
    language: str = "en",
    urgency: str = "ROUTINE",
    buttons: list[dict[str, str]] | None = None,
    escalation: dict[str, str] | None = None,
) -> dict[str, object]:
    """A `POST /api/v1/chat` response body as the contract defines it."""
    return {
        "conversation_id": "conv-1",
        "language": language,
        "urgency": urgency,
        "intent": "other",
        "reply": reply,
        "buttons": buttons or [],
        "escalation": escalation,
        "actions": [],
        "bundle_version": "test",
    }
