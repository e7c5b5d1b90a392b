"""E-mail over SMTP: stdlib `smtplib`, one connection per notice, run in a worker thread."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from pydantic import SecretStr

from serving.notify.errors import caused_by, network_failure
from serving.notify.notice import Delivery, Notice

logger = logging.getLogger(__name__)


class _StartTlsUnavailable(smtplib.SMTPException):
    """The server does not offer STARTTLS, and the mailer must not send in the clear."""


class _AuthUnavailable(smtplib.SMTPException):
    """A username is configured but the server offers no AUTH."""


class SmtpMailer:
    """Sends notices as plain-text UTF-8 e-mails through one SMTP server (port 587 style:
    STARTTLS, then AUTH when a username is set)."""

    channel = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """`tls_context` is for tests only (a server with a self-signed certificate); settings
        never set it, so production always verifies the server's certificate and name."""
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout
        self._tls_context = tls_context

    async def send(self, to: str, notice: Notice) -> Delivery:
        try:
            message = self._message(to, notice)
        except ValueError:  # a line break in a header: refused rather than injected
            delivery = Delivery(delivered=False, error="invalid e-mail header (address or subject)")
            logger.warning("e-mail notice not sent: %s", delivery.error)
            return delivery
        try:
            await asyncio.to_thread(self._deliver, message)
        except OSError as exc:  # smtplib's errors, ssl's and the socket's are all OSErrors
            delivery = _failure(exc)
            logger.warning("e-mail notice not sent: %s", delivery.error)
            return delivery
        logger.info("e-mail notice sent")
        return Delivery(delivered=True, external_id=message["Message-ID"])

    async def close(self) -> None:
        """Nothing to release: each notice opens and closes its own connection."""

    def _message(self, to: str, notice: Notice) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = notice.subject
        message["Date"] = formatdate(localtime=True)
        # The sender's domain rather than make_msgid's default, the host's FQDN, which needs a
        # DNS lookup and names the machine.
        _, address = parseaddr(self._sender)
        message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2] or None)
        message.set_content(notice.text, charset="utf-8")
        return message

    def _deliver(self, message: EmailMessage) -> None:
        """The blocking SMTP conversation; raises on any failure."""
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.ehlo()
            if self._starttls:
                if not smtp.has_extn("starttls"):
                    raise _StartTlsUnavailable
                context = self._tls_context or ssl.create_default_context()
                smtp.starttls(context=context)
                smtp.ehlo()
            if self._username is not None:
                if not smtp.has_extn("auth"):
                    raise _AuthUnavailable
                password = self._password.get_secret_value() if self._password else ""
                smtp.login(self._username, password)
            smtp.send_message(message)


def _failure(exc: OSError) -> Delivery:
    """The Delivery for an SMTP failure. Server replies are not quoted: they often repeat the
    recipient's address. 4xx replies are temporary by SMTP's definition, 5xx permanent."""
    if isinstance(exc, _StartTlsUnavailable):
        return Delivery(delivered=False, error="smtp server does not offer STARTTLS")
    if isinstance(exc, _AuthUnavailable):
        return Delivery(delivered=False, error="smtp server does not offer AUTH")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = codes[0] if codes else 550
        return _reply_failure(code, "recipient refused")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _reply_failure(exc.smtp_code, "authentication failed")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _reply_failure(exc.smtp_code, "sender refused")
    if isinstance(exc, smtplib.SMTPDataError):
        return _reply_failure(exc.smtp_code, "message refused")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_failure(exc.smtp_code, "error")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if caused_by(exc, TimeoutError):  # smtplib reports a read timeout as a disconnection
            return network_failure(exc)
        return Delivery(delivered=False, error="smtp connection closed", retryable=True)
    if isinstance(exc, smtplib.SMTPException):
        return Delivery(delivered=False, error=f"smtp failed ({type(exc).__name__})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Delivery(delivered=False, error="smtp server certificate not trusted")
    if isinstance(exc, ssl.SSLError):
        return Delivery(delivered=False, error=f"smtp tls failed ({type(exc).__name__})")
    return network_failure(exc)


def _reply_failure(code: int, what: str) -> Delivery:
    return Delivery(delivered=False, error=f"smtp {code} {what}", retryable=400 <= code < 500)
