"""Backup sets against moto's S3 on a real port: created, verified, restored on SQLite and
PostgreSQL; tampering, a lost primary region, and bad input."""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from serving.backup.create import create_backup
from serving.backup.encryption import (
    decrypt_file,
    encrypt_file,
    generate_key_pair,
    parse_recipients,
)
from serving.backup.errors import (
    BackupNotConfigured,
    CollectionFailed,
    DecryptionFailed,
    IncompatibleSet,
    IntegrityFailure,
    RestoreRefused,
)
from serving.backup.manifest import MANIFEST_NAME, Manifest
from serving.backup.restore import restore_backup
from serving.backup.retention import plan_retention
from serving.cli import app
from serving.settings import Settings
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    AwsStandIn,
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)
from tests.backup_stand_ins import (  # noqa: F401
    SESSION_ID,
    SESSION_TOKEN,
    Buckets,
    age_keys_fixture,
    backup_settings_fixture,
    buckets_fixture,
    delete_bucket,
    repository_fixture,
    session_exporter_fixture,
)
from tests.conftest import _create_pg_database, _drop_pg_database


@pytest.fixture
async def restore_url(db_backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """Where a restore may write: a new SQLite file, or a PostgreSQL database name not yet
    created (dropped afterwards)."""
    if db_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'dental.db'}"
        return
    url = await _create_pg_database(f"dental_restored_{uuid.uuid4().hex[:8]}")
    name = make_url(url).database
    assert name is not None
    await _drop_pg_database(name)
    yield url
    await _drop_pg_database(name)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files of the code under test go here, so a test can see none are left."""
    directory = tmp_path / "system-tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def _manifest(settings: Settings, bucket: str, set_id: str, buckets: Buckets) -> Manifest:
    body = buckets.client.get_object(Bucket=bucket, Key=f"backups/{set_id}/{MANIFEST_NAME}")
    return Manifest.from_json(body["Body"].read().decode(), where="test")


def test_a_set_is_created_verified_replicated_and_restored(
    backup_settings: Settings,
    buckets: Buckets,
    restore_url: str,
    tmp_path: Path,
    private_tmp: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    manifest = create_backup(backup_settings)

    assert {p.name for p in manifest.parts} >= {
        "repository.bundle",
        "conversations.jsonl",
        "messages.jsonl",
        "sessions.tar",
        "mlflow.tar",
    }
    assert manifest.source.row_counts["conversations"] >= 1
    assert manifest.source.row_counts["appointments"] >= 1
    assert manifest.sessions == [SESSION_ID]
    assert set(manifest.dvc["remotes"]) == {"primary", "secondary"}
    if manifest.source.database_engine == "postgresql":
        assert manifest.source.transaction_id  # pg_current_snapshot of the dumped snapshot
    for bucket in (buckets.primary, buckets.secondary):  # both copies, both complete
        assert _manifest(backup_settings, bucket, manifest.set_id, buckets) == manifest
    listed = buckets.client.list_objects_v2(Bucket=buckets.primary, Prefix="backups/")
    stored = json.dumps([o["Key"] for o in listed["Contents"]])
    assert "dvc/" in stored
    assert not list((tmp_path / "work").iterdir()), "plaintext staging is emptied"
    manifest_text = manifest.to_json()
    assert "+97250" not in manifest_text, "no patient data in the plain manifest"

    target = tmp_path / "recovered"
    report = restore_backup(backup_settings, target=target, database_url=restore_url)

    assert report.set_id == manifest.set_id
    assert report.row_counts == manifest.source.row_counts
    assert "a known conversation continues" in report.checks
    assert "a known appointment is answered" in report.checks
    checkout = target / "repository"
    assert (checkout / "README.md").read_text() == "clinic\n"
    assert (checkout / "data" / "clinic.csv").read_text().startswith("provider"), "dvc pull"
    assert (checkout / "var" / "mlflow" / "artifacts" / "1" / "report.md").is_file()
    assert (target / "sessions" / SESSION_ID / "artifacts" / "plan.md").read_text() == "# plan\n"
    assert (target / "exports" / "messages.jsonl").stat().st_size > 0
    assert json.loads((target / "RESTORED.json").read_text())["set_id"] == manifest.set_id
    assert not list(private_tmp.iterdir()), "the decrypted plaintext is gone"

    logged = caplog.text
    for secret in (backup_settings.backup_age_identity, backup_settings.backup_session_api_token):
        assert secret is not None and secret.get_secret_value() not in logged

    # A second restore into the same place would overwrite: refused, nothing touched.
    before = (target / "RESTORED.json").read_text()
    with pytest.raises(RestoreRefused, match=r"is not empty|already"):
        restore_backup(backup_settings, target=target, database_url=restore_url)
    assert (target / "RESTORED.json").read_text() == before

    # Told to, it replaces them (SQLite: the file; PostgreSQL: pg_restore --clean).
    again = restore_backup(
        backup_settings,
        target=target,
        database_url=restore_url,
        overwrite=True,
        dvc=False,
        service_check=False,
    )
    assert again.row_counts == manifest.source.row_counts


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_tampered_object_is_refused_by_name(
    backup_settings: Settings, buckets: Buckets, restore_url: str, tmp_path: Path, private_tmp: Path
) -> None:
    """Both copies: one bad copy is healed from the other (tests/test_backup_healing.py)."""
    manifest = create_backup(backup_settings, dvc=False)
    key = f"backups/{manifest.set_id}/messages.jsonl.age"
    original = buckets.client.get_object(Bucket=buckets.primary, Key=key)["Body"].read()
    for bucket in (buckets.primary, buckets.secondary):
        buckets.client.put_object(Bucket=bucket, Key=key, Body=original[:-1] + b"X")

    with pytest.raises(IntegrityFailure, match=r"messages.jsonl.age .*does not match the manifest"):
        restore_backup(backup_settings, target=tmp_path / "t", database_url=restore_url)
    assert not Path(str(make_url(restore_url).database)).exists(), "nothing restored"
    assert not list(private_tmp.iterdir())

    for bucket in (buckets.primary, buckets.secondary):
        buckets.client.put_object(Bucket=bucket, Key=key, Body=original[:100])
    with pytest.raises(IntegrityFailure, match=r"messages.jsonl.age .*is truncated: 100 of"):
        restore_backup(backup_settings, target=tmp_path / "t", database_url=restore_url)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_with_the_primary_bucket_gone_the_secondary_restores(
    backup_settings: Settings,
    buckets: Buckets,
    restore_url: str,
    tmp_path: Path,
    aws_stand_in: AwsStandIn,
) -> None:
    """With SSE-KMS under each region's own key, and the backup key in Secrets Manager."""
    keys = {
        region: boto3.session.Session()
        .client("kms", region_name=region, endpoint_url=aws_stand_in.endpoint_url)
        .create_key(Description=f"backups {region}")["KeyMetadata"]["Arn"]
        for region in ("eu-central-1", "eu-west-1")
    }
    identity = backup_settings.backup_age_identity
    assert identity is not None
    aws_stand_in.put_secret("prod/backup-age-identity", identity.get_secret_value())
    settings = backup_settings.model_copy(
        update={
            "backup_kms_key_id": keys["eu-central-1"],
            "backup_secondary_kms_key_id": keys["eu-west-1"],
            "backup_age_identity": None,
            "secrets_backend": "aws",
            "aws_endpoint_url": aws_stand_in.endpoint_url,
        }
    )
    manifest = create_backup(settings)
    stored = buckets.client.head_object(
        Bucket=buckets.secondary, Key=f"backups/{manifest.set_id}/repository.bundle.age"
    )
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"] == keys["eu-west-1"]
    delete_bucket(buckets, buckets.primary)

    report = restore_backup(
        settings, target=tmp_path / "t", database_url=restore_url, service_check=False
    )
    assert report.set_id == manifest.set_id
    assert report.bucket == f"secondary bucket {buckets.secondary!r}"
    assert (tmp_path / "t" / "repository" / "data" / "clinic.csv").is_file(), "dvc from secondary"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_bad_input_is_named_and_changes_nothing(
    backup_settings: Settings, buckets: Buckets, restore_url: str, tmp_path: Path, private_tmp: Path
) -> None:
    manifest = create_backup(backup_settings, dvc=False)
    target = tmp_path / "t"
    database_file = Path(str(make_url(restore_url).database))

    wrong = backup_settings.model_copy(
        update={"backup_age_identity": _secret(generate_key_pair()[1])}
    )
    with pytest.raises(DecryptionFailed, match=manifest.encryption.key_id):
        restore_backup(wrong, target=target, database_url=restore_url)

    missing = backup_settings.model_copy(update={"backup_age_identity": None})
    with pytest.raises(BackupNotConfigured, match="BACKUP_AGE_IDENTITY"):
        restore_backup(missing, target=target, database_url=restore_url)
    from_aws = missing.model_copy(update={"secrets_backend": "aws"})  # nothing stored there
    with pytest.raises(BackupNotConfigured, match="'prod/backup-age-identity'"):
        restore_backup(from_aws, target=target, database_url=restore_url)

    other = dataclasses.replace(manifest, app_version="9.9.9")
    for bucket in (buckets.primary, buckets.secondary):
        buckets.client.put_object(
            Bucket=bucket, Key=f"backups/{manifest.set_id}/{MANIFEST_NAME}", Body=other.to_json()
        )
    with pytest.raises(IncompatibleSet, match=r"made by dental-clinic-ai 9.9.9"):
        restore_backup(backup_settings, target=target, database_url=restore_url)

    assert not database_file.exists()
    assert not (target / "repository").exists()
    assert not list(private_tmp.iterdir())

    # A live database is never written over without --overwrite.
    with pytest.raises(RestoreRefused, match="already"):
        restore_backup(
            backup_settings,
            target=target,
            database_url=backup_settings.database_url,
            allow_other_version=True,
        )


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_an_unreachable_session_exporter_stops_the_backup(
    backup_settings: Settings, buckets: Buckets
) -> None:
    wrong = backup_settings.model_copy(update={"backup_session_api_token": _secret("nope")})
    with pytest.raises(CollectionFailed, match=r"refused session .*BACKUP_SESSION_API_TOKEN"):
        create_backup(wrong, dvc=False)
    assert buckets.client.list_objects_v2(Bucket=buckets.primary).get("KeyCount", 0) == 0
    assert not list(wrong.backup_work_dir.iterdir()), "no plaintext staging left behind"


