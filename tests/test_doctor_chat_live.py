"""The dentist in the loop end to end, as people meet it: a patient on Telegram writes an
emergency; the on-call dentist gets it by e-mail (a real SMTP server), SMS (the Twilio
stand-in) and Telegram (the Bot API stand-in), each with the private link; opens the link in
Chromium, sees the history and the allergies, replies; the patient gets the reply on Telegram
and answers; the page shows the answer live; the hand-back brings the assistant back and saves
the transcript.

Once with one serving process (SQLite and PostgreSQL), once with the patient's webhook and
the dentist's page on two `dental serve` processes sharing PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from evals.bench.local_process import child_process, free_port, wait_until_answering
from serving.app import create_app
from serving.db import models as db
from serving.db.engine import Database
from tests.asgi import listening_socket, served_in_thread
from tests.browser import launched_chromium
from tests.doctor_loop import (
    DOCTOR_EMAIL,
    DOCTOR_PHONE,
    LINK,
    TelegramPatient,
    doctor_chat_texts,
    email_texts,
    escalation_settings,
    tokens_in,
    wait_for,
)
from tests.smtp_server import SmtpServer, smtp_servers_fixture, tls_certificate_fixture  # noqa: F401
from tests.telegram_client import SECRET
from tests.telegram_stand_in import TOKEN, BotApiStandIn, bot_api_fixture  # noqa: F401
from tests.twilio_stand_in import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn, twilio_fixture  # noqa: F401

DANA_PHONE = "+972501234567"
EMERGENCY = "My face is swelling up on one side and I am finding it hard to breathe"
REPLY = "Dana, this is Dr. Cohen. Can you open your mouth fully?"
ANSWER = "Only halfway, and the swelling reaches my eye"
LIVE_MS = 15_000
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def browser(database_url: str) -> Iterator[Browser]:
    """Launched after the (async) database fixture: see `launched_chromium`."""
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def smtp(smtp_servers: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_servers()


def _notified_link(smtp: SmtpServer, twilio: TwilioStandIn, bot_api: BotApiStandIn) -> str:
    """The link the three notices carry (the same one: one link per dentist and round)."""
    [email] = wait_for(lambda: email_texts(smtp), what="the e-mail to the dentist")
    [sms] = wait_for(lambda: twilio.messages, what="the SMS to the dentist")
    [chat] = wait_for(lambda: doctor_chat_texts(bot_api), what="the Telegram notice")
    assert smtp.received[0].rcpt_tos == (DOCTOR_EMAIL,) and sms.to == DOCTOR_PHONE
    [found] = LINK.finditer(email)
    link = found.group(0)
    token = link.rsplit("/", 1)[1]
    assert tokens_in(sms.body) == [token] and tokens_in(chat) == [token]
    return link


def _the_dentist_answers_from_the_page(
    browser: Browser, patient: TelegramPatient, link: str
) -> Page:
    """Open the link on a phone, read, reply, see the answer live, hand back."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="he-IL")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(link)
    expect(page.locator("html")).to_have_attribute("dir", "rtl")  # the dentist reads Hebrew
    expect(page.locator("#messages")).to_contain_text("swelling up on one side", timeout=LIVE_MS)
    expect(page.locator(".allergy__substance")).to_contain_text("penicillin")

    page.fill("#reply-input", REPLY)
    page.click("#send-button")
    joined = patient.wait_for_text("has joined this chat")
    reply = patient.wait_for_text("Can you open your mouth")
    assert "Dr. Avi Cohen" in joined and reply.startswith("Dr. Avi Cohen:\n")
    expect(page.locator(".message--doctor")).to_contain_text(REPLY)

    emergencies = sum("101" in text for text in patient.received())
    patient.say(ANSWER)
    expect(page.locator(".message--patient").last).to_contain_text(ANSWER, timeout=LIVE_MS)
    # A red flag while the dentist holds the chat still gets the fixed emergency reply, which
    # may arrive after the page shows the message.
    wait_for(
        lambda: sum("101" in text for text in patient.received()) > emergencies or None,
        what="the fixed emergency reply to the answer",
    )
    said = len(patient.received())

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#hand-back")
    expect(page.locator("#closed-notice")).to_be_visible(timeout=LIVE_MS)
    back = patient.wait_for_text("handed the chat back")
    # Between the dentist's reply and the hand-back the assistant said nothing else.
    assert patient.received()[said:] == [back]
    assert not errors, errors
    return page


