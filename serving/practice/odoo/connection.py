"""One logged-in JSON-RPC connection to Odoo, and Odoo's failures as practice errors.

Only `/web/webclient/version_info` (odoorpc, on connecting), `/jsonrpc` `common.login` and
`/jsonrpc` `object.execute_kw` are used: the non-interactive routes, where Odoo accepts an API
key in place of the password. Calls are synchronous (odoorpc uses urllib); `OdooClient` runs
them off the event loop.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import urllib.error
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import odoorpc
from odoorpc.error import RPCError

from serving.practice.errors import (
    InvalidRequest,
    PracticeError,
    PracticeMisconfigured,
    PracticeUnavailable,
)

# odoorpc logs every request and response at DEBUG, API key and patient data included.
logging.getLogger("odoorpc").setLevel(logging.WARNING)

NETWORK_FAILURES: tuple[type[BaseException], ...] = (
    urllib.error.URLError,
    TimeoutError,
    socket.timeout,
    ConnectionError,
    http.client.HTTPException,
    json.JSONDecodeError,
    OSError,
)
"""What a call to an unreachable, slow or broken server raises (a proxy's HTML error page
fails to parse as JSON)."""

MAX_ODOO_MESSAGE = 200


@dataclass(frozen=True)
class OdooAddress:
    """Where Odoo is and who the assistant is there. `api_key` is a secret: never log it."""

    url: str
    database: str
    login: str
    api_key: str

    def __repr__(self) -> str:
        return f"OdooAddress(url={self.url!r}, database={self.database!r}, login={self.login!r})"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


class MissingRecord(PracticeError):
    """Odoo's MissingError: the record was deleted (or never existed). Callers turn it into the
    not-found error of what they were looking for."""

    code = "odoo_missing_record"


class OdooUnreachable(PracticeUnavailable):
    """No answer from Odoo (down, slow, or an error page instead of JSON-RPC): the connection
    is not to be trusted again; `OdooClient` opens a new one for the next call.

    `maybe_done`: the request may have reached Odoo, which may still carry it out (a timeout,
    a dropped connection); False when it cannot have (the connection was refused)."""

    def __init__(self, message: str, *, maybe_done: bool = True) -> None:
        super().__init__(message)
        self.maybe_done = maybe_done


class NoSuchModel(PracticeMisconfigured):
    """Odoo has no such model: the app that provides it is not installed (or, for a custom
    model, it was never created)."""


class OdooConnection:
    """A logged-in odoorpc session. Not thread-safe: use one per thread (`OdooClient` pools
    them)."""

    def __init__(self, address: OdooAddress, *, timeout: float) -> None:
        parts = urlsplit(address.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PracticeMisconfigured(
                "ODOO_URL must be http(s)://host[:port], e.g. https://odoo.clinic.example"
            )
        if parts.path not in ("", "/"):
            raise PracticeMisconfigured("ODOO_URL must not have a path: odoorpc serves the root")
        self.address = address
        ssl = parts.scheme == "https"
        port = parts.port or (443 if ssl else 80)
        try:
            self._odoo = odoorpc.ODOO(
                parts.hostname,
                protocol="jsonrpc+ssl" if ssl else "jsonrpc",
                port=port,
                timeout=timeout,
            )
            self._odoo.login(address.database, address.login, address.api_key)
        except RPCError as error:
            raise _login_refused(address, error) from None
        except NETWORK_FAILURES as error:
            raise _unreachable(address, error) from None

    @property
    def server_version(self) -> str:
        return str(self._odoo.version)

    @property
    def uid(self) -> int:
        return int(self._odoo.env.uid)

    def call(
        self,
        model: str,
        method: str,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """`execute_kw` with Odoo's failures mapped onto the practice errors."""
        try:
            return self._odoo.execute_kw(model, method, args or [], kwargs or {})
        except RPCError as error:
            raise refusal(self.address, model, method, error) from None
        except NETWORK_FAILURES as error:
            raise _unreachable(self.address, error) from None


