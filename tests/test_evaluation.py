"""`dental eval`: the labelled set through the real assistant, its gates and its report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evals.boundaries import load_boundaries
from evals.datasets import (
    DatasetError,
    load_bookings,
    load_heldout,
    load_heldout_bookings,
    load_messages,
)
from evals.metrics import summarize
from evals.reference_answers import load_clinic_answers
from evals.report import gate_failures
from evals.runner import evaluate_messages
from evals.scenarios import load_scenarios
from serving.cli import app
from tests.classifier_models import bundle_with, constant
from tests.conftest import HELDOUT_BOOKINGS_FIXTURE, HELDOUT_FIXTURE


def test_the_dev_set_is_large_bilingual_and_all_dev() -> None:
    messages = load_messages()
    assert len(messages) >= 300
    hebrew = sum(m.language == "he" for m in messages)
    assert abs(hebrew - len(messages) / 2) <= len(messages) * 0.05
    assert {m.split for m in messages} == {"dev"}
    assert len({m.id for m in messages}) == len(messages)


def test_the_held_out_set_is_large_bilingual_and_apart_from_dev() -> None:
    held = load_heldout()
    assert len(held) >= 400
    hebrew = sum(m.language == "he" for m in held)
    assert abs(hebrew - len(held) / 2) <= len(held) * 0.05
    assert len({m.id for m in held}) == len(held)
    dev = load_messages()
    assert not {m.id for m in held} & {m.id for m in dev}
    assert {m.intent for m in held} <= {m.intent for m in dev}
    assert {m.urgency for m in held} == {"EMERGENCY", "DOCTOR_REQUIRED", "ROUTINE"}


def test_the_held_out_schema_needs_a_reason_and_a_class(tmp_path: Path) -> None:
    rows = load_heldout(HELDOUT_FIXTURE)
    assert {m.split for m in rows} == {"heldout"}
    assert all(m.reason and m.category for m in rows)
    line = json.loads(HELDOUT_FIXTURE.read_text(encoding="utf-8").splitlines()[0])
    path = tmp_path / "heldout.jsonl"
    for field, match in (("reason", "reason: Field required"), ("class", "class: Field required")):
        path.write_text(json.dumps({k: v for k, v in line.items() if k != field}) + "\n")
        with pytest.raises(DatasetError, match=rf"heldout\.jsonl:1: {match}"):
            load_heldout(path)
    path.write_text(json.dumps({**line, "split": "dev"}) + "\n")
    with pytest.raises(DatasetError, match="split 'dev' in a heldout set"):
        load_heldout(path)
    # A held-out row slipped back into the dev file is refused: held-out lives in one place.
    dev_row = {k: v for k, v in line.items() if k not in {"reason", "class"}}
    path.write_text(json.dumps({**dev_row, "split": "heldout"}) + "\n")
    with pytest.raises(DatasetError, match=r"the held-out split is data/heldout/messages\.jsonl"):
        load_messages(path)


@pytest.mark.parametrize("architecture", ["alex", "team"])
async def test_a_slice_through_each_architecture_passes_the_gates(architecture: str) -> None:
    messages = load_messages()[::6]  # every urgency and language, kept quick
    outcomes = await evaluate_messages(messages, architecture=architecture)
    figures = summarize(outcomes)
    report = {"splits": {"slice": figures}}
    assert gate_failures(report) == []
    assert figures["triage"]["emergency_recall"] == 1.0  # type: ignore[index]
    assert figures["intent_accuracy"]["all"] >= 0.8  # type: ignore[index]
    assert figures["llm_calls_per_turn"] is not None


def test_gates_fail_on_a_missed_emergency_or_a_violation() -> None:
    base = {"triage": {"emergency_recall": 1.0}, "boundary_violations": 0}
    assert gate_failures({"splits": {"dev": base}}) == []
    missed = {**base, "triage": {"emergency_recall": 0.98}}
    assert gate_failures({"splits": {"heldout": missed}}) == [
        "heldout: emergency recall 0.98 < 1.0"
    ]
    leaked = {**base, "boundary_violations": 2}
    assert gate_failures({"splits": {"dev": leaked}}) == ["dev: 2 boundary violations"]


def test_a_malformed_dataset_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {
        "id": "x1",
        "text": "hi",
        "language": "en",
        "urgency": "ROUTINE",
        "intent": "greeting",
        "split": "dev",
    }
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "urgency": "LOW"}) + "\n")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2"):
        load_messages(path)
    result = CliRunner().invoke(
        app, ["eval", "--dataset", str(path), "--heldout", str(HELDOUT_FIXTURE)]
    )
    assert result.exit_code == 1
    assert "bad.jsonl:2" in result.output
    missing = CliRunner().invoke(app, ["eval", "--heldout", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1
    assert "none.jsonl: held-out set not found" in missing.output


@pytest.mark.parametrize(
    ("loader", "name"),
    [
        (load_messages, "evaluation set"),
        (load_heldout, "held-out set"),
        (load_scenarios, "scenario set"),
        (load_boundaries, "red-team set"),
        (load_clinic_answers, "reference answers"),
        (load_bookings, "booking requests"),
        (load_heldout_bookings, "held-out booking requests"),
    ],
)
def test_every_set_is_read_by_the_one_loader(
    loader: Callable[[Path], list[object]], name: str, tmp_path: Path
) -> None:
    """Every set names the file, the line and the field of a malformed row the same way."""
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(DatasetError, match=rf"missing\.jsonl: {name} not found"):
        loader(missing)
    not_json = tmp_path / "not_json.jsonl"
    not_json.write_text("\n{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"not_json\.jsonl:2: Invalid JSON"):
        loader(not_json)
    bad_field = tmp_path / "bad_field.jsonl"
    bad_field.write_text(json.dumps({"id": ["not", "a", "string"]}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad_field\.jsonl:1: id: "):
        loader(bad_field)


def test_cli_prints_dev_and_held_out_apart_per_language(tmp_path: Path) -> None:
    dataset = tmp_path / "small.jsonl"
    rows = load_messages()[::20]
    dataset.write_text("\n".join(r.model_dump_json() for r in rows), encoding="utf-8")
    bookings = tmp_path / "bookings.jsonl"
    requests = load_bookings()[::35]
    bookings.write_text("\n".join(r.model_dump_json() for r in requests), encoding="utf-8")
    output = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--dataset", str(dataset),
            "--heldout", str(HELDOUT_FIXTURE),
            "--bookings", str(bookings),
            "--heldout-bookings", str(HELDOUT_BOOKINGS_FIXTURE),
            "--output", str(output),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["bundle"].startswith("dental-clinic-assistant@")
    assert set(report["splits"]) == {"dev", "heldout"}
    assert list(report["cells"]) == [
        "dev.all", "dev.en", "dev.he", "heldout.all", "heldout.en", "heldout.he",
    ]  # fmt: skip
    assert report["cells"]["heldout.he"]["messages"] == 6
    assert report["cells"]["dev.en"]["messages"] + report["cells"]["dev.he"]["messages"] == len(
        rows
    )
    header, *table = result.output.splitlines()[2:9]
    assert header.split()[-1] == "n" and "emerg. recall" in header and "routine kept" in header
    for line, cell in zip(table, report["cells"], strict=True):
        split, language = cell.split(".")
        assert line.startswith(f"{split} · {language}")
        assert line.split()[-1] == str(report["cells"][cell]["messages"])
    # Then the booking requests: satisfied and each field, per split and language, with n.
    figures = report["bookings"]
    assert figures["booking.dev.requests"] == len(requests)
    assert figures["booking.heldout.requests"] == 8
    booking_lines = result.output.split("booking requests:")[1].splitlines()[1:]
    assert "satisfied" in booking_lines[0] and "not wkdays" in booking_lines[0]
    for line, scope in zip(booking_lines[1:], ("dev", "dev.en", "dev.he"), strict=False):
        split, _, language = scope.partition(".")
        assert line.startswith(f"{split} · {language or 'all'}")
        assert line.split()[-1] == str(int(figures[f"booking.{scope}.requests"]))


async def test_each_outcome_says_what_decided_its_urgency_and_intent(tmp_path: Path) -> None:
    dev = load_messages()
    emergency = next(m for m in dev if m.urgency == "EMERGENCY")
    routine = next(m for m in dev if m.urgency == "ROUTINE")
    by_rules = await evaluate_messages([emergency, routine])
    assert by_rules[0].decided_by and by_rules[0].decided_by.startswith("emergency.")
    # The repository's bundle has a classifier: its P(emergency) is kept beside the rule.
    assert by_rules[0].triage_score is not None and by_rules[0].intent_source == "triage"
    assert by_rules[1].intent_source == "rules"

    bundle = bundle_with(
        tmp_path / "bundle",
        {
            "triage": constant("triage", {"EMERGENCY": 0.01, "DOCTOR_REQUIRED": 0.01}),
            "intent": constant("intent", {"greeting": 0.99}, version="i1"),
        },
    )
    unknown = routine.model_copy(update={"id": "unknown", "text": "qwerty zxcv asdf"})
    with_models = await evaluate_messages([emergency, unknown], bundle_path=bundle)
    assert with_models[0].decided_by == by_rules[0].decided_by, "the model never lowers"
    assert with_models[0].triage_score == pytest.approx(0.01)
    assert (with_models[1].intent, with_models[1].intent_source) == (
        "greeting",
        "model:intent@i1",
    )
