"""Clinic-information answers compared with reference answers written from the clinic profile.

Always, without any model: ROUGE-L and ROUGE-1 F1 (the `rouge-score` package) and a
character-level string similarity (1 - normalised Levenshtein distance, as Ragas'
`NonLLMStringSimilarity` computes it). Ragas' own non-LLM metrics are not used for these, for
three reasons found in this environment: `import ragas` fails next to langchain-community 0.4
(it imports `langchain_community.chat_models.vertexai`, which no longer exists; upstream
vibrantlabsai/ragas#2745), its `RougeScore` uses rouge-score's default tokenizer, which drops
every non-ASCII letter so a Hebrew answer is scored on its digits alone, and
`NonLLMStringSimilarity` needs rapidfuzz, which is not installed. Here tokens are the assistant's
own (`serving.safety.text.tokens`: Hebrew and Latin words, digits), English words stemmed with
the Porter stemmer as Ragas does. Nothing in this path downloads anything.

Only when a judge model is configured (`Judge`, `openai_judge`): Ragas' LLM-judged
`Faithfulness` (is the answer supported by the profile text it should come from) and
`ResponseRelevancy` (does it answer the question). That needs the judge's API and network, is
never run by default (CI runs it against a local stand-in, tests/test_ragas_judge.py), and
imports Ragas with a stand-in for the missing module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import time
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.datasets import load_jsonl
from serving.bundle.load import load_bundle
from serving.clinic import ClinicProfile
from serving.demo.loader import DEMO_FILE, WEEKDAYS
from serving.practice.factory import booking_rules_from_settings
from serving.safety.text import is_hebrew, tokens
from serving.scheduling.opening import ClinicHours
from serving.scheduling.slots import WeeklyWindow
from serving.settings import REPOSITORY_BUNDLE, Settings
from serving.tools.actions import week_text

if TYPE_CHECKING:  # the app and LangChain: loading the set and scoring need neither
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel

    from evals.boundaries import BoundaryChecker
    from evals.clinic import Exchange, ScratchClinic

CLINIC_ANSWERS = Path("data/eval/clinic_answers.jsonl")
_NUMBER = re.compile(r"\d[\d,.:]*\d|\d")


class ClinicAnswer(BaseModel):
    """A patient's question about the clinic and the answer a good receptionist gives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^c\d{2,3}$")
    language: Literal["he", "en"]
    question: str = Field(min_length=1)
    reference: str = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)
    """Where the answer comes from: `profile:<field>` of the clinic profile, or
    `treatment:<code>` for a treatment's price."""


@dataclass(frozen=True)
class AnswerScore:
    answer: ClinicAnswer
    exchange: Exchange
    response: str
    """The reply without the first-contact bot disclosure, which answers nothing."""
    rouge_l: float
    rouge_1: float
    string_similarity: float
    violations: tuple[str, ...] = ()
    faithfulness: float | None = None
    answer_relevancy: float | None = None


def load_clinic_answers(path: Path = CLINIC_ANSWERS) -> list[ClinicAnswer]:
    return load_jsonl(path, ClinicAnswer, name="reference answers")


def source_texts(answer: ClinicAnswer, profile: ClinicProfile) -> list[str]:
    """The clinic's own text each source names, in the answer's language (the judge's
    "retrieved contexts"). KeyError names a source that does not exist."""
    texts = []
    for source in answer.sources:
        kind, _, key = source.partition(":")
        if source == "profile:hours":
            texts.append(_demo_hours(answer.language))
        elif kind == "profile" and key in ClinicProfile.model_fields:
            value = getattr(profile, key)
            texts.append(value if isinstance(value, str) else value(answer.language))
        elif kind == "treatment":
            treatment = _demo_treatments()[key]
            name = treatment["name_he" if answer.language == "he" else "name"]
            texts.append(f"{name}: {Decimal(treatment['price']):,.2f} {treatment['currency']}")
        else:
            raise KeyError(source)
    return texts


