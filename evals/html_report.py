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

from evals.metrics import URGENCIES

if TYPE_CHECKING:
    from evals.suite import SuiteResult

HEADLINE_METRICS = (
    ("heldout.emergency_recall", "Emergency recall (held-out)"),
    ("dev.emergency_recall", "Emergency recall (dev)"),
    ("messages.doctor_required_recall", "Doctor-required recall"),
    ("messages.under_triage_rate", "Under-triage rate"),
    ("messages.intent_accuracy_en", "Intent accuracy (en)"),
    ("messages.intent_accuracy_he", "Intent accuracy (he)"),
    ("scenarios.task_success", "Scenario task success"),
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
<h2>Plots</h2>
{figures}
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


def _confusion_plot(results: SuiteResult) -> str:
    split_of = {m.id: m.split for m in results.messages}
    figure = Figure(figsize=(9, 3.8))
    for index, split in enumerate(("dev", "heldout")):
        axes = figure.add_subplot(1, 2, index + 1)
        outcomes = [o for o in results.outcomes if split_of[o.id] == split]
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
        axes.set_title(f"{split} ({len(outcomes)} messages)")
    return _png(figure)


def _intent_plot(results: SuiteResult) -> str:
    split_of = {m.id: m.split for m in results.messages}
    figure = Figure(figsize=(5.5, 3.8))
    axes = figure.add_subplot()
    width = 0.38
    for offset, split in enumerate(("dev", "heldout")):
        values = []
        for language in ("en", "he"):
            subset = [
                o for o in results.outcomes if split_of[o.id] == split and o.language == language
            ]
            right = sum(o.intent == o.expected_intent for o in subset)
            values.append(right / len(subset) if subset else 0.0)
        positions = [i + (offset - 0.5) * width for i in range(2)]
        bars = axes.bar(positions, values, width, label=split)
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


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
