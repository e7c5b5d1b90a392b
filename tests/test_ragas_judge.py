"""Ragas' LLM-judged answer metrics, driven through a real HTTP OpenAI-compatible stand-in.

The production path runs unpatched in a fresh interpreter (tests/ragas_judge_child.py):
`openai_judge` builds the chat model and the embeddings from OPENAI_BASE_URL, `run_suite(judge=)`
and `judge_answers` call Ragas' `Faithfulness` and `ResponseRelevancy`, which send their JSON
prompts over HTTP to the stand-in and read its answers back through Ragas' own parsers.

The stand-in plays the judge with a small, explicit rule (`ScriptedJudge`), so each score can
be computed here independently: a statement is one sentence of the answer, supported when every
word of it occurs in the clinic text the answer should come from; the question generated from
an answer is the answer itself unless a test names another; the embeddings are the stand-in's
bag-of-words vectors, so relevancy is the cosine of two known vectors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evals.reference_answers import load_clinic_answers, source_texts
from evals.suite import DATA_DIR
from serving.clinic import load_clinic_profile
from tests.conftest import HELDOUT_BOOKINGS_FIXTURE
from tests.llm_stand_in import (
    LlmStandIn,
    RecordedRequest,
    running_llm_stand_in,
    stand_in_embedding,
)
from tests.ragas_judge_child import EMBEDDINGS_MODEL, JUDGE_MODEL

ROOT = Path(__file__).resolve().parents[1]
ANSWER_IDS = ("c01", "c05", "c13", "c23")
"""Opening hours and parking in English, hours and a price in Hebrew."""
RELEVANCY_PROMPTS_PER_ANSWER = 3  # Ragas' ResponseRelevancy.strictness
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w+")
_INPUT = re.compile(r"\ninput: (\{.*\})\nOutput: $", re.DOTALL)

HOURS_EN = (
    "We are open Sun-Thu 08:00-20:00, Fri 08:00-13:00. Closed on Shabbat and public holidays."
)
UNSUPPORTED_CLAIM = "Parking is free for every patient."
OFF_TOPIC_QUESTION = "what are your parking prices?"
EVASIVE = "I am not sure, please ask at reception."


def sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_END.split(text.strip()) if part]


def supported(statement: str, context: str) -> bool:
    return set(_WORD.findall(statement.lower())) <= set(_WORD.findall(context.lower()))


def cosine(left: str, right: str) -> float:
    return sum(
        a * b for a, b in zip(stand_in_embedding(left), stand_in_embedding(right), strict=True)
    )


@dataclass
class ScriptedJudge:
    """Answers Ragas' three structured prompts by the rule in the module docstring."""

    questions: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Response -> (the question generated from it, noncommittal 0/1)."""
    asked: Counter[str] = field(default_factory=Counter)
    contexts: list[str] = field(default_factory=list)

    def __call__(self, request: RecordedRequest) -> str:
        prompt = request.messages[-1]["content"]
        match = _INPUT.search(prompt)
        if match is None:
            raise ValueError("not a Ragas prompt")
        data = json.loads(match.group(1))
        if set(data) == {"question", "answer"}:
            self.asked["statements"] += 1
            return json.dumps({"statements": sentences(data["answer"])}, ensure_ascii=False)
        if set(data) == {"context", "statements"}:
            self.asked["verdicts"] += 1
            self.contexts.append(data["context"])
            verdicts = [
                {
                    "statement": statement,
                    "reason": "every word is in the context" if ok else "not in the context",
                    "verdict": int(ok),
                }
                for statement in data["statements"]
                for ok in [supported(statement, data["context"])]
            ]
            return json.dumps({"statements": verdicts}, ensure_ascii=False)
        if set(data) == {"response"}:
            self.asked["question"] += 1
            question, noncommittal = self.question_for(data["response"])
            return json.dumps({"question": question, "noncommittal": noncommittal})
        raise ValueError(f"unexpected Ragas prompt input {sorted(data)}")

    def question_for(self, response: str) -> tuple[str, int]:
        """The named question, or the response itself (committal) for any other answer."""
        return self.questions.get(response, (response, 0))


@dataclass(frozen=True)
class JudgedRun:
    outcome: dict[str, Any]
    judge: ScriptedJudge
    stand_in: LlmStandIn

    def crafted(self, index: int) -> dict[str, Any]:
        return dict(self.outcome["crafted"][index])


CRAFTED = [
    ("c01", HOURS_EN),
    ("c01", f"{HOURS_EN} {UNSUPPORTED_CLAIM}"),
    ("c05", EVASIVE),
]


def _small_data_dir(directory: Path) -> Path:
    """The evaluation sets cut down to a few items each, the clinic answers to ANSWER_IDS."""
    directory.mkdir()
    for name, keep in (
        ("messages.jsonl", 2),
        ("scenarios.jsonl", 1),
        ("boundaries.jsonl", 1),
        ("booking_requests.jsonl", 1),
    ):
        lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()[:keep]
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    answers = [
        line
        for line in (DATA_DIR / "clinic_answers.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["id"] in ANSWER_IDS
    ]
    (directory / "clinic_answers.jsonl").write_text("\n".join(answers) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JudgedRun]:
    """One judged suite run plus the crafted answers, in a fresh interpreter."""
    work = tmp_path_factory.mktemp("ragas-judge")
    request = {
        "data_dir": str(_small_data_dir(work / "data")),
        "heldout_bookings": str(HELDOUT_BOOKINGS_FIXTURE),
        "crafted": [{"id": answer_id, "response": response} for answer_id, response in CRAFTED],
        "output": str(work / "outcome.json"),
    }
    (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
    judge = ScriptedJudge(
        questions={
            HOURS_EN: ("what are your opening hours?", 0),
            f"{HOURS_EN} {UNSUPPORTED_CLAIM}": (OFF_TOPIC_QUESTION, 0),
            EVASIVE: ("where can I park?", 1),
        }
    )
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OPENAI_", "LANGSMITH_", "LANGCHAIN_", "RAGAS_"))
    }
    with running_llm_stand_in() as stand_in:
        stand_in.respond_with(judge)
        result = subprocess.run(
            [sys.executable, "-m", "tests.ragas_judge_child", str(work / "request.json")],
            cwd=ROOT,
            env={**environment, "OPENAI_BASE_URL": stand_in.url},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-4000:]
    assert stand_in.unscripted == 0, "the stand-in could not answer a judge prompt"
    outcome = json.loads((work / "outcome.json").read_text(encoding="utf-8"))
    yield JudgedRun(outcome=outcome, judge=judge, stand_in=stand_in)


def test_the_suite_reports_judged_metrics_for_every_answer(judged: JudgedRun) -> None:
    metrics = judged.outcome["metrics"]
    answers = judged.outcome["answers"]
    assert [a["id"] for a in answers] == list(ANSWER_IDS)
    assert metrics["reference.answers"] == len(ANSWER_IDS)
    profile = load_clinic_profile()
    references = {a.id: a for a in load_clinic_answers()}
    for answer in answers:
        context = "\n".join(source_texts(references[answer["id"]], profile))
        statements = sentences(answer["response"])
        assert statements, f"{answer['id']}: the assistant gave no answer"
        expected = sum(supported(s, context) for s in statements) / len(statements)
        assert answer["faithfulness"] == round(expected, 4), answer
        generated, noncommittal = judged.judge.question_for(answer["response"])
        relevancy = cosine(references[answer["id"]].question, generated) * (1 - noncommittal)
        assert answer["answer_relevancy"] == pytest.approx(relevancy, abs=1e-3), answer
        assert context in judged.judge.contexts  # the profile text is what the judge checks
    assert metrics["reference.faithfulness"] == pytest.approx(
        sum(a["faithfulness"] for a in answers) / len(answers), abs=1e-4
    )
    assert metrics["reference.answer_relevancy"] == pytest.approx(
        sum(a["answer_relevancy"] for a in answers) / len(answers), abs=1e-4
    )
    assert 0 < metrics["reference.answer_relevancy"] <= 1


def test_a_faithful_answer_scores_one_and_an_unsupported_claim_lower(judged: JudgedRun) -> None:
    faithful, with_claim, evasive = (judged.crafted(i) for i in range(3))
    assert faithful["faithfulness"] == 1.0
    assert with_claim["faithfulness"] == round(2 / 3, 4)  # two supported sentences of three
    assert evasive["faithfulness"] == 0.0


def test_relevancy_is_the_cosine_of_generated_questions_to_the_question(
    judged: JudgedRun,
) -> None:
    faithful, with_claim, evasive = (judged.crafted(i) for i in range(3))
    question = "what are your opening hours?"  # c01
    assert faithful["answer_relevancy"] == pytest.approx(1.0, abs=1e-3)
    expected = cosine(question, OFF_TOPIC_QUESTION)
    assert 0 < expected < 0.9  # three of five words shared
    assert with_claim["answer_relevancy"] == pytest.approx(expected, abs=1e-3)
    assert evasive["answer_relevancy"] == 0.0  # noncommittal zeroes it whatever the cosine
    embedded = [
        text
        for request in judged.stand_in.embedding_requests
        for text in request.body["input"]  # type: ignore[index]
    ]
    assert question in embedded and OFF_TOPIC_QUESTION in embedded


def test_the_judge_is_asked_over_http_as_configured(judged: JudgedRun) -> None:
    judged_answers = len(ANSWER_IDS) + len(CRAFTED)
    assert judged.judge.asked == {
        "statements": judged_answers,
        "verdicts": judged_answers,
        "question": RELEVANCY_PROMPTS_PER_ANSWER * judged_answers,
    }
    chats = judged.stand_in.chat_requests
    assert len(chats) == sum(judged.judge.asked.values())
    assert {request.body["model"] for request in chats} == {JUDGE_MODEL}  # type: ignore[index]
    embeddings = judged.stand_in.embedding_requests
    assert len(embeddings) == 2 * judged_answers  # the question, then the generated ones
    for request in embeddings:
        body = request.body or {}
        assert body["model"] == EMBEDDINGS_MODEL
        assert all(isinstance(text, str) for text in body["input"])  # text, not token ids


def test_nothing_but_the_stand_in_is_reached(judged: JudgedRun) -> None:
    assert judged.outcome["refused"] == []
    assert judged.outcome["ragas_imported"] is True