def stale_references(answers: Sequence[ClinicAnswer], profile: ClinicProfile) -> list[str]:
    """Problems that make a reference answer wrong for the current clinic: an unknown source,
    or a number of the source (an hour, a price, a floor) missing from the reference."""
    problems = []
    for answer in answers:
        try:
            texts = source_texts(answer, profile)
        except KeyError as exc:
            problems.append(f"{answer.id}: unknown source {exc.args[0]!r}")
            continue
        for number in sorted({n for text in texts for n in _NUMBER.findall(text)}):
            if number not in answer.reference:
                problems.append(f"{answer.id}: the reference does not say {number!r}")
    return problems


async def answer_questions(
    clinic: ScratchClinic, answers: Sequence[ClinicAnswer], checker: BoundaryChecker
) -> list[AnswerScore]:
    """Each question from an unverified visitor in a new conversation, scored as answered."""
    runtime = clinic.runtime()
    scores = []
    for answer in answers:
        exchange = await clinic.send(f"reference-{answer.id}", text=answer.question)
        disclosure = runtime.bundle.message(
            exchange.reply.language,
            "disclosure",
            clinic_name=clinic.profile.name(exchange.reply.language),
        )
        response = exchange.reply.text.removeprefix(disclosure).strip()
        rouge_l, rouge_1 = rouge(answer.reference, response)
        scores.append(
            AnswerScore(
                answer=answer,
                exchange=exchange,
                response=response,
                rouge_l=rouge_l,
                rouge_1=rouge_1,
                string_similarity=string_similarity(answer.reference, response),
                violations=checker.check(exchange.reply.text, sent=answer.question, patient=None),
            )
        )
    return scores


class _BilingualTokenizer:
    """rouge-score's tokenizer interface over the assistant's own tokens."""

    def tokenize(self, text: str) -> list[str]:
        return rouge_tokens(text)


def rouge_tokens(text: str) -> list[str]:
    """Words and digit runs, lower case; English words longer than 3 letters stemmed."""
    return [
        word if is_hebrew(word) or len(word) <= 3 else _stemmer().stem(word)
        for word in tokens(text)
    ]


def rouge(reference: str, response: str) -> tuple[float, float]:
    """(ROUGE-L F1, ROUGE-1 F1) of `response` against `reference`."""
    # Imported here: rouge-score imports all of NLTK (seconds), which loading data never needs.
    from rouge_score import rouge_scorer  # type: ignore[import-untyped]

    scorer = rouge_scorer.RougeScorer(["rougeL", "rouge1"], tokenizer=_BilingualTokenizer())
    scores = scorer.score(reference, response)
    return round(float(scores["rougeL"].fmeasure), 4), round(float(scores["rouge1"].fmeasure), 4)


def string_similarity(reference: str, response: str) -> float:
    """1 - Levenshtein distance / length of the longer text (1.0 for identical texts)."""
    if not reference and not response:
        return 1.0
    previous = list(range(len(response) + 1))
    for i, left in enumerate(reference, start=1):
        current = [i]
        for j, right in enumerate(response, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right))
            )
        previous = current
    return round(1 - previous[-1] / max(len(reference), len(response)), 4)


@dataclass(frozen=True)
class Judge:
    """The models Ragas' LLM-judged metrics ask: a chat model, and embeddings for relevancy."""

    llm: BaseChatModel
    embeddings: Embeddings


