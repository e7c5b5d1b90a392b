"""The drill's honest RPO: besides the age of the set it restored, the backup schedule's worst
case, read from the deployments and walked with Prefect's own scheduler; either over the
target fails the drill."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from serving.backup.drill import DEPLOYMENTS, DrillResult, render_report
from serving.backup.errors import DrillFailed
from serving.backup.schedule_rpo import schedule_worst_case

JERUSALEM = ZoneInfo("Asia/Jerusalem")
SATURDAY_0300 = datetime(2026, 11, 28, 3, 0, tzinfo=JERUSALEM)  # the weekly drill's slot
HOUR = 3600


def _deployments(tmp_path: Path, *schedules: str, extra: str = "") -> Path:
    """A prefect.yaml whose `backup` deployment has these schedule entries (YAML lines)."""
    path = tmp_path / "prefect.yaml"
    entries = "".join(f"      - {entry}\n" for entry in schedules)
    path.write_text(
        "deployments:\n"
        "  - name: nightly\n"
        "    entrypoint: flows/backup.py:backup\n"
        "    parameters: {dvc: true}\n"
        f"    schedules:\n{entries}"
        "  - name: weekly\n"
        "    entrypoint: flows/dr_drill.py:dr_drill\n"
        "    schedules:\n"
        '      - {cron: "0 3 * * 6", timezone: Asia/Jerusalem}\n' + extra,
        encoding="utf-8",
    )
    return path


def _drill_result(rpo_seconds: float, schedule_path: Path) -> DrillResult:
    return DrillResult(
        disaster_at=SATURDAY_0300.isoformat(),
        served_at=(SATURDAY_0300 + timedelta(minutes=1)).isoformat(),
        set_id="20261128T003000Z-abcdef",
        snapshot_at=(SATURDAY_0300 - timedelta(seconds=rpo_seconds)).isoformat(),
        newest_record_at=None,
        rto_seconds=60,
        rpo_seconds=rpo_seconds,
        rto_target_seconds=900,
        rpo_target_seconds=HOUR,
        database_engine="sqlite",
        schedule=schedule_worst_case(schedule_path, SATURDAY_0300),
    )


def test_a_nightly_backup_drilled_half_an_hour_later_fails_on_its_worst_case(
    tmp_path: Path,
) -> None:
    nightly = _deployments(tmp_path, '{cron: "30 2 * * *", timezone: Asia/Jerusalem}')
    result = _drill_result(30 * 60, nightly)  # restored the 02:30 set at 03:00

    assert result.schedule is not None
    # A day between runs; 25 h across the night the clocks go back (31 October 2027).
    assert result.schedule.seconds == 25 * HOUR
    assert result.schedule.after.isoformat() == "2027-10-29T23:30:00+00:00"
    assert result.failures == [
        f"the backup schedule's worst-case RPO {25 * HOUR} s (its longest gap between "
        f"backups) is over the {HOUR} s target"
    ]
    report = render_report(result)
    assert "| RPO (disaster minus restored data's time) | 30 min 0 s | < 60 min 0 s |" in report
    worst = "| RPO, worst case (the backup schedule's longest gap) |"
    assert f"{worst} 25 h 0 min | < 60 min 0 s |" in report
    assert "**Result: FAILED: the backup schedule's worst-case RPO" in report
    assert "- Backup schedule: cron 30 2 * * * (Asia/Jerusalem): longest gap from " in report

    # The schedule this repository ships is that one: the drill reads it by default.
    shipped = schedule_worst_case(DEPLOYMENTS, SATURDAY_0300)
    assert shipped.schedules == ["cron 30 2 * * * (Asia/Jerusalem)"]
    assert shipped.seconds == 25 * HOUR


@pytest.mark.parametrize(
    "entry",
    ['{cron: "*/30 * * * *", timezone: UTC}', "{interval: 1800}"],
    ids=["cron-utc", "interval"],
)
def test_a_half_hourly_schedule_meets_a_one_hour_target(tmp_path: Path, entry: str) -> None:
    result = _drill_result(10 * 60, _deployments(tmp_path, entry))
    assert result.schedule is not None and result.schedule.seconds == 30 * 60
    assert result.failures == []
    report = render_report(result)
    assert "**Result: PASSED**" in report
    worst = "| RPO, worst case (the backup schedule's longest gap) |"
    assert f"{worst} 30 min 0 s | < 60 min 0 s |" in report


def test_clock_time_crons_pause_when_the_clocks_go_back(tmp_path: Path) -> None:
    # Prefect fires a cron at the first pass of a wall-clock time: half-hourly in local time
    # skips the repeated hour, so once a year it waits 90 minutes.
    local = _deployments(tmp_path, '{cron: "*/30 * * * *", timezone: Asia/Jerusalem}')
    result = _drill_result(10 * 60, local)
    assert result.schedule is not None and result.schedule.seconds == 90 * 60
    assert result.failures and "worst-case RPO 5400 s" in result.failures[0]


def test_only_active_database_backups_count(tmp_path: Path) -> None:
    deployments = _deployments(
        tmp_path,
        '{cron: "30 2 * * *", timezone: Asia/Jerusalem}',
        '{cron: "*/10 * * * *", active: false}',
        '{cron: "*/10 * * * *", parameters: {database: false}}',
        extra=(
            "  - name: code-only\n"
            "    entrypoint: flows/backup.py:backup\n"
            "    parameters: {database: false}\n"
            '    schedules: [{cron: "*/5 * * * *"}]\n'
            "  - name: paused\n"
            "    entrypoint: flows/backup.py:backup\n"
            "    paused: true\n"
            '    schedules: [{cron: "*/5 * * * *"}]\n'
        ),
    )
    gap = schedule_worst_case(deployments, SATURDAY_0300)
    assert gap.schedules == ["cron 30 2 * * * (Asia/Jerusalem)"]
    assert gap.seconds == 25 * HOUR


@pytest.mark.parametrize(
    ("schedules", "message"),
    [
        ((), "schedules no backup of the database"),
        (('{cron: "61 * * * *"}',), "a backup schedule in .* is invalid"),
        (("{timezone: UTC}",), "has no cron, interval or rrule"),
        (('{cron: "0 3 29 2 *"}',), "fewer than twice a year"),
    ],
)
def test_a_schedule_the_drill_cannot_bound_is_named(
    tmp_path: Path, schedules: tuple[str, ...], message: str
) -> None:
    deployments = _deployments(tmp_path, *schedules) if schedules else tmp_path / "prefect.yaml"
    if not schedules:
        deployments.write_text("deployments: []\n", encoding="utf-8")
    with pytest.raises(DrillFailed, match=message):
        schedule_worst_case(deployments, SATURDAY_0300)
    with pytest.raises(DrillFailed, match="cannot read the deployments"):
        schedule_worst_case(tmp_path / "missing.yaml", SATURDAY_0300)
