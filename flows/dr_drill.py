"""The `dr_drill` flow: "repository corrupted, laptop lost, database gone", timed.

Wipes a scratch environment, restores the newest set that holds a database from S3 by running
the commands of docs/RECOVERY_RUNBOOK.md, serves the restored app, measures RTO and RPO, writes
var/dr-drill/report.md (also docs/DR_DRILL_REPORT.md with `update_docs`) and fails when a
figure is over its target (serving.backup.drill).
Scheduled weekly (prefect.yaml, `dr_drill/weekly`); `dental dr drill` runs the same code.

    .venv/bin/python -m flows.dr_drill --backup-first
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from serving.backup.create import create_backup
from serving.backup.drill import FRESH_SET_NOTE, DrillResult, render_report, run_drill
from serving.backup.errors import DrillFailed
from serving.cli.backup import DRILL_REPORT, LOCAL_DRILL_REPORT, RUNBOOK, publish_report
from serving.settings import load_settings


@task(cache_policy=NO_CACHE)
def fresh_backup() -> str:
    return create_backup(load_settings(), progress=get_run_logger().info).set_id


@task(cache_policy=NO_CACHE)
def drill(
    runbook: Path,
    target: Path,
    database_url: str | None,
    neo4j_uri: str | None,
    port: int,
    report: Path,
    note: str | None,
    deployments: Path | None,
) -> DrillResult:
    return run_drill(
        load_settings(),
        runbook=runbook,
        target=target,
        database_url=database_url,
        neo4j_uri=neo4j_uri,
        port=port,
        report=report,
        note=note,
        deployments=deployments,
    )


@flow(name="dr_drill")
def dr_drill(
    target: str = "var/dr-drill",
    database_url: str | None = None,
    neo4j_uri: str | None = None,
    port: int = 8765,
    backup_first: bool = False,
    runbook: str = str(RUNBOOK),
    report: str = str(LOCAL_DRILL_REPORT),
    deployments: str | None = None,
    update_docs: bool = False,
) -> dict[str, Any]:
    """Returns the figures; raises `DrillFailed` (after writing the report) when over target,
    the backup schedule's worst case included (`deployments`: default this prefect.yaml).
    With MEMORY_BACKEND=neo4j, `neo4j_uri` names the scratch Neo4j the graph is restored
    into (wiped first). `update_docs` also copies the report to docs/DR_DRILL_REPORT.md."""
    if backup_first:
        fresh_backup()
    Path(report).unlink(missing_ok=True)  # what is there afterwards is this run's report
    try:
        note = FRESH_SET_NOTE if backup_first else None
        result = drill(
            Path(runbook),
            Path(target),
            database_url,
            neo4j_uri,
            port,
            Path(report),
            note,
            Path(deployments) if deployments else None,
        )
    except DrillFailed:
        if Path(report).is_file():
            create_markdown_artifact(Path(report).read_text(encoding="utf-8"), key="dr-drill")
        raise
    finally:
        if update_docs:
            publish_report(Path(report), DRILL_REPORT)
    create_markdown_artifact(render_report(result), key="dr-drill")
    print(f"RTO {result.rto_seconds:.1f} s, RPO {result.rpo_seconds:.1f} s")
    return {
        "rto_seconds": result.rto_seconds,
        "rpo_seconds": result.rpo_seconds,
        "schedule_rpo_seconds": result.schedule.seconds if result.schedule else None,
        "set_id": result.set_id,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the disaster-recovery drill.")
    parser.add_argument("--backup-first", action="store_true")
    parser.add_argument("--target", default="var/dr-drill")
    parser.add_argument("--update-docs", action="store_true")
    arguments = parser.parse_args()
    print(
        dr_drill(
            target=arguments.target,
            backup_first=arguments.backup_first,
            update_docs=arguments.update_docs,
        )
    )


if __name__ == "__main__":
    main()
