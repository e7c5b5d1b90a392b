"""Odoo's failures as the stand-in raises them, and the JSON-RPC error object they become.

Names, messages and the object's shape are those of a real Odoo 17 (checked on this machine):
`{"code": 200, "message": "Odoo Server Error", "data": {"name", "debug", "message",
"arguments", "context"}}`. `debug` is a traceback in real Odoo; here a short one naming the
stand-in, so nothing reads as Odoo's own code.
"""

from __future__ import annotations

from typing import Any


class OdooError(Exception):
    """A failure Odoo reports as an error object; `name` is its exception class path."""

    def __init__(self, name: str, message: str, *, debug: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.debug = debug

    def error_object(self) -> dict[str, Any]:
        return {
            "code": 200,
            "message": "Odoo Server Error",
            "data": {
                "name": self.name,
                "debug": self.debug
                or (
                    "Traceback (most recent call last):\n"
                    '  File "tests/odoo_stand_in/server.py", in dispatch\n'
                    f"{self.name}: {self.message}\n"
                ),
                "message": self.message,
                "arguments": [self.message],
                "context": {},
            },
        }


def user_error(message: str) -> OdooError:
    return OdooError("odoo.exceptions.UserError", message)


def validation_error(message: str) -> OdooError:
    return OdooError("odoo.exceptions.ValidationError", message)


def access_error(message: str) -> OdooError:
    return OdooError("odoo.exceptions.AccessError", message)


def access_denied() -> OdooError:
    return OdooError("odoo.exceptions.AccessDenied", "Access Denied")


def missing_error(model: str, ids: list[int], uid: int) -> OdooError:
    return OdooError(
        "odoo.exceptions.MissingError",
        f"Record does not exist or has been deleted.\n(Record: {model}{tuple(ids)!r}, User: {uid})",
    )


def value_error(message: str) -> OdooError:
    return OdooError("builtins.ValueError", message)


def type_error(message: str) -> OdooError:
    return OdooError("builtins.TypeError", message)


def invalid_field(model: str, name: str) -> OdooError:
    return value_error(f"Invalid field {name!r} on model {model!r}")


def no_such_database(database: str) -> OdooError:
    return OdooError(
        "psycopg2.OperationalError",
        'connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
        f'database "{database}" does not exist\n',
    )


def mandatory_field(model_description: str, model: str, label: str, field: str) -> OdooError:
    """What Odoo answers when a required field is left empty (a NOT NULL violation)."""
    return validation_error(
        "The operation cannot be completed:\n"
        "- Create/update: a mandatory field is not set.\n"
        "- Delete: another model requires the record being deleted. If possible, archive it "
        "instead.\n\n"
        f"Model: {model_description} ({model})\nField: {label} ({field})\n"
    )
