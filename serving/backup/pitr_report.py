"""The "PostgreSQL point-in-time" section of the drill report.

The section lives in the same report as the backup-set drill's figures but is written by its
own drill (`dental dr pitr-drill`), so each drill replaces only its own part: the PITR drill
splices its section in, and the backup-set drill keeps the section when it rewrites the rest.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.backup.pitr_drill import PitrDrillResult

SECTION_TITLE = "## PostgreSQL point-in-time"
REPORT_TITLE = "# Disaster-recovery drill report"


def render_section(result: PitrDrillResult) -> str:
    verdict = "PASSED" if not result.failures else "FAILED: " + "; ".join(result.failures)
    lines = [
        SECTION_TITLE,
        "",
        "Written by `dental dr pitr-drill` (serving/backup/pitr_drill.py); do not edit by hand.",
        "Rows were written, the moment noted, more rows written, and the whole cluster restored",
        "to that moment by pgBackRest into a new data directory (docs/BACKUP.md,",
        '"Point-in-time recovery (PostgreSQL)").',
        "",
        f"**Result: {verdict}**",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| RTO (restore, replay, promote, check) | {result.rto_seconds:.1f} s | "
        f"< {result.rto_target_seconds:.0f} s |",
        f"| RPO (target minus the last transaction restored) | {result.rpo_seconds:.2f} s | "
        f"< {result.rpo_target_seconds:.0f} s |",
        "",
        f"- Where: {result.environment}; repository: {result.repository}",
        f"- Drill run: {result.ran_at}",
        f"- Target moment: {_moment(result.target_time)}",
        f"- Last transaction restored: {_moment(result.restored_to)}; first one left out: "
        f"{_moment(result.stopped_before)}",
        f"- Base backup restored from: {result.backup_set}",
        f"- Rows: {result.rows_before} written before the target, {result.rows_after} after; "
        f"the restore holds {result.rows_restored}"
        + (", exactly those before" if result.rows_match else ", NOT those before"),
        f"- The forced WAL segment reached the repository in {result.archive_wait_seconds:.1f} s",
        *[f"- Check: {check}" for check in result.checks],
        "- Worst case in a real loss: WAL not yet archived is lost with the server; "
        "archive_timeout = 60 s bounds that on a quiet cluster.",
        "",
    ]
    return "\n".join(lines)


def _moment(value: datetime | None) -> str:
    return value.isoformat(timespec="milliseconds") if value else "not logged"


def section_of(text: str) -> str:
    """The point-in-time section of a report's text ("" when it has none)."""
    start = text.find(SECTION_TITLE)
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(SECTION_TITLE))
    return text[start:] if end < 0 else text[start : end + 1]


def write_section(report: Path, section: str) -> None:
    """Put `section` into `report`, replacing the previous one, keeping everything else."""
    text = report.read_text(encoding="utf-8") if report.is_file() else f"{REPORT_TITLE}\n\n"
    previous = section_of(text)
    text = text.replace(previous, section) if previous else f"{text.rstrip()}\n\n{section}"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text, encoding="utf-8")