def test_partial_plaintext_is_deleted_when_decryption_fails(tmp_path: Path) -> None:
    public, private = generate_key_pair()
    source = tmp_path / "plain"
    source.write_bytes(b"x" * 200_000)
    encrypted = tmp_path / "enc"
    encrypt_file(source, encrypted, parse_recipients(public))
    encrypted.write_bytes(encrypted.read_bytes()[:150_000])  # cut mid-stream
    from pyrage import x25519

    target = tmp_path / "out"
    with pytest.raises(DecryptionFailed):
        decrypt_file(encrypted, target, x25519.Identity.from_str(private), what="enc")
    assert not target.exists()


def test_retention_keeps_the_newest_and_the_recent() -> None:
    ids = [f"202611{day:02d}T020000Z-aaaaaa" for day in range(1, 31)]
    from datetime import UTC, datetime

    plan = plan_retention(ids, keep_last=3, keep_days=5, now=datetime(2026, 11, 30, 3, tzinfo=UTC))
    assert plan.keep == ids[-5:], "26..30 are younger than 5 days; the newest 3 among them"
    assert plan.delete == ids[:-5]
    old = plan_retention(ids[:2], keep_last=1, keep_days=1, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert old.keep == ids[1:2], "the newest set survives any policy"


def test_the_nightly_backup_and_weekly_drill_are_deployed() -> None:
    import yaml

    config = yaml.safe_load((Path(__file__).parents[1] / "prefect.yaml").read_text())
    schedules = {
        d["entrypoint"]: [s["cron"] for s in d.get("schedules", [])] for d in config["deployments"]
    }
    assert schedules["flows/backup.py:backup"] == ["30 2 * * *"]
    assert schedules["flows/dr_drill.py:dr_drill"] == ["0 3 * * 6"]
    assert schedules["flows/restore.py:restore"] == []


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_cli_create_list_restore_and_prune_dry_run(
    backup_settings: Settings,
    buckets: Buckets,
    age_keys: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "DATABASE_URL": backup_settings.database_url,
        "BACKUP_BUCKET": buckets.primary,
        "BACKUP_REGION": "eu-central-1",
        "BACKUP_SECONDARY_BUCKET": buckets.secondary,
        "BACKUP_SECONDARY_REGION": "eu-west-1",
        "BACKUP_AGE_RECIPIENTS": backup_settings.backup_age_recipients or "",
        "BACKUP_REPOSITORY": str(backup_settings.backup_repository),
        "BACKUP_WORK_DIR": str(backup_settings.backup_work_dir),
        "BACKUP_KEEP_LAST": "1",
        "BACKUP_KEEP_DAYS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(backup_settings.backup_work_dir.parent)
    runner = CliRunner()
    created = [
        runner.invoke(app, ["backup", "create", "--no-dvc", *extra])
        for extra in ([], ["--no-database"])  # the second as the CI workflow runs it
    ]
    assert all(r.exit_code == 0 for r in created), [r.output for r in created]
    listed = runner.invoke(app, ["backup", "list", "--all"])
    assert listed.exit_code == 0
    ids = [line.split()[0] for line in listed.stdout.splitlines() if line.startswith("20")]
    full_set, ci_set = (r.stdout.strip().splitlines()[-1] for r in created)
    assert ids == [full_set, ci_set], "--all: the code-only set too"
    restore_points = runner.invoke(app, ["backup", "list"]).stdout.splitlines()
    assert [line.split()[0] for line in restore_points if line.startswith("20")] == [full_set]

    dry = runner.invoke(app, ["backup", "prune", "--dry-run"])
    assert dry.exit_code == 0
    assert "backups/code/: keep 1, delete 0" in dry.stdout  # code-only sets: their own policy
    assert f"delete {full_set}" not in dry.stdout  # both are younger than a day: kept
    assert f"delete {ci_set}" not in dry.stdout
    assert runner.invoke(app, ["backup", "list"]).stdout.count(full_set) == 1

    restore_ci = ["backup", "restore", "--set", ci_set, "--target", str(tmp_path / "ci")]
    restore_ci += ["--no-dvc", "--without-database"]
    restored = runner.invoke(app, restore_ci)
    # the private key from the environment, as an operator would give it
    assert "BACKUP_AGE_IDENTITY" in restored.output, "no key given: named"
    monkeypatch.setenv("BACKUP_AGE_IDENTITY", age_keys[1])
    restored = runner.invoke(app, restore_ci)
    assert restored.exit_code == 0, restored.output
    assert "no database in this set" in restored.stdout
    assert (tmp_path / "ci" / "repository" / "README.md").is_file()

    monkeypatch.delenv("BACKUP_AGE_RECIPIENTS")
    failed = runner.invoke(app, ["backup", "create", "--no-dvc"])
    assert failed.exit_code == 1
    assert "BACKUP_AGE_RECIPIENTS is not set" in failed.output


def _secret(value: str):  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    return SecretStr(value)
