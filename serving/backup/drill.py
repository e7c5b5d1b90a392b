"""The disaster-recovery drill: lose everything, restore from S3 by the runbook, time it.

The drill reads the runbook (docs/RECOVERY_RUNBOOK.md) and runs the commands an operator would:
the fenced blocks marked ```` ```bash drill ```` in order, then the block marked
```` ```bash drill-serve ````, which starts the app on the restored data. So the runbook cannot
drift from the code: a command that no longer works fails the drill.

The restore takes the newest set that holds a database; a drill that restored no database, or
whose served app had no known conversation or appointment to be asked about, fails: a drill
that checked nothing of the clinic's proves nothing.

RTO is measured from the disaster (the moment the scratch environment is wiped) until the
restored app answers `/health`, continues a known conversation and tells a patient their
known appointment. RPO is the disaster time minus the time the restored data is current as of
(the set's consistent snapshot): what the clinic would have lost. That figure depends on when
the drill happens to run, so the drill also reports the schedule's worst case, the longest gap
between scheduled backups (`serving.backup.schedule_rpo`), and fails when either is over the
target.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from serving.backup.database import drop_database
from serving.backup.errors import DrillFailed, IntegrityFailure
from serving.backup.memory_graph import clear_graph, verify_restored_graph
from serving.backup.pitr_report import section_of
from serving.backup.restore import RECEIPT_NAME, fetch_manifest
from serving.backup.schedule_rpo import ScheduleGap, schedule_worst_case
from serving.backup.service_check import clinic_data_not_checked, known_records, probe_service
from serving.settings import Settings

DEPLOYMENTS = Path(__file__).resolve().parents[2] / "prefect.yaml"
"""Where the backup schedule is read from: the Prefect deployments of this checkout."""
STEP_TIMEOUT_SECONDS = 1800
SERVE_TIMEOUT_SECONDS = 120
_FENCE = re.compile(r"^```bash (drill|drill-serve)\s*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
FRESH_SET_NOTE = (
    "the set was made by this drill run (--backup-first), so the RPO is that of a fresh set; "
    "the scheduled drill restores the newest nightly set"
)
_EXPORTED_SETTINGS = (
    "backup_bucket",
    "backup_region",
    "backup_secondary_bucket",
    "backup_secondary_region",
    "backup_prefix",
    "backup_endpoint_url",
    "backup_age_recipients",
    "backup_age_identity",
    "secrets_backend",
    "aws_secrets_prefix",
    "aws_region",
    "aws_endpoint_url",
    "timezone",
    "memory_backend",
    "neo4j_uri",
    "neo4j_user",
    "neo4j_password",
    "neo4j_database",
    "neo4j_timeout_seconds",
)


@dataclass(frozen=True)
class Step:
    kind: str  # "drill" (run to completion) or "drill-serve" (start the app)
    script: str

    @property
    def title(self) -> str:
        lines = [line for line in self.script.splitlines() if line and not line.startswith("#")]
        return lines[-1] if lines else self.script.strip()


@dataclass
class DrillResult:
    disaster_at: str
    served_at: str
    set_id: str
    snapshot_at: str
    newest_record_at: str | None
    rto_seconds: float
    rpo_seconds: float
    rto_target_seconds: float
    rpo_target_seconds: float
    database_engine: str
    environment: str = ""
    note: str | None = None
    schedule: ScheduleGap | None = None  # None: not read (a result built by hand)
    parts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, float]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    """What the drill could not check, and why: each one fails it."""

    @property
    def failures(self) -> list[str]:
        found = [f"not checked: {what}" for what in self.not_checked]
        if self.rto_seconds > self.rto_target_seconds:
            found.append(
                f"RTO {self.rto_seconds:.0f} s is over the {self.rto_target_seconds:.0f} s target"
            )
        if self.rpo_seconds > self.rpo_target_seconds:
            found.append(
                f"RPO {self.rpo_seconds:.0f} s is over the {self.rpo_target_seconds:.0f} s target"
            )
        if self.schedule is not None and self.schedule.seconds > self.rpo_target_seconds:
            found.append(
                f"the backup schedule's worst-case RPO {self.schedule.seconds:.0f} s (its "
                f"longest gap between backups) is over the {self.rpo_target_seconds:.0f} s target"
            )
        return found


def runbook_steps(runbook: Path) -> list[Step]:
    """The runbook's drill blocks in order; exactly one serve block, last."""
    steps = [Step(kind, body) for kind, body in _FENCE.findall(runbook.read_text(encoding="utf-8"))]
    serve = [s for s in steps if s.kind == "drill-serve"]
    if not steps or len(serve) != 1 or steps[-1].kind != "drill-serve":
        raise DrillFailed(
            f"{runbook} must hold ```bash drill blocks followed by one ```bash drill-serve block"
        )
    return steps


