"""Notices to the on-call dentist, sent by the production transports to real local servers.

E-mail goes to aiosmtpd (tests/smtp_server.py), SMS to a Twilio Messages API stand-in
(tests/twilio_stand_in.py), Telegram to the Bot API stand-in (tests/telegram_stand_in.py); the
clients run unpatched over real sockets. Each failure must come back as a Delivery whose error
an operator can read and which never holds an address, a number, a chat id or a token.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import SecretStr

from serving.notify import (
    SMS_MAX_CHARS,
    Delivery,
    Notice,
    SmtpMailer,
    TelegramMessenger,
    Transport,
    TwilioSms,
    transports_from_settings,
)
from serving.settings import Settings
from tests.aws_stand_in import closed_port_url_fixture  # noqa: F401 - registers the fixture
from tests.smtp_server import (  # noqa: F401 - fixtures register by being imported
    SmtpServer,
    TlsCertificate,
    smtp_servers_fixture,
    tls_certificate_fixture,
)
from tests.telegram_stand_in import TOKEN, BotApiStandIn, bot_api_fixture  # noqa: F401
from tests.twilio_stand_in import (  # noqa: F401 - the fixture registers by being imported
    ACCOUNT_SID,
    AUTH_TOKEN,
    TwilioStandIn,
    twilio_fixture,
)

SENDER = "on-call@clinic.example"
DENTIST = "dr.cohen@clinic.example"
PHONE = "+972501234567"
CHAT_ID = "734002118"
FROM_NUMBER = "+15005550006"
NOTICE = Notice(
    subject="מטופל זקוק לרופא: כאב חזק",
    text="שלום ד״ר כהן,\nמטופל מדווח על נפיחות וכאב חזק. פרטים: https://clinic.example/e/42",
    short="דחוף: מטופל עם נפיחות. https://clinic.example/e/42",
)

StartSmtp = Callable[..., SmtpServer]

# aiosmtpd warns when AUTH is allowed without TLS, which the AUTH tests do on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def mailer(server: SmtpServer, **options: object) -> SmtpMailer:
    settings: dict[str, object] = {"sender": SENDER, "starttls": False, **options}
    return SmtpMailer(server.host, server.port, **settings)  # type: ignore[arg-type]


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word: every client read times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.fixture
async def sms(twilio: TwilioStandIn) -> AsyncIterator[TwilioSms]:
    transport = TwilioSms(ACCOUNT_SID, SecretStr(AUTH_TOKEN), FROM_NUMBER, base_url=twilio.base_url)
    yield transport
    await transport.close()


@pytest.fixture
async def telegram(bot_api: BotApiStandIn) -> AsyncIterator[TelegramMessenger]:
    transport = TelegramMessenger(SecretStr(TOKEN), api_base_url=bot_api.base_url)
    yield transport
    await transport.close()


def assert_failed(delivery: Delivery, error: str, *, retryable: bool) -> None:
    assert delivery == Delivery(delivered=False, error=error, retryable=retryable)


# --- e-mail -------------------------------------------------------------------------------------


async def test_email_arrives_with_its_headers_and_hebrew_body(smtp_servers: StartSmtp) -> None:
    server = smtp_servers()

    delivery = await mailer(server).send(DENTIST, NOTICE)

    assert delivery.delivered and delivery.error is None
    [received] = server.received
    assert (received.mail_from, received.rcpt_tos) == (SENDER, (DENTIST,))
    message: EmailMessage = received.message
    assert message["From"] == SENDER
    assert message["To"] == DENTIST
    assert message["Subject"] == NOTICE.subject
    assert message["Date"] is not None
    assert message["Message-ID"] == delivery.external_id
    assert str(delivery.external_id).endswith("@clinic.example>")  # the sender's domain
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().rstrip("\n") == NOTICE.text


async def test_email_goes_over_starttls_and_logs_in(
    smtp_servers: StartSmtp, tls_certificate: TlsCertificate
) -> None:
    server = smtp_servers(users={"clinic": "s3cret-Pw"}, starttls=True)
    transport = mailer(
        server,
        starttls=True,
        username="clinic",
        password=SecretStr("s3cret-Pw"),
        tls_context=tls_certificate.client_context(),
    )

    delivery = await transport.send(DENTIST, NOTICE)

    assert delivery.delivered
    [received] = server.received
    assert received.tls and received.login == "clinic"


async def test_email_refuses_to_send_in_the_clear_when_starttls_is_not_offered(
    smtp_servers: StartSmtp,
) -> None:
    server = smtp_servers()

    delivery = await mailer(server, starttls=True).send(DENTIST, NOTICE)

    assert_failed(delivery, "smtp server does not offer STARTTLS", retryable=False)
    assert server.received == []


async def test_email_verifies_the_server_certificate_by_default(smtp_servers: StartSmtp) -> None:
    server = smtp_servers(starttls=True)

    delivery = await mailer(server, starttls=True).send(DENTIST, NOTICE)

    assert_failed(delivery, "smtp server certificate not trusted", retryable=False)
    assert server.received == []


async def test_email_with_a_wrong_password_is_an_authentication_failure(
    smtp_servers: StartSmtp,
) -> None:
    server = smtp_servers(users={"clinic": "s3cret-Pw"})
    transport = mailer(server, username="clinic", password=SecretStr("wrong"))

    delivery = await transport.send(DENTIST, NOTICE)

    assert_failed(delivery, "smtp 535 authentication failed", retryable=False)


async def test_email_without_auth_on_a_server_that_requires_it_is_refused(
    smtp_servers: StartSmtp,
) -> None:
    server = smtp_servers(users={"clinic": "s3cret-Pw"})

    delivery = await mailer(server).send(DENTIST, NOTICE)

    assert_failed(delivery, "smtp 530 sender refused", retryable=False)


@pytest.mark.parametrize(("code", "retryable"), [(550, False), (450, True)])
async def test_a_refused_recipient_is_named_by_its_code_not_its_address(
    smtp_servers: StartSmtp, code: int, retryable: bool
) -> None:
    server = smtp_servers()
    server.refuse(DENTIST, code)

    delivery = await mailer(server).send(DENTIST, NOTICE)

    assert_failed(delivery, f"smtp {code} recipient refused", retryable=retryable)
    assert server.received == []


async def test_a_line_break_in_a_header_is_refused_not_sent(smtp_servers: StartSmtp) -> None:
    server = smtp_servers()
    notice = Notice(subject="Urgent\nBcc: someone@else.example", text="t", short="s")

    delivery = await mailer(server).send(DENTIST, notice)

    assert_failed(delivery, "invalid e-mail header (address or subject)", retryable=False)
    assert server.received == []


async def test_email_to_a_server_that_is_down_is_retryable(closed_port_url: str) -> None:
    transport = SmtpMailer("127.0.0.1", port_of(closed_port_url), sender=SENDER)

    delivery = await transport.send(DENTIST, NOTICE)

    assert_failed(delivery, "connection refused", retryable=True)


# --- SMS ----------------------------------------------------------------------------------------


async def test_sms_is_posted_to_twilio_with_its_form_fields(
    sms: TwilioSms, twilio: TwilioStandIn
) -> None:
    delivery = await sms.send(PHONE, NOTICE)

    [message] = twilio.messages
    assert (message.to, message.from_, message.body) == (PHONE, FROM_NUMBER, NOTICE.short)
    assert delivery == Delivery(delivered=True, external_id=message.sid)
    assert message.sid.startswith("SM") and len(message.sid) == 34


async def test_sms_with_a_wrong_token_is_twilios_authentication_error(
    twilio: TwilioStandIn,
) -> None:
    transport = TwilioSms(ACCOUNT_SID, SecretStr("wrong"), FROM_NUMBER, base_url=twilio.base_url)

    delivery = await transport.send(PHONE, NOTICE)
    await transport.close()

    assert_failed(delivery, "twilio 20003: Authenticate", retryable=False)
    assert twilio.messages == []


async def test_sms_to_an_invalid_number_names_the_code_but_not_the_number(sms: TwilioSms) -> None:
    delivery = await sms.send("0501234567", NOTICE)

    assert_failed(
        delivery,
        "twilio 21211: The 'To' number <number> is not a valid phone number.",
        retryable=False,
    )


async def test_sms_with_an_empty_body_is_refused_by_twilio(sms: TwilioSms) -> None:
    delivery = await sms.send(PHONE, Notice(subject="s", text="t", short=""))

    assert_failed(delivery, "twilio 21602: Message body is required.", retryable=False)


@pytest.mark.parametrize(
    ("status", "code", "message", "error", "retryable"),
    [
        (500, 20500, None, "twilio 20500: Internal Server Error", True),
        (429, 20429, None, "twilio 20429: Too Many Requests", True),
        (
            400,
            21610,
            "Attempt to send to unsubscribed recipient {to}",
            "twilio 21610: Attempt to send to unsubscribed recipient <number>",
            False,
        ),
    ],
)
async def test_sms_failures_map_to_retryable_or_not_and_never_quote_the_number(
    sms: TwilioSms,
    twilio: TwilioStandIn,
    status: int,
    code: int,
    message: str | None,
    error: str,
    retryable: bool,
) -> None:
    twilio.fail(status, code, message=message)

    failed = await sms.send(PHONE, NOTICE)
    retried = await sms.send(PHONE, NOTICE)

    assert_failed(failed, error, retryable=retryable)
    assert PHONE[1:] not in str(failed.error)
    assert retried.delivered and len(twilio.messages) == 1


async def test_sms_to_twilio_that_is_down_is_retryable(closed_port_url: str) -> None:
    transport = TwilioSms(ACCOUNT_SID, SecretStr(AUTH_TOKEN), FROM_NUMBER, base_url=closed_port_url)

    delivery = await transport.send(PHONE, NOTICE)
    await transport.close()

    assert_failed(delivery, "connection refused", retryable=True)


def test_an_sms_text_over_twilios_limit_is_refused_not_cut() -> None:
    Notice(subject="s", text="t", short="x" * SMS_MAX_CHARS)

    with pytest.raises(ValueError, match="1601 characters; at most 1600"):
        Notice(subject="s", text="t", short="x" * (SMS_MAX_CHARS + 1))


# --- Telegram -----------------------------------------------------------------------------------


async def test_telegram_notice_is_a_send_message_call(
    telegram: TelegramMessenger, bot_api: BotApiStandIn
) -> None:
    delivery = await telegram.send(CHAT_ID, NOTICE)

    [call] = bot_api.sent("sendMessage")
    assert call.chat_id == int(CHAT_ID)
    assert call.text == NOTICE.text
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert delivery == Delivery(delivered=True, external_id=str(call.message_id))


@pytest.mark.parametrize(
    ("status", "retry_after", "error", "retryable"),
    [
        (403, None, "telegram 403: Internal", False),
        (429, 5, "telegram 429: Too Many Requests (retry after 5 s)", True),
        (500, None, "telegram 500: Internal", True),
    ],
)
async def test_telegram_failures_map_to_retryable_or_not(
    telegram: TelegramMessenger,
    bot_api: BotApiStandIn,
    status: int,
    retry_after: int | None,
    error: str,
    retryable: bool,
) -> None:
    bot_api.fail("sendMessage", status, retry_after=retry_after)

    delivery = await telegram.send(CHAT_ID, NOTICE)

    assert_failed(delivery, error, retryable=retryable)


async def test_telegram_with_a_wrong_token_does_not_show_the_token(
    bot_api: BotApiStandIn,
) -> None:
    token = "999:wrong-token-Kd82"
    transport = TelegramMessenger(SecretStr(token), api_base_url=bot_api.base_url)

    delivery = await transport.send(CHAT_ID, NOTICE)
    await transport.close()

    assert_failed(delivery, "telegram 401: Unauthorized", retryable=False)


async def test_telegram_down_is_retryable_and_the_error_has_no_token(
    closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = TelegramMessenger(SecretStr(TOKEN), api_base_url=f"{closed_port_url}/bot")

    delivery = await transport.send(CHAT_ID, NOTICE)
    await transport.close()

    assert_failed(delivery, "connection refused", retryable=True)
    assert TOKEN not in caplog.text


async def test_telegram_chat_id_must_be_a_number(
    telegram: TelegramMessenger, bot_api: BotApiStandIn
) -> None:
    delivery = await telegram.send("@dr_cohen", NOTICE)

    assert_failed(delivery, "telegram chat id is not a number", retryable=False)
    assert bot_api.sent() == []


# --- every transport ----------------------------------------------------------------------------


def silent_transports(port: int) -> list[Transport]:
    return [
        SmtpMailer("127.0.0.1", port, sender=SENDER, starttls=False, timeout=0.3),
        TwilioSms(
            ACCOUNT_SID,
            SecretStr(AUTH_TOKEN),
            FROM_NUMBER,
            base_url=f"http://127.0.0.1:{port}",
            timeout=0.3,
        ),
        TelegramMessenger(
            SecretStr(TOKEN), api_base_url=f"http://127.0.0.1:{port}/bot", timeout=0.3
        ),
    ]


async def test_a_server_that_never_answers_is_a_retryable_timeout(silent_port: int) -> None:
    deliveries = {}
    for transport, to in zip(
        silent_transports(silent_port), [DENTIST, PHONE, CHAT_ID], strict=True
    ):
        deliveries[transport.channel] = await transport.send(to, NOTICE)
        await transport.close()

    timeout = Delivery(delivered=False, error="timeout", retryable=True)
    assert deliveries == {"email": timeout, "sms": timeout, "telegram": timeout}


async def test_no_address_number_chat_id_token_or_text_reaches_the_logs(
    smtp_servers: StartSmtp,
    sms: TwilioSms,
    twilio: TwilioStandIn,
    telegram: TelegramMessenger,
    bot_api: BotApiStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = smtp_servers()
    refused = "refused@clinic.example"
    server.refuse(refused)
    twilio.fail(400, 21610, message="Attempt to send to unsubscribed recipient {to}")
    bot_api.fail("sendMessage", 403)

    sends: list[tuple[Transport, str]] = [
        (mailer(server), DENTIST),
        (mailer(server), refused),
        (sms, PHONE),
        (sms, PHONE),
        (telegram, CHAT_ID),
        (telegram, CHAT_ID),
    ]
    for transport, to in sends:
        await transport.send(to, NOTICE)

    assert len(caplog.records) >= 6
    for secret in (DENTIST, refused, PHONE, PHONE[1:], CHAT_ID, TOKEN, AUTH_TOKEN, NOTICE.text):
        assert secret not in caplog.text
        assert all(secret not in str(record.args) for record in caplog.records)


# --- from the settings --------------------------------------------------------------------------


@pytest.fixture
def settings_of(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings from the given values only: no environment variable, no `.env`."""
    names = {name.lower() for name in Settings.model_fields}
    for key in list(os.environ):
        if key.lower() in names:
            monkeypatch.delenv(key)

    def build(**values: Any) -> Settings:
        return Settings(_env_file=None, **values)

    return build


