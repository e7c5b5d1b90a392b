"""Sets say what they hold, and only sets that hold a database are restore points.

The scenario of issue 17's first finding, on moto's S3 over real HTTP: the nightly set holds
the clinic's database; the CI job (`dental backup create --no-database --no-dvc`, same buckets
and prefix settings) then makes a newer set without one. Restore and the drill must still
take the nightly set; the CI set is restored only when named and asked for, and a drill that
restored no clinic data fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from evals.bench.local_process import free_port
from serving.backup.contents import CODE_ONLY, RESTORE_POINT
from serving.backup.create import create_backup
from serving.backup.drill import DrillResult
from serving.backup.manifest import (
    MANIFEST_NAME,
    Manifest,
    check_compatible,
    describe_contents,
)
from serving.backup.restore import restore_backup
from serving.backup.service_check import clinic_data_not_checked
from serving.bundle.load import Manifest as BundleManifest
from serving.cli import app
from serving.settings import REPOSITORY_BUNDLE, Settings
from tests.assistant_client import DANA_PHONE
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)
from tests.backup_stand_ins import (  # noqa: F401
    SESSION_ID,
    Buckets,
    age_keys_fixture,
    backup_settings_fixture,
    buckets_fixture,
    repository_fixture,
    session_exporter_fixture,
)
from tests.test_backup_drill import RUNBOOK, _export, _half_hourly

sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
RESTORE_STEP = 'dental backup restore --target "$DR_TARGET" --database-url "$DR_DATABASE_URL"'


@pytest.fixture
def bundle_label(repository: Path) -> str:
    """The backed-up repository's HEAD carries the real prompts bundle manifest; its label."""
    manifest = repository / "prompts" / "manifest.yaml"
    if not manifest.exists():
        manifest.parent.mkdir()
        shutil.copyfile(REPOSITORY_BUNDLE / "manifest.yaml", manifest)
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
        env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
        for command in (["add", "prompts"], ["commit", "-q", "-m", "feat(prompts): bundle"]):
            subprocess.run(["git", *command], cwd=repository, env=env, check=True)
    return BundleManifest.model_validate(yaml.safe_load(manifest.read_text())).label


