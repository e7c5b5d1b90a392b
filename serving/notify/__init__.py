"""Notices to an on-call dentist: one short message, one recipient, one channel per send.

Each transport (e-mail over SMTP, SMS through Twilio, Telegram through the Bot API) returns a
`Delivery` instead of raising, with an error text safe to log and a `retryable` flag; who is
notified, when, and how often to retry is the caller's business.
"""

from serving.notify.factory import sms_transport, transports_from_settings
from serving.notify.notice import SMS_MAX_CHARS, Delivery, Notice, Transport
from serving.notify.sms import TwilioSms
from serving.notify.smtp import SmtpMailer
from serving.notify.telegram import TelegramMessenger

__all__ = [
    "SMS_MAX_CHARS",
    "Delivery",
    "Notice",
    "SmtpMailer",
    "TelegramMessenger",
    "Transport",
    "TwilioSms",
    "sms_transport",
    "transports_from_settings",
]