def odoo_error_name(error: RPCError) -> str:
    """Odoo's exception class, e.g. "odoo.exceptions.AccessError" ("" when not given)."""
    info = error.info if isinstance(error.info, dict) else {}
    data = info.get("data")
    return str(data.get("name", "")) if isinstance(data, dict) else ""


def odoo_message(error: RPCError) -> str:
    """The first line of Odoo's own message, shortened. Only to recognise an error: it is
    written for a user of Odoo and may name another patient, so it is never shown nor
    logged."""
    info = error.info if isinstance(error.info, dict) else {}
    data = info.get("data")
    text = str(data.get("message", "")) if isinstance(data, dict) else ""
    first = (text or str(error)).strip().splitlines()[0] if (text or str(error)).strip() else ""
    return first[:MAX_ODOO_MESSAGE]


def refusal(address: OdooAddress, model: str, method: str, error: RPCError) -> PracticeError:
    """The practice error for Odoo's refusal of one call."""
    name = odoo_error_name(error).rsplit(".", 1)[-1]
    if name == "AccessDenied":
        return PracticeMisconfigured(
            f"Odoo at {address.host} refused the API key of {address.login}: create a new key "
            "(Preferences → Account Security → New API Key) and set ODOO_API_KEY"
        )
    if name == "AccessError":
        access = "write" if method in ("create", "write", "unlink", "message_post") else "read"
        return PracticeMisconfigured(
            f"the Odoo user {address.login} may not {access} {model} ({method}): give it the "
            "access rights listed in docs/ODOO.md"
        )
    if name == "MissingError":
        return MissingRecord(f"{model}: the record no longer exists in Odoo")
    message = odoo_message(error)
    # Odoo 17 answers a call on a model it does not have with a UserError "Object x doesn't
    # exist"; older servers raised a KeyError.
    no_model = name == "KeyError" or (name == "UserError" and message.startswith("Object "))
    if no_model:
        return NoSuchModel(
            f"Odoo at {address.host} has no model {model}: install the app that provides it "
            "(docs/ODOO.md)"
        )
    if method == "message_post" and name == "UserError":
        # What the assistant posts is checked first: Odoo refuses a note for its set-up, as
        # when the assistant's user has no e-mail address to send it from.
        return PracticeMisconfigured(
            f"Odoo refused a note on {model} (UserError): give the Odoo user {address.login} "
            "an e-mail address (docs/ODOO.md)"
        )
    if name in ("UserError", "ValidationError", "RedirectWarning", "ValueError"):
        return InvalidRequest(
            f"the clinic's system refused the change ({name} on {model}.{method})"
        )
    return PracticeUnavailable(
        f"Odoo failed on {model}.{method} ({name or 'server error'}); see Odoo's log"
    )


def _login_refused(address: OdooAddress, error: RPCError) -> PracticeError:
    name = odoo_error_name(error)
    if "database" in str(error).lower() or "KeyError" in name:
        return PracticeMisconfigured(
            f"Odoo at {address.host} has no database {address.database!r}: check ODOO_DB"
        )
    return PracticeMisconfigured(
        f"Odoo at {address.host} refused {address.login} with that API key (database "
        f"{address.database!r}): check ODOO_USERNAME and ODOO_API_KEY"
    )


def _unreachable(address: OdooAddress, error: BaseException) -> OdooUnreachable:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    never_arrived = isinstance(reason, ConnectionRefusedError | socket.gaierror)
    return OdooUnreachable(
        f"Odoo at {address.host} is unreachable ({type(error).__name__}); try again shortly",
        maybe_done=not never_arrived,
    )


def major_version(server_version: str) -> int:
    """17 for "17.0-20240709" or "saas~17.2"; 0 when there is no number."""
    found = re.search(r"\d+", server_version)
    return int(found.group()) if found else 0
