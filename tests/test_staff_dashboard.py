"""The staff dashboard at `/staff`, in a real headless Chromium against the real app (uvicorn on
a local port, migrated SQLite with the demo clinic), one test per thing the clinic's staff do:
sign in; take over a conversation and reply; see an escalation arrive live; book for a
patient; change working hours and see the assistant offer the new times; read a patient's
clinical record and keep the on-call rota.

Patients are played through the real chat API (`POST /api/v1/chat`) or the real web chat page.
With `UPDATE_SCREENSHOTS=1` the tests also write the dashboard's screenshots (phone and desktop,
Hebrew and English) to docs/screenshots/; otherwise they write nothing into the tree.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from serving.api.admin_users import DoctorIn
from serving.api.staff_page import STAFF_SECTIONS
from serving.app import create_app
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.staff.roles import GRANTS
from serving.web import STATIC_DIR, TEMPLATES_DIR
from serving.web.staff_text import STAFF_UI_TEXT
from tests.asgi import ServedApp, running, served_in_thread
from tests.assistant_client import DANA_PHONE, INTEGRATION_KEY
from tests.browser import browser_fixture  # noqa: F401
from tests.conftest import make_settings
from tests.staff_client import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
LIVE_MS = 15_000
ADMIN = "admin@staff.example"
RECEPTIONIST = "receptionist@staff.example"
DOCTOR = "doctor@staff.example"
WEDNESDAY = 2


# ---------------------------------------------------------------------------------------------
# The page as the app serves it
# ---------------------------------------------------------------------------------------------


async def test_the_page_is_chrome_only_and_every_label_exists(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'page.db'}"))
    async with running(app) as client:
        english = await client.get("/staff", headers={"Accept-Language": "en-GB"})
        hebrew = await client.get("/staff?lang=he")

    assert english.status_code == 200 and '<html lang="en" dir="ltr">' in english.text
    assert '<html lang="he" dir="rtl">' in hebrew.text
    assert STAFF_UI_TEXT["he"]["sign_in_heading"] in hebrew.text
    assert "frame-ancestors 'none'" in english.headers["content-security-policy"]
    assert english.headers["cache-control"] == "no-store"
    assert 'data-api-root="/api/v1/admin"' in english.text

    assert STAFF_UI_TEXT["he"].keys() == STAFF_UI_TEXT["en"].keys()
    template = (TEMPLATES_DIR / "staff.html").read_text(encoding="utf-8")
    script = "\n".join(
        path.read_text(encoding="utf-8") for path in sorted(STATIC_DIR.glob("staff*.js"))
    )
    used = set(
        re.findall(r'data-(?:text|placeholder|label|title)="([a-z][a-z_0-9]*[a-z0-9])"', template)
    )
    for pattern in (
        r'\bt\("([a-z][a-z_0-9]*[a-z0-9])"\)',
        r'labelled\("[a-z0-9]+", (?:"[^"]*"|null), "([a-z][a-z_0-9]*[a-z0-9])"\)',
        r'\b(?:button|badge|field)\("([a-z][a-z_0-9]*[a-z0-9])"',
        r'emptyRow\([a-z]+, "([a-z][a-z_0-9]*[a-z0-9])"\)',
        r'"data-(?:text|placeholder|label)", "([a-z][a-z_0-9]*[a-z0-9])"',
        r'"((?:urgency|escalation|role|channel|profile|appointment|clinical|severity|plan|oncall)'
        r'_[a-z][a-z_0-9]*[a-z0-9])"',
    ):
        used |= set(re.findall(pattern, script))
    used |= {f"section_{section}" for section, _ in STAFF_SECTIONS}
    used |= {f"weekday_{day}" for day in range(7)}
    used |= {f"staff_role_{role}" for role in GRANTS}
    used |= {
        f"oncall_language_{lang}" for lang in get_args(DoctorIn.model_fields["language"].annotation)
    }
    assert len(used) > 100, "the label references were not found; update this test's patterns"
    assert used <= STAFF_UI_TEXT["en"].keys(), used - STAFF_UI_TEXT["en"].keys()


# ---------------------------------------------------------------------------------------------
# The dashboard in Chromium, against the real app
# ---------------------------------------------------------------------------------------------


async def _prepare(url: str) -> None:
    database = Database(url)
    try:
        await upgrade_database(database.engine)
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The real app under uvicorn in its own thread: migrated SQLite, the demo clinic, an
    administrator, a receptionist and a dentist."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('staff') / 'clinic.db'}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _prepare(url)).result()
    # Pattern statistics read afresh: the operations page shows this module's own chats.
    settings = make_settings(
        url, load_demo_data=True, integration_key=INTEGRATION_KEY, memory_stats_seconds=0
    )
    with served_in_thread(create_app(settings)) as served:
        accounts = served.app.state.staff_accounts
        for email, name, role in (
            (ADMIN, "Ruth Admin", "admin"),
            (RECEPTIONIST, "Dina Reception", "receptionist"),
            (DOCTOR, "Yael Dentist", "doctor"),
        ):
            served.run(accounts.create(email=email, name=name, role=role, password=PASSWORD))
        yield served


@pytest.fixture(scope="module")
def browser_for_module(clinic: ServedApp, browser: Browser) -> Browser:
    """The browser, launched after the served app (see `launched_chromium`)."""
    return browser


@contextmanager
def dashboard(
    browser: Browser, clinic: ServedApp, *, language: str = "en", viewport: ViewportSize = DESKTOP
) -> Iterator[Page]:
    """The dashboard in a fresh browser context (own cookies), its script's errors failing the
    test when the context closes."""
    context = browser.new_context(
        base_url=clinic.url, locale="he-IL" if language == "he" else "en-GB", viewport=viewport
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"/staff?lang={language}")
    expect(page.locator("#staff")).to_have_attribute("data-ready", "true")
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page's script failed: {errors}"


def sign_in(page: Page, email: str = ADMIN, password: str = PASSWORD) -> None:
    page.fill("#sign-in-email", email)
    page.fill("#sign-in-password", password)
    page.click("#sign-in-submit")


def screenshot(page: Page, name: str) -> None:
    """docs/screenshots/staff-<name>.png, only when asked to refresh them."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=SCREENSHOTS / f"staff-{name}.png")


