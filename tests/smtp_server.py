"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 and a free port, in its own thread.

The production mailer (serving/notify/smtp.py) talks to it unpatched: EHLO, STARTTLS with a
certificate made here, AUTH, the envelope and the DATA all go over a real socket.

- `smtp_servers(users=..., starttls=...)` starts a server; `users` (login -> password) makes
  AUTH required, `starttls` offers STARTTLS with the self-signed certificate of
  `tls_certificate`, which a client trusts with `tls_certificate.client_context()`.
- Every accepted message is recorded in `.received`: the envelope, the parsed e-mail, whether
  the session was under TLS and who logged in.
- `refuse(address, code=550)` makes the server refuse that recipient at RCPT TO, with a reply
  that quotes the address (as real servers do).

Import the fixtures into a test module (`from tests.smtp_server import smtp_servers_fixture,
tls_certificate_fixture  # noqa: F401`).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


@dataclass(frozen=True)
class TlsCertificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""

    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this one certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert_path))


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    tls: bool
    """The message came over a STARTTLS-protected session."""
    login: str | None
    """The AUTH user, None when the client did not log in."""


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    users: dict[str, str] | None = None
    _refused: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, address: str, code: int = 550) -> None:
        with self._lock:
            self._refused[address.lower()] = code

    # --- the server side: aiosmtpd's handler hooks, called on the server's thread ---------

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self._lock:
            code = self._refused.get(address.lower())
        if code is not None:
            status = "5.1.1" if code >= 500 else "4.2.0"
            return f"{code} {status} <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        auth = session.auth_data  # what `authenticate` accepted
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self._lock:
            self.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    message=message,
                    tls=session.ssl is not None,
                    login=login,
                )
            )
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        users = self.users or {}
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if users.get(login) == password:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(name="tls_certificate", scope="session")
def tls_certificate_fixture(tmp_path_factory: pytest.TempPathFactory) -> TlsCertificate:
    """A self-signed certificate, made once per test session (an EC key: instant)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("smtp-tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsCertificate(cert_path, key_path)


@pytest.fixture(name="smtp_servers")
def smtp_servers_fixture(
    tls_certificate: TlsCertificate,
) -> Iterator[Callable[..., SmtpServer]]:
    """Starts SMTP servers for one test: `smtp_servers(users=None, starttls=False)`."""
    controllers: list[Controller] = []
    # aiosmtpd logs each SMTP command, addresses included, at INFO and DEBUG; the tests inspect
    # what the client logs, and the server's lines would only blur it.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.WARNING)

    def start(*, users: dict[str, str] | None = None, starttls: bool = False) -> SmtpServer:
        server = SmtpServer(host=HOST, port=_free_port(), users=users)
        options: dict[str, Any] = {}
        if users is not None:
            # Plain-text AUTH is allowed so AUTH can be tested without TLS as well.
            options.update(
                authenticator=server.authenticate, auth_required=True, auth_require_tls=False
            )
        if starttls:
            options.update(tls_context=tls_certificate.server_context(), require_starttls=False)
        controller = Controller(server, hostname=HOST, port=server.port, **options)
        controller.start()
        controllers.append(controller)
        return server

    try:
        yield start
    finally:
        for controller in controllers:
            controller.stop()
        server_log.setLevel(level)
