"""The backup schedule's worst case: the longest time between two scheduled backups.

A drill measures the age of the set it restores at the moment of its disaster, and that says
only how the schedule looked at that moment: the weekly drill runs half an hour after the
nightly backup, measures 30 minutes, and would pass a one-hour target while a disaster just
before the next night's run loses a whole day. The worst case is a property of the schedule,
so it is read from the schedule: the deployments of the `backup` flow in prefect.yaml, walked
over a year with Prefect's own scheduler (the code the Prefect server uses to create the runs,
so daylight-saving changes and cron's day rules come out as they will happen).

Only deployments that back up the database count: a run with `database: false` (a code-only
set) restores no clinic data. Paused deployments and inactive schedules do not count.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect.server.schemas.schedules import (
    MAX_ITERATIONS,
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
)
from pydantic import ValidationError

from serving.backup.errors import DrillFailed

BACKUP_ENTRYPOINT = "flows/backup.py:backup"
HORIZON = timedelta(days=366)
"""How far ahead the schedule is walked: a year holds both daylight-saving changes and every
month's and weekday's rules."""

Schedule = CronSchedule | IntervalSchedule | RRuleSchedule


@dataclass(frozen=True)
class ScheduleGap:
    """The longest time with no scheduled backup, between the runs `after` and `before`."""

    seconds: float
    after: datetime
    before: datetime
    schedules: list[str]  # each backup schedule, as prefect.yaml states it

    def describe(self) -> str:
        return (
            f"{'; '.join(self.schedules)}: longest gap from {self.after.isoformat()} "
            f"to {self.before.isoformat()}"
        )


def schedule_worst_case(deployments: Path, start: datetime) -> ScheduleGap:
    """The longest gap between the scheduled database backups of `deployments` (prefect.yaml)
    over the year from `start`. A `DrillFailed` names what cannot be read, or that nothing
    schedules a database backup (an RPO without bound)."""
    entries = backup_schedule_entries(deployments)
    if not entries:
        raise DrillFailed(
            f"{deployments} schedules no backup of the database ({BACKUP_ENTRYPOINT} with an "
            "active schedule): the worst-case RPO has no bound"
        )
    schedules = [_schedule(entry, deployments) for entry in entries]
    runs = sorted(asyncio.run(_runs(schedules, start.astimezone(UTC), HORIZON)))
    if len(runs) < 2:
        raise DrillFailed(
            f"the backup schedule of {deployments} runs fewer than twice a year: "
            "the worst-case RPO is over a year"
        )
    after, before = max(itertools.pairwise(runs), key=lambda pair: pair[1] - pair[0])
    return ScheduleGap(
        seconds=(before - after).total_seconds(),
        after=after,
        before=before,
        schedules=[_describe(entry) for entry in entries],
    )


def backup_schedule_entries(deployments: Path) -> list[dict[str, Any]]:
    """The active schedule entries of the deployments that back up the database."""
    try:
        config = yaml.safe_load(deployments.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DrillFailed(f"cannot read the deployments {deployments}: {exc}") from None
    entries = []
    for deployment in config.get("deployments") or []:
        if deployment.get("entrypoint") != BACKUP_ENTRYPOINT or deployment.get("paused"):
            continue
        parameters = deployment.get("parameters") or {}
        for entry in deployment.get("schedules") or []:
            effective = {**parameters, **(entry.get("parameters") or {})}
            if entry.get("active", True) and effective.get("database", True):
                entries.append(entry)
    return entries


def _schedule(entry: dict[str, Any], deployments: Path) -> Schedule:
    fields = {"timezone": entry.get("timezone")}
    try:
        if "cron" in entry:
            return CronSchedule(cron=entry["cron"], day_or=entry.get("day_or", True), **fields)
        if "interval" in entry:
            anchor = {"anchor_date": entry["anchor_date"]} if "anchor_date" in entry else {}
            interval = timedelta(seconds=float(entry["interval"]))
            return IntervalSchedule(interval=interval, **anchor, **fields)
        if "rrule" in entry:
            return RRuleSchedule(rrule=entry["rrule"], **fields)
    except (ValidationError, TypeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DrillFailed(f"a backup schedule in {deployments} is invalid: {reason}") from None
    raise DrillFailed(f"a backup schedule in {deployments} has no cron, interval or rrule")


async def _runs(schedules: list[Schedule], start: datetime, horizon: timedelta) -> set[datetime]:
    """Every scheduled run from `start` to `start + horizon`, in UTC (two schedules firing at
    once are one backup)."""
    end = start + horizon
    runs: set[datetime] = set()
    for schedule in schedules:
        since = start
        while True:
            batch = await schedule.get_dates(n=MAX_ITERATIONS, start=since, end=end)
            runs.update(datetime.fromtimestamp(moment.timestamp(), UTC) for moment in batch)
            if len(batch) < MAX_ITERATIONS:
                break
            since = max(batch) + timedelta(seconds=1)
    return runs


def _describe(entry: dict[str, Any]) -> str:
    if "cron" in entry:
        what = f"cron {entry['cron']}"
    elif "interval" in entry:
        what = f"every {entry['interval']} s"
    else:
        what = f"rrule {entry.get('rrule')}"
    return f"{what} ({entry.get('timezone') or 'UTC'})"