def chat(clinic: ServedApp, user_id: str, text: str, phone: str | None = None) -> dict[str, Any]:
    """A patient's message through the chat API (a trusted integration when `phone` is set)."""
    body: dict[str, Any] = {"user_id": user_id, "text": text}
    headers = {}
    if phone is not None:
        body["phone"] = phone
        headers["Authorization"] = f"Bearer {INTEGRATION_KEY}"
    response = httpx.post(f"{clinic.url}/api/v1/chat", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def menu_sections(page: Page) -> list[str]:
    return [
        str(item.get_attribute("data-section"))
        for item in page.locator(".menu__item:visible").all()
    ]


def test_staff_sign_in_menus_by_role_reload_and_sign_out(
    browser_for_module: Browser, clinic: ServedApp
) -> None:
    with dashboard(browser_for_module, clinic, viewport=PHONE) as page:
        expect(page.locator("#sign-in")).to_be_visible()
        screenshot(page, "sign-in-en-phone")
        sign_in(page, RECEPTIONIST, "not the password")
        expect(page.locator("#sign-in-error")).to_have_text(STAFF_UI_TEXT["en"]["sign_in_failed"])

        sign_in(page, RECEPTIONIST)
        expect(page.locator("#user-name")).to_contain_text("Dina Reception")
        assert menu_sections(page) == ["conversations", "escalations", "calendar", "operations"]
        # The token is kept in memory only: nothing in the browser's storage.
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
        page.reload()  # the refresh cookie continues the session
        expect(page.locator("#user-name")).to_contain_text("Dina Reception")
        expect(page.locator("#section-conversations")).to_be_visible()

        page.click("#sign-out")
        expect(page.locator("#sign-in")).to_be_visible()
        page.reload()  # signed out for good: the cookie no longer opens a session
        expect(page.locator("#sign-in")).to_be_visible()
        expect(page.locator("#desk")).to_be_hidden()

        sign_in(page, ADMIN)
        expect(page.locator("#user-name")).to_contain_text("Ruth Admin")
        assert menu_sections(page) == [section for section, _ in STAFF_SECTIONS]
        page.click("#menu-users")
        expect(page.locator("#user-list")).to_contain_text("Dina Reception")
        page.fill("#user-email", "new.hygienist@staff.example")
        page.fill("#user-name-input", "Noa Hygiene")
        page.click("#user-add button[type=submit]")
        expect(page.locator("#user-list")).to_contain_text("Noa Hygiene")
        shown = page.locator("#user-status").inner_text()
        generated = shown.split()[-1].strip(".")
        assert len(generated) >= 20, shown  # the generated password, shown this once
        assert (
            clinic.run(
                clinic.app.state.staff_accounts.authenticate(
                    "new.hygienist@staff.example", generated
                )
            ).name
            == "Noa Hygiene"
        )
        page.click("#language-toggle")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.locator("#menu-calendar")).to_contain_text(
            STAFF_UI_TEXT["he"]["section_calendar"]
        )