def openai_judge(model: str, *, embeddings_model: str = "text-embedding-3-small") -> Judge:
    """A judge on an OpenAI-compatible server: OPENAI_API_KEY / OPENAI_BASE_URL as for serving
    (docs/LLM.md), temperature 0. Opens no connection until it is asked something.

    The embeddings are asked with plain text (`check_embedding_ctx_length=False`): by default
    LangChain first tokenizes with tiktoken, which downloads its vocabulary from an OpenAI
    blob store on first use and then sends token ids, which Ollama-style servers refuse."""
    from langchain_openai import OpenAIEmbeddings

    from serving.agents.models import build_openai_chat_model

    settings = Settings(_env_file=None, openai_model=model, llm_temperature=0.0)
    llm = build_openai_chat_model(settings)
    embeddings = OpenAIEmbeddings(
        model=embeddings_model,
        openai_api_base=llm.openai_api_base,
        openai_api_key=llm.openai_api_key,
        check_embedding_ctx_length=False,
        request_timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
    )
    return Judge(llm=llm, embeddings=embeddings)


async def judge_answers(
    scores: Sequence[AnswerScore], judge: Judge, profile: ClinicProfile
) -> list[AnswerScore]:
    """The scores with Ragas' faithfulness and answer relevancy, as the judge rates them."""
    ragas = _import_ragas()
    faithfulness = ragas.Faithfulness(llm=ragas.LangchainLLMWrapper(judge.llm))
    relevancy = ragas.ResponseRelevancy(
        llm=ragas.LangchainLLMWrapper(judge.llm),
        embeddings=ragas.LangchainEmbeddingsWrapper(judge.embeddings),
    )
    judged = []
    for score in scores:
        sample = ragas.SingleTurnSample(
            user_input=score.answer.question,
            response=score.response,
            reference=score.answer.reference,
            retrieved_contexts=source_texts(score.answer, profile),
        )
        judged.append(
            replace(
                score,
                faithfulness=round(float(await faithfulness.single_turn_ascore(sample)), 4),
                answer_relevancy=round(float(await relevancy.single_turn_ascore(sample)), 4),
            )
        )
    return judged


def _import_ragas() -> Any:
    """Ragas' judged metrics, importable next to langchain-community 0.4 and not reporting
    usage: `ragas.llms` imports `ChatVertexAI` from a module that langchain-community removed
    (vibrantlabsai/ragas#2745); it is only used in an isinstance list, so an empty class stands
    in for it when the module is missing."""
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    missing = "langchain_community.chat_models.vertexai"
    if missing not in sys.modules and importlib.util.find_spec(missing) is None:
        stand_in = types.ModuleType(missing)
        stand_in.ChatVertexAI = type("ChatVertexAI", (), {})  # type: ignore[attr-defined]
        sys.modules[missing] = stand_in
    from ragas.dataset_schema import SingleTurnSample  # type: ignore[import-untyped]
    from ragas.embeddings import LangchainEmbeddingsWrapper  # type: ignore[import-untyped]
    from ragas.llms import LangchainLLMWrapper  # type: ignore[import-untyped]
    from ragas.metrics import Faithfulness, ResponseRelevancy  # type: ignore[import-untyped]

    return types.SimpleNamespace(
        SingleTurnSample=SingleTurnSample,
        LangchainEmbeddingsWrapper=LangchainEmbeddingsWrapper,
        LangchainLLMWrapper=LangchainLLMWrapper,
        Faithfulness=Faithfulness,
        ResponseRelevancy=ResponseRelevancy,
    )


@cache
def _stemmer() -> Any:
    from nltk.stem.porter import PorterStemmer  # type: ignore[import-untyped]

    return PorterStemmer()


@cache
def _demo_hours(language: str) -> str:
    """The demo clinic's week as the assistant writes it from the providers' working hours."""
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    windows = [
        WeeklyWindow(WEEKDAYS[day], time.fromisoformat(start), time.fromisoformat(end))
        for provider in data["providers"]
        for day, (start, end) in provider["hours"].items()
    ]
    calendar = booking_rules_from_settings(Settings(_env_file=None)).calendar
    bundle = load_bundle(REPOSITORY_BUNDLE)
    return week_text(
        ClinicHours.of(windows, calendar),
        lambda key, **values: bundle.message(language, key, **values),
    )


def _demo_treatments() -> dict[str, dict[str, Any]]:
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return {str(row["code"]): row for row in data["treatment_types"]}
