"""The HTTP side: Odoo's JSON-RPC routes, logins, the call log and injected faults.

Routes: `POST /web/webclient/version_info`, `POST /web/session/authenticate` (password only:
an API key is refused there, as in Odoo), `POST /jsonrpc` with the services `common`
(version, login, authenticate) and `object` (execute, execute_kw). Every answer is HTTP 200
with a JSON-RPC result or Odoo's error object; a mutating call that fails leaves the data as
it was (Odoo's transaction). Requests are served one at a time (a lock), slow faults sleep
outside it.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple

from tests.odoo_stand_in import methods
from tests.odoo_stand_in.access import OPERATIONS, AccessRules, groups_field
from tests.odoo_stand_in.business import context_get
from tests.odoo_stand_in.errors import (
    OdooError,
    access_denied,
    access_error,
    no_such_database,
    type_error,
    user_error,
    validation_error,
    value_error,
)
from tests.odoo_stand_in.fresh import ADMIN_UID, API_LOGIN, API_UID, fresh_database
from tests.odoo_stand_in.orm import SUPERUSER, Env

FAULT_KINDS = ("down", "slow", "html", "user_error", "validation_error", "access_error")
BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
NOT_FOUND = (
    b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    b"<p>The requested URL was not found on the server.</p>\n"
)


class Call(NamedTuple):
    """One request: ("object", model, method) for execute/execute_kw, ("common", "", "login"),
    ("web", "", "version_info") or ("web", "", "session/authenticate")."""

    service: str
    model: str
    method: str


@dataclass
class _Fault:
    kind: str
    remaining: int
    model: str | None
    method: str | None
    delay: float
    message: str | None
    spared: int = 0
    """Matching requests still to let through before failing."""

    def applies_to(self, call: Call) -> bool:
        if self.model is None and self.method is None:
            return True
        return (
            call.service == "object"
            and self.model in (None, call.model)
            and self.method in (None, call.method)
        )


@dataclass(frozen=True)
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    drop: bool = False
    """Close the connection without answering (Odoo down, a proxy dropping it)."""


class OdooStandIn:
    """A fresh Odoo of `version` with its own data; serve it with `running_odoo()`.

    `api_login` / `api_key` log in the assistant's API user (uid 6, an internal user; the key
    is random unless given, e.g. to restart a stand-in a client already knows);
    `admin_login` / `admin_password` the administrator (uid 2, all rights, password only).
    """

    def __init__(
        self,
        version: str = "17.0",
        *,
        database: str = "dental",
        clock: Callable[[], datetime] | None = None,
        api_key: str | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.version = version
        self.database = database
        self.clock = clock or (lambda: datetime.now(UTC))
        self.admin_login = "admin"
        self.admin_uid = ADMIN_UID
        self.admin_password = secrets.token_urlsafe(12)
        self.api_login = API_LOGIN
        self.api_uid = API_UID
        self.api_key = api_key or secrets.token_hex(20)
        self.access = AccessRules()
        self.calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self.closing = threading.Event()
        self.db = fresh_database(
            version, admin_password=self.admin_password, api_key=self.api_key, now=self.clock()
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def app_settings(self) -> dict[str, str]:
        """The settings that point the app at this stand-in with its API user (to pass to
        `make_settings` or `staff_desk`)."""
        return {
            "practice_backend": "odoo",
            "odoo_url": self.url,
            "odoo_db": self.database,
            "odoo_username": self.api_login,
            "odoo_api_key": self.api_key,
        }

    # --- for tests ----------------------------------------------------------------------

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def snapshot(self) -> Any:
        """The data as it is now (custom models and fields included), for `restore`."""
        with self._lock:
            return self.db.snapshot()

    def restore(self, state: Any) -> None:
        """Back to the data of a `snapshot` (which stays reusable), with no fault pending, no
        access override and no call logged: a stand-in seeded once serves many tests."""
        with self._lock:
            self.db.restore(copy.deepcopy(state))
            self.access.overrides.clear()
            self._faults.clear()
            self.calls.clear()

    def count(self, model: str | None = None, method: str | None = None) -> int:
        """How many `execute`/`execute_kw` calls (of `model`, of `method`) were received."""
        with self._lock:
            return sum(
                1
                for call in self.calls
                if call.service == "object"
                and model in (None, call.model)
                and method in (None, call.method)
            )

    def fail_next(
        self,
        times: int = 1,
        kind: str = "down",
        *,
        model: str | None = None,
        method: str | None = None,
        delay: float = 5.0,
        message: str | None = None,
        after: int = 0,
    ) -> None:
        """The next `times` requests (only `model`.`method` calls, when given; the first
        `after` of them let through) fail: "down" closes the connection unanswered, "slow"
        answers after `delay` seconds, "html" is a proxy's 502 page, "user_error" /
        "validation_error" / "access_error" Odoo's error object (with `message`, or a stand-in
        one)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(_Fault(kind, times, model, method, delay, message, after))

    def deny(self, model: str, operation: str) -> None:
        """Every user but the superuser gets Odoo's AccessError for `operation` on `model`."""
        self._override(model, operation, allowed=False)

    def allow(self, model: str, operation: str) -> None:
        """Every user may do `operation` on `model`, whatever the rights say."""
        self._override(model, operation, allowed=True)

    def _override(self, model: str, operation: str, *, allowed: bool) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {OPERATIONS}")
        with self._lock:
            self.access.overrides[(model, operation)] = allowed

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        admin: bool = False,
    ) -> int:
        """A new active internal user (with the admin's groups if `admin`); its uid."""
        groups = ["base.group_user"]
        if admin:
            groups += ["base.group_erp_manager", "base.group_system"]
        with self._lock:
            env = self._env(SUPERUSER, {"mail_create_nolog": True})
            values = {
                "name": name or login,
                "login": login,
                groups_field(env): [[6, 0, [env.ref(xmlid) for xmlid in groups]]],
            }
            uid = env.create("res.users", [values])[0]
            credentials = self.db.credentials_of(uid)
            credentials.password = password
            credentials.api_keys = [api_key] if api_key else []
            return uid

    def execute_kw(
        self,
        model: str,
        method: str,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        uid: int = ADMIN_UID,
    ) -> Any:
        """A model call in-process (no HTTP, not logged) as `uid`, with its access rights:
        for arranging and inspecting data. Raises `OdooError`."""
        with self._lock:
            return self._execute(uid, model, method, list(args or []), dict(kwargs or {}))

    def version_info(self) -> dict[str, Any]:
        return {
            "server_version": self.version,
            "server_version_info": [self.major, 0, 0, "final", 0, ""],
            "server_serie": self.version,
            "protocol_version": 1,
        }

    # --- the server side ----------------------------------------------------------------

    def answer(self, path: str, body: bytes) -> _Answer:
        try:
            request = json.loads(body or b"{}")
            params = request.get("params") or {}
        except (ValueError, AttributeError):
            return _Answer(400, b"<p>Invalid JSON data</p>", "text/html; charset=utf-8")
        call = _identify(path, params)
        with self._lock:
            self.calls.append(call)
            fault = self._take_fault(call)
        if fault is not None:
            if fault.kind == "down":
                return _Answer(drop=True)
            if fault.kind == "html":
                return _Answer(502, BAD_GATEWAY, "text/html")
            if fault.kind == "slow":
                self.closing.wait(fault.delay)
            else:
                return _envelope(request, error=_injected(fault, call))
        route = self._routes().get(path)
        if route is None:
            return _Answer(404, NOT_FOUND, "text/html; charset=utf-8")
        try:
            with self._lock:
                return _envelope(request, result=route(params))
        except OdooError as error:
            return _envelope(request, error=error)

    def _take_fault(self, call: Call) -> _Fault | None:
        """The first pending fault for `call`, used up by it (None: answer normally)."""
        fault = next((f for f in self._faults if f.applies_to(call)), None)
        if fault is None:
            return None
        if fault.spared > 0:
            fault.spared -= 1
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.remove(fault)
        return fault

    def _routes(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "/web/webclient/version_info": lambda params: self.version_info(),
            "/web/session/authenticate": self._session_authenticate,
            "/jsonrpc": self._jsonrpc,
        }

    def _session_authenticate(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("db") != self.database:
            raise access_error("Database not found.")
        uid = self._login(params.get("login"), params.get("password"), interactive=True)
        if uid is None:
            raise access_denied()
        env = self._env(uid, {})
        user = env.read("res.users", [uid], ["name", "login", "partner_id"])[0]
        admin = env.ref("base.group_system") in env.value("res.users", uid, groups_field(env))
        return {
            "uid": uid,
            "is_system": admin,
            "is_admin": admin,
            "user_context": context_get(env),
            "db": self.database,
            "server_version": self.version,
            "server_version_info": self.version_info()["server_version_info"],
            "name": user["name"],
            "username": user["login"],
            "partner_display_name": user["partner_id"][1],
            "partner_id": user["partner_id"][0],
            "web.base.url": self.url,
            "user_companies": {
                "current_company": 1,
                "allowed_companies": {"1": {"id": 1, "name": env.display_name("res.company", 1)}},
            },
        }

    def _jsonrpc(self, params: dict[str, Any]) -> Any:
        service, method = params.get("service"), params.get("method")
        args = list(params.get("args") or [])
        if service == "common":
            if method == "version":
                return self.version_info()
            if method in ("login", "authenticate"):
                if len(args) < 3:
                    raise type_error(f"{method}() missing required positional arguments")
                self._check_database(args[0])
                uid = self._login(args[1], args[2], interactive=False)
                return uid if uid is not None else False
        if service == "object" and method in ("execute", "execute_kw"):
            if len(args) < 5:
                raise type_error(f"{method}() missing required positional arguments")
            database, uid, password, model, name = args[:5]
            self._check_database(database)
            if not self._password_matches(uid, password):
                raise access_denied()
            if method == "execute":
                return self._execute(uid, model, name, args[5:], {})
            call_args = args[5] if len(args) > 5 else []
            call_kwargs = args[6] if len(args) > 6 else {}
            return self._execute(uid, model, name, list(call_args), dict(call_kwargs or {}))
        raise value_error(f"the Odoo stand-in has no {service}.{method}")

    def _check_database(self, database: Any) -> None:
        if database != self.database:
            raise no_such_database(str(database))

    def _login(self, login: Any, secret: Any, *, interactive: bool) -> int | None:
        users = self.db.table("res.users")
        for uid, row in users.items():
            if row["login"] == login and row["active"]:
                return uid if self._secret_matches(uid, secret, interactive=interactive) else None
        return None

    def _password_matches(self, uid: Any, secret: Any) -> bool:
        row = self.db.table("res.users").get(uid) if isinstance(uid, int) else None
        return bool(row and row["active"] and self._secret_matches(uid, secret, interactive=False))

    def _secret_matches(self, uid: int, secret: Any, *, interactive: bool) -> bool:
        credentials = self.db.credentials.get(uid)
        if credentials is None or not isinstance(secret, str) or not secret:
            return False
        if credentials.password is not None and secrets.compare_digest(
            secret, credentials.password
        ):
            return True
        return not interactive and any(
            secrets.compare_digest(secret, key) for key in credentials.api_keys
        )

    def _env(self, uid: int, context: dict[str, Any]) -> Env:
        return Env(self.db, uid, context, self.clock())

    def _execute(
        self, uid: int, model: str, method: str, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        context = kwargs.get("context")
        env = self._env(uid, context if isinstance(context, dict) else {})
        if method in methods.READ_ONLY:
            return _reported(lambda: methods.call(env, self.access, model, method, args, kwargs))
        state = self.db.snapshot()
        try:
            return _reported(lambda: methods.call(env, self.access, model, method, args, kwargs))
        except OdooError:
            self.db.restore(state)
            raise


def _identify(path: str, params: dict[str, Any]) -> Call:
    if path == "/jsonrpc":
        service, method = str(params.get("service")), str(params.get("method"))
        args = params.get("args") or []
        if service == "object" and len(args) >= 5:
            return Call(service, str(args[3]), str(args[4]))
        return Call(service, "", method)
    return Call("web", "", path.removeprefix("/web/").removeprefix("webclient/"))


def _reported(run: Callable[[], Any]) -> Any:
    """The call's result; a fault of the stand-in itself comes back as an error object with its
    traceback, as an unexpected exception does in Odoo."""
    try:
        return run()
    except OdooError:
        raise
    except Exception as error:  # every failure must reach the client
        raise OdooError(
            f"builtins.{type(error).__name__}", str(error), debug=traceback.format_exc()
        ) from error


def _injected(fault: _Fault, call: Call) -> OdooError:
    if fault.kind == "access_error":
        return access_error(
            fault.message
            or f"You are not allowed to access '{call.model or 'Odoo'}' records.\n\n"
            "No group currently allows this operation.\n\n"
            "Contact your administrator to request access if necessary."
        )
    if fault.kind == "validation_error":
        return validation_error(fault.message or "The stand-in was told to refuse this change.")
    return user_error(fault.message or "The stand-in was told to refuse this call.")


def _envelope(request: Any, *, result: Any = None, error: OdooError | None = None) -> _Answer:
    answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
    if error is not None:
        answer["error"] = error.error_object()
    else:
        answer["result"] = result
    return _Answer(200, json.dumps(answer).encode())


class Handler(BaseHTTPRequestHandler):
    stand_in: OdooStandIn

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        answer = self.stand_in.answer(self.path.split("?")[0], self.rfile.read(length))
        if answer.drop:
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a "slow" fault past its timeout)
