"""The secrets chain: init args > environment > `.env` > `SECRETS_DIR` files > AWS Secrets Manager.

AWS is moto's server mode on a local port (tests/aws_stand_in.py), so the real boto3 client runs:
signing, retries, timeouts and error parsing. Nothing here reaches real AWS.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from pydantic import SecretStr, ValidationError

from serving import secrets
from serving.secrets import SECRET_FIELDS, SecretsUnavailable
from serving.settings import Settings, load_settings
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    AwsStandIn,
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
    secret_file,
)

SECRET = "sk-test-Zq8vW3e9-do-not-log"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, offline_aws: str) -> None:
    """No setting from this machine's environment or `.env` reaches a test; AWS is unreachable."""
    names = {name.lower() for name in Settings.model_fields} | {"dental_integration_key"}
    for key in list(os.environ):
        if key.lower() in names and not key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("PYDANTIC_SETTINGS_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "run-secrets"
    directory.mkdir()
    monkeypatch.setenv("SECRETS_DIR", str(directory))
    return directory


@pytest.fixture
def aws(aws_stand_in: AwsStandIn, monkeypatch: pytest.MonkeyPatch) -> AwsStandIn:
    monkeypatch.setenv("SECRETS_BACKEND", "aws")
    return aws_stand_in


def write_dotenv(text: str) -> None:
    Path(".env").write_text(text, encoding="utf-8")


def value(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


# --- each link of the chain -------------------------------------------------------------------


def test_nothing_configured_gives_defaults_and_no_secrets() -> None:
    settings = load_settings()

    assert settings.secrets_backend == "env"
    assert all(getattr(settings, name) is None for name in SECRET_FIELDS)


def test_init_argument_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")

    assert value(load_settings(openai_api_key="from-init").openai_api_key) == "from-init"


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    write_dotenv("OPENAI_API_KEY=from-dotenv\nTELEGRAM_BOT_TOKEN=token-from-dotenv\n")
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")

    settings = load_settings()

    assert value(settings.openai_api_key) == "from-env"
    assert value(settings.telegram_bot_token) == "token-from-dotenv"


def test_dotenv_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dotenv("OPENAI_API_KEY=from-dotenv\n")
    assert value(load_settings().openai_api_key) == "from-dotenv"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_settings().openai_api_key is None


def test_dotenv_beats_secrets_dir(secrets_dir: Path) -> None:
    secret_file(secrets_dir, "openai_api_key", "from-file")
    write_dotenv("OPENAI_API_KEY=from-dotenv\n")

    assert value(load_settings().openai_api_key) == "from-dotenv"


def test_secrets_dir_file_is_read_without_its_trailing_newline(secrets_dir: Path) -> None:
    secret_file(secrets_dir, "openai_api_key", "from-file")
    secret_file(secrets_dir, "dental_integration_key", "integration-from-file")

    settings = load_settings()

    assert value(settings.openai_api_key) == "from-file"
    assert value(settings.integration_key) == "integration-from-file"


def test_secrets_dir_can_itself_come_from_dotenv(tmp_path: Path) -> None:
    directory = tmp_path / "mounted"
    directory.mkdir()
    secret_file(directory, "jwt_secret", "jwt-from-file")
    write_dotenv(f"SECRETS_DIR={directory}\n")

    assert value(load_settings().jwt_secret) == "jwt-from-file"


def test_missing_secrets_dir_is_a_validation_error_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path / "not-mounted"))

    with pytest.raises(ValidationError) as caught:
        load_settings()

    assert [error["loc"] for error in caught.value.errors()] == [("secrets_dir",)]


