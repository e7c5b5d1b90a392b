"""The web chat page's "Verify my phone" in a real headless Chromium, against the real app
(uvicorn on a local port, SQLite with the demo clinic) and the Twilio stand-in: the visitor
types a phone, then the code the stand-in received, and the chat goes on as the patient."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from serving.app import create_app
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.web import UI_TEXT
from tests.asgi import ServedApp, served_in_thread
from tests.assistant_client import DANA_PHONE
from tests.browser import browser_fixture  # noqa: F401
from tests.test_web_identity import DANAS_INVOICE, last_code, sms_settings
from tests.twilio_stand_in import TwilioStandIn, twilio_fixture  # noqa: F401

REPLY_TIMEOUT_MS = 20_000
ASSISTANT = ".message--assistant:not(.message--typing)"
EN = UI_TEXT["en"]
HE = UI_TEXT["he"]


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade_database(database.engine)
    finally:
        await database.dispose()


@pytest.fixture
def clinic(tmp_path: Path, twilio: TwilioStandIn) -> Iterator[ServedApp]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'clinic.db'}"
    with ThreadPoolExecutor(max_workers=1) as pool:  # the test session's loop is not borrowed
        pool.submit(asyncio.run, _migrate(database_url)).result()
    app = create_app(sms_settings(database_url, twilio, load_demo_data=True))
    with served_in_thread(app) as served:
        yield served


@pytest.fixture
def page(browser: Browser, clinic: ServedApp) -> Iterator[Page]:
    context = browser.new_context(base_url=clinic.url, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page's script failed: {errors}"


def test_a_visitor_verifies_their_phone_and_sees_their_invoices(
    page: Page, twilio: TwilioStandIn
) -> None:
    panel = page.locator("#identity-panel")
    expect(panel).to_be_hidden()
    page.get_by_role("textbox", name=EN["input_label"]).fill("how much do I owe?")
    page.get_by_role("textbox", name=EN["input_label"]).press("Enter")
    expect(page.locator(ASSISTANT)).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(panel).to_be_visible()  # the assistant needs to know who is writing

    page.get_by_label(EN["verify_phone_label"]).fill("050-123-4567")
    page.get_by_role("button", name=EN["verify_send_code"]).click()
    expect(page.locator("#identity-status")).to_have_text(
        EN["verify_code_sent"].replace("{minutes}", "5")
    )
    code = last_code(twilio, DANA_PHONE)

    page.get_by_label(EN["verify_code_label"]).fill(f"{int(code[0]) ^ 1}{code[1:]}")
    page.get_by_role("button", name=EN["verify_submit"], exact=True).click()
    expect(page.locator("#identity-status")).to_have_text(
        EN["verify_wrong_code"].replace("{count}", "4")
    )
    page.locator("#language-toggle").click()  # the notice follows the page's language
    expect(page.locator("#identity-status")).to_have_text(
        HE["verify_wrong_code"].replace("{count}", "4")
    )
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.locator("#language-toggle").click()

    page.get_by_label(EN["verify_code_label"]).fill(code)
    page.get_by_role("button", name=EN["verify_submit"], exact=True).click()
    verified = page.locator(ASSISTANT).nth(1)
    expect(verified).to_contain_text("Dana", timeout=REPLY_TIMEOUT_MS)
    expect(verified.locator(".reply-button").first).to_be_visible()
    expect(panel).to_be_hidden()

    page.get_by_role("textbox", name=EN["input_label"]).fill("how much do I owe?")
    page.get_by_role("textbox", name=EN["input_label"]).press("Enter")
    expect(page.locator(ASSISTANT)).to_have_count(3, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(ASSISTANT).nth(2)).to_contain_text(DANAS_INVOICE)
