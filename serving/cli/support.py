"""What every `dental` command does with a mistake an operator can fix: one red line on stderr
and exit status 1, never a traceback (its locals could hold settings or patient data)."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from pydantic import ValidationError

from serving.secrets import SecretsUnavailable
from serving.settings import Settings, load_settings


def fail(message: str) -> NoReturn:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


def configuration_problems(error: ValidationError) -> str:
    """`NAME: reason; ...` for each invalid setting: names and reasons only, never the rejected
    values, which may be secrets."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
        for problem in error.errors()
    )


def operator_settings(**overrides: Any) -> Settings:
    """The settings, or one line saying which are invalid or which secrets are unreachable."""
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        fail(f"invalid configuration: {configuration_problems(exc)}")
    except SecretsUnavailable as exc:
        fail(str(exc))
