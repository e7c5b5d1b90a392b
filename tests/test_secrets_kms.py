"""Production secrets encrypted with the customer-managed KMS key, and `dental secrets check`.

moto's server mode plays Secrets Manager and KMS on a local port (tests/aws_stand_in.py): the
secrets are created the way infra/terraform/ creates them (one per name, `KmsKeyId` = the CMK
alias), the app reads them through the real secrets chain, and the operator check describes
them through the real boto3 clients. No value may appear in the check's output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from serving.cli import app
from serving.secrets import SECRET_FIELDS, secret_name
from serving.secrets_check import CHECKED_BY_DEFAULT, DEFAULT_KMS_ALIAS
from serving.settings import Settings, load_settings
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    REGION,
    AwsStandIn,
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)

ROOT = Path(__file__).resolve().parent.parent
VALUES = {field: f"value-of-{field}-Xq93-never-printed" for field in CHECKED_BY_DEFAULT}


@dataclass
class Kms:
    """The moto KMS endpoint, the CMK behind `alias/dental-clinic-secrets`, and its clients."""

    client: Any
    secrets: AwsStandIn
    key_id: str

    def new_key(self, *, rotation: bool = True) -> str:
        key_id: str = self.client.create_key(Description="another key")["KeyMetadata"]["KeyId"]
        if rotation:
            self.client.enable_key_rotation(KeyId=key_id)
        return key_id

    def create_secret(self, field: str, *, kms_key: str | None = DEFAULT_KMS_ALIAS) -> None:
        arguments: dict[str, str] = {
            "Name": secret_name("prod", field),
            "SecretString": VALUES.get(field, "x"),
        }
        if kms_key is not None:
            arguments["KmsKeyId"] = kms_key
        self.secrets.client.create_secret(**arguments)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from this machine's environment or the repository's `.env` reaches a test."""
    names = {name.lower() for name in Settings.model_fields} | {"dental_integration_key"}
    for key in list(os.environ):
        if key.lower() in names and not key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("AWS_SECRETS_KMS_ALIAS", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def kms(aws_stand_in: AwsStandIn) -> Iterator[Kms]:
    """A customer-managed key with rotation on, under the alias Terraform gives it."""
    client = boto3.session.Session().client(
        "kms", region_name=REGION, endpoint_url=aws_stand_in.endpoint_url
    )
    key_id = client.create_key(Description="dental-clinic secrets")["KeyMetadata"]["KeyId"]
    client.enable_key_rotation(KeyId=key_id)
    client.create_alias(AliasName=DEFAULT_KMS_ALIAS, TargetKeyId=key_id)
    yield Kms(client=client, secrets=aws_stand_in, key_id=key_id)


@pytest.fixture
def provisioned(kms: Kms) -> Kms:
    """The five production secrets, each encrypted with the CMK."""
    for field in CHECKED_BY_DEFAULT:
        kms.create_secret(field)
    return kms


def check(*args: str) -> Result:
    return CliRunner().invoke(app, ["secrets", "check", *args])


def test_the_app_reads_cmk_encrypted_secrets_through_the_chain(
    provisioned: Kms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_BACKEND", "aws")

    settings = load_settings()

    for field in CHECKED_BY_DEFAULT:
        secret = getattr(settings, field)
        assert secret is not None and secret.get_secret_value() == VALUES[field]
    for field in CHECKED_BY_DEFAULT:
        described = provisioned.secrets.client.describe_secret(SecretId=secret_name("prod", field))
        key = provisioned.client.describe_key(KeyId=described["KmsKeyId"])["KeyMetadata"]
        assert key["KeyId"] == provisioned.key_id
        assert key["KeyManager"] == "CUSTOMER"


def test_check_passes_when_every_secret_uses_the_cmk(provisioned: Kms) -> None:
    result = check()

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"{DEFAULT_KMS_ALIAS}: customer-managed, enabled, rotation on (key {provisioned.key_id})"
    )
    assert sorted(lines[1:-1]) == sorted(
        f"{secret_name('prod', field)}: ok" for field in CHECKED_BY_DEFAULT
    )
    assert lines[-1] == "5 secrets checked, 0 with problems, key ok: all good"


def test_check_names_each_problem_and_never_prints_a_value(kms: Kms) -> None:
    kms.create_secret("openai_api_key")
    kms.create_secret("neo4j_password", kms_key=None)  # the AWS-managed aws/secretsmanager key
    other = kms.new_key()
    kms.create_secret("odoo_api_key", kms_key=other)
    kms.create_secret("telegram_bot_token")
    kms.secrets.client.delete_secret(
        SecretId=secret_name("prod", "telegram_bot_token"), RecoveryWindowInDays=7
    )
    # jwt_secret is not created at all.

    result = check()

    assert result.exit_code == 1
    output = result.output
    assert "prod/openai-api-key: ok" in output
    assert (
        f"prod/neo4j-password: is encrypted with the AWS-managed key, not {DEFAULT_KMS_ALIAS}"
        in output
    )
    assert f"prod/odoo-api-key: is encrypted with KMS key {other}, not" in output
    assert "prod/telegram-bot-token: is scheduled for deletion" in output
    assert "prod/jwt-secret: does not exist" in output
    assert "5 secrets checked, 4 with problems, key ok: PROBLEMS" in output
    for value in VALUES.values():
        assert value not in output


def test_check_reports_a_secret_created_without_a_value(kms: Kms) -> None:
    for field in CHECKED_BY_DEFAULT:
        if field != "jwt_secret":
            kms.create_secret(field)
    kms.secrets.client.create_secret(Name="prod/jwt-secret", KmsKeyId=DEFAULT_KMS_ALIAS)

    result = check()

    assert result.exit_code == 1
    assert "prod/jwt-secret: has no current value (set it out of band" in result.output


def test_check_refuses_a_key_without_rotation(kms: Kms) -> None:
    kms.client.disable_key_rotation(KeyId=kms.key_id)
    for field in CHECKED_BY_DEFAULT:
        kms.create_secret(field)

    result = check()

    assert result.exit_code == 1
    assert f"automatic rotation is off for KMS key {DEFAULT_KMS_ALIAS}" in result.output


def test_check_reports_a_missing_key_alias(aws_stand_in: AwsStandIn) -> None:
    result = check("--kms-alias", "alias/not-there")

    assert result.exit_code == 1
    assert (
        result.output.splitlines()[0] == "alias/not-there: KMS key alias/not-there does not exist"
    )


def test_check_json_and_chosen_secrets(provisioned: Kms) -> None:
    result = check("--json", "--secret", "jwt_secret", "--secret", "openai_api_key")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["key"]["key_id"] == provisioned.key_id
    assert [secret["name"] for secret in report["secrets"]] == [
        "prod/jwt-secret",
        "prod/openai-api-key",
    ]


def test_check_rejects_an_unknown_secret_name(aws_stand_in: AwsStandIn) -> None:
    result = check("--secret", "root_password")

    assert result.exit_code == 1
    assert "unknown secret root_password" in result.output


def test_check_fails_clearly_when_aws_is_unreachable(offline_aws: str) -> None:
    result = check()

    assert result.exit_code == 1
    assert "is unreachable while describing KMS key alias/dental-clinic-secrets" in result.output


# --- .env.example and .gitignore ----------------------------------------------------------------


def _secret_variables() -> set[str]:
    names = {field.upper() for field in SECRET_FIELDS} | {"DENTAL_INTEGRATION_KEY"}
    for name, field in Settings.model_fields.items():
        if "SecretStr" in str(field.annotation):
            names.add(name.upper())
    return names


def test_env_example_names_the_secrets_without_values() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    assignments = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^([A-Z0-9_]+)=(.*)$", text, re.MULTILINE)
    }

    for name in CHECKED_BY_DEFAULT:
        assert name.upper() in assignments, f"{name.upper()} is not listed in .env.example"
    filled = {name for name in _secret_variables() if assignments.get(name, "").strip()}
    assert filled == set()


def test_dotenv_is_ignored_by_git() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "--no-index", ".env"],
        cwd=ROOT,
        check=False,
    )

    assert result.returncode == 0, ".env is not ignored by .gitignore"
