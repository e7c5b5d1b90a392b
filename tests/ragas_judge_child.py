"""The judged evaluation in a fresh interpreter, for tests/test_ragas_judge.py.

Run as `python -m tests.ragas_judge_child REQUEST.json` with OPENAI_BASE_URL pointing at the
LLM stand-in. It refuses (and records) every connection and name lookup that is not the
stand-in's address, then runs the production path: `openai_judge`, `run_suite(judge=...)` on the
request's data directory, and `judge_answers` on the request's crafted responses. It writes
the metrics, the judged scores, what was refused and whether Ragas was imported to the
request's output file.

A separate interpreter because the judged path imports Ragas (and puts a stand-in module in
`sys.modules`), which the default path's tests assert never happens in theirs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

JUDGE_MODEL = "judge-model"
EMBEDDINGS_MODEL = "judge-embeddings"
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", None})


def _guard_network(allowed: tuple[str, int], refused: list[str]) -> None:
    """Refuse, and note in `refused`, any connection or lookup off the stand-in's address."""

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and tuple(address[:2]) != allowed:
                refused.append(f"connect {address!r}")
                raise ConnectionRefusedError(f"test: no network but the stand-in: {address!r}")
        elif event == "socket.getaddrinfo":
            host = args[0].decode() if isinstance(args[0], bytes) else args[0]
            if host not in _LOCAL_HOSTS:
                refused.append(f"getaddrinfo {host!r}")
                raise OSError(f"test: no name lookups: {host!r}")

    sys.addaudithook(audit)


def _score(score: Any) -> dict[str, Any]:
    return {
        "id": score.answer.id,
        "response": score.response,
        "faithfulness": score.faithfulness,
        "answer_relevancy": score.answer_relevancy,
    }


async def _run(request: dict[str, Any]) -> dict[str, Any]:
    from evals.reference_answers import judge_answers, openai_judge
    from evals.suite import run_suite
    from serving.clinic import load_clinic_profile
    from serving.settings import REPOSITORY_BUNDLE

    judge = openai_judge(JUDGE_MODEL, embeddings_model=EMBEDDINGS_MODEL)
    result = await run_suite(
        REPOSITORY_BUNDLE,
        architecture="alex",
        data_dir=Path(request["data_dir"]),
        heldout_bookings=Path(request["heldout_bookings"]),
        judge=judge,
    )
    by_id = {score.answer.id: score for score in result.answers}
    crafted = [replace(by_id[case["id"]], response=case["response"]) for case in request["crafted"]]
    judged = await judge_answers(crafted, judge, load_clinic_profile())
    return {
        "metrics": result.metrics,
        "answers": [_score(score) for score in result.answers],
        "crafted": [_score(score) for score in judged],
    }


def main() -> None:
    request = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    base_url = urlsplit(os.environ["OPENAI_BASE_URL"])
    refused: list[str] = []
    _guard_network((str(base_url.hostname), int(base_url.port or 80)), refused)
    outcome = asyncio.run(_run(request))
    outcome["refused"] = refused
    outcome["ragas_imported"] = "ragas" in sys.modules
    Path(request["output"]).write_text(json.dumps(outcome, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
