"""Which backup sets to keep: the newest `keep_last`, and every set younger than `keep_days`.

The newest complete set is always kept, whatever the policy says. Pruning lists its plan
first; `dental backup prune --dry-run` stops there. The buckets' lifecycle rules (Terraform)
move what remains to Glacier and expire it after the legal retention; this prunes the sets the
clinic no longer needs sooner. DVC's content store under `<prefix>/dvc/` is shared by all sets
and is not pruned here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from serving.backup.storage import BackupBucket


@dataclass(frozen=True)
class RetentionPlan:
    keep: list[str]
    delete: list[str]


def set_time(set_id: str) -> datetime:
    return datetime.strptime(set_id.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def plan_retention(
    set_ids: list[str], *, keep_last: int, keep_days: int, now: datetime | None = None
) -> RetentionPlan:
    ordered = sorted(set_ids)
    newest = set(ordered[-max(keep_last, 1) :])
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    keep = [s for s in ordered if s in newest or set_time(s) >= cutoff]
    return RetentionPlan(keep=keep, delete=[s for s in ordered if s not in keep])


def apply_retention(bucket: BackupBucket, plan: RetentionPlan) -> int:
    """Delete the plan's sets from the bucket; returns how many objects went."""
    if not plan.keep:  # unreachable by construction; a guard against a future edit
        raise ValueError("a retention plan must keep the newest set")
    return sum(bucket.delete_set(set_id) for set_id in plan.delete)