def step_environment(
    settings: Settings, target: Path, database_url: str, port: int
) -> dict[str, str]:
    """What the runbook's commands see: this environment, the backup settings in use, where to
    restore, and the project's `dental` first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MLFLOW_TRACKING_URI")}
    for name in _EXPORTED_SETTINGS:
        value = getattr(settings, name)
        if value is None:
            continue
        env[name.upper()] = (
            value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        )
    env.update(
        DR_TARGET=str(target),
        DR_DATABASE_URL=database_url,
        DR_PORT=str(port),
        DENTAL_INTEGRATION_KEY=secrets.token_urlsafe(24),
        LOAD_DEMO_DATA="false",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def wipe(target: Path, database_url: str) -> None:
    """The disaster: the scratch environment and its database are gone."""
    shutil.rmtree(target, ignore_errors=True)
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" and url.database:
        asyncio.run(drop_database(url, url.database))


def scratch_graph(settings: Settings, neo4j_uri: str | None) -> Settings:
    """The settings the drill restores with: with MEMORY_BACKEND=neo4j, the scratch Neo4j at
    `neo4j_uri` in place of the clinic's own, which a drill must never wipe."""
    if settings.memory_backend != "neo4j":
        if neo4j_uri is not None:
            raise DrillFailed("--neo4j-uri is for MEMORY_BACKEND=neo4j")
        return settings
    if neo4j_uri is None:
        raise DrillFailed(
            "MEMORY_BACKEND=neo4j: name the scratch Neo4j the drill restores the graph into "
            "with --neo4j-uri (it is wiped)"
        )
    return settings.model_copy(update={"neo4j_uri": neo4j_uri})


def run_drill(
    settings: Settings,
    *,
    runbook: Path,
    target: Path,
    database_url: str | None = None,
    neo4j_uri: str | None = None,
    port: int = 8765,
    report: Path | None = None,
    note: str | None = None,
    deployments: Path | None = None,
) -> DrillResult:
    """Wipe, restore by the runbook, serve, measure; write the report; fail over target.
    With MEMORY_BACKEND=neo4j the graph goes to the scratch Neo4j at `neo4j_uri`, wiped
    with the rest. The backup schedule's worst case is read from `deployments` (default:
    this checkout's prefect.yaml)."""
    target = target.resolve()
    url = database_url or f"sqlite+aiosqlite:///{target / 'dental.db'}"
    steps = runbook_steps(runbook)
    # Read before anything is wiped: an unreadable schedule stops the drill with nothing changed.
    schedule = schedule_worst_case(deployments or DEPLOYMENTS, datetime.now(UTC))
    settings = scratch_graph(settings, neo4j_uri)
    env = step_environment(settings, target, url, port)

    wipe(target, url)
    if settings.memory_backend == "neo4j":
        try:
            clear_graph(settings, url)
        except IntegrityFailure as error:
            raise DrillFailed(str(error)) from None
    disaster = datetime.now(UTC)
    started = time.monotonic()
    timings: list[tuple[str, float]] = []
    for step in steps[:-1]:
        began = time.monotonic()
        _run_step(step, env, target.parent)
        timings.append((step.title, time.monotonic() - began))

    receipt = json.loads((target / RECEIPT_NAME).read_text(encoding="utf-8"))
    graph = _check_graph(settings, receipt, url)
    began = time.monotonic()
    checks = _serve_and_probe(steps[-1], env, target.parent, url, port, settings.timezone)
    timings.append((steps[-1].title, time.monotonic() - began))
    rto = time.monotonic() - started
    served = datetime.now(UTC)
    not_checked = clinic_data_not_checked(checks)
    if not receipt.get("database_restored"):
        not_checked = [f"the clinic's data: set {receipt['set_id']} holds no database"]

    snapshot_at = datetime.fromisoformat(receipt["snapshot_at"])
    result = DrillResult(
        disaster_at=disaster.isoformat(timespec="seconds"),
        served_at=served.isoformat(timespec="seconds"),
        set_id=receipt["set_id"],
        snapshot_at=receipt["snapshot_at"],
        newest_record_at=receipt.get("newest_record_at"),
        rto_seconds=rto,
        rpo_seconds=(disaster - snapshot_at).total_seconds(),
        rto_target_seconds=settings.backup_rto_target_minutes * 60,
        rpo_target_seconds=settings.backup_rpo_target_minutes * 60,
        database_engine=make_url(url).get_backend_name(),
        environment=describe_environment(settings, receipt.get("bucket", "")),
        note=note,
        schedule=schedule,
        parts=receipt.get("parts", {}),
        skipped=receipt.get("skipped", {}),
        steps=timings,
        checks=[
            *(f"restore: {check}" for check in receipt.get("checks", [])),
            f"drill: {graph}",
            *(f"served app: {check}" for check in checks),
        ],
        not_checked=not_checked,
    )
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        kept = section_of(report.read_text(encoding="utf-8")) if report.is_file() else ""
        report.write_text(render_report(result) + ("\n" + kept if kept else ""), encoding="utf-8")
    if result.failures:
        raise DrillFailed("; ".join(result.failures))
    return result


