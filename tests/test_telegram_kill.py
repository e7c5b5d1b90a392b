"""kill -9 of a real answering process mid-drain, then a restart: every update answered, in
order per chat, no turn run twice and no patient message stored twice (CI's small trial of
evals/bench/telegram_crash.py: 40 updates over 5 chats, one kill)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.bench.telegram_crash import run_trial


@pytest.mark.parametrize("db_backend", ["postgresql", "sqlite"], indirect=True)
def test_kill_9_mid_drain_answers_everything_once_in_order(
    database_url: str, tmp_path: Path
) -> None:
    figures = run_trial(
        database_url, chats=5, per_chat=8, kill_share=0.3, kill_delay=0.1, work=tmp_path, demo=False
    )
    assert figures.updates == 40
    assert 0 < figures.answered_before_kill < 40, "killed mid-drain"
    assert figures.unanswered == 0, "every update answered"
    assert figures.turns_run_twice == 0
    assert figures.messages_stored_twice == 0
    assert figures.chats_out_of_order == 0
    # Only a call Telegram accepted before the kill whose mark was not yet committed is sent
    # again: at most one per chat being answered at that moment (docs/TELEGRAM.md).
    assert figures.duplicate_sends <= figures.chats
    assert figures.drain_after_restart_seconds < 30