def _transcript(database_url: str) -> str:
    async def read() -> str:
        database = Database(database_url)
        try:
            async with database.transaction() as session:
                note = await session.scalar(
                    select(db.PatientNote.body).order_by(db.PatientNote.id.desc()).limit(1)
                )
                closed = await session.scalar(
                    select(db.Escalation.status).order_by(db.Escalation.created_at.desc())
                )
        finally:
            await database.dispose()
        assert closed == "closed"
        return str(note)

    # Playwright's sync API keeps a loop running in this thread: read from another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, read()).result()


def test_one_process_patient_on_telegram_dentist_in_chromium(
    database_url: str,
    browser: Browser,
    bot_api: BotApiStandIn,
    smtp: SmtpServer,
    twilio: TwilioStandIn,
) -> None:
    sock = listening_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = escalation_settings(
        database_url, bot_api=bot_api, smtp=smtp, twilio=twilio, public_base_url=base_url
    )
    with served_in_thread(create_app(settings), sock) as clinic:
        dana = TelegramPatient(clinic.url, bot_api, 7301)
        dana.share_contact(DANA_PHONE)
        dana.wait_for_text("verified")
        dana.say(EMERGENCY)
        assert "101" in dana.wait_for_text("101")

        link = _notified_link(smtp, twilio, bot_api)
        assert link.startswith(f"{base_url}/doctor/")
        page = _the_dentist_answers_from_the_page(browser, dana, link)

        page.goto(link)  # the hand-back closed it: the link now opens nothing
        expect(page.locator("body")).to_contain_text("closed")
        expect(page.locator("body")).not_to_contain_text("swelling")
        page.context.close()
    transcript = _transcript(database_url)
    for line in ("swelling up on one side", REPLY, ANSWER):
        assert line in transcript


@contextmanager
def _dental_serve(name: str, env: dict[str, str], tmp_path: Path, port: int) -> Iterator[str]:
    log = tmp_path / f"{name}.log"
    with child_process(
        [sys.executable, "-m", "serving.cli", "serve", "--port", str(port)],
        env={**os.environ, **env},
        log=log,
        cwd=tmp_path,
    ) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(process, f"{url}/health/ready", name=name, log=log, seconds=60)
        yield url


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_two_processes_patient_webhook_on_one_dentist_page_on_the_other(
    database_url: str,
    browser: Browser,
    bot_api: BotApiStandIn,
    smtp: SmtpServer,
    twilio: TwilioStandIn,
    tmp_path: Path,
) -> None:
    patient_port, doctor_port = free_port(), free_port()
    common = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "REDIS_KEY_PREFIX": f"dental-test:{uuid.uuid4().hex[:12]}:",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE_URL": bot_api.base_url,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_FROM": "alerts@smile-clinic.example",
        "SMTP_STARTTLS": "false",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_API_BASE_URL": twilio.base_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{doctor_port}",
        "ESCALATION_POLL_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
    }
    doctor_only = {"TELEGRAM_ANSWER_UPDATES": "false"}  # answers no patient: serves the dentist
    with (
        _dental_serve("patient-side", common, tmp_path, patient_port) as patient_side,
        _dental_serve("doctor-side", {**common, **doctor_only}, tmp_path, doctor_port),
    ):
        dana = TelegramPatient(patient_side, bot_api, 7302)
        dana.share_contact(DANA_PHONE)
        dana.wait_for_text("verified")
        dana.say(EMERGENCY)
        dana.wait_for_text("101")

        link = _notified_link(smtp, twilio, bot_api)
        assert link.startswith(f"http://127.0.0.1:{doctor_port}/doctor/")
        page = _the_dentist_answers_from_the_page(browser, dana, link)
        page.context.close()
    transcript = _transcript(database_url)
    assert REPLY in transcript and ANSWER in transcript
    logs = "".join(path.read_text(errors="replace") for path in tmp_path.glob("*.log"))
    token = link.rsplit("/", 1)[1]
    assert token not in logs  # neither process logged the link
    assert "POST /api/v1/doctor/{token}/messages 201" in logs
