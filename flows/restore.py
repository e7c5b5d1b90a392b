"""The `restore` flow: a backup set into a fresh environment, verified (docs/RECOVERY_RUNBOOK.md).

The same code as `dental backup restore` (serving.backup.restore). In a real disaster the
Prefect server may be gone too: the runbook therefore uses the command, and this flow is for
restores a running platform orchestrates (a staging copy, the drill).

    .venv/bin/python -m flows.restore --target var/restored
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from serving.backup.restore import RestoreReport, restore_backup
from serving.settings import load_settings


@task(cache_policy=NO_CACHE)
def restore_set(
    target: Path,
    set_id: str | None,
    database_url: str | None,
    overwrite: bool,
    without_database: bool,
    dvc: bool,
) -> RestoreReport:
    logger = get_run_logger()
    return restore_backup(
        load_settings(),
        target=target,
        set_id=set_id,
        database_url=database_url,
        overwrite=overwrite,
        without_database=without_database,
        dvc=dvc,
        progress=logger.info,
    )


@flow(name="restore")
def restore(
    target: str,
    set_id: str | None = None,
    database_url: str | None = None,
    overwrite: bool = False,
    without_database: bool = False,
    dvc: bool = True,
) -> dict[str, Any]:
    """Restore the set (by default the newest that holds a database) into `target` and a new
    database; a set without a database only with `without_database`."""
    report = restore_set(Path(target), set_id, database_url, overwrite, without_database, dvc)
    create_markdown_artifact(
        "\n".join(
            [
                f"# Restored `{report.set_id}` from the {report.bucket}",
                "",
                f"Database {report.database_url}, data as of {report.snapshot_at}; "
                f"{report.seconds:.1f} s.",
                "",
                *[f"- {check}" for check in report.checks],
            ]
        ),
        key="restore",
    )
    return {"set_id": report.set_id, "bucket": report.bucket, "checks": report.checks}


def main() -> None:
    parser = argparse.ArgumentParser(description="Restore a backup set into a new environment.")
    parser.add_argument("--target", required=True)
    parser.add_argument("--set", dest="set_id")
    parser.add_argument("--database-url")
    arguments = parser.parse_args()
    print(restore(arguments.target, arguments.set_id, arguments.database_url))


if __name__ == "__main__":
    main()
