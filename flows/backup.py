"""The `backup` flow: one encrypted, verified, replicated backup set (docs/BACKUP.md).

It runs the same sequence as `dental backup create` (serving.backup.create), each step a task:
collect (git bundle, database snapshot, JSONL, session exports, MLflow, `dvc push`), encrypt,
upload to the primary bucket and verify, copy to the secondary bucket and verify. The set's
summary is a Prefect artifact. Scheduled nightly (prefect.yaml, `backup/nightly`).

    .venv/bin/python -m flows.backup
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from serving.backup.create import create_backup
from serving.backup.manifest import Manifest, describe_contents
from serving.settings import load_settings

F = TypeVar("F", bound=Callable[..., Any])


def as_task(step: F) -> F:
    """A backup step as a Prefect task: visible in the UI, never cached (sets are unique)."""
    return cast(F, task(cache_policy=NO_CACHE)(step))


def render_summary(manifest: Manifest) -> str:
    lines = [
        f"# Backup set `{manifest.set_id}`",
        "",
        f"App {manifest.app_version}, commit `{manifest.commit[:12]}`, "
        f"{manifest.source.database_engine} snapshot as of {manifest.source.snapshot_at}.",
        "",
        f"Holds: {describe_contents(manifest)}.",
        "",
        "| part | bytes | SHA-256 |",
        "|---|---|---|",
        *[f"| {p.name} | {p.size} | `{p.sha256[:16]}…` |" for p in manifest.parts],
        "",
        *[f"- skipped {name}: {why}" for name, why in manifest.skipped.items()],
    ]
    return "\n".join(lines)


@flow(name="backup")
def backup(dvc: bool = True, database: bool = True) -> dict[str, Any]:
    """Make one backup set with the settings of the worker's environment; returns its id,
    snapshot time and parts."""
    settings = load_settings()
    logger = get_run_logger()
    manifest = create_backup(
        settings, dvc=dvc, database=database, progress=logger.info, as_step=as_task
    )
    create_markdown_artifact(
        render_summary(manifest), key="backup-set", description=f"backup set {manifest.set_id}"
    )
    return {
        "set_id": manifest.set_id,
        "snapshot_at": manifest.source.snapshot_at,
        "parts": [part.name for part in manifest.parts],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Make one backup set (docs/BACKUP.md).")
    parser.add_argument("--no-dvc", action="store_true", help="do not `dvc push` data/")
    arguments = parser.parse_args()
    print(backup(dvc=not arguments.no_dvc)["set_id"])


if __name__ == "__main__":
    main()