def test_take_over_a_conversation_and_reply(browser_for_module: Browser, clinic: ServedApp) -> None:
    patient = browser_for_module.new_context(base_url=clinic.url, locale="en-GB")
    chat_page = patient.new_page()
    chat_page.goto("/")
    expect(chat_page.locator("#chat")).to_have_attribute("data-ready", "true")
    chat_page.fill("#message-input", "Hello, do you have parking near the clinic?")
    chat_page.press("#message-input", "Enter")
    expect(chat_page.locator(".message--assistant:not(.message--typing)")).to_have_count(
        1, timeout=LIVE_MS
    )

    with dashboard(browser_for_module, clinic) as page:
        sign_in(page)
        page.fill("#conversation-search", "parking near the clinic")
        conversation = page.locator(".conversation-item")
        expect(conversation).to_have_count(1)
        conversation.click()
        expect(page.locator("#conversation-messages")).to_contain_text("parking near the clinic")
        page.click("#take-over")
        expect(page.locator("#reply-form")).to_be_visible()
        expect(page.locator("#take-over")).to_be_hidden()
        reply = "Hi, this is Ruth from reception: yes, the Herzl 10 car park next door."
        page.fill("#reply-input", reply)
        page.click("#reply-send")
        expect(page.locator(".message--staff")).to_contain_text(reply)
        # The patient's open chat receives it, pushed on the conversation's own channel.
        expect(chat_page.locator("#messages")).to_contain_text(reply, timeout=LIVE_MS)
        screenshot(page, "conversation-en-desktop")

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#hand-back")
        expect(page.locator("#take-over")).to_be_visible()
        expect(page.locator("#reply-form")).to_be_hidden()
        patient.close()


def test_an_escalation_arrives_live_in_the_queue(
    browser_for_module: Browser, clinic: ServedApp
) -> None:
    with dashboard(browser_for_module, clinic, language="he", viewport=PHONE) as page:
        sign_in(page)
        page.click("#menu-escalations")
        expect(page.locator("#escalation-list")).to_be_visible()
        before = page.locator(".escalation-item").count()

        chat(
            clinic,
            f"web-{uuid.uuid4().hex}",
            "My face is swelling up on one side and I am finding it hard to breathe",
        )
        expect(page.locator(".escalation-item")).to_have_count(before + 1, timeout=LIVE_MS)
        newest = page.locator(".escalation-item").first
        expect(newest.locator(".badge--danger")).to_have_text(
            STAFF_UI_TEXT["he"]["urgency_emergency"]
        )
        expect(page.locator("#escalation-count")).to_be_visible()
        screenshot(page, "escalations-he-phone")

        newest.locator(".escalation-item__join").click()
        expect(page.locator("#section-conversations")).to_be_visible()
        expect(page.locator("#conversation-messages")).to_contain_text("swelling up")
        expect(page.locator("#reply-form")).to_be_visible()


