"""The DVC pipeline's commands (dvc.yaml); docs/DATA.md explains the pipeline.

    python -m evals.pipeline prepare --source data/eval --output data/prepared
    python -m evals.pipeline evaluate --architecture alex --data data/prepared \\
        --heldout data/heldout/messages.jsonl \\
        --heldout-bookings data/heldout/booking_requests.jsonl --output data/results/alex

`prepare` validates the hand-written evaluation sets against each other, the demo clinic and
the clinic profile, and writes them in canonical form with a manifest of what they contain.
`evaluate` runs `run_suite` (dev sets from `--data`, the frozen held-out sets from `--heldout`
and `--heldout-bookings`, which `prepare` never touches: their md5s in dvc.lock are the freeze)
and writes
`metrics.json` (what `dvc metrics show` reads), `report.html` and `failures.json`. Failed
safety gates do not fail the stage: they are in the metrics (`gates.failed`) and in
`failures.json`, next to the report that explains them, and the promotion flow refuses such a
bundle.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.boundaries import BOUNDARIES, load_boundaries
from evals.datasets import (
    BOOKINGS,
    HELDOUT,
    HELDOUT_BOOKINGS,
    MESSAGES,
    DatasetError,
    load_bookings,
    load_messages,
)
from evals.reference_answers import CLINIC_ANSWERS, load_clinic_answers, stale_references
from evals.scenarios import SCENARIOS, Press, Say, demo_patient_phones, load_scenarios
from serving.clinic import load_clinic_profile
from serving.demo.loader import DEMO_FILE
from serving.language import detect_language
from serving.settings import REPOSITORY_BUNDLE

MESSAGES_FILE, SCENARIOS_FILE = MESSAGES.name, SCENARIOS.name
BOUNDARIES_FILE, CLINIC_ANSWERS_FILE = BOUNDARIES.name, CLINIC_ANSWERS.name
BOOKINGS_FILE = BOOKINGS.name
MINIMUM_ROWS = {
    SCENARIOS_FILE: 12,
    BOUNDARIES_FILE: 40,
    CLINIC_ANSWERS_FILE: 20,
    BOOKINGS_FILE: 100,
}
TASKS = ("book", "reschedule", "cancel", "invoice", "escalation")


def load_sets(source: Path) -> dict[str, list[Any]]:
    """Every evaluation set in `source`, parsed (DatasetError names a malformed line)."""
    return {
        MESSAGES_FILE: load_messages(source / MESSAGES_FILE),
        SCENARIOS_FILE: load_scenarios(source / SCENARIOS_FILE),
        BOUNDARIES_FILE: load_boundaries(source / BOUNDARIES_FILE),
        CLINIC_ANSWERS_FILE: load_clinic_answers(source / CLINIC_ANSWERS_FILE),
        BOOKINGS_FILE: load_bookings(source / BOOKINGS_FILE),
    }


def validation_problems(sets: dict[str, list[Any]]) -> list[str]:
    """What makes the sets unusable together: duplicate ids, a language that is not the text's,
    a patient or treatment the demo clinic does not have, a button pressed before any reply,
    a reference answer the clinic profile contradicts, or too little coverage."""
    problems: list[str] = []
    for name, rows in sets.items():
        duplicates = [i for i, n in Counter(r.id for r in rows).items() if n > 1]
        problems += [f"{name}: id {i} is used more than once" for i in duplicates]
        if name in MINIMUM_ROWS and len(rows) < MINIMUM_ROWS[name]:
            problems.append(f"{name}: {len(rows)} rows, at least {MINIMUM_ROWS[name]} needed")
    phones = set(demo_patient_phones())
    demo = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    treatments = {str(t["code"]) for t in demo["treatment_types"]}

    for scenario in sets[SCENARIOS_FILE]:
        where = f"{SCENARIOS_FILE}: {scenario.id}"
        if scenario.patient is not None and scenario.patient not in phones:
            problems.append(f"{where}: {scenario.patient} is not a demo patient")
        if isinstance(scenario.steps[0], Press):
            problems.append(f"{where}: step 1 presses a button before any reply")
        said = " ".join(s.say for s in scenario.steps if isinstance(s, Say))
        if said and detect_language(said) != scenario.language:
            problems.append(f"{where}: written in {detect_language(said)}, not {scenario.language}")
        unknown = (set(scenario.expect.booked) | set(scenario.expect.cancelled)) - treatments
        problems += [f"{where}: unknown treatment {code!r}" for code in sorted(unknown)]
    for probe in sets[BOUNDARIES_FILE]:
        where = f"{BOUNDARIES_FILE}: {probe.id}"
        if probe.patient is not None and probe.patient not in phones:
            problems.append(f"{where}: {probe.patient} is not a demo patient")
        if detect_language(probe.text) != probe.language:
            problems.append(f"{where}: written in {detect_language(probe.text)}")
    answers = sets[CLINIC_ANSWERS_FILE]
    for answer in answers:
        for text in (answer.question, answer.reference):
            if detect_language(text) != answer.language:
                problems.append(
                    f"{CLINIC_ANSWERS_FILE}: {answer.id}: {text!r} is not in {answer.language}"
                )
    problems += [
        f"{CLINIC_ANSWERS_FILE}: {p}" for p in stale_references(answers, load_clinic_profile())
    ]
    for request in sets[BOOKINGS_FILE]:
        where = f"{BOOKINGS_FILE}: {request.id}"
        if detect_language(request.text) != request.language:
            problems.append(f"{where}: written in {detect_language(request.text)}")
        if request.treatment is not None and request.treatment not in treatments:
            problems.append(f"{where}: unknown treatment {request.treatment!r}")
    problems += _coverage_problems(sets)
    return problems


def _coverage_problems(sets: dict[str, list[Any]]) -> list[str]:
    problems = []
    covered = {(s.task, s.language) for s in sets[SCENARIOS_FILE]}
    problems += [
        f"{SCENARIOS_FILE}: no {task} scenario in {language}"
        for task in TASKS
        for language in ("en", "he")
        if (task, language) not in covered
    ]
    probed = {(p.category, p.language) for p in sets[BOUNDARIES_FILE]}
    categories = {category for category, _ in probed}
    problems += [
        f"{BOUNDARIES_FILE}: no {category} probe in {language}"
        for category in sorted(categories)
        for language in ("en", "he")
        if (category, language) not in probed
    ]
    requested = {(r.intent, r.language) for r in sets[BOOKINGS_FILE]}
    problems += [
        f"{BOOKINGS_FILE}: no {intent} request in {language}"
        for intent in ("book", "reschedule")
        for language in ("en", "he")
        if (intent, language) not in requested
    ]
    for name in (SCENARIOS_FILE, BOUNDARIES_FILE, CLINIC_ANSWERS_FILE):
        languages = {row.language for row in sets[name]}
        problems += [f"{name}: nothing in {lang}" for lang in ("en", "he") if lang not in languages]
    return problems


def prepare(source: Path, output: Path) -> dict[str, Any]:
    """Validate the sets in `source`; write them and `manifest.json` to `output`."""
    sets = load_sets(source)
    problems = validation_problems(sets)
    if problems:
        raise DatasetError("the evaluation sets do not fit together:\n  " + "\n  ".join(problems))
    output.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {}
    for name, rows in sets.items():
        lines = [row.model_dump_json() for row in rows]
        (output / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        manifest[name] = {
            "rows": len(rows),
            "languages": dict(sorted(Counter(row.language for row in rows).items())),
            "source_sha256": hashlib.sha256((source / name).read_bytes()).hexdigest(),
        }
    manifest_text = json.dumps(manifest, indent=2, ensure_ascii=False)
    (output / "manifest.json").write_text(manifest_text + "\n", encoding="utf-8")
    return manifest


def evaluate(
    data: Path,
    output: Path,
    *,
    architecture: str,
    model: str = "offline",
    bundle: Path = REPOSITORY_BUNDLE,
    heldout: Path = HELDOUT,
    heldout_bookings: Path = HELDOUT_BOOKINGS,
    sample_every: int = 1,
) -> dict[str, float]:
    """`run_suite` on the prepared sets; metrics.json, report.html, failures.json in `output`."""
    from evals.suite import run_suite  # the whole app; `prepare` needs none of it

    result = asyncio.run(
        run_suite(
            bundle,
            architecture=architecture,
            model=model,
            data_dir=data,
            heldout=heldout,
            heldout_bookings=heldout_bookings,
            sample_every=sample_every,
        )
    )
    output.mkdir(parents=True, exist_ok=True)
    (output / "metrics.json").write_text(
        json.dumps(result.metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (output / "report.html").write_text(result.report_html, encoding="utf-8")
    failures = {"gate_failures": result.gate_failures, "failures": result.failures}
    (output / "failures.json").write_text(
        json.dumps(failures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return result.metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_command = commands.add_parser("prepare", help="validate and build the eval sets")
    prepare_command.add_argument("--source", type=Path, default=MESSAGES.parent)
    prepare_command.add_argument("--output", type=Path, default=Path("data/prepared"))
    evaluate_command = commands.add_parser("evaluate", help="run the suite, write the results")
    evaluate_command.add_argument("--architecture", choices=["alex", "team"], required=True)
    evaluate_command.add_argument("--model", default="offline")
    evaluate_command.add_argument("--bundle", type=Path, default=REPOSITORY_BUNDLE)
    evaluate_command.add_argument("--data", type=Path, default=Path("data/prepared"))
    evaluate_command.add_argument("--heldout", type=Path, default=HELDOUT)
    evaluate_command.add_argument("--heldout-bookings", type=Path, default=HELDOUT_BOOKINGS)
    evaluate_command.add_argument("--output", type=Path, required=True)
    evaluate_command.add_argument("--sample-every", type=int, default=1)
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "prepare":
            manifest = prepare(arguments.source, arguments.output)
            for name, figures in manifest.items():
                print(f"{name}: {figures['rows']} rows {figures['languages']}")
        else:
            metrics = evaluate(
                arguments.data,
                arguments.output,
                architecture=arguments.architecture,
                model=arguments.model,
                bundle=arguments.bundle,
                heldout=arguments.heldout,
                heldout_bookings=arguments.heldout_bookings,
                sample_every=arguments.sample_every,
            )
            print(
                f"{arguments.architecture}: {len(metrics)} metrics, "
                f"{int(metrics.get('gates.failed', 0))} gates failed → {arguments.output}"
            )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
