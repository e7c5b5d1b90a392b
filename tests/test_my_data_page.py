"""A patient's own-data page in a real headless Chromium, against the real app (uvicorn on a
local port, SQLite with the demo clinic, the SQL memory store) and the Twilio stand-in: the
visitor verifies their phone in the web chat, writes /mydata, opens the link, sees what is
remembered, downloads the export and erases their data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from serving.memory.service import Memory
from serving.memory.sql_store import SqlMemoryStore
from serving.web import UI_TEXT
from serving.web.my_data_text import MY_DATA_UI_TEXT
from tests.asgi import ServedApp
from tests.assistant_client import DANA_PHONE
from tests.browser import browser_fixture  # noqa: F401
from tests.test_web_identity import last_code
from tests.test_web_identity_page import ASSISTANT, REPLY_TIMEOUT_MS, clinic  # noqa: F401
from tests.twilio_stand_in import TwilioStandIn, twilio_fixture  # noqa: F401

EN = UI_TEXT["en"]
PAGE = MY_DATA_UI_TEXT["en"]
LINK = re.compile(r"(/my-data\?lang=en#[A-Za-z0-9_-]{43})")


@pytest.fixture
def served(clinic: ServedApp) -> ServedApp:  # noqa: F811
    """The app, with its memory on the SQL store (in the app database)."""
    memory: Memory = clinic.app.state.memory
    assert isinstance(memory.store, SqlMemoryStore)
    return clinic


@pytest.fixture
def page(browser: Browser, served: ServedApp) -> Iterator[Page]:
    context = browser.new_context(base_url=served.url, locale="en-US", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page's script failed: {errors}"


def say(page: Page, text: str) -> None:
    page.get_by_role("textbox", name=EN["input_label"]).fill(text)
    page.get_by_role("textbox", name=EN["input_label"]).press("Enter")


def test_mydata_from_the_chat_to_erasure(page: Page, twilio: TwilioStandIn) -> None:
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    say(page, "/mydata")
    expect(page.locator(ASSISTANT)).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator("#identity-panel")).to_be_visible()  # verify first
    page.get_by_label(EN["verify_phone_label"]).fill("050-123-4567")
    page.get_by_role("button", name=EN["verify_send_code"]).click()
    # "Sending..." shows first; the code is in the stand-in once the page says it was sent.
    expect(page.locator("#identity-status")).to_have_text(
        EN["verify_code_sent"].replace("{minutes}", "5")
    )
    page.get_by_label(EN["verify_code_label"]).fill(last_code(twilio, DANA_PHONE))
    page.get_by_role("button", name=EN["verify_submit"], exact=True).click()
    expect(page.locator(ASSISTANT)).to_have_count(2, timeout=REPLY_TIMEOUT_MS)

    say(page, "what are your opening hours?")
    expect(page.locator(ASSISTANT)).to_have_count(3, timeout=REPLY_TIMEOUT_MS)
    say(page, "/mydata")
    expect(page.locator(ASSISTANT)).to_have_count(4, timeout=REPLY_TIMEOUT_MS)
    reply = page.locator(ASSISTANT).nth(3).inner_text()
    link = LINK.search(reply)
    assert link is not None, reply
    saved = page.evaluate("window.localStorage.getItem('dental-chat.transcript')") or ""
    assert link.group(1).split("#")[1] not in saved, "the link is not kept on the device"

    page.goto(link.group(1))
    expect(page.locator("#my-data")).to_have_attribute("data-ready", "true")
    expect(page.locator("#remembered")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(page.locator("#facts")).to_contain_text(PAGE["conversations"])
    with page.expect_download() as download:
        page.get_by_role("button", name=PAGE["export_button"]).click()
    export = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert export["conversations"][0]["channel"] == "web"
    written = [m["text"] for c in export["conversations"] for m in c["messages"]]
    assert "what are your opening hours?" in written
    assert not any(link.group(1).split("#")[1] in text for text in written)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=PAGE["erase_button"]).click()
    expect(page.locator("#receipt")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(page.locator("#kept")).to_contain_text(PAGE["kept_practice_record"])
    expect(page.locator("#remembered")).to_be_hidden()

    page.reload()
    expect(page.locator("#status")).to_have_text(PAGE["link_refused"], timeout=REPLY_TIMEOUT_MS)
