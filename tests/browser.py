"""Headless Chromium for the page tests: the Debian package's browser driven by Playwright
(never `playwright install`, which downloads). Import the fixture into a test module:
`from tests.browser import browser_fixture  # noqa: F401`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Chromium, closed on exit. While it runs, Playwright's sync API keeps an event loop
    running in this thread: async fixtures must be set up before it (and asyncio.run moved
    to another thread)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: `apt-get install -y chromium`",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser
