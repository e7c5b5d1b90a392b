"""The disaster-recovery drill, end to end: a backup set in moto's S3 (real HTTP), then the
drill wipes a scratch environment and runs the runbook's own commands (`dental backup list`,
`dental backup restore`, `dental serve`) as subprocesses, probes the restored app over HTTP and
reports RTO and RPO. Also the backup flow on Prefect's test server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evals.bench.local_process import free_port
from flows.backup import backup
from serving.backup.create import create_backup
from serving.backup.drill import DrillResult, render_report, runbook_steps
from serving.backup.errors import DrillFailed
from serving.backup.healing import all_set_ids
from serving.backup.restore import buckets
from serving.cli import app
from serving.cli import backup as cli_backup
from serving.settings import Settings
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)
from tests.backup_stand_ins import (  # noqa: F401
    Buckets,
    age_keys_fixture,
    backup_settings_fixture,
    buckets_fixture,
    repository_fixture,
    session_exporter_fixture,
)
from tests.bolt_server import BoltServer
from tests.test_backup_memory import in_neo4j, rebuilt

RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "RECOVERY_RUNBOOK.md"
DOCS_REPORT = Path(__file__).resolve().parents[1] / "docs" / "DR_DRILL_REPORT.md"
sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
HALF_HOURLY = (
    "deployments:\n"
    "  - entrypoint: flows/backup.py:backup\n"
    '    schedules: [{cron: "*/30 * * * *", timezone: UTC}]\n'
)
"""Backups often enough for the one-hour RPO target (the drill reads the schedule)."""


def _half_hourly(tmp_path: Path) -> str:
    path = tmp_path / "prefect.yaml"
    path.write_text(HALF_HOURLY, encoding="utf-8")
    return str(path)


def _export(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings as the environment a scheduled worker or an operator's shell has."""
    values = {
        "DATABASE_URL": settings.database_url,
        "BACKUP_BUCKET": settings.backup_bucket,
        "BACKUP_REGION": settings.backup_region,
        "BACKUP_SECONDARY_BUCKET": settings.backup_secondary_bucket,
        "BACKUP_SECONDARY_REGION": settings.backup_secondary_region,
        "BACKUP_AGE_RECIPIENTS": settings.backup_age_recipients,
        "BACKUP_REPOSITORY": str(settings.backup_repository),
        "BACKUP_WORK_DIR": str(settings.backup_work_dir),
        "BACKUP_SESSION_API_URL": settings.backup_session_api_url,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
    }
    for name, value in values.items():
        assert value is not None
        monkeypatch.setenv(name, value)
    for name, secret in (
        ("BACKUP_AGE_IDENTITY", settings.backup_age_identity),
        ("BACKUP_SESSION_API_TOKEN", settings.backup_session_api_token),
    ):
        assert secret is not None
        monkeypatch.setenv(name, secret.get_secret_value())


@sqlite_only
def test_the_drill_restores_by_the_runbook_and_reports_rto_and_rpo(
    backup_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(backup_settings, monkeypatch)
    monkeypatch.chdir(tmp_path)
    graph = rebuilt(backup_settings)  # the live graph (MEMORY_BACKEND=sql, the default)
    tracked = DOCS_REPORT.read_bytes()
    scratch = tmp_path / "scratch"
    (scratch / "repository").mkdir(parents=True)
    (scratch / "repository" / "corrupted").write_text("garbage")  # the disaster's leftovers

    result = CliRunner().invoke(
        app,
        [
            "dr",
            "drill",
            "--backup-first",
            "--target",
            str(scratch),
            "--port",
            str(free_port()),
            "--runbook",
            str(RUNBOOK),
            "--deployments",
            _half_hourly(tmp_path),
        ],
    )

    assert result.exit_code == 0, result.output
    print(result.stdout)  # the figures, in the test log
    assert "RTO " in result.stdout and "RPO " in result.stdout
    report = tmp_path / "var" / "dr-drill" / "report.md"  # by default, untracked
    assert DOCS_REPORT.read_bytes() == tracked, "the tracked report is left alone"
    text = report.read_text(encoding="utf-8")
    assert "**Result: PASSED**" in text
    assert "| RPO, worst case (the backup schedule's longest gap) | 30 min 0 s |" in text
    assert "a known conversation continues" in text
    assert "a known appointment is answered" in text
    assert "restore: memory graph restored with the database (MEMORY_BACKEND=sql)" in text
    assert f"drill: memory graph (sql, in the database): Patient {graph['Patient']}" in text
    assert "`dental backup restore --target" in text, "the runbook's own commands ran"
    assert not (scratch / "repository" / "corrupted").exists(), "restored from scratch"
    assert (scratch / "repository" / "README.md").is_file()


@sqlite_only
def test_with_neo4j_the_drill_restores_the_graph_into_a_scratch_store(
    backup_settings: Settings,
    bolt_server: BoltServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = in_neo4j(backup_settings, bolt_server)
    _export(settings, monkeypatch)
    for name, value in (
        ("MEMORY_BACKEND", "neo4j"),
        ("NEO4J_URI", bolt_server.uri),
        ("NEO4J_USER", bolt_server.user),
        ("NEO4J_PASSWORD", bolt_server.password),
        ("NEO4J_DATABASE", bolt_server.database),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    graph = rebuilt(settings)
    report = tmp_path / "drill-report.md"
    docs = tmp_path / "docs" / "DR_DRILL_REPORT.md"  # the tracked report, in a copy
    docs.parent.mkdir()
    monkeypatch.setattr(cli_backup, "DRILL_REPORT", docs)
    drill = ["dr", "drill", "--target", str(tmp_path / "scratch"), "--runbook", str(RUNBOOK),
             "--report", str(report), "--port", str(free_port()),
             "--deployments", _half_hourly(tmp_path)]  # fmt: skip

    refused = CliRunner().invoke(app, drill)  # never the clinic's own graph
    assert refused.exit_code == 1
    assert "name the scratch Neo4j" in refused.output and "--neo4j-uri" in refused.output

    # The stand-in has one Bolt server: here it is the scratch one too.
    assert not docs.exists(), "a refused drill does not touch the tracked report"
    result = CliRunner().invoke(
        app, [*drill, "--backup-first", "--neo4j-uri", bolt_server.uri, "--update-docs"]
    )

    assert result.exit_code == 0, result.output
    text = report.read_text(encoding="utf-8")
    assert docs.read_text(encoding="utf-8") == text, "--update-docs copies it to docs/"
    assert "**Result: PASSED**" in text
    assert "- memory-graph.json: " in text, "the set held the graph"
    assert "restore: memory graph loaded into the neo4j store; node counts match" in text
    assert f"drill: memory graph (neo4j): Patient {graph['Patient']}, " in text
    assert bolt_server.password not in text


@sqlite_only
def test_a_fresh_set_does_not_hide_a_nightly_schedule(
    backup_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This repository's prefect.yaml backs up nightly: a drill right after a backup measures
    seconds, and still fails the one-hour target on the schedule's worst case."""
    _export(backup_settings, monkeypatch)
    monkeypatch.chdir(tmp_path)
    create_backup(backup_settings, dvc=False)  # as the nightly run just did
    report = tmp_path / "DR_DRILL_REPORT.md"
    result = CliRunner().invoke(
        app,
        ["dr", "drill", "--target", str(tmp_path / "scratch"), "--port", str(free_port()),
         "--runbook", str(RUNBOOK), "--report", str(report)],
    )  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "worst-case RPO 90000 s (its longest gap between backups)" in result.output
    text = report.read_text(encoding="utf-8")
    assert "**Result: FAILED: the backup schedule's worst-case RPO 90000 s" in text
    assert "| RPO, worst case (the backup schedule's longest gap) | 25 h 0 min |" in text
    assert "a known appointment is answered" in text, "the restore itself worked"


def test_a_figure_over_its_target_fails_the_drill() -> None:
    result = DrillResult(
        disaster_at="2026-11-30T03:00:00+00:00",
        served_at="2026-11-30T03:20:00+00:00",
        set_id="20261130T010000Z-abcdef",
        snapshot_at="2026-11-30T01:00:00+00:00",
        newest_record_at=None,
        rto_seconds=1200,
        rpo_seconds=7200,
        rto_target_seconds=900,
        rpo_target_seconds=3600,
        database_engine="sqlite",
    )
    assert result.failures == [
        "RTO 1200 s is over the 900 s target",
        "RPO 7200 s is over the 3600 s target",
    ]
    assert "**Result: FAILED: RTO 1200 s is over" in render_report(result)


def test_a_runbook_without_drill_blocks_is_refused(tmp_path: Path) -> None:
    runbook = tmp_path / "RUNBOOK.md"
    runbook.write_text("# Recovery\n\n```bash\ndental backup list\n```\n", encoding="utf-8")
    with pytest.raises(DrillFailed, match="drill-serve"):
        runbook_steps(runbook)
    assert [s.kind for s in runbook_steps(RUNBOOK)][-1] == "drill-serve"


@sqlite_only
def test_the_backup_flow_makes_a_set(
    prefect_api: str, backup_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(backup_settings, monkeypatch)
    result = backup(dvc=False)
    ids = all_set_ids(buckets(backup_settings))
    assert ids == [result["set_id"]]
    assert "database.sqlite" in result["parts"]


def test_publishing_a_drill_report_keeps_the_point_in_time_section(tmp_path: Path) -> None:
    docs = tmp_path / "DR_DRILL_REPORT.md"
    pitr = "## PostgreSQL point-in-time\n\nthe point-in-time drill's figures\n"
    docs.write_text(f"# an older report\n\n{pitr}", encoding="utf-8")
    report = tmp_path / "report.md"
    report.write_text("# the new drill report\n", encoding="utf-8")

    cli_backup.publish_report(report, docs)

    text = docs.read_text(encoding="utf-8")
    assert "# an older report" not in text and text.startswith("# the new drill report")
    assert text.endswith(f"\n{pitr}"), "the point-in-time section is kept"
    cli_backup.publish_report(tmp_path / "never-written.md", docs)
    assert docs.read_text(encoding="utf-8") == text, "no report: the tracked one is left alone"
