"""`make bench`: speed figures for the assistant, written to docs/BENCHMARKS.md.

Every figure is measured next to a baseline in the same run (the machine is shared and
noisy): triage with the bundle's classifier against the rules alone and against plain
tokenisation of the same text, a chat turn against a bare FastAPI endpoint served the same
way (in-process ASGI, same client).

`--triage-model PATH` measures a `models/triage.json` that is not in the bundle yet (e.g. a
freshly trained one); without it, the bundle's own classifier, if it has one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

from evals.clinic import ScratchClinic
from evals.datasets import load_messages
from serving.bundle.load import load_bundle
from serving.safety.classifier import ClassifierFile, TextClassifier
from serving.safety.triage import Triager
from serving.settings import REPOSITORY_BUNDLE

REPORT = Path("docs/BENCHMARKS.md")
TURNS = 400
KEY = "bench-key"
CONVERSATION = [
    "hi",
    "I want to book a cleaning next week",
    "how much do I owe?",
    "what are your opening hours",
    "אני רוצה לקבוע תור לבדיקה מחר בבוקר",
    "מה הכתובת של המרפאה?",
    "when is my next appointment",
    "thanks!",
]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)

    return {
        "p50": at(0.5),
        "p95": at(0.95),
        "p99": at(0.99),
        "mean": round(statistics.mean(ordered), 3),
    }


def bench_triage(classifier: TextClassifier | None) -> dict[str, dict[str, float]]:
    """Triage of every dev message x5: with `classifier` (when there is one), by the rules
    alone, and the tokenising baseline, interleaved message by message."""
    bundle = load_bundle(REPOSITORY_BUNDLE)
    line = "+97235550199"
    triagers = {"triage, rules only": Triager(bundle.safety, clinic_urgent_line=line)}
    if classifier is not None:
        name = f"triage, rules + classifier ({classifier.version})"
        triagers[name] = Triager(bundle.safety, clinic_urgent_line=line, classifier=classifier)
    texts = [m.text for m in load_messages()]
    for triager in triagers.values():  # warm-up
        for text in texts:
            triager.triage(text)
    samples: dict[str, list[float]] = {name: [] for name in triagers}
    baseline_ms: list[float] = []
    for _ in range(5):
        for text in texts:
            for name, triager in triagers.items():
                started = time.perf_counter()
                triager.triage(text)
                samples[name].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            text.lower().split()
            baseline_ms.append((time.perf_counter() - started) * 1000)
    figures = {name: percentiles(ms) for name, ms in reversed(samples.items())}
    return {**figures, "baseline: lower+split": percentiles(baseline_ms)}


def triage_classifier(path: Path | None) -> TextClassifier | None:
    """The classifier in `path`, else the bundle's own (None when it has none)."""
    if path is None:
        return load_bundle(REPOSITORY_BUNDLE).triage_model
    spec = ClassifierFile.model_validate(json.loads(path.read_bytes()))
    return TextClassifier(spec)


async def _timed(request: Awaitable[httpx.Response], samples: list[float]) -> None:
    started = time.perf_counter()
    response = await request
    samples.append((time.perf_counter() - started) * 1000)
    response.raise_for_status()


async def bench_chat(architecture: str) -> dict[str, dict[str, float]]:
    bare = FastAPI()

    @bare.post("/echo")
    async def echo(body: dict[str, object]) -> dict[str, object]:
        return body

    chat_ms: list[float] = []
    bare_ms: list[float] = []
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        # As `dental serve` builds it: the start-up heap frozen out of full collections.
        ScratchClinic(
            bundle_path=REPOSITORY_BUNDLE,
            architecture=architecture,
            settings={"integration_key": KEY},
            long_running=True,
        ) as clinic,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=clinic.app), base_url="http://b"
        ) as chat,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://b") as raw,
    ):
        for turn in range(TURNS):
            body = {
                "user_id": f"bench-{turn // len(CONVERSATION)}",
                "text": CONVERSATION[turn % len(CONVERSATION)],
                "phone": "+12025550143",
            }
            await _timed(chat.post("/api/v1/chat", json=body, headers=headers), chat_ms)
            await _timed(raw.post("/echo", json=body), bare_ms)
    warm = len(CONVERSATION)
    return {
        f"chat turn ({architecture})": percentiles(chat_ms[warm:]),
        "baseline: bare FastAPI endpoint": percentiles(bare_ms[warm:]),
    }


def render(sections: dict[str, dict[str, dict[str, float]]], notes: list[str]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench` on "
        f"{platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores (this workplace's machine; 1-minute load average "
        f"{os.getloadavg()[0]:.1f} at the end, the benchmark itself counting 1). Milliseconds; "
        "each figure beside its baseline from the same run.",
        "",
        *(f"{note}\n" for note in notes),
    ]
    for title, rows in sections.items():
        lines += [
            f"## {title}",
            "",
            "| measured | p50 | p95 | p99 | mean |",
            "|---|---|---|---|---|",
        ]
        for name, figures in rows.items():
            lines.append(
                f"| {name} | {figures['p50']} | {figures['p95']} | {figures['p99']} | "
                f"{figures['mean']} |"
            )
        lines.append("")
    lines += [
        "Targets: triage p99 < 2 ms with the classifier; one `/api/v1/chat` turn with the "
        "offline model p95 < 50 ms in-process (SQLite demo clinic, verified patient, a mixed "
        "bilingual conversation).",
        "",
    ]
    return "\n".join(lines)


def main(triage_model: Path | None = None) -> None:
    classifier = triage_classifier(triage_model)
    if classifier is None:
        notes = ["The bundle has no triage classifier: triage is measured by the rules alone."]
    else:
        source = (
            f"--triage-model {triage_model.name}"
            if triage_model
            else "the bundle's models/triage.json"
        )
        notes = [
            f"Triage classifier: version {classifier.version} ({source}), "
            f"{len(classifier.spec.features)} features, {len(classifier.heads)} heads."
        ]
    sections = {
        "Triage (dev messages x5)": bench_triage(classifier),
        "Chat turn, Alex": asyncio.run(bench_chat("alex")),
        "Chat turn, team": asyncio.run(bench_chat("team")),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(render(sections, notes), encoding="utf-8")
    print(REPORT.read_text(encoding="utf-8"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--triage-model",
        type=Path,
        help="a models/triage.json to measure instead of the bundle's own",
    )
    main(parser.parse_args().triage_model)