def next_weekday(weekday: int, at_least_days: int) -> date:
    day = date.today() + timedelta(days=at_least_days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def test_book_for_a_patient(browser_for_module: Browser, clinic: ServedApp) -> None:
    with dashboard(browser_for_module, clinic, language="he", viewport=DESKTOP) as page:
        sign_in(page)
        page.click("#menu-calendar")
        page.select_option("#calendar-provider", label='ד"ר אבי כהן')
        thursday = next_weekday(3, at_least_days=9)
        page.fill("#calendar-from", thursday.isoformat())
        page.dispatch_event("#calendar-from", "change")
        expect(page.locator(f'.calendar-day[data-date="{thursday.isoformat()}"]')).to_be_visible()

        page.fill("#book-patient-query", "Levi")
        page.locator("#book-patients .choice").first.click()
        expect(page.locator("#book-patient")).to_contain_text("דנה לוי")
        page.select_option("#book-treatment", "checkup")
        page.fill("#book-date", thursday.isoformat())
        page.click("#book-find")
        first_slot = page.locator("#book-slots .slot").first
        expect(first_slot).to_be_visible()
        starts_at = str(first_slot.get_attribute("data-starts-at"))
        first_slot.click()
        expect(page.locator("#book-confirm")).to_be_enabled()
        page.click("#book-confirm")
        expect(page.locator("#book-status")).to_be_visible()
        booked = page.locator(f'.calendar-day[data-date="{thursday.isoformat()}"] .appointment')
        dana = booked.filter(has_text=re.compile("דנה לוי|Dana Levi"))
        expect(dana).to_have_count(1)
        expect(dana.locator(".appointment__time")).to_contain_text(starts_at[11:16])
        screenshot(page, "calendar-he-desktop")

        # The booked time is no longer offered, for another patient either.
        page.fill("#book-patient-query", "Smith")
        page.locator("#book-patients .choice").first.click()
        page.click("#book-find")
        expect(page.locator("#book-slots .slot").first).to_be_visible()
        offered = page.locator("#book-slots .slot").evaluate_all(
            "slots => slots.map(slot => slot.dataset.startsAt)"
        )
        assert starts_at not in offered

        # Dana's appointment moved to another free time that day, then cancelled.
        dana.locator(".text-button").first.click()  # Move
        expect(page.locator("#booking-moving")).to_be_visible()
        page.click("#book-find")
        other = page.locator(f'#book-slots .slot:not([data-starts-at="{starts_at}"])').first
        expect(other).to_be_visible()
        moved_to = str(other.get_attribute("data-starts-at"))
        other.click()
        page.click("#book-confirm")
        expect(dana.locator(".appointment__time")).to_contain_text(moved_to[11:16])
        page.once("dialog", lambda dialog: dialog.accept())
        dana.locator(".text-button--danger").click()  # Cancel
        expect(dana).to_have_attribute("data-status", "cancelled")
        expect(dana.locator(".badge")).to_have_text(STAFF_UI_TEXT["he"]["appointment_cancelled"])
        expect(dana.locator("button")).to_have_count(0)

        # Each of those is in the audit log.
        page.click("#menu-audit")
        page.fill("#audit-action", "appointment.")
        page.click("#audit-filters button[type=submit]")
        expect(page.locator("#audit-list .audit-row__action")).to_have_count(3)
        expect(page.locator("#audit-list")).to_contain_text("appointment.book")

        # The figures plot the clinic's hours: this conversation is in the last bar.
        chat(clinic, f"web-{uuid.uuid4().hex}", "Hello, are you open on Fridays?")
        page.click("#menu-operations")
        expect(page.locator("#figures .chart svg")).to_have_count(4)
        bars = page.locator("#figures .chart").first.locator("rect.chart__bar")
        heights = bars.evaluate_all("bars => bars.map(bar => Number(bar.getAttribute('height')))")
        assert heights[-1] > 0, heights
        # The memory patterns say what their conversations led to: a bar and the shares.
        outcomes = page.locator("#memory-patterns .pattern-outcomes")
        expect(outcomes.first).to_be_visible()
        expect(outcomes.first.locator("svg.chart__shares rect.chart__share")).to_have_count(3)
        expect(outcomes.first).to_contain_text("%")
        screenshot(page, "operations-he-desktop")


def _offered_times(reply: dict[str, Any], day: date) -> list[str]:
    """The clock times of the slot buttons offered on `day` ("Wed 16 Dec at 12:00")."""
    label = f"{day.strftime('%a')} {day.day} {day.strftime('%b')} at "
    return [
        b["text"].removeprefix(label)
        for b in reply["buttons"]
        if b["data"].startswith("slot:") and b["text"].startswith(label)
    ]


def test_edit_working_hours_and_the_assistant_offers_the_new_times(
    browser_for_module: Browser, clinic: ServedApp
) -> None:
    wednesday = next_weekday(WEDNESDAY, at_least_days=9)
    request = f"I'd like to book a checkup on Wednesday {wednesday.day} {wednesday:%B}"
    # Before: on Wednesdays only Dr. Cohen sees checkups, from noon.
    before = _offered_times(chat(clinic, f"web-{uuid.uuid4().hex}", request, DANA_PHONE), wednesday)
    assert before and all(time >= "12:00" for time in before), before

    with dashboard(browser_for_module, clinic, viewport=DESKTOP) as page:
        sign_in(page)
        page.click("#menu-setup")
        page.select_option("#hours-provider", label="Dr. Avi Cohen")
        wednesday_row = page.locator(".hours-row").filter(
            has=page.locator(".hours-row__day option:checked", has_text="Wednesday")
        )
        expect(wednesday_row).to_have_count(1)
        wednesday_row.locator(".hours-row__starts").fill("07:00")
        wednesday_row.locator(".hours-row__ends").fill("11:00")
        page.click("#hours-save")
        expect(page.locator("#setup-hours .panel__status")).to_have_text(
            STAFF_UI_TEXT["en"]["saved"]
        )
        screenshot(page, "setup-en-desktop")

    after = _offered_times(chat(clinic, f"web-{uuid.uuid4().hex}", request, DANA_PHONE), wednesday)
    assert after and all("07:00" <= time < "11:00" for time in after), after


def test_clinical_record_by_role_and_the_on_call_rota(
    browser_for_module: Browser, clinic: ServedApp
) -> None:
    words = f"whitening question {uuid.uuid4().hex[:8]}"
    chat(clinic, f"web-{uuid.uuid4().hex}", f"Hello, a {words} please", DANA_PHONE)
    with dashboard(browser_for_module, clinic, language="he", viewport=PHONE) as page:
        # A dentist is offered the record where they meet the patient: her conversation...
        sign_in(page, DOCTOR)
        page.fill("#conversation-search", words)
        expect(page.locator(".conversation-item")).to_have_count(1)
        page.locator(".conversation-item").click()
        expect(page.locator("#conversation-view")).to_be_visible()
        expect(page.locator("#conversation-heading")).to_contain_text("Dana Levi")
        expect(page.locator("#conversation-clinical-open")).to_be_visible()
        expect(page.locator("#conversation-clinical")).to_be_hidden()

        # ...and the calendar, where it opens only when asked.
        page.click("#menu-calendar")
        page.fill("#book-patient-query", "Levi")
        page.locator("#book-patients .choice").first.click()
        expect(page.locator("#book-patient")).to_contain_text("דנה לוי")
        expect(page.locator("#book-clinical")).to_be_hidden()
        page.click("#book-clinical-open")
        allergies = page.locator("#book-clinical-allergies")
        expect(allergies).to_contain_text("penicillin")
        expect(allergies.locator(".badge--danger")).to_have_text(
            STAFF_UI_TEXT["he"]["severity_severe"]
        )
        expect(page.locator("#book-clinical")).to_contain_text("Restore lower left molars")
        page.click("#book-clinical-open")  # hidden again
        expect(page.locator("#book-clinical")).to_be_hidden()

        # A receptionist meeting the same patient is offered no clinical record.
        page.click("#sign-out")
        sign_in(page, RECEPTIONIST)
        page.click("#menu-conversations")
        page.fill("#conversation-search", words)
        expect(page.locator(".conversation-item")).to_have_count(1)
        page.locator(".conversation-item").click()
        expect(page.locator("#conversation-view")).to_be_visible()
        expect(page.locator("#conversation-heading")).to_contain_text("Dana Levi")
        expect(page.locator("#conversation-clinical-open")).to_be_hidden()
        page.click("#menu-calendar")
        page.fill("#book-patient-query", "Levi")
        page.locator("#book-patients .choice").first.click()
        expect(page.locator("#book-patient")).to_contain_text("דנה לוי")
        expect(page.locator("#book-clinical-open")).to_be_hidden()
        expect(page.locator("#book-clinical")).to_be_hidden()

        # An administrator keeps the rota; the server's refusal is shown as it comes.
        page.click("#sign-out")
        sign_in(page)
        page.click("#menu-oncall")
        expect(page.locator("#oncall-list")).to_contain_text("Dr. Avi Cohen")
        page.fill("#oncall-name", "Dr. Noa Peretz")
        page.fill("#oncall-email", "noa.peretz@smile-clinic.example")
        page.fill("#oncall-phone", "+972 50 765 4321")
        page.fill("#oncall-telegram", "4242")
        page.fill("#oncall-shifts", "sun-thu 08:00-18:00\nsomeday 25:00")
        page.click("#oncall-add button[type=submit]")
        expect(page.locator("#oncall-status")).to_contain_text("someday 25:00")
        expect(page.locator(".oncall-row")).to_have_count(1)

        page.fill("#oncall-shifts", "sun-thu 08:00-18:00")
        page.click("#oncall-add button[type=submit]")
        noa = page.locator(".oncall-row", has_text="Dr. Noa Peretz")
        expect(noa.locator(".oncall-row__shifts .badge")).to_have_count(5)
        expect(noa).to_contain_text("thu 08:00-18:00")
        expect(noa).to_contain_text("4242")
        expect(page.locator("#oncall-status")).to_have_text(STAFF_UI_TEXT["he"]["saved"])
        screenshot(page, "oncall-he-phone")

        page.once("dialog", lambda dialog: dialog.accept())
        noa.locator(".text-button--danger").click()
        expect(noa).to_have_count(0)
        expect(page.locator(".oncall-row")).to_have_count(1)