async def channels(settings: Settings) -> list[str]:
    transports = transports_from_settings(settings)
    for transport in transports:
        await transport.close()
    return [transport.channel for transport in transports]


async def test_transports_are_built_for_the_configured_channels_only(
    settings_of: Callable[..., Settings],
) -> None:
    smtp = {"smtp_host": "mail.clinic.example", "smtp_from": SENDER}
    twilio = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": FROM_NUMBER,
    }
    telegram = {"telegram_bot_token": TOKEN}

    assert await channels(settings_of()) == []
    assert await channels(settings_of(**smtp, **twilio, **telegram)) == [
        "email",
        "sms",
        "telegram",
    ]
    assert await channels(settings_of(**smtp)) == ["email"]
    assert await channels(settings_of(smtp_host="mail.clinic.example")) == []
    assert await channels(settings_of(**{**twilio, "twilio_from": None}, **telegram)) == [
        "telegram"
    ]


async def test_transports_from_settings_send_where_the_settings_point(
    settings_of: Callable[..., Settings], smtp_servers: StartSmtp, twilio: TwilioStandIn
) -> None:
    server = smtp_servers()
    settings = settings_of(
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_from=SENDER,
        smtp_starttls=False,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from=FROM_NUMBER,
        twilio_api_base_url=twilio.base_url,
    )
    email, sms = transports_from_settings(settings)

    assert (await email.send(DENTIST, NOTICE)).delivered
    assert (await sms.send(PHONE, NOTICE)).delivered
    await sms.close()
    assert len(server.received) == len(twilio.messages) == 1
