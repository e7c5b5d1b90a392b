"""The model methods callable through `execute_kw`, with Python's argument binding (positional
or keyword, Odoo's parameter names) and the access right each one needs.

Every model has search, search_read, search_count, read, create, write, unlink, fields_get and
check_access_rights (from 18 also has_access and check_access); models with a chatter have
message_post; res.users context_get; account.move action_post; sale.order action_confirm,
action_cancel and action_lock/action_unlock (17+) or action_done (16); the payment wizard
action_create_payments. Record methods take the ids as their first argument; an `action_…`
needs write access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.odoo_stand_in import business
from tests.odoo_stand_in.access import AccessRules
from tests.odoo_stand_in.errors import OdooError, access_error, type_error, value_error
from tests.odoo_stand_in.orm import Env

_REQUIRED = object()
Parameters = tuple[tuple[str, Any], ...]

_SIGNATURES: dict[str, Parameters] = {
    "search": (("domain", _REQUIRED), ("offset", 0), ("limit", None), ("order", None)),
    "search_read": (
        ("domain", None),
        ("fields", None),
        ("offset", 0),
        ("limit", None),
        ("order", None),
    ),
    "search_count": (("domain", _REQUIRED), ("limit", None)),
    "create": (("vals_list", _REQUIRED),),
    "fields_get": (("allfields", None), ("attributes", None)),
    "context_get": (),
    "read": (("fields", None), ("load", "_classic_read")),
    "write": (("vals", _REQUIRED),),
    "unlink": (),
    "action_post": (),
    "action_confirm": (),
    "action_cancel": (),
    "action_lock": (),
    "action_unlock": (),
    "action_done": (),
    "action_create_payments": (),
    "check_access_rights": (("operation", _REQUIRED), ("raise_exception", True)),
    "has_access": (("operation", _REQUIRED),),
    "check_access": (("operation", _REQUIRED),),
}
RECORD_METHODS = frozenset(
    {
        "read",
        "write",
        "unlink",
        "message_post",
        "action_post",
        "action_confirm",
        "action_cancel",
        "action_lock",
        "action_unlock",
        "action_done",
        "action_create_payments",
        "has_access",
        "check_access",
    }
)
READ_ONLY = frozenset(
    {
        "search",
        "search_read",
        "search_count",
        "read",
        "fields_get",
        "context_get",
        "check_access_rights",
        "has_access",
        "check_access",
    }
)
_OPERATION = {
    "search": "read",
    "search_read": "read",
    "search_count": "read",
    "read": "read",
    "create": "create",
    "write": "write",
    "unlink": "unlink",
    # Posting in a chatter needs write access to the document (mail.thread's default).
    "message_post": "write",
}
_COMMON = (
    "search",
    "search_read",
    "search_count",
    "read",
    "create",
    "write",
    "unlink",
    "fields_get",
)


def call(
    env: Env, access: AccessRules, model: str, method: str, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    """Run `model.method(*args, **kwargs)` as Odoo's `execute_kw` would."""
    spec = env.model(model)
    if method.startswith("_"):
        raise access_error(f"Private methods (such as {model}.{method}) cannot be called remotely.")
    available = {*_COMMON, *spec.methods, *(("message_post",) if spec.mail_thread else ())}
    if method not in available:
        raise OdooError(
            "builtins.AttributeError",
            f"The method '{method}' does not exist on the model '{model}'",
        )
    operation = _OPERATION.get(method) or ("write" if method.startswith("action_") else None)
    if operation:
        access.check(env, model, operation)
    if method in RECORD_METHODS:
        if not args:
            raise type_error(f"{method}() missing 1 required positional argument: 'ids'")
        ids, args = _ids(args[0]), list(args[1:])
    else:
        ids = []
    options = {key: value for key, value in kwargs.items() if key != "context"}
    if method == "message_post":
        if args:
            raise type_error("message_post() takes 1 positional argument but more were given")
        return business.message_post(env, model, ids, options)
    bound = _bind(method, args, options)
    if method in ("check_access_rights", "has_access", "check_access"):
        return _access_right(env, access, model, method, bound)
    return _RUN[method](env, model, ids, bound)