def test_empty_environment_variable_counts_as_unset(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What docker compose passes for `OPENAI_API_KEY=${OPENAI_API_KEY}` when the host lacks it.
    monkeypatch.setenv("OPENAI_API_KEY", "")
    secret_file(secrets_dir, "openai_api_key", "from-file")

    assert value(load_settings().openai_api_key) == "from-file"


# --- AWS Secrets Manager ----------------------------------------------------------------------


def test_aws_fills_secrets_from_prefixed_dashed_names(aws: AwsStandIn) -> None:
    aws.put_secret("prod/openai-api-key", "openai-from-aws")
    aws.put_secret("prod/telegram-bot-token", "telegram-from-aws")
    aws.put_secret("prod/integration-key", "integration-from-aws")

    settings = load_settings()

    assert value(settings.openai_api_key) == "openai-from-aws"
    assert value(settings.telegram_bot_token) == "telegram-from-aws"
    assert value(settings.integration_key) == "integration-from-aws"


def test_aws_honours_a_custom_prefix(aws: AwsStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.put_secret("prod/openai-api-key", "prod-value")
    aws.put_secret("staging/openai-api-key", "staging-value")
    monkeypatch.setenv("AWS_SECRETS_PREFIX", "staging")

    assert value(load_settings().openai_api_key) == "staging-value"


def test_secret_missing_in_aws_stays_unset(
    aws: AwsStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    aws.put_secret("prod/openai-api-key", "openai-from-aws")
    caplog.set_level(logging.INFO, logger="serving.secrets")

    settings = load_settings()

    assert value(settings.openai_api_key) == "openai-from-aws"
    assert settings.telegram_bot_token is None
    assert "prod/telegram-bot-token not found" in caplog.text


def test_aws_only_fills_secrets_still_unset(
    aws: AwsStandIn, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("openai-api-key", "telegram-bot-token", "jwt-secret", "neo4j-password"):
        aws.put_secret(f"prod/{name}", "from-aws")
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    write_dotenv("TELEGRAM_BOT_TOKEN=from-dotenv\n")
    secret_file(secrets_dir, "jwt_secret", "from-file")

    settings = load_settings()

    assert value(settings.openai_api_key) == "from-env"
    assert value(settings.telegram_bot_token) == "from-dotenv"
    assert value(settings.jwt_secret) == "from-file"
    assert value(settings.neo4j_password) == "from-aws"


def test_init_argument_beats_aws(aws: AwsStandIn) -> None:
    aws.put_secret("prod/openai-api-key", "from-aws")

    assert value(load_settings(openai_api_key="from-init").openai_api_key) == "from-init"


def test_aws_is_not_called_when_every_secret_is_already_set(
    offline_aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_BACKEND", "aws")  # endpoint is a closed port: a call would fail
    for name in SECRET_FIELDS:
        monkeypatch.setenv(name.upper(), f"{name}-from-env")

    settings = load_settings()

    assert value(settings.integration_key) == "integration_key-from-env"


def test_odoo_api_key_comes_from_the_secrets_chain(aws: AwsStandIn) -> None:
    aws.put_secret("prod/odoo-api-key", "0f3c9a6e41b2d8c7e5a4b3c2d1e0f9a8b7c6d5e4")

    odoo = load_settings().odoo_api_key

    assert isinstance(odoo, SecretStr)
    assert odoo.get_secret_value() == "0f3c9a6e41b2d8c7e5a4b3c2d1e0f9a8b7c6d5e4"
    assert "0f3c9a6e" not in repr(load_settings())


def test_unreachable_endpoint_fails_fast_with_a_clear_message(
    offline_aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_BACKEND", "aws")  # AWS_ENDPOINT_URL is a closed local port
    started = time.monotonic()

    with pytest.raises(SecretsUnavailable) as caught:
        load_settings()

    # Production defaults: 3 attempts with jittered backoff of at most 1 s + 2 s.
    assert time.monotonic() - started < 8
    message = str(caught.value)
    assert offline_aws in message
    assert "unreachable" in message
    assert "AWS_ENDPOINT_URL" in message


def test_endpoint_that_never_answers_times_out(
    offline_aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production waits 5 s per attempt; shortened so the test shows the read timeout is wired.
    monkeypatch.setattr(secrets, "READ_TIMEOUT_SECONDS", 0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the kernel backlog; nothing ever replies
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()

        with pytest.raises(SecretsUnavailable, match="ReadTimeoutError"):
            load_settings(secrets_backend="aws", aws_endpoint_url=url)

    assert time.monotonic() - started < 8


def test_missing_credentials_are_reported_as_such(
    aws: AwsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_SECURITY_TOKEN")

    with pytest.raises(SecretsUnavailable, match="no usable AWS credentials"):
        load_settings()


def test_refused_secret_raises_with_the_aws_error_code(aws: AwsStandIn) -> None:
    aws.put_secret("prod/openai-api-key", SECRET)
    aws.client.delete_secret(SecretId="prod/openai-api-key", RecoveryWindowInDays=7)

    with pytest.raises(SecretsUnavailable) as caught:
        load_settings()

    assert "prod/openai-api-key" in str(caught.value)
    assert "InvalidRequestException" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# --- validation -------------------------------------------------------------------------------


def test_unknown_secrets_backend_is_a_validation_error_naming_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRETS_BACKEND", "vault")

    with pytest.raises(ValidationError) as caught:
        load_settings()

    assert [error["loc"] for error in caught.value.errors()] == [("secrets_backend",)]
    assert "secrets_backend" in str(caught.value)
    assert "'env' or 'aws'" in str(caught.value)


def test_validation_errors_do_not_quote_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(port=SECRET)

    assert "port" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


# --- secrets stay out of reprs, dumps, logs and errors ------------------------------------------


def test_secrets_never_show_in_repr_str_or_json(secrets_dir: Path) -> None:
    secret_file(secrets_dir, "neo4j_password", SECRET)
    settings = load_settings(openai_api_key=SECRET, odoo_api_key=json.dumps({"pw": SECRET}))

    assert value(settings.neo4j_password) == SECRET
    dumped = settings.model_dump_json()
    for text in (repr(settings), str(settings), dumped):
        assert SECRET not in text
    assert json.loads(dumped)["openai_api_key"] == "**********"


@pytest.fixture
def debug_everything(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every logger at DEBUG, including botocore children set explicitly."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="botocore")
    caplog.set_level(logging.DEBUG, logger="botocore.parsers")
    caplog.set_level(logging.DEBUG, logger="botocore.endpoint")
    yield caplog


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{record.name}: {record.getMessage()}" for record in caplog.records)


def test_botocore_debug_logging_would_leak_the_secret_by_itself(
    aws: AwsStandIn, debug_everything: pytest.LogCaptureFixture
) -> None:
    """The control for the next test: shows the leak it guards against is real."""
    aws.put_secret("prod/openai-api-key", SECRET)
    client = boto3.session.Session().client("secretsmanager", endpoint_url=aws.endpoint_url)

    client.get_secret_value(SecretId="prod/openai-api-key")

    assert SECRET in logged(debug_everything)


def test_loading_from_aws_logs_no_secret_even_at_debug(
    aws: AwsStandIn, debug_everything: pytest.LogCaptureFixture
) -> None:
    aws.put_secret("prod/openai-api-key", SECRET)
    aws.put_secret("prod/odoo-api-key", json.dumps({"password": SECRET}))

    settings = load_settings()

    assert value(settings.openai_api_key) == SECRET
    text = logged(debug_everything)
    assert "prod/jwt-secret not found" in text  # logging was on and captured
    assert SECRET not in text
    assert all(SECRET not in repr(record.args) for record in debug_everything.records)
    # The quietening is undone afterwards.
    assert logging.getLogger("botocore").level == logging.DEBUG
    assert logging.getLogger("botocore.parsers").level == logging.DEBUG


def test_database_password_stays_out_of_repr_and_dumps() -> None:
    settings = load_settings(database_url="postgresql+asyncpg://dental:hunter2pw@db:5432/dental")

    assert settings.database_url.endswith("hunter2pw@db:5432/dental")
    assert settings.redacted_database_url == "postgresql+asyncpg://dental:***@db:5432/dental"
    assert "database_url" not in repr(settings)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hunter2pw" not in text
    assert settings.model_dump()["database_url"] == settings.redacted_database_url


def test_unparseable_database_url_is_not_echoed_when_redacted() -> None:
    settings = load_settings(database_url="dental:hunter2pw at db")

    assert "hunter2pw" not in settings.redacted_database_url
