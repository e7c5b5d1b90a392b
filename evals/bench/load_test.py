"""The load test's machinery and its benchmark: Locust in a child process, its figures, and a
demo server of our own.

Locust drives the traffic from a child process (`python -m locust --headless --csv`), because
importing Locust monkey-patches the standard library with gevent, which must never happen in a
Prefect worker or a test process; the users are in `locustfile.py` beside this module. The
Prefect flow `flows.load_test` runs these steps as tasks and logs the figures to MLflow;
`run_benchmark` drives that flow against fresh demo servers and writes docs/LOAD_TEST.md.

Traffic goes only to this machine (127.0.0.1, localhost, ::1): a load test pointed at a live
clinic by mistake would book real appointments.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from evals.bench.local_process import (
    ProcessDidNotStart,
    child_process,
    free_port,
    wait_until_answering,
)
from evals.bench.scratch_database import Engine, scratch_database
from serving.demo.loader import DEMO_FILE
from serving.integration_key import LOCAL_KEY_FILE

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
"""Run by path in Locust's own process: importing it would monkey-patch this one with gevent."""
REPORT = Path("docs/LOAD_TEST.md")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SERVER_START_SECONDS = 60.0
LOCUST_GRACE_SECONDS = 120
"""How long Locust may take beyond the run time (start-up, stopping users, writing CSVs)."""

THINK_TIME_SECONDS = (2.0, 6.0)
"""Between two messages of one patient: reading the reply and typing the next message."""

Target = Literal["chat", "health"]
USER_CLASSES: dict[str, tuple[str, ...]] = {
    "chat": ("VerifiedPatient", "AnonymousVisitor"),
    "health": ("HealthProbe",),
}
REPORT_START = "<!-- figures below: written by `python -m flows.load_test --benchmark` -->"
REPORT_END = "<!-- figures above -->"


class LoadTestError(RuntimeError):
    """The load test could not run or measured nothing; the message says why."""


class TargetRefused(LoadTestError):
    """The target is not on this machine; load tests never leave it."""


@dataclass(frozen=True)
class RequestFigures:
    """Locust's figures for one request name (e.g. `patient: booking request`) or all of them."""

    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    throughput_rps: float

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Window:
    """All requests of the last 10 s, as Locust's history recorded them each second."""

    second: int
    users: int
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class LoadFigures:
    total: RequestFigures
    by_request: tuple[RequestFigures, ...]
    errors: tuple[str, ...]
    """`<occurrences> x <request>: <error>`, most frequent first."""
    windows: tuple[Window, ...] = ()
    """Second by second: shows whether slow requests cluster in the ramp-up or persist."""

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metric names."""
        return {
            "load.p50_ms": self.total.p50_ms,
            "load.p95_ms": self.total.p95_ms,
            "load.p99_ms": self.total.p99_ms,
            "load.mean_ms": self.total.mean_ms,
            "load.throughput_rps": self.total.throughput_rps,
            "load.error_rate": self.total.error_rate,
            "load.requests": float(self.total.requests),
            "load.failures": float(self.total.failures),
        }


def demo_patient_phones() -> list[str]:
    """The phones of the demo clinic's patients: the verified patients of a demo server."""
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return [str(patient["phone"]) for patient in data["patients"]]


def refuse_remote(base_url: str) -> None:
    host = urlsplit(base_url).hostname
    if urlsplit(base_url).scheme not in {"http", "https"} or host not in LOOPBACK_HOSTS:
        raise TargetRefused(
            f"{base_url}: load tests run only against this machine "
            f"({', '.join(sorted(LOOPBACK_HOSTS))}); start the app locally (`make run`)"
        )


