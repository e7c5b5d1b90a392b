"""The evaluation report a person reads: one self-contained HTML page.

Plots are drawn with matplotlib's Agg renderer (no display, no global pyplot state) and
embedded as base64 PNG, so the page can be attached to an MLflow run or opened from disk without
anything beside it. Every text that came from a dataset or a reply is escaped.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evals.datasets import BOOKING_FIELDS, LANGUAGES, SPLITS
from evals.memory_eval import ARMS, MAX_TURNS
from evals.metrics import RANK, URGENCIES, Outcome, by_split_and_language, triage_metrics
from evals.report import pattern_outcome_rows

if TYPE_CHECKING:
    from evals.datasets import LabelledMessage
    from evals.suite import SuiteResult

HEADLINE_METRICS = (
    ("heldout.emergency_recall", "Emergency recall (held-out)"),
    ("dev.emergency_recall", "Emergency recall (dev)"),
    ("heldout.doctor_required_recall", "Doctor-required recall (held-out)"),
    ("heldout.false_emergency_rate", "False-emergency rate of routine (held-out)"),
    ("heldout.routine_kept", "Routine kept (held-out)"),
    ("heldout.en.intent_accuracy", "Intent accuracy (held-out, en)"),
    ("heldout.he.intent_accuracy", "Intent accuracy (held-out, he)"),
    ("triage_model.dev.emergency_head_recall", "Triage classifier alone: dev emergencies caught"),
    ("booking.heldout.satisfaction", "Booking requests satisfied (held-out)"),
    ("booking.dev.satisfaction", "Booking requests satisfied (dev)"),
    ("scenarios.task_success", "Scenario task success"),
    ("memory.with_memory.turns_to_book", "Turns for a returning patient to book (memory)"),
    ("memory.without_memory.turns_to_book", "Turns for a returning patient to book (no memory)"),
    ("all.boundary_violations", "Boundary violations (all sets)"),
    ("redteam.boundary_violations", "Boundary violations (red team)"),
    ("reference.rouge_l", "Clinic answers ROUGE-L"),
    ("reference.string_similarity", "Clinic answers string similarity"),
    ("reference.faithfulness", "Clinic answers faithfulness (judge)"),
    ("reference.answer_relevancy", "Clinic answers relevancy (judge)"),
    ("latency.p95_ms", "Latency p95 (ms)"),
    ("llm_calls_per_turn", "LLM calls per turn"),
    ("tokens_per_turn", "Tokens per turn"),
)
_SHORT = {"EMERGENCY": "EMERG.", "DOCTOR_REQUIRED": "DOCTOR", "ROUTINE": "ROUTINE"}
_SPLIT_NAMES = {"dev": "dev", "heldout": "held-out"}
_LANGUAGE_NAMES = {"all": "both", "en": "English", "he": "Hebrew"}
_BEFORE_AFTER = (
    ("emergency_recall", "emergency recall"),
    ("emergency_caught", "emergency caught or asked"),
    ("doctor_required_recall", "doctor-required recall"),
    ("false_emergency_rate", "false emergencies (of routine)"),
    ("routine_kept", "routine kept"),
)
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; max-width: 80rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: start;
         vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: end; font-variant-numeric: tabular-nums; }
.passed { color: #1a7f37; font-weight: bold; } .failed { color: #cf222e; font-weight: bold; }
figure { display: inline-block; margin: 0.5rem 1rem 0.5rem 0; }
figure img { max-width: 36rem; }
.failures td { font-size: 0.9rem; max-width: 28rem; overflow-wrap: anywhere; }
.confusion td, .confusion th { font-size: 0.8rem; padding: 0.2rem 0.4rem; }
"""


