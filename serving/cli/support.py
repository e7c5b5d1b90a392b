"""What every `dental` command does with a mistake an operator can fix: one red line on stderr
and exit status 1, never a traceback (its locals could hold settings or patient data)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from serving.db.engine import Database
from serving.db.migrate import migration_status
from serving.secrets import SecretsUnavailable
from serving.settings import Settings, load_settings

T = TypeVar("T")


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


def on_migrated_database(
    work: Callable[[Database, Settings], Awaitable[T]],
    *,
    refusals: tuple[type[Exception], ...] = (),
) -> T:
    """`work` on the configured database, once it is at this code's schema; an exception of
    `refusals` (a request the operator can fix) is one line and exit 1."""
    settings = operator_settings()

    async def run() -> T:
        database = Database(settings.database_url)
        try:
            status = await migration_status(database.engine)
            if not status.is_current:
                fail(
                    f"the database is at revision {status.current}, this code expects "
                    f"{status.head}; run `dental db upgrade` first"
                )
            return await work(database, settings)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except refusals as error:
        fail(str(error))