def run_locust(
    base_url: str,
    target: Target,
    *,
    users: int,
    spawn_rate: float,
    duration_seconds: int,
    think_time_seconds: tuple[float, float],
    integration_key: SecretStr | None,
    patient_phones: Sequence[str],
    workdir: Path,
) -> tuple[Path, float]:
    """Run Locust headless: the prefix of its CSV files in `workdir`, and the CPU seconds
    Locust used (a load generator short of CPU measures itself, not the app)."""
    prefix = workdir / "locust"
    # The locustfile's configuration; the key travels in the environment, never in argv.
    low, high = think_time_seconds
    environment = {
        "LOAD_TEST_THINK_TIME": f"{low},{high}",
        "LOAD_TEST_PATIENT_PHONES": ",".join(patient_phones),
    }
    if integration_key is not None:
        environment["LOAD_TEST_INTEGRATION_KEY"] = integration_key.get_secret_value()
    command = [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base_url,
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate),
        "--run-time",
        f"{duration_seconds}s",
        "--stop-timeout",
        "10",
        "--csv",
        str(prefix),
        "--csv-full-history",  # the history then holds 10 s window percentiles, not totals
        "--only-summary",
        "--loglevel",
        "WARNING",
        *USER_CLASSES[target],
    ]
    log_path = workdir / "locust.log"
    # cwd: keep a locust.conf or pyproject.toml of the caller's directory out.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log_path.open("w", encoding="utf-8") as log:
        completed = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=workdir,
            env={**os.environ, **environment},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=duration_seconds + LOCUST_GRACE_SECONDS,
            check=False,
        )
    # Exit status 1 means "some requests failed": the figures say how many.
    if completed.returncode not in (0, 1) or not prefix.with_name("locust_stats.csv").is_file():
        tail = "\n".join(log_path.read_text(encoding="utf-8").splitlines()[-20:])
        raise LoadTestError(f"locust exited with status {completed.returncode}:\n{tail}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return prefix, round(cpu, 2)


def read_figures(prefix: Path) -> LoadFigures:
    """Parse Locust's `_stats.csv` (last row: all requests) and `_failures.csv`."""
    rows = _csv_rows(prefix.with_name(f"{prefix.name}_stats.csv"))
    figures = [_request_figures(row) for row in rows]
    if not figures or figures[-1].requests == 0:
        exceptions = _csv_rows(prefix.with_name(f"{prefix.name}_exceptions.csv"))
        reasons = "; ".join(row["Message"] for row in exceptions) or "see locust.log"
        raise LoadTestError(f"no request was made: {reasons}")
    failures = sorted(
        _csv_rows(prefix.with_name(f"{prefix.name}_failures.csv")),
        key=lambda row: -int(row["Occurrences"]),
    )
    errors = tuple(f"{row['Occurrences']} x {row['Name']}: {row['Error']}" for row in failures)
    history = _csv_rows(prefix.with_name(f"{prefix.name}_stats_history.csv"))
    windows = _windows([row for row in history if row["Name"] == "Aggregated"])
    return LoadFigures(
        total=figures[-1], by_request=tuple(figures[:-1]), errors=errors, windows=windows
    )


def render_figures(figures: LoadFigures, *, title: str) -> str:
    """A Markdown table: every request name, then all requests together."""
    lines = [
        f"### {title}",
        "",
        "| requests | count | errors | p50 ms | p95 ms | p99 ms | mean ms | req/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in (*figures.by_request, figures.total):
        name = "**all**" if row is figures.total else row.name
        lines.append(
            f"| {name} | {row.requests} | {row.failures} | {row.p50_ms:g} | {row.p95_ms:g} | "
            f"{row.p99_ms:g} | {row.mean_ms:.1f} | {row.throughput_rps:.1f} |"
        )
    if figures.errors:
        lines += ["", "Errors:", "", *(f"- {error}" for error in figures.errors[:10])]
    return "\n".join(lines) + "\n"


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def _request_figures(row: dict[str, str]) -> RequestFigures:
    def number(column: str) -> float:
        value = row[column]
        return 0.0 if value in {"", "N/A"} else float(value)

    return RequestFigures(
        name=row["Name"],
        requests=int(row["Request Count"]),
        failures=int(row["Failure Count"]),
        p50_ms=number("50%"),
        p95_ms=number("95%"),
        p99_ms=number("99%"),
        mean_ms=round(number("Average Response Time"), 2),
        throughput_rps=round(number("Requests/s"), 2),
    )


def _windows(rows: list[dict[str, str]]) -> tuple[Window, ...]:
    if not rows:
        return ()
    start = int(rows[0]["Timestamp"])

    def number(row: dict[str, str], column: str) -> float:
        return 0.0 if row[column] in {"", "N/A"} else float(row[column])

    return tuple(
        Window(
            second=int(row["Timestamp"]) - start,
            users=int(row["User Count"]),
            throughput_rps=round(number(row, "Requests/s"), 2),
            p50_ms=number(row, "50%"),
            p95_ms=number(row, "95%"),
            p99_ms=number(row, "99%"),
        )
        for row in rows
    )


def steady_state_p95(figures: LoadFigures, users: int) -> tuple[float, float] | None:
    """The lowest and highest 10 s window p95 once all `users` run and the first 10 s window
    after the ramp-up has passed; None for a run too short to have one."""
    full = [w.second for w in figures.windows if w.users >= users]
    if not full:
        return None
    settled = [w.p95_ms for w in figures.windows if w.second >= full[0] + 10 and w.p95_ms > 0]
    return (min(settled), max(settled)) if settled else None


def local_integration_key() -> SecretStr:
    if not LOCAL_KEY_FILE.is_file():
        raise LoadTestError(
            "verified patients need the app's integration key: pass integration_key, or run "
            f"from the directory where `make run` created {LOCAL_KEY_FILE}"
        )
    return SecretStr(LOCAL_KEY_FILE.read_text(encoding="utf-8").strip())


@contextmanager
def output_directory(output_dir: Path | None) -> Iterator[Path]:
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        yield output_dir
        return
    with tempfile.TemporaryDirectory(prefix="dental-load-") as scratch:
        yield Path(scratch)


# --- a demo server of our own, for the benchmark and the tests -----------------------------


@dataclass(frozen=True)
class DemoServer:
    base_url: str
    pid: int
    log: Path


@contextmanager
def demo_server(
    workdir: Path,
    *,
    integration_key: str,
    log_level: str = "INFO",
    workers: int = 1,
    engine: Engine = "sqlite",
) -> Iterator[DemoServer]:
    """`dental serve --demo --workers N` on a scratch database (a SQLite file in `workdir`, or
    a new PostgreSQL database), on a free port of 127.0.0.1, as an operator would run it;
    stopped on exit."""
    with scratch_database(engine, workdir, prefix="load_test") as database_url:
        yield from _serve_demo(workdir, database_url, integration_key, log_level, workers)


def _serve_demo(
    workdir: Path, database_url: str, integration_key: str, log_level: str, workers: int
) -> Iterator[DemoServer]:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DENTAL_INTEGRATION_KEY": integration_key,
        "LOG_LEVEL": log_level,
        # The whole crowd comes from this machine's one address: only the per-address limit is
        # lifted (each simulated patient stays under the per-user one).
        "RATE_LIMIT_PER_ADDRESS": "0",
    }
    for inherited in ("ENVIRONMENT", "LOAD_DEMO_DATA", "MLFLOW_TRACKING_URI"):
        environment.pop(inherited, None)
    entry_point = Path(sys.executable).with_name("dental")
    command = [str(entry_point)] if entry_point.exists() else [sys.executable, "-m", "serving.cli"]
    log_path = workdir / "serve.log"
    base_url = f"http://127.0.0.1:{port}"
    serve = [*command, "serve", "--demo", "--workers", str(workers)]
    with child_process(
        serve, env=environment, log=log_path, cwd=workdir, stop_seconds=15
    ) as server:
        try:
            wait_until_answering(
                server,
                f"{base_url}/health",
                name="dental serve",
                log=log_path,
                seconds=SERVER_START_SECONDS,
                ready=lambda response: response.status_code == 200,
            )
        except ProcessDidNotStart as exc:
            raise LoadTestError(str(exc)) from None
        yield DemoServer(base_url=base_url, pid=server.pid, log=log_path)


# --- the benchmark: docs/LOAD_TEST.md --------------------------------------------------------


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its live children (the workers of
    `dental serve --workers N`), from Linux /proc, to tell a saturated server."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) or 0.0 for child in children)


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.machine()}, {os.cpu_count()} cores ({model}), Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on a shared machine shows here."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


