"""`dental secrets`: operator checks of the production secrets (names and key ids, never values)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from pydantic import ValidationError

from serving.cli.support import configuration_problems, fail
from serving.secrets import PRODUCTION_SECRET_FIELDS, SecretsUnavailable
from serving.secrets_check import (
    CHECKED_BY_DEFAULT,
    DEFAULT_KMS_ALIAS,
    SecretsChecker,
    render_report,
)
from serving.settings import load_settings

secrets_app = typer.Typer(
    help="The production secrets in AWS Secrets Manager and their customer-managed KMS key. "
    "Never prints a value.",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)


@secrets_app.command("check")
def secrets_check(
    kms_alias: Annotated[
        str,
        typer.Option(
            envvar="AWS_SECRETS_KMS_ALIAS", help="The KMS key alias the secrets must use."
        ),
    ] = DEFAULT_KMS_ALIAS,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            help="A secret to check, by settings field (repeatable), any of the production "
            "secrets in docs/SECRETS.md; default: openai_api_key, neo4j_password, "
            "odoo_api_key, telegram_bot_token, jwt_secret.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as a JSON object.")] = False,
) -> None:
    """Check that each secret exists, has a value and is encrypted with the expected CMK.

    Uses DescribeSecret and KMS DescribeKey only: no secret value is read. Region, endpoint and
    name prefix come from the settings (AWS_REGION, AWS_ENDPOINT_URL, AWS_SECRETS_PREFIX).
    Exits 1 when anything is wrong.
    """
    fields = tuple(secret) if secret else CHECKED_BY_DEFAULT
    unknown = [field for field in fields if field not in PRODUCTION_SECRET_FIELDS]
    if unknown:
        choices = ", ".join(PRODUCTION_SECRET_FIELDS)
        fail(f"unknown secret {', '.join(unknown)}; choose from {choices}")
    try:
        # secrets_backend="env": the check describes secrets, it must never fetch their values.
        settings = load_settings(secrets_backend="env")
    except ValidationError as exc:
        fail(f"invalid configuration: {configuration_problems(exc)}")
    try:
        checker = SecretsChecker(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        report = checker.check(
            prefix=settings.aws_secrets_prefix, fields=fields, kms_alias=kms_alias
        )
    except SecretsUnavailable as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, **asdict(report)}))
    else:
        for line in render_report(report):
            typer.echo(line)
    if not report.ok:
        raise typer.Exit(code=1)