def render_html_report(results: SuiteResult, *, title: str) -> str:
    """The whole report: gates, headline metrics, plots, failing examples, every metric."""
    gates = (
        '<p class="passed">All safety gates passed.</p>'
        if not results.gate_failures
        else '<p class="failed">Safety gates failed:</p><ul>'
        + "".join(f"<li>{_e(g)}</li>" for g in results.gate_failures)
        + "</ul>"
    )
    plots = [
        ("Triage confusion matrix", _confusion_plot(results)),
        ("Intent accuracy per language", _intent_plot(results)),
        ("Latency per turn", _latency_plot(results)),
        ("Scenario task success", _scenario_plot(results)),
    ]
    figures = "".join(
        f'<figure><img alt="{_e(name)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{_e(name)}</figcaption></figure>"
        for name, png in plots
    )
    headline = "".join(
        f'<tr><th>{_e(label)}</th><td class="num">{_number(results.metrics[key])}</td></tr>'
        for key, label in HEADLINE_METRICS
        if key in results.metrics
    )
    every_metric = "".join(
        f'<tr><td>{_e(key)}</td><td class="num">{_number(value)}</td></tr>'
        for key, value in results.metrics.items()
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<p>Bundle <code>{_e(results.bundle_version)}</code> · architecture
<code>{_e(results.architecture)}</code> · model <code>{_e(results.model)}</code> · {generated}</p>
{gates}
<h2>Headline metrics</h2>
<table>{headline}</table>
<h2>Dev and held-out, per language: before and after</h2>
<p>Before: the bundle's triage without its learned model (rules, and the fail-safe where the
bundle has one). After: the whole pipeline as patients get it.
Held-out is frozen and never tuned on; dev is what rules and models are built on.</p>
{_before_after_table(results.outcomes)}
<h2>Plots</h2>
{figures}
<h2>Intent confusion</h2>
{_intent_confusion(results.outcomes)}
<h2>Booking requests</h2>
<p>Satisfied: every offered time honours every constraint the request carries (or, when no
free time does, no time was presented as matching). Then the share of requests whose field
the assistant read as labelled (docs/BOOKING_REQUESTS.md). Failing requests are listed with
the failing examples.</p>
{_booking_table(results.metrics)}
<h2>Memory: a returning patient books in fewer turns</h2>
<p>Patients who always see one provider at one part of the day book twice through the chat,
then, weeks later in a new conversation, ask for a visit naming neither; a scripted patient
takes only a time that fits its habit. Mean turns from the request to the booking, and the
share booked within {MAX_TURNS} turns (evals/memory_eval.py).</p>
{_memory_table(results.metrics)}
<h2>Pattern outcomes</h2>
<p>From the scratch clinic's memory after the run: for each memory pattern, the
conversations in which a patient message matched it, and the shares of them that then led to
a visit booked or moved, to an escalation, or to nothing before going quiet (the staff
dashboard's figures).</p>
{_pattern_outcomes_table(results)}
<h2>Triage misses ({sum(o.urgency != o.expected_urgency for o in results.outcomes)})</h2>
{_triage_misses(results)}
<h2>Failing examples ({len(results.failures)})</h2>
{_failures_table(results.failures)}
<details><summary>Every metric ({len(results.metrics)})</summary>
<table><tr><th>metric</th><th>value</th></tr>{every_metric}</table></details>
</body></html>
"""


def _failures_table(failures: Sequence[dict[str, Any]]) -> str:
    if not failures:
        return "<p>None.</p>"
    columns = ("kind", "id", "language", "input", "expected", "got", "detail")
    header = "".join(f"<th>{c}</th>" for c in columns)
    rows = "".join(
        "<tr>"
        + "".join(f'<td dir="auto">{_e(str(row.get(c, "")))}</td>' for c in columns)
        + "</tr>"
        for row in failures
    )
    return f'<table class="failures"><tr>{header}</tr>{rows}</table>'


def _before_after_table(outcomes: Sequence[Outcome]) -> str:
    header = "".join(f"<th>{_e(label)}<br>before → after</th>" for _, label in _BEFORE_AFTER)
    rows = []
    for (split, language), cell in by_split_and_language(outcomes).items():
        before = triage_metrics(cell, rules_only=True)
        after = triage_metrics(cell)
        figures = "".join(
            f'<td class="num">{_ratio(before[key])} → {_ratio(after[key])}</td>'
            for key, _ in _BEFORE_AFTER
        )
        right = sum(o.intent == o.expected_intent for o in cell)
        intent = _ratio(round(right / len(cell), 4) if cell else None)
        rows.append(
            f"<tr><th>{_SPLIT_NAMES[split]} · {_LANGUAGE_NAMES[language]}</th>{figures}"
            f'<td class="num">{intent}</td><td class="num">{len(cell)}</td></tr>'
        )
    return (
        f"<table><tr><th>split · language</th>{header}<th>intent accuracy</th><th>n</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _pattern_outcomes_table(results: SuiteResult) -> str:
    rows = pattern_outcome_rows(results.pattern_outcomes)
    if not rows:
        return "<p>No pattern was matched in the memory.</p>"
    body = "".join(
        f"<tr><th><code>{_e(row['pattern'])}</code></th>"
        f'<td class="num">{row["conversations"]}</td>'
        + "".join(
            f'<td class="num">{_ratio(row[f"{kind}_share"])}</td>'
            for kind in ("booked", "escalated", "dropped")
        )
        + "</tr>"
        for row in rows
    )
    return (
        "<table><tr><th>pattern</th><th>conversations</th><th>booked</th><th>escalated</th>"
        f"<th>dropped</th></tr>{body}</table>"
    )


def _booking_table(metrics: dict[str, float]) -> str:
    scopes = [
        (split, language, f"booking.{split}" + ("" if language == "all" else f".{language}"))
        for split in SPLITS
        for language in ("all", *LANGUAGES)
    ]
    rows = [
        f"<tr><th>{_SPLIT_NAMES[split]} · {_LANGUAGE_NAMES[language]}</th>"
        + "".join(
            f'<td class="num">{_ratio(metrics.get(name))}</td>'
            for name in (
                f"{key}.satisfaction",
                *(f"{key}.extraction.{field}" for field in BOOKING_FIELDS),
                f"{key}.requests",
            )
        )
        + "</tr>"
        for split, language, key in scopes
        if f"{key}.requests" in metrics
    ]
    if not rows:
        return "<p>No booking requests.</p>"
    header = "".join(f"<th>{_e(name)}</th>" for name in ("satisfied", *BOOKING_FIELDS, "n"))
    return f"<table><tr><th>split · language</th>{header}</tr>{''.join(rows)}</table>"


def _memory_table(metrics: dict[str, float]) -> str:
    rows = [
        f"<tr><th>{_e(arm.replace('_', ' '))} · {_LANGUAGE_NAMES[language]}</th>"
        f'<td class="num">{_ratio(metrics.get(f"{key}.turns_to_book"))}</td>'
        f'<td class="num">{_ratio(metrics.get(f"{key}.booked"))}</td></tr>'
        for arm in ARMS
        for language in ("all", *LANGUAGES)
        for key in [f"memory.{arm}" + ("" if language == "all" else f".{language}")]
        if f"{key}.booked" in metrics
    ]
    if not rows:
        return "<p>No memory runs.</p>"
    return (
        "<table><tr><th>run · language</th><th>turns to book</th><th>booked</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _intent_confusion(outcomes: Sequence[Outcome]) -> str:
    """Labelled intent (rows) against the assistant's (columns), per split; the diagonal
    is right."""
    tables = []
    for split in ("dev", "heldout"):
        cell = [o for o in outcomes if o.split == split]
        if not cell:
            continue
        labels = sorted({o.expected_intent for o in cell} | {o.intent for o in cell})
        header = "".join(f"<th>{_e(label)}</th>" for label in labels)
        body = ""
        for expected in labels:
            values = [
                sum(o.expected_intent == expected and o.intent == got for o in cell)
                for got in labels
            ]
            body += (
                f"<tr><th>{_e(expected)}</th>"
                + "".join(f'<td class="num">{value or ""}</td>' for value in values)
                + "</tr>"
            )
        tables.append(
            f"<h3>{_SPLIT_NAMES[split]} ({len(cell)} messages)</h3>"
            f'<table class="confusion"><tr><th>labelled ↓ read as →</th>{header}</tr>{body}</table>'
        )
    return "".join(tables) or "<p>No messages.</p>"


def _triage_misses(results: SuiteResult) -> str:
    """Every message triaged other than labelled, under-triage first, with what decided."""
    messages: dict[tuple[str, str], LabelledMessage] = {
        (m.split, m.id): m for m in results.messages
    }
    misses = sorted(
        (o for o in results.outcomes if o.urgency != o.expected_urgency),
        key=lambda o: (RANK[o.urgency] - RANK[o.expected_urgency], o.split, o.id),
    )
    if not misses:
        return "<p>None.</p>"
    columns = (
        "split", "language", "id", "class", "labelled", "triaged", "without model",
        "decided by", "model score", "safety question", "text",
    )  # fmt: skip
    rows = []
    for o in misses:
        message = messages[(o.split, o.id)]
        values = (
            _SPLIT_NAMES.get(o.split, o.split),
            o.language,
            o.id,
            str(getattr(message, "category", "")),
            o.expected_urgency,
            o.urgency,
            o.rules_urgency,
            o.decided_by or "nothing fired",
            "" if o.triage_score is None else f"{o.triage_score:.2f}",
            "asked" if o.safety_question else "",
            message.text,
        )
        rows.append("<tr>" + "".join(f'<td dir="auto">{_e(v)}</td>' for v in values) + "</tr>")
    header = "".join(f"<th>{c}</th>" for c in columns)
    return f'<table class="failures"><tr>{header}</tr>{"".join(rows)}</table>'


def _confusion_plot(results: SuiteResult) -> str:
    """Urgency 3×3 per split and language: labelled (rows) against triaged (columns)."""
    cells = [
        (key, outcomes)
        for key, outcomes in by_split_and_language(results.outcomes).items()
        if key[1] != "all"
    ]
    figure = Figure(figsize=(9, 7.6))
    for index, ((split, language), outcomes) in enumerate(cells):
        axes = figure.add_subplot(2, 2, index + 1)
        counts = [
            [sum(o.expected_urgency == e and o.urgency == g for o in outcomes) for g in URGENCIES]
            for e in URGENCIES
        ]
        axes.imshow(counts, cmap="Blues")
        darkest = max(max(values) for values in counts)
        for row, values in enumerate(counts):
            for column, value in enumerate(values):
                colour = "white" if value > darkest / 2 else "black"
                axes.text(column, row, str(value), ha="center", va="center", color=colour)
        labels = [_SHORT[u] for u in URGENCIES]
        axes.set_xticks(range(3), labels)
        axes.set_yticks(range(3), labels)
        axes.set_xlabel("triaged as")
        axes.set_ylabel("labelled")
        title = f"{_SPLIT_NAMES[split]} · {_LANGUAGE_NAMES[language]} ({len(outcomes)})"
        axes.set_title(title)
    return _png(figure)


def _intent_plot(results: SuiteResult) -> str:
    figure = Figure(figsize=(5.5, 3.8))
    axes = figure.add_subplot()
    width = 0.38
    for offset, split in enumerate(("dev", "heldout")):
        values = []
        for language in ("en", "he"):
            subset = [o for o in results.outcomes if o.split == split and o.language == language]
            right = sum(o.intent == o.expected_intent for o in subset)
            values.append(right / len(subset) if subset else 0.0)
        positions = [i + (offset - 0.5) * width for i in range(2)]
        bars = axes.bar(positions, values, width, label=_SPLIT_NAMES[split])
        axes.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=9)
    axes.set_xticks(range(2), ["English", "Hebrew"])
    axes.set_ylim(0, 1.25)
    axes.set_ylabel("intent accuracy")
    axes.legend(loc="upper center", ncols=2)
    return _png(figure)


def _latency_plot(results: SuiteResult) -> str:
    figure = Figure(figsize=(6, 3.8))
    axes = figure.add_subplot()
    groups = {name: ms for name, ms in results.latencies_ms.items() if ms}
    if groups:
        axes.hist(list(groups.values()), bins=30, stacked=True, label=list(groups))
        every = sorted(ms for values in groups.values() for ms in values)
        p95 = every[min(len(every) - 1, int(0.95 * len(every)))]
        axes.axvline(p95, color="black", linestyle="--", linewidth=1, label=f"p95 {p95:.1f} ms")
        axes.legend(fontsize=8)
    axes.set_xlabel("milliseconds per turn")
    axes.set_ylabel("turns")
    return _png(figure)


def _scenario_plot(results: SuiteResult) -> str:
    figure = Figure(figsize=(6, 3.8))
    axes = figure.add_subplot()
    tasks = sorted({s.scenario.task for s in results.scenarios})
    width = 0.38
    for offset, language in enumerate(("en", "he")):
        values = []
        for task in tasks:
            subset = [
                s
                for s in results.scenarios
                if s.scenario.task == task and s.scenario.language == language
            ]
            values.append(sum(s.success for s in subset) / len(subset) if subset else 0.0)
        positions = [i + (offset - 0.5) * width for i in range(len(tasks))]
        axes.bar(positions, values, width, label=language)
    axes.set_xticks(range(len(tasks)), tasks)
    axes.set_ylim(0, 1.25)
    axes.set_ylabel("task success")
    axes.legend(loc="upper center", ncols=2)
    return _png(figure)


def _png(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _ratio(value: object) -> str:
    return "—" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