@dataclass(frozen=True)
class BenchmarkRun:
    """One measured configuration: what was loaded, on how many serving workers."""

    label: str
    target: Literal["chat", "health"]
    workers: int
    engine: Engine = "sqlite"

    @property
    def short(self) -> str:
        """E.g. "chat, 2 workers, postgresql"."""
        what = "/health" if self.target == "health" else "chat"
        return f"{what}, {self.workers} worker{'s' if self.workers > 1 else ''}, {self.engine}"


LoadRun = Callable[..., dict[str, Any]]
"""`flows.load_test.load_test`, or anything that runs a load test the same way and returns its
result."""


def benchmark_runs(workers: int) -> tuple[BenchmarkRun, ...]:
    """The baseline, the embedded default (one process on SQLite), and `workers` processes on
    SQLite and on PostgreSQL (the production engine)."""
    runs = [
        BenchmarkRun("baseline: `GET /health`, same profile, 1 worker, SQLite", "health", 1),
        BenchmarkRun("patients chatting, `POST /api/v1/chat`, 1 worker, SQLite", "chat", 1),
    ]
    if workers > 1:
        engines: tuple[tuple[Engine, str], ...] = (
            ("sqlite", "SQLite"),
            ("postgresql", "PostgreSQL"),
        )
        for engine, name in engines:
            label = f"patients chatting, `POST /api/v1/chat`, {workers} workers, {name}"
            runs.append(BenchmarkRun(label, "chat", workers, engine))
    return tuple(runs)