def _exists(buckets: Buckets, bucket: str, key: str) -> bool:
    return bool(buckets.client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"))


def _stored(buckets: Buckets, bucket: str, key: str) -> Manifest:
    body = buckets.client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return Manifest.from_json(body, where=key)


def _create(runner: CliRunner, *options: str) -> str:
    result = runner.invoke(app, ["backup", "create", *options])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def _drill(runner: CliRunner, target: Path, report: Path, runbook: Path = RUNBOOK) -> Result:
    """The drill on a half-hourly backup schedule: its worst case is not what these test."""
    return runner.invoke(
        app,
        ["dr", "drill", "--target", str(target), "--port", str(free_port()),
         "--runbook", str(runbook), "--report", str(report),
         "--deployments", _half_hourly(target.parent)],
    )  # fmt: skip


@sqlite_only
def test_restore_and_drill_take_the_newest_set_that_holds_a_database(
    backup_settings: Settings,
    buckets: Buckets,
    bundle_label: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _export(backup_settings, monkeypatch)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    nightly = _create(runner)
    ci = _create(runner, "--no-database", "--no-dvc")  # as .github/workflows/backup.yml
    assert ci > nightly, "the CI set is the newest"

    # Restore, as an operator would, takes the nightly set.
    restored = runner.invoke(
        app, ["backup", "restore", "--target", str(tmp_path / "restored"), "--no-dvc"]
    )
    assert restored.exit_code == 0, restored.output
    assert f"restored {nightly} " in restored.stdout
    assert "ok: a known conversation continues" in restored.stdout
    assert "ok: a known appointment is answered" in restored.stdout

    # So does the drill, by the runbook's own commands, and it checks the clinic's data.
    report = tmp_path / "DR_DRILL_REPORT.md"
    drilled = _drill(runner, tmp_path / "scratch", report)
    assert drilled.exit_code == 0, drilled.output
    text = report.read_text(encoding="utf-8")
    assert "**Result: PASSED**" in text
    assert f"Backup set restored: `{nightly}`" in text
    assert "served app: a known conversation continues" in text
    assert "served app: a known appointment is answered" in text

    # Each set says what it holds; the CI set is under its own prefix, in both buckets.
    for bucket in (buckets.primary, buckets.secondary):
        assert not _exists(buckets, bucket, f"backups/code/{nightly}/")
        assert not _exists(buckets, bucket, f"backups/{ci}/")
        full = _stored(buckets, bucket, f"backups/{nightly}/{MANIFEST_NAME}")
        code = _stored(buckets, bucket, f"backups/code/{ci}/{MANIFEST_NAME}")
        assert full.schema_version == code.schema_version == 2
    contents = full.contents
    assert contents.kind == RESTORE_POINT
    assert contents.database.present and contents.database.engine == "sqlite"
    assert contents.database.snapshot_at == full.source.snapshot_at
    assert contents.database.row_counts == full.source.row_counts
    assert contents.database.row_counts["conversations"] >= 1
    assert contents.bundle == bundle_label
    assert contents.dvc_pushed and contents.dvc_outputs == ["data/clinic.csv"]
    assert contents.sessions == [SESSION_ID]
    assert contents.memory_graph is not None and contents.memory_graph.part == "database"
    rows = sum(full.source.row_counts.values())
    assert describe_contents(full) == (
        f"restore point: sqlite database as of {full.source.snapshot_at} ({rows:,} rows); "
        f"bundle {bundle_label}; 1 DVC output; 1 session export; "
        "memory graph (sql) in the database"
    )
    assert code.contents.kind == CODE_ONLY and not code.contents.database.present
    assert code.contents.bundle == bundle_label and code.contents.sessions == [SESSION_ID]
    assert describe_contents(code) == (
        f"code only: no database; bundle {bundle_label}; no DVC data; 1 session export"
    )
    for manifest in (full, code):
        text = manifest.to_json()
        assert DANA_PHONE not in text and DANA_PHONE.lstrip("+") not in text, "no patient data"


@sqlite_only
def test_a_set_without_a_database_is_restored_only_when_asked(
    backup_settings: Settings, buckets: Buckets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(backup_settings, monkeypatch)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ci = _create(runner, "--no-database", "--no-dvc")
    target = tmp_path / "restored"

    newest = runner.invoke(app, ["backup", "restore", "--target", str(target), "--no-dvc"])
    assert newest.exit_code == 1
    assert "no backup set with a database in any bucket" in newest.output
    assert not target.exists()

    named = ["backup", "restore", "--set", ci, "--target", str(target), "--no-dvc"]
    refused = runner.invoke(app, named)
    assert refused.exit_code == 1
    assert f"set {ci} holds no database (code only: no database;" in refused.output
    assert "--without-database" in refused.output
    assert not target.exists(), "refused before anything was written"

    asked = runner.invoke(app, [*named, "--without-database"])
    assert asked.exit_code == 0, asked.output
    assert f"restored {ci} " in asked.stdout
    assert "ok: no database in this set" in asked.stdout
    assert (target / "repository" / "README.md").is_file()
    assert json.loads((target / "RESTORED.json").read_text())["database_restored"] is False


@sqlite_only
def test_a_schema_1_set_still_reads_and_an_old_code_only_one_is_passed_over(
    backup_settings: Settings, buckets: Buckets, tmp_path: Path
) -> None:
    nightly = create_backup(backup_settings, dvc=False)
    ci = create_backup(backup_settings, dvc=False, database=False)
    # Before schema 2, CI sets were written under the restore points' prefix: put the CI set
    # there as such a set was, with a schema-1 manifest (no `contents`, no DVC outputs).
    legacy = json.loads(ci.to_json())
    del legacy["contents"]
    legacy["schema_version"] = 1
    for bucket in (buckets.primary, buckets.secondary):
        for part in ci.parts:
            buckets.client.copy_object(
                Bucket=bucket,
                Key=f"backups/{ci.set_id}/{part.object}",
                CopySource={"Bucket": bucket, "Key": f"backups/code/{ci.set_id}/{part.object}"},
            )
        buckets.client.put_object(
            Bucket=bucket,
            Key=f"backups/{ci.set_id}/{MANIFEST_NAME}",
            Body=json.dumps(legacy).encode(),
        )

    old = Manifest.from_json(json.dumps(legacy), where="legacy")
    check_compatible(old, app_version=ci.app_version, allow_other_version=False)
    assert old.contents.kind == CODE_ONLY and not old.contents.database.present
    assert old.contents.bundle is None, "schema 1 did not record it"
    old_full = json.loads(nightly.to_json())
    del old_full["contents"]
    old_full["schema_version"] = 1
    derived = Manifest.from_json(json.dumps(old_full), where="legacy").contents
    assert derived.kind == RESTORE_POINT
    assert derived.database == nightly.contents.database
    assert derived.sessions == [SESSION_ID] and not derived.dvc_pushed

    report = restore_backup(
        backup_settings,
        target=tmp_path / "restored",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}",
        dvc=False,
        service_check=False,
    )
    assert report.set_id == nightly.set_id, "the newest set holds no database: passed over"
    assert report.row_counts == nightly.source.row_counts


@sqlite_only
def test_a_drill_that_restores_no_database_fails(
    backup_settings: Settings, buckets: Buckets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(backup_settings, monkeypatch)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ci = _create(runner, "--no-database", "--no-dvc")  # the only set: no restore point

    report = tmp_path / "DR_DRILL_REPORT.md"
    nothing = _drill(runner, tmp_path / "scratch", report)
    assert nothing.exit_code == 1
    assert "no backup set with a database in any bucket" in nothing.output

    # A runbook that restores the code-only set on purpose: the app serves, but the drill
    # could check nothing of the clinic's, and says so.
    runbook = tmp_path / "RUNBOOK.md"
    text = RUNBOOK.read_text(encoding="utf-8")
    assert RESTORE_STEP in text
    runbook.write_text(
        text.replace(RESTORE_STEP, f'{RESTORE_STEP} --set "$CODE_SET" --without-database'),
        encoding="utf-8",
    )
    monkeypatch.setenv("CODE_SET", ci)
    failed = _drill(runner, tmp_path / "scratch", report, runbook)
    assert failed.exit_code == 1
    written = report.read_text(encoding="utf-8")
    assert f"**Result: FAILED: not checked: the clinic's data: set {ci} holds no database" in (
        written
    )
    assert "served app: /health answers" in written


def test_a_drill_that_could_not_ask_about_the_clinics_data_fails() -> None:
    assert clinic_data_not_checked(["/health answers", "a known conversation continues"]) == [
        "a known appointment (the restored database holds no upcoming one)"
    ]
    result = DrillResult(
        disaster_at="2026-11-30T03:00:00+00:00",
        served_at="2026-11-30T03:05:00+00:00",
        set_id="20261130T023000Z-abcdef",
        snapshot_at="2026-11-30T02:30:00+00:00",
        newest_record_at=None,
        rto_seconds=300,
        rpo_seconds=1800,
        rto_target_seconds=900,
        rpo_target_seconds=3600,
        database_engine="sqlite",
        not_checked=clinic_data_not_checked(["/health answers"]),
    )
    assert result.failures == [
        "not checked: a known conversation (the restored database holds none)",
        "not checked: a known appointment (the restored database holds no upcoming one)",
    ]
