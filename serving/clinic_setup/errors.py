"""What a clinic set-up change can be refused for; the message says what to fix."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class SetupError(ValueError):
    """A set-up change was refused; nothing was written."""


class NotFound(SetupError):
    """The provider, treatment or closure named does not exist."""


class KeptElsewhere(SetupError):
    """The clinic's schedule (providers, hours, treatments, closures) and its patients live in
    its own practice system (Odoo), and are changed there, not here."""

    def __init__(self, system: str) -> None:
        super().__init__(
            f"providers, working hours, treatments, closed days and patients are kept in "
            f"{system}: change them there (docs/ODOO.md); the clinic's profile is kept here"
        )


def validated(model: type[M], data: object) -> M:
    """`data` as `model`, or a SetupError naming each bad field and why (never the value)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SetupError(problems(exc)) from None


def problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'input'}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False)
    )
