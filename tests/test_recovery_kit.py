"""Recovery needs nothing but what the set and the docs hold: one list of production secrets that
Terraform, the runbook and SECRETS.md all match; the app's own wheel in every set, installable
offline; the runbook's `age` commands decrypting a real set; `dental backup init` setting up
the buckets; the Telegram webhook move documented where the runbook points; every BACKUP_*
setting in `.env.example`. Against moto's S3 on a real port and the real `age` binary."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from serving.backup.create import create_backup
from serving.backup.manifest import Manifest
from serving.backup.release import PART_KIND, PART_NAME, collect_release
from serving.backup.restore import restore_backup
from serving.cli import app
from serving.secrets import (
    PRODUCTION_SECRET_FIELDS,
    RECOVERY_SECRET_FIELDS,
    SECRET_FIELDS,
    secret_name,
)
from serving.secrets_check import CHECKED_BY_DEFAULT
from serving.settings import Settings
from tests import aws_cli_stand_in
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    REGION,
    AwsStandIn,
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)
from tests.backup_stand_ins import (  # noqa: F401
    SECONDARY_REGION,
    Buckets,
    age_keys_fixture,
    backup_settings_fixture,
    buckets_fixture,
    repository_fixture,
    session_exporter_fixture,
)
from tests.telegram_client import SECRET as WEBHOOK_SECRET
from tests.telegram_stand_in import TOKEN, BotApiStandIn, bot_api_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "RECOVERY_RUNBOOK.md"
sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


def section(markdown: str, heading: str) -> str:
    """The text under the `## ` heading that starts with `heading`, up to the next one."""
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


def aws_names(text: str) -> set[str]:
    return set(re.findall(r"`prod/([a-z0-9-]+)`", text))


def terraform_set(name: str) -> set[str]:
    providers = (ROOT / "infra" / "terraform" / "providers.tf").read_text(encoding="utf-8")
    match = re.search(rf"^\s*{name}\s*=\s*toset\(\[(.*?)\]\)", providers, re.M | re.S)
    assert match, f"infra/terraform/providers.tf defines no {name}"
    return set(re.findall(r'"([a-z0-9-]+)"', match.group(1)))


def dashed(fields: tuple[str, ...]) -> set[str]:
    return {secret_name("prod", field).removeprefix("prod/") for field in fields}


def fenced(text: str, info: str) -> list[str]:
    return re.findall(rf"^ *```{info}\n(.*?)^ *```", text, re.M | re.S)


# --- one list of production secrets ---------------------------------------------------------


def test_terraform_the_runbook_and_secrets_md_name_exactly_the_production_secrets() -> None:
    production = dashed(PRODUCTION_SECRET_FIELDS)
    assert set(CHECKED_BY_DEFAULT) <= set(PRODUCTION_SECRET_FIELDS)
    assert "backup-pgbackrest-passphrase" in production

    assert terraform_set("app_secrets") == dashed(SECRET_FIELDS)
    # recovery_secrets: read in recovery only; backup_secrets: also where backups are taken.
    recovery = terraform_set("recovery_secrets") | terraform_set("backup_secrets")
    assert recovery == dashed(RECOVERY_SECRET_FIELDS)

    runbook = RUNBOOK.read_text(encoding="utf-8")
    assert aws_names(section(runbook, "6. Secrets")) == production
    assert aws_names(runbook) <= production, "the runbook names a secret that does not exist"

    secrets_md = (ROOT / "docs" / "SECRETS.md").read_text(encoding="utf-8")
    assert aws_names(section(secrets_md, "Production:")) == production
    settings_table = section(secrets_md, "Variables")
    assert set(re.findall(r"^\| `([a-z0-9_]+)` \| `[A-Z]", settings_table, re.M)) == set(
        SECRET_FIELDS
    )
    assert not re.search(r"\b(five|six|eight) (production )?secrets\b", secrets_md)


# --- the set carries the app ----------------------------------------------------------------


@sqlite_only
def test_a_set_carries_the_apps_wheel_which_installs_offline_into_a_fresh_venv(
    backup_settings: Settings, tmp_path: Path
) -> None:
    manifest = create_backup(backup_settings, dvc=False)

    part = manifest.part(PART_NAME)
    assert part is not None and part.kind == PART_KIND
    target = tmp_path / "recovered"
    restore_backup(backup_settings, target=target, dvc=False, service_check=False)
    [wheel] = (target / "release").glob("dental_clinic_ai-*.whl")
    locks = target / "release" / "requirements"
    for lock in ("runtime.lock", "dev.lock"):
        assert (locks / lock).read_bytes() == (ROOT / "requirements" / lock).read_bytes()

    venv = tmp_path / "fresh-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"  # not the checkout, so `serving` comes from the wheel
    elsewhere.mkdir()
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_FIND_LINKS")}
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--no-index", "--no-deps", str(wheel)],
        cwd=elsewhere,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    probe = (
        "import importlib.util, serving; from pathlib import Path; "
        "root = Path(serving.__file__).parent; "
        "print(serving.__version__, root, "
        "importlib.util.find_spec('serving.backup.restore') is not None, "
        "any((root / 'db' / 'migrations' / 'versions').glob('0001*.py')))"
    )
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=elsewhere,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    version, location, has_restore, has_migrations = imported.stdout.split()
    assert version == manifest.app_version
    assert Path(location).is_relative_to(venv)
    assert has_restore == "True" and has_migrations == "True"
    assert (venv / "bin" / "dental").is_file(), "the `dental` command is installed"


def test_a_release_that_cannot_be_built_is_left_out_with_its_reason(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "serving").mkdir(parents=True)
    (source / "README.md").write_text("app\n", encoding="utf-8")
    (source / "pyproject.toml").write_text(
        '[project]\nname = "broken"\nversion = "not a version"\n'
        '[tool.setuptools.packages.find]\ninclude = ["serving*"]\n',
        encoding="utf-8",
    )
    work = tmp_path / "work"
    work.mkdir()

    archive, why_not = collect_release(work / PART_NAME, source)

    assert archive is None
    assert why_not is not None
    assert why_not.startswith(f"pip wheel failed for {source}: Preparing metadata")
    assert list(work.iterdir()) == [], "no staging left behind"
    assert collect_release(work / PART_NAME, tmp_path / "installed") == (
        None,
        f"the app does not run from a source checkout ({tmp_path / 'installed'})",
    )


# --- decrypting with the age command line ---------------------------------------------------


@sqlite_only
def test_the_runbooks_age_commands_decrypt_a_real_set_and_check_the_manifest(
    backup_settings: Settings, buckets: Buckets, tmp_path: Path
) -> None:
    age = shutil.which("age")
    assert age, "the age command line is missing: apt-get install age (see .ci/run)"
    manifest = create_backup(backup_settings, dvc=False)
    identity = backup_settings.backup_age_identity
    assert identity is not None
    kit = tmp_path / "kit"
    kit.mkdir(mode=0o700)
    key = kit / "backup-key.txt"
    key.write_text(identity.get_secret_value() + "\n", encoding="utf-8")
    key.chmod(0o600)
    bin_dir = aws_cli_stand_in.install(tmp_path / "bin").parent
    [block] = fenced(RUNBOOK.read_text(encoding="utf-8"), "bash kit")
    environment = {
        **os.environ,
        "BACKUP_BUCKET": buckets.primary,
        "SET": manifest.set_id,
        "PATH": os.pathsep.join(
            [str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
    }

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=kit,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "release.tar: OK" in result.stdout
    part = manifest.part(PART_NAME)
    assert part is not None
    assert hashlib.sha256((kit / "release.tar").read_bytes()).hexdigest() == part.sha256
    assert hashlib.sha256((kit / "release.tar.age").read_bytes()).hexdigest() == (
        part.object_sha256
    )
    assert list((kit / "release").glob("dental_clinic_ai-*.whl"))
    stored = Manifest.from_json((kit / "manifest.json").read_text(encoding="utf-8"), where="kit")
    assert stored == manifest

    # Any other part the same way, straight with the binary: the conversations, readable.
    messages = manifest.part("messages.jsonl")
    assert messages is not None
    encrypted = kit / messages.object
    buckets.client.download_file(
        buckets.primary, f"backups/{manifest.set_id}/{messages.object}", str(encrypted)
    )
    plain = kit / messages.name
    subprocess.run(
        [age, "--decrypt", "--identity", str(key), "--output", str(plain), str(encrypted)],
        check=True,
        capture_output=True,
    )
    assert hashlib.sha256(plain.read_bytes()).hexdigest() == messages.sha256

    # A damaged object: age refuses, and nothing half-decrypted passes the manifest check.
    damaged = bytearray(encrypted.read_bytes())
    damaged[-1] ^= 0x01
    encrypted.write_bytes(bytes(damaged))
    refused = subprocess.run(
        [age, "--decrypt", "--identity", str(key), "--output", str(kit / "x"), str(encrypted)],
        capture_output=True,
        check=False,
    )
    assert refused.returncode != 0


# --- dental backup init ---------------------------------------------------------------------


def _bucket_state(s3: Any, name: str) -> dict[str, Any]:
    versioning = s3.get_bucket_versioning(Bucket=name)
    encryption = s3.get_bucket_encryption(Bucket=name)
    public = s3.get_public_access_block(Bucket=name)
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=name)
    [rule] = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    return {
        "versioning": versioning.get("Status"),
        "encryption": rule["ApplyServerSideEncryptionByDefault"],
        "public_access": public["PublicAccessBlockConfiguration"],
        "lifecycle": lifecycle["Rules"],
    }


def test_backup_init_creates_and_configures_both_buckets_idempotently(
    aws_stand_in: AwsStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in [n for n in os.environ if n.startswith("BACKUP_")]:
        monkeypatch.delenv(name)
    session = boto3.session.Session()
    s3 = {
        region: session.client("s3", region_name=region, endpoint_url=aws_stand_in.endpoint_url)
        for region in (REGION, SECONDARY_REGION)
    }
    refused = CliRunner().invoke(app, ["backup", "init"])
    assert refused.exit_code == 1 and "BACKUP_BUCKET is not set" in refused.output

    key = "alias/dental-clinic-backups"
    for name, value in {
        "BACKUP_BUCKET": "clinic-new-backups",
        "BACKUP_REGION": REGION,
        "BACKUP_KMS_KEY_ID": key,
        "BACKUP_SECONDARY_BUCKET": "clinic-new-backups-dr",
        "BACKUP_SECONDARY_REGION": SECONDARY_REGION,
        "BACKUP_KEEP_DAYS": "40",
    }.items():
        monkeypatch.setenv(name, value)

    first = CliRunner().invoke(app, ["backup", "init"])

    assert first.exit_code == 0, first.output
    assert first.output.count("  created") == 2
    located = s3[REGION].get_bucket_location(Bucket="clinic-new-backups-dr")
    assert located["LocationConstraint"] == SECONDARY_REGION
    blocked = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    retention = {
        "ID": "dental-backup-retention",
        "Status": "Enabled",
        "Filter": {"Prefix": "backups/"},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 40},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    primary = _bucket_state(s3[REGION], "clinic-new-backups")
    secondary = _bucket_state(s3[SECONDARY_REGION], "clinic-new-backups-dr")
    for state in (primary, secondary):
        assert state["versioning"] == "Enabled"
        assert state["public_access"] == blocked
        assert state["lifecycle"] == [retention]
    assert primary["encryption"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    assert secondary["encryption"] == {"SSEAlgorithm": "AES256"}

    # An operator's own lifecycle on the secondary is kept on the next run; nothing is doubled.
    own = {"ID": "glacier", "Status": "Enabled", "Filter": {"Prefix": ""},
           "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}]}  # fmt: skip
    s3[SECONDARY_REGION].put_bucket_lifecycle_configuration(
        Bucket="clinic-new-backups-dr", LifecycleConfiguration={"Rules": [own]}
    )
    second = CliRunner().invoke(app, ["backup", "init"])

    assert second.exit_code == 0, second.output
    assert second.output.count("  exists") == 2 and "created" not in second.output
    assert "kept the bucket's own 1 rule(s)" in second.output
    assert _bucket_state(s3[REGION], "clinic-new-backups") == primary
    again = _bucket_state(s3[SECONDARY_REGION], "clinic-new-backups-dr")
    assert again == {**secondary, "lifecycle": [own]}


# --- the webhook move, .env.example ---------------------------------------------------------


@sqlite_only
def test_the_runbooks_webhook_link_leads_to_a_command_that_repoints_telegram(
    bot_api: BotApiStandIn, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, value in {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_API_BASE_URL": bot_api.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    runbook = RUNBOOK.read_text(encoding="utf-8")
    links = re.findall(r"\]\(OPERATIONS\.md#([a-z0-9-]+)\)", section(runbook, "7. Serve"))
    assert links, "step 7 links no section of OPERATIONS.md"
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    headings = {
        re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-"): title
        for title in re.findall(r"^## (.+)$", operations, re.M)
    }
    assert links[0] in headings, f"OPERATIONS.md has no section #{links[0]}"
    moving = section(operations, headings[links[0]])
    commands = [
        line.strip()
        for block in fenced(moving, "bash")
        for line in block.splitlines()
        if line.strip().startswith("dental telegram")
    ]
    assert commands, "the section shows no `dental telegram` command"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://recovered.clinic.example")

    for command in commands:
        arguments = shlex.split(os.path.expandvars(command))[1:]
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 0, result.output

    [webhook] = bot_api.sent("setWebhook")
    assert webhook.params["url"] == "https://recovered.clinic.example/telegram/webhook"
    assert webhook.params.get("drop_pending_updates") in (None, False), "patients' messages kept"


def test_env_example_lists_every_backup_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([A-Z0-9_]+)=", text, re.M))
    wanted = {name.upper() for name in Settings.model_fields if name.startswith("backup_")}
    assert wanted, "no backup settings?"
    assert wanted - listed == set()
