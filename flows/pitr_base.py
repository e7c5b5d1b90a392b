"""The `pitr-base` flow: a pgBackRest base backup of the clinic's PostgreSQL cluster into each
repository, full weekly and differential on the other days (docs/BACKUP.md, "Point-in-time
recovery (PostgreSQL)"). WAL archiving runs continuously in PostgreSQL itself; these base
backups bound how much WAL a restore replays. Scheduled nightly (prefect.yaml,
`pitr-base/nightly`) on a worker on the database host; `dental backup pitr base` runs the same.

    .venv/bin/python -m flows.pitr_base --type auto
"""

from __future__ import annotations

import argparse
from typing import Any

from prefect import flow, get_run_logger

from serving.backup.pitr import BackupKind, base_backup
from serving.settings import load_settings


@flow(name="pitr-base")
def pitr_base(kind: BackupKind = "auto") -> list[dict[str, Any]]:
    """One base backup per repository; returns each one's repository, label, type and time."""
    made = base_backup(load_settings(), kind)
    logger = get_run_logger()
    for backup in made:
        logger.info("repo%s: %s backup %s", backup.repo, backup.kind, backup.label)
    return [
        {"repo": b.repo, "label": b.label, "type": b.kind, "seconds": round(b.seconds, 1)}
        for b in made
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Take a pgBackRest base backup.")
    parser.add_argument("--type", choices=["auto", "full", "diff"], default="auto")
    print(pitr_base(kind=parser.parse_args().type))


if __name__ == "__main__":
    main()