def _check_graph(settings: Settings, receipt: dict[str, Any], database_url: str) -> str:
    """The restored memory graph against the set's manifest, read afresh from the bucket."""
    manifest, _ = fetch_manifest(settings, receipt["set_id"])
    try:
        return verify_restored_graph(settings, manifest, receipt.get("memory") or {}, database_url)
    except IntegrityFailure as error:
        raise DrillFailed(str(error)) from None


def describe_environment(settings: Settings, bucket: str) -> str:
    """Where the drill ran and what it restored from, for the report."""
    endpoint = settings.backup_endpoint_url or settings.aws_endpoint_url
    storage = f"S3 endpoint {endpoint}" if endpoint else "AWS S3"
    return (
        f"host {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}), "
        f"{storage}, restored from the {bucket or 'backup bucket'}"
    )


def _run_step(step: Step, env: dict[str, str], cwd: Path) -> None:
    cwd.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", step.script],  # noqa: S607
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("Error:")]
        detail = errors[-1] if errors else (lines[-1] if lines else "no output")
        raise DrillFailed(
            f"runbook step `{step.title}` failed (exit {result.returncode}): {detail}"
        )


def _serve_and_probe(
    step: Step, env: dict[str, str], cwd: Path, database_url: str, port: int, timezone: str
) -> list[str]:
    server = subprocess.Popen(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", step.script],  # noqa: S607
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        return asyncio.run(_wait_and_probe(server, database_url, port, timezone, env))
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


async def _wait_and_probe(
    server: subprocess.Popen[str], database_url: str, port: int, timezone: str, env: dict[str, str]
) -> list[str]:
    deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while True:
            if server.poll() is not None:
                tail = (server.stderr.read() if server.stderr else "").strip().splitlines()
                raise DrillFailed(
                    f"the restored app exited ({server.returncode}): {tail[-1] if tail else ''}"
                )
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise DrillFailed(
                    f"the restored app did not answer within {SERVE_TIMEOUT_SECONDS} s"
                )
            await asyncio.sleep(0.2)
        known = await known_records(database_url, timezone)
        return await probe_service(client, known, env["DENTAL_INTEGRATION_KEY"])


def render_report(result: DrillResult) -> str:
    verdict = "PASSED" if not result.failures else "FAILED: " + "; ".join(result.failures)
    lines = [
        "# Disaster-recovery drill report",
        "",
        "Written by the `dr_drill` flow (`dental dr drill`); do not edit by hand. The scenario,",
        "the targets and how they are measured: docs/RTO_RPO_DEFINITION.md. The commands run:",
        "the drill blocks of docs/RECOVERY_RUNBOOK.md.",
        "",
        f"**Result: {verdict}**",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| RTO (disaster to serving) | {_duration(result.rto_seconds)} | "
        f"< {_duration(result.rto_target_seconds)} |",
        f"| RPO (disaster minus restored data's time) | {_duration(result.rpo_seconds)} | "
        f"< {_duration(result.rpo_target_seconds)} |",
        *(
            [
                "| RPO, worst case (the backup schedule's longest gap) | "
                f"{_duration(result.schedule.seconds)} | < {_duration(result.rpo_target_seconds)} |"
            ]
            if result.schedule
            else []
        ),
        "",
        f"- Where: {result.environment}",
        f"- Disaster (scratch environment wiped): {result.disaster_at}",
        f"- Serving again: {result.served_at}",
        f"- Backup set restored: `{result.set_id}`, database {result.database_engine}, "
        f"consistent as of {result.snapshot_at}"
        + (f" (newest record {result.newest_record_at})" if result.newest_record_at else ""),
        *([f"- Backup schedule: {result.schedule.describe()}"] if result.schedule else []),
        *([f"- Note: {result.note}"] if result.note else []),
        "",
        "## What the set held",
        "",
        *[f"- {name}: {size:,} bytes" for name, size in result.parts.items()],
        *[f"- not in the set, {name}: {why}" for name, why in result.skipped.items()],
        "",
        "## Runbook steps",
        "",
        "| step | seconds |",
        "|---|---|",
        *[f"| `{title}` | {seconds:.1f} |" for title, seconds in result.steps],
        "",
        "## Checks",
        "",
        *[f"- {check}" for check in result.checks],
        "",
    ]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    if minutes >= 120:
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes} min"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def result_json(result: DrillResult) -> str:
    return json.dumps({**asdict(result), "failures": result.failures}, indent=2, default=str)