def run_benchmark(
    load: LoadRun,
    *,
    users: int = 100,
    spawn_rate: float = 10.0,
    duration_seconds: int = 60,
    workers: int = 2,
    report: Path = REPORT,
    tracking_uri: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The same Locust profile against `GET /health` (baseline), then the patients' chat on
    one serving worker and on `workers` workers, each on a fresh `dental serve --demo`
    (offline model, SQLite), each load run by `load` (the flow); figures into `report`."""
    key = secrets.token_urlsafe(24)
    machine = f"{_machine()}; load average before the run {_load_average()}"
    results: dict[str, dict[str, Any]] = {}
    server_cpu: dict[str, float | None] = {}
    client_cpu: dict[str, float] = {}
    for run in benchmark_runs(workers):
        with (
            tempfile.TemporaryDirectory(prefix="dental-bench-") as scratch,
            demo_server(
                Path(scratch), integration_key=key, workers=run.workers, engine=run.engine
            ) as server,
        ):
            before, started = _cpu_seconds(server.pid), time.monotonic()
            results[run.label] = load(
                server.base_url,
                users=users,
                spawn_rate=spawn_rate,
                duration_seconds=duration_seconds,
                target=run.target,
                integration_key=SecretStr(key),
                tracking_uri=tracking_uri,
            )
            after, elapsed = _cpu_seconds(server.pid), time.monotonic() - started
            server_cpu[run.label] = (
                None if before is None or after is None else (after - before) / elapsed
            )
            metrics = results[run.label]["metrics"]
            client_cpu[run.label] = metrics["load.client_cpu_seconds"] / elapsed
    machine += f", after {_load_average()}"
    section = _render_report(
        benchmark_runs(workers),
        results,
        server_cpu,
        client_cpu,
        machine=machine,
        users=users,
        spawn_rate=spawn_rate,
        duration_seconds=duration_seconds,
    )
    replace_figures_section(report, section)
    return results


def _render_report(
    runs: Sequence[BenchmarkRun],
    results: dict[str, dict[str, Any]],
    server_cpu: dict[str, float | None],
    client_cpu: dict[str, float],
    *,
    machine: str,
    users: int,
    spawn_rate: float,
    duration_seconds: int,
) -> str:
    def row(run: BenchmarkRun) -> str:
        m = results[run.label]["metrics"]
        cpu = server_cpu[run.label]
        cpu_text = "n/a" if cpu is None else f"{cpu * 100:.0f}%"
        return (
            f"| {run.label} | {m['load.p50_ms']:g} | {m['load.p95_ms']:g} | "
            f"{m['load.p99_ms']:g} | {m['load.throughput_rps']:.1f} | "
            f"{int(m['load.failures'])} / {int(m['load.requests'])} "
            f"({m['load.error_rate']:.2%}) | {cpu_text} | {client_cpu[run.label] * 100:.0f}% |"
        )

    def verdict(run: BenchmarkRun) -> str:
        m = results[run.label]["metrics"]
        met = m["load.p95_ms"] < 200 and m["load.failures"] == 0
        return f"{run.short}: " + ("**met**" if met else "**missed**")

    chats = [run for run in runs if run.target == "chat"]
    low, high = THINK_TIME_SECONDS
    lines = [
        REPORT_START,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}.",
        "",
        f"Profile: {users} users, spawn rate {spawn_rate:g}/s, {duration_seconds} s "
        f"(ramp-up included), think time {low:g}-{high:g} s; a fresh `dental serve --demo "
        "--workers N` on a new database per row (offline model, INFO logging), Locust on the "
        "same machine. MLflow runs: "
        + ", ".join(f"`{results[run.label]['run_id']}` ({run.label})" for run in runs)
        + ".",
        "",
        "| measured | p50 ms | p95 ms | p99 ms | req/s | errors | server CPU | Locust CPU |",
        "|---|---|---|---|---|---|---|---|",
        *(row(run) for run in runs),
        "",
        "Target p95 < 200 ms with no errors: "
        + "; ".join(verdict(run) for run in chats)
        + ". CPU columns: CPU time over the run's wall time, 100% = one core (all one "
        "worker's event loop can use; the workers together).",
        "",
        f"After the ramp-up (10 s windows once all {users} users run), p95: "
        + "; ".join(
            f"{run.short} {_range(results[run.label]['steady_state_p95_ms'])}" for run in runs
        )
        + ".",
        "",
    ]
    for run in runs:
        table = results[run.label]["summary"].split("\n", 1)[1]  # without its own title
        lines += [f"### {run.label}", table]
    lines.append(REPORT_END)
    return "\n".join(lines)


def _range(bounds: tuple[float, float] | None) -> str:
    return "n/a (run too short)" if bounds is None else f"{bounds[0]:g}-{bounds[1]:g} ms"


def replace_figures_section(report: Path, section: str) -> None:
    """Swap the figures between the markers; the prose around them is written by hand."""
    text = report.read_text(encoding="utf-8") if report.is_file() else ""
    if REPORT_START in text and REPORT_END in text:
        head, rest = text.split(REPORT_START, 1)
        tail = rest.split(REPORT_END, 1)[1]
        text = head + section + tail
    else:
        text = f"{text.rstrip()}\n\n{section}\n" if text else f"# Load test\n\n{section}\n"
    report.write_text(text, encoding="utf-8")
