"""`dental users create|list|disable|reset`: a password generated and printed once, or read
from standard input; a bad request is one clear line, exit 1, nothing changed. SQLite only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from serving.cli import app
from serving.db.engine import Database
from serving.staff.accounts import LoginRefused, StaffAccounts

pytestmark = [
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("operator_env"),
]


@pytest.fixture
def operator_env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    yield


def dental(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def signs_in(database_url: str, email: str, password: str) -> bool:
    async def attempt() -> bool:
        database = Database(database_url)
        try:
            await StaffAccounts(database).authenticate(email, password)
            return True
        except LoginRefused:
            return False
        finally:
            await database.dispose()

    return asyncio.run(attempt())


def shown_password(result: Result) -> str:
    [line] = [line for line in result.output.splitlines() if line.startswith("password (")]
    return line.split(": ", 1)[1]


def test_create_list_reset_and_disable(database_url: str) -> None:
    created = dental(
        "users", "create", "--email", "Admin@Clinic.example", "--name", "Clinic Admin",
        "--role", "admin",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "admin@clinic.example  Clinic Admin  admin  active" in created.output
    generated = shown_password(created)
    assert signs_in(database_url, "admin@clinic.example", generated)

    chosen = dental(
        "users", "create", "--email", "desk@clinic.example", "--name", "Front Desk",
        "--role", "receptionist", "--password-stdin", stdin="a long chosen passphrase\n",
    )  # fmt: skip
    assert chosen.exit_code == 0, chosen.output
    assert "password (" not in chosen.output, "a chosen password is never printed"
    assert signs_in(database_url, "desk@clinic.example", "a long chosen passphrase")

    listed = dental("users", "list")
    assert [line.split("  ")[1] for line in listed.output.splitlines()] == [
        "admin@clinic.example",
        "desk@clinic.example",
    ]

    reset = dental("users", "reset", "desk@clinic.example")
    assert reset.exit_code == 0, reset.output
    new_password = shown_password(reset)
    assert not signs_in(database_url, "desk@clinic.example", "a long chosen passphrase")
    assert signs_in(database_url, "desk@clinic.example", new_password)

    disabled = dental("users", "disable", "desk@clinic.example")
    assert disabled.exit_code == 0 and "disabled: desk@clinic.example" in disabled.output
    assert not signs_in(database_url, "desk@clinic.example", new_password)
    assert (
        "desk@clinic.example  Front Desk  receptionist  disabled" in dental("users", "list").output
    )


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["create", "--email", "a@clinic.example", "--name", "A", "--role", "owner"], None,
         "unknown role"),
        (["create", "--email", "not-an-address", "--name", "A", "--role", "doctor"], None,
         "not an e-mail address"),
        (["create", "--email", "a@clinic.example", "--name", "A", "--role", "doctor",
          "--password-stdin"], "short\n", "at least 12 characters"),
        (["create", "--email", "a@clinic.example", "--name", "A", "--role", "doctor",
          "--password-stdin"], "", "no password on standard input"),
        (["disable", "nobody@clinic.example"], None, "no account"),
        (["reset", "nobody@clinic.example"], None, "no account"),
    ],
)  # fmt: skip
def test_a_bad_request_is_refused_clearly_and_changes_nothing(
    args: list[str], stdin: str | None, message: str
) -> None:
    refused = dental("users", *args, stdin=stdin)

    assert refused.exit_code == 1
    assert message in refused.output
    assert "Traceback" not in refused.output
    assert "no staff accounts yet" in dental("users", "list").output