def _done(env: Env, ids: list[int]) -> bool:
    """16's completion of an order: the state "done" (17 locks it instead)."""
    business.set_orders(env, ids, {"state": "done"})
    return True


def _access_right(
    env: Env, access: AccessRules, model: str, method: str, a: dict[str, Any]
) -> bool | None:
    """`check_access_rights` (@api.model: True, or False / an AccessError), and from 18
    `has_access` (a bool) and `check_access` (None or an AccessError), both on a recordset,
    often empty."""
    operation = a["operation"]
    if operation not in ("read", "write", "create", "unlink"):
        raise value_error(f"Invalid access mode {operation!r}")
    if method == "has_access":
        return access.allowed(env, model, operation)
    if method == "check_access" or a["raise_exception"]:
        access.check(env, model, operation)
        return True if method == "check_access_rights" else None
    return access.allowed(env, model, operation)


def _bind(method: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    parameters = _SIGNATURES[method]
    if len(args) > len(parameters):
        raise type_error(
            f"{method}() takes {len(parameters) + 1} positional arguments but "
            f"{len(args) + 1} were given"
        )
    bound = {name: value for (name, _), value in zip(parameters, args, strict=False)}
    names = {name for name, _ in parameters}
    for name, value in kwargs.items():
        if name not in names:
            raise type_error(f"{method}() got an unexpected keyword argument '{name}'")
        if name in bound:
            raise type_error(f"{method}() got multiple values for argument '{name}'")
        bound[name] = value
    for name, default in parameters:
        if name not in bound:
            if default is _REQUIRED:
                raise type_error(f"{method}() missing 1 required positional argument: '{name}'")
            bound[name] = default
    return bound


def _ids(value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list | tuple) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        return list(value)
    raise value_error(f"Invalid record ids {value!r}")


def _search(env: Env, model: str, _ids: list[int], a: dict[str, Any]) -> Any:
    return env.search(model, a["domain"], a["offset"], a["limit"], a["order"])


def _search_read(env: Env, model: str, _ids: list[int], a: dict[str, Any]) -> Any:
    found = env.search(model, a["domain"] or [], a["offset"], a["limit"], a["order"])
    return env.read(model, found, a["fields"])


def _search_count(env: Env, model: str, _ids: list[int], a: dict[str, Any]) -> Any:
    return len(env.search(model, a["domain"], 0, a["limit"]))


def _create(env: Env, model: str, _ids: list[int], a: dict[str, Any]) -> Any:
    vals = a["vals_list"]
    if isinstance(vals, list):
        return env.create(model, vals)
    return env.create(model, [vals])[0]


def _read(env: Env, model: str, ids: list[int], a: dict[str, Any]) -> Any:
    return env.read(model, ids, a["fields"])


def _write(env: Env, model: str, ids: list[int], a: dict[str, Any]) -> Any:
    env.write(model, ids, a["vals"])
    return True


def _unlink(env: Env, model: str, ids: list[int], _a: dict[str, Any]) -> Any:
    env.unlink(model, ids)
    return True


def _fields_get(env: Env, model: str, _ids: list[int], a: dict[str, Any]) -> Any:
    return env.fields_get(model, a["allfields"], a["attributes"])


_RUN: dict[str, Callable[[Env, str, list[int], dict[str, Any]], Any]] = {
    "search": _search,
    "search_read": _search_read,
    "search_count": _search_count,
    "create": _create,
    "read": _read,
    "write": _write,
    "unlink": _unlink,
    "fields_get": _fields_get,
    "context_get": lambda env, _model, _ids, _a: business.context_get(env),
    "action_post": lambda env, _model, ids, _a: business.action_post(env, ids),
    "action_confirm": lambda env, _model, ids, _a: business.confirm_orders(env, ids),
    "action_cancel": lambda env, _model, ids, _a: business.cancel_orders(env, ids),
    "action_lock": lambda env, _model, ids, _a: business.set_orders(env, ids, {"locked": True}),
    "action_unlock": lambda env, _model, ids, _a: business.set_orders(env, ids, {"locked": False}),
    "action_done": lambda env, _model, ids, _a: _done(env, ids),
    "action_create_payments": lambda env, _model, ids, _a: business.create_payments(env, ids),
}
