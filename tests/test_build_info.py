"""Build information: recorded at install time, read at runtime without git."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serving import __version__
from serving.build_info import (
    REPO_DIR,
    BuildInfo,
    git_commit,
    read_build_info,
    write_build_info,
)


@pytest.fixture
def git_repo(tmp_path: Path) -> tuple[Path, str]:
    """A checkout with one commit, and that commit's id."""
    repo = tmp_path / "checkout"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=CI", "-c", "user.email=ci@example.invalid", *args],
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "--quiet")
    (repo / "README.md").write_text("clinic\n")
    git("add", "README.md")
    git("commit", "--quiet", "-m", "first")
    return repo, git("rev-parse", "HEAD")


def test_write_takes_the_commit_from_git(git_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, commit = git_repo
    path = tmp_path / "_build_info.json"

    info = write_build_info(path, repo_dir=repo, environ={"DENTAL_GIT_COMMIT": "ignored"})

    assert info.commit == commit
    assert info.version == __version__
    built = datetime.fromisoformat(info.build_time)
    assert built.tzinfo is not None
    assert abs(datetime.now(UTC) - built) < timedelta(minutes=1)
    assert json.loads(path.read_text()) == {
        "version": __version__,
        "commit": commit,
        "build_time": info.build_time,
    }


def test_write_falls_back_to_the_build_argument_without_git(tmp_path: Path) -> None:
    info = write_build_info(
        tmp_path / "_build_info.json", repo_dir=tmp_path, environ={"DENTAL_GIT_COMMIT": "d0cker1"}
    )
    assert info.commit == "d0cker1"


def test_write_records_unknown_when_nothing_knows_the_commit(tmp_path: Path) -> None:
    info = write_build_info(tmp_path / "_build_info.json", repo_dir=tmp_path, environ={})
    assert info.commit == "unknown"


def test_git_commit_is_none_without_git_on_the_path(
    git_repo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")
    assert git_commit(git_repo[0]) is None


def test_git_commit_ignores_a_checkout_the_code_is_merely_inside(
    git_repo: tuple[Path, str],
) -> None:
    nested = git_repo[0] / "venv" / "site-packages"
    nested.mkdir(parents=True)
    assert git_commit(git_repo[0]) == git_repo[1]
    assert git_commit(nested) is None


def test_read_returns_what_was_written(git_repo: tuple[Path, str], tmp_path: Path) -> None:
    path = tmp_path / "_build_info.json"
    written = write_build_info(path, repo_dir=git_repo[0], environ={})
    assert read_build_info(path, environ={"DENTAL_GIT_COMMIT": "env-loses"}) == written


def test_read_without_a_file_uses_the_environment(tmp_path: Path) -> None:
    env = {"DENTAL_GIT_COMMIT": "abc123", "DENTAL_BUILD_TIME": "2026-01-01T00:00:00+00:00"}
    assert read_build_info(tmp_path / "missing.json", environ=env) == BuildInfo(
        version=__version__, commit="abc123", build_time="2026-01-01T00:00:00+00:00"
    )


def test_read_with_nothing_known_says_unknown(tmp_path: Path) -> None:
    corrupt = tmp_path / "_build_info.json"
    corrupt.write_text("{not json")
    assert read_build_info(corrupt, environ={}) == BuildInfo(
        version=__version__, commit="unknown", build_time="unknown"
    )


def test_read_reports_the_running_codes_version_even_from_a_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "_build_info.json"
    path.write_text(json.dumps({"version": "0.0.1", "commit": "old", "build_time": "then"}))
    assert read_build_info(path, environ={}).version == __version__


def test_runnable_as_a_module(tmp_path: Path) -> None:
    path = tmp_path / "_build_info.json"
    result = subprocess.run(
        [sys.executable, "-m", "serving.build_info", "--output", str(path)],
        env={"DENTAL_GIT_COMMIT": "m0dule", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    expected_commit = git_commit(REPO_DIR) or "m0dule"
    assert json.loads(path.read_text())["commit"] == expected_commit
    assert expected_commit in result.stdout
