"""The transports the settings configure."""

from __future__ import annotations

from serving.notify.notice import Transport
from serving.notify.sms import TwilioSms
from serving.notify.smtp import SmtpMailer
from serving.notify.telegram import TelegramMessenger
from serving.settings import Settings


def transports_from_settings(settings: Settings) -> list[Transport]:
    """One transport per configured channel: e-mail when SMTP_HOST and SMTP_FROM are set, SMS
    when TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM are, Telegram when
    TELEGRAM_BOT_TOKEN is."""
    timeout = settings.notify_timeout_seconds
    transports: list[Transport] = []
    if settings.smtp_host and settings.smtp_from:
        transports.append(
            SmtpMailer(
                settings.smtp_host,
                settings.smtp_port,
                sender=settings.smtp_from,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                timeout=timeout,
            )
        )
    sms = sms_transport(settings)
    if sms is not None:
        transports.append(sms)
    bot_token = settings.telegram_bot_token
    if bot_token and bot_token.get_secret_value():
        transports.append(
            TelegramMessenger(
                bot_token, api_base_url=settings.telegram_api_base_url, timeout=timeout
            )
        )
    return transports


def sms_transport(settings: Settings) -> TwilioSms | None:
    """The SMS transport when TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM are set:
    the dentists' notices and the web chat's verification codes each get their own."""
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    if not (sid and token and token.get_secret_value() and settings.twilio_from):
        return None
    return TwilioSms(
        sid,
        token,
        settings.twilio_from,
        base_url=settings.twilio_api_base_url,
        timeout=settings.notify_timeout_seconds,
    )
