"""`dental users ...`: the clinic's staff accounts (the staff console's sign-in).

A password is never an argument (it would stay in the shell history and the process list):
`--password-stdin` reads it from standard input; without it one is generated and printed once.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from serving.cli.support import fail, on_migrated_database
from serving.staff.accounts import AccountError, StaffAccount, StaffAccounts
from serving.staff.passwords import generate_password
from serving.staff.roles import ROLES

T = TypeVar("T")

users_app = typer.Typer(
    help="Staff accounts of the staff console: create, list, disable, reset a password. "
    "Roles: admin, doctor, receptionist.",
    no_args_is_help=True,
)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (first line) instead of generating one.",
    ),
]


def _run(work: Callable[[StaffAccounts], Awaitable[T]]) -> T:
    return on_migrated_database(
        lambda database, _: work(StaffAccounts(database)), refusals=(AccountError,)
    )


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(the password, whether it was generated)."""
    if not from_stdin:
        return generate_password(), True
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("no password on standard input")
    return password, False


def _line(account: StaffAccount) -> str:
    state = "disabled" if account.disabled else "active"
    last = f"{account.last_login_at:%Y-%m-%d %H:%M}" if account.last_login_at else "never"
    return (
        f"{account.id}  {account.email}  {account.name}  {account.role}  {state}  "
        f"last sign-in {last}"
    )


@users_app.command("create")
def create(
    email: Annotated[str, typer.Option(help="The sign-in e-mail.")],
    name: Annotated[str, typer.Option(help="As colleagues and the audit log show it.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a staff account; without --password-stdin a password is generated and printed
    once."""
    if role not in ROLES:
        fail(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    password, generated = _password(password_stdin)
    account = _run(
        lambda accounts: accounts.create(email=email, name=name, role=role, password=password)
    )
    typer.echo(f"created: {_line(account)}")
    if generated:
        typer.echo(f"password (shown once): {password}")


@users_app.command("list")
def list_users() -> None:
    """Every staff account, by e-mail."""
    accounts = _run(lambda accounts: accounts.list())
    if not accounts:
        typer.echo("no staff accounts yet (`dental users create`)")
    for account in accounts:
        typer.echo(_line(account))


@users_app.command("disable")
def disable(email: Annotated[str, typer.Argument(help="The account's e-mail.")]) -> None:
    """Disable an account: it cannot sign in and its sessions end at once."""
    account = _run(lambda accounts: accounts.disable(email))
    typer.echo(f"disabled: {account.email}")


@users_app.command("reset")
def reset(
    email: Annotated[str, typer.Argument(help="The account's e-mail.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """A new password (generated and printed once without --password-stdin); the account's
    sessions end and a lock-out clears."""
    password, generated = _password(password_stdin)
    account = _run(lambda accounts: accounts.reset_password(email, password))
    typer.echo(f"password reset: {account.email}")
    if generated:
        typer.echo(f"password (shown once): {password}")
