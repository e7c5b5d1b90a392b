"""The `verify` flow: both buckets' copies of every backup set checked, and mended from each
other (docs/BACKUP.md#verification-and-repair).

The same code as `dental backup verify` (serving.backup.verify). Scheduled daily, deep and
with repair (prefect.yaml, `verify/daily`): every object is downloaded and hashed in both
buckets, a bad or missing copy is replaced by the good one, and the flow fails while anything
is still wrong, so the failure shows in Prefect (and its notifications) the day it happens,
not on the day of a restore.

    .venv/bin/python -m flows.verify --deep --repair
"""

from __future__ import annotations

import argparse
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from serving.backup.errors import IntegrityFailure
from serving.backup.verify import VerifyReport, verify_backups
from serving.settings import load_settings


def render_report(report: VerifyReport, *, deep: bool) -> str:
    depth = "every object downloaded and hashed" if deep else "presence and size of every object"
    lines = [
        f"# Backup verification: {'ok' if report.ok else f'{len(report.problems)} problem(s)'}",
        "",
        f"{len(report.sets)} set(s), both buckets; {depth}.",
        "",
        *[f"- repaired: {line}" for line in report.repaired],
        *[f"- **still bad**: {problem}" for problem in report.problems],
    ]
    return "\n".join(lines)


@flow(name="verify")
def verify(set_id: str | None = None, deep: bool = True, repair: bool = True) -> dict[str, Any]:
    """Verify (and mend) one set or every set; fails while a problem remains."""
    settings = load_settings()
    logger = get_run_logger()
    report = verify_backups(settings, set_id=set_id, deep=deep, repair=repair, progress=logger.info)
    create_markdown_artifact(
        render_report(report, deep=deep), key="backup-verify", description="backup verification"
    )
    if not report.ok:
        raise IntegrityFailure(
            f"{len(report.problems)} backup problem(s) remain: " + "; ".join(report.problems)
        )
    return {"sets": [result.set_id for result in report.sets], "repaired": report.repaired}


def main() -> None:
    parser = argparse.ArgumentParser(description="Verify the backup sets (docs/BACKUP.md).")
    parser.add_argument("--set", dest="set_id")
    parser.add_argument("--deep", action="store_true", help="download and hash every object")
    parser.add_argument("--repair", action="store_true", help="mend a bad copy from a good one")
    arguments = parser.parse_args()
    print(verify(arguments.set_id, deep=arguments.deep, repair=arguments.repair))


if __name__ == "__main__":
    main()
