"""The commit protocol: infra/git/hooks/commit-msg and infra/git/agent-commit.py.

Every check runs a real `git commit` in a temporary repository with the hook installed the way
`make hooks` installs it; this repository's own git configuration is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / "infra" / "git" / "hooks"
AGENT_COMMIT = ROOT / "infra" / "git" / "agent-commit.py"

GOOD = """\
fix(scheduling): keep friday afternoon closed

Patients were offered 14:00 on Fridays although the clinic closes at
13:00; slot search now reads the clinic's Friday hours.

Session-ID: 7f3a2c
Task-ID: 6
Human-Initiator: Dana Levi
"""


@dataclass
class Repo:
    path: Path

    def git(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )

    def commit(self, message: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """Commit a change with `message` (through a file, as an editor would leave it)."""
        change = self.path / "change.txt"
        previous = change.read_text(encoding="utf-8") if change.exists() else ""
        change.write_text(previous + "x\n", encoding="utf-8")
        self.git("add", "change.txt")
        message_file = self.path.parent / "message.txt"
        message_file.write_text(message, encoding="utf-8")
        return self.git("commit", "--file", str(message_file), *extra)

    def head_message(self) -> str:
        return self.git("log", "-1", "--format=%B").stdout.strip()

    def count(self) -> int:
        result = self.git("rev-list", "--count", "HEAD")
        return int(result.stdout) if result.returncode == 0 else 0


def _clean_git_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No global git configuration, identity or trailer setting of this machine leaks in."""
    for name in list(os.environ):
        if name.startswith("GIT_") or name.startswith("DENTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))


def _new_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A repository laid out like this one: the template, the hooks and the Makefile."""
    _clean_git_environment(monkeypatch, tmp_path)
    path = tmp_path / "repo"
    path.mkdir()
    repo = Repo(path)
    repo.git("init", "--quiet", "--initial-branch=main")
    repo.git("config", "user.name", "Test Human")
    repo.git("config", "user.email", "human@clinic.example")
    shutil.copy(ROOT / ".gitmessage", path / ".gitmessage")
    shutil.copy(ROOT / "Makefile", path / "Makefile")
    shutil.copytree(HOOKS, path / "infra" / "git" / "hooks")
    return repo


@pytest.fixture
def bare_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """The repository before `make hooks`."""
    return _new_repository(tmp_path, monkeypatch)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """The repository after `make hooks`."""
    repo = _new_repository(tmp_path, monkeypatch)
    result = subprocess.run(
        ["make", "--no-print-directory", "hooks"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return repo


def test_make_hooks_installs_the_hook_and_the_template(bare_repo: Repo) -> None:
    assert bare_repo.commit("no protocol at all\n").returncode == 0  # nothing installed yet

    subprocess.run(["make", "hooks"], cwd=bare_repo.path, capture_output=True, check=True)

    assert bare_repo.git("config", "core.hooksPath").stdout.strip() == "infra/git/hooks"
    assert bare_repo.git("config", "commit.template").stdout.strip() == ".gitmessage"
    rejected = bare_repo.commit("no protocol at all\n")
    assert rejected.returncode != 0
    assert "commit rejected" in rejected.stderr


def test_a_good_message_is_accepted_as_written(repo: Repo) -> None:
    result = repo.commit(GOOD)

    assert result.returncode == 0, result.stderr
    assert repo.head_message() == GOOD.strip()


def _commit_in_editor(repo: Repo, written: str) -> subprocess.CompletedProcess[str]:
    """`git commit --verbose` where the "editor" replaces the buffer with `written`."""
    (repo.path / "change.txt").write_text("edited\n", encoding="utf-8")
    repo.git("add", "change.txt")
    edited = repo.path.parent / "edited.txt"
    edited.write_text(written, encoding="utf-8")
    env = {**os.environ, "GIT_EDITOR": f"cp {edited}"}
    return repo.git("commit", "--verbose", env=env)


def test_template_comments_and_the_verbose_diff_are_ignored(repo: Repo) -> None:
    template = (repo.path / ".gitmessage").read_text(encoding="utf-8")
    scissors = "# ------------------------ >8 ------------------------\ndiff --git a/x b/x\n"

    result = _commit_in_editor(repo, GOOD + "\n" + template + scissors + "Task-ID:\n")

    assert result.returncode == 0, result.stderr
    assert repo.head_message() == GOOD.strip()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            GOOD.replace("fix(scheduling): ", "Fix scheduling: "),
            "does not match '<type>(<scope>): <subject>'",
            id="no-type-scope",
        ),
        pytest.param(
            GOOD.replace("fix(scheduling)", "fix"),
            "does not match '<type>(<scope>): <subject>'",
            id="no-scope",
        ),
        pytest.param(
            GOOD.replace("fix(", "hotfix("),
            "type 'hotfix' is not one of: build chore ci docs feat fix perf refactor revert test",
            id="unknown-type",
        ),
        pytest.param(
            GOOD.replace("(scheduling)", "(billing)"),
            "scope 'billing' is not one of:",
            id="unknown-scope",
        ),
        pytest.param(
            GOOD.replace(
                "closed\n", "closed for the rest of the afternoon and on every holiday eve\n", 1
            ),
            "the first line is 100 characters; keep it to 72",
            id="subject-too-long",
        ),
        pytest.param(
            GOOD.replace("closed\n", "closed.\n", 1),
            "the first line ends with a period",
            id="trailing-period",
        ),
        pytest.param(
            GOOD.replace(
                "fix(scheduling): keep friday afternoon closed\n\n", "fix(scheduling): \n\n"
            ),
            "the subject after '<type>(<scope>): ' is empty",
            id="empty-subject",
        ),
        pytest.param(
            GOOD.replace("closed\n\n", "closed\n", 1),
            "leave one blank line between the first line and the body",
            id="no-blank-line",
        ),
        pytest.param(
            "fix(scheduling): keep friday afternoon closed\n\n"
            "Session-ID: 7f3a2c\nTask-ID: 6\nHuman-Initiator: Dana Levi\n",
            "the body is missing",
            id="no-body",
        ),
        pytest.param(
            GOOD.replace("Session-ID: 7f3a2c\n", ""),
            "trailer 'Session-ID:' or 'Manus-Session-ID:' is missing",
            id="no-session",
        ),
        pytest.param(
            GOOD.replace("Task-ID: 6\n", ""),
            "trailer 'Task-ID:' is missing",
            id="no-task",
        ),
        pytest.param(
            GOOD.replace("Human-Initiator: Dana Levi\n", ""),
            "trailer 'Human-Initiator:' is missing",
            id="no-initiator",
        ),
        pytest.param(
            GOOD.replace("Task-ID: 6", "Task-ID:"),
            "trailer 'Task-ID:' has an empty value",
            id="empty-trailer",
        ),
        pytest.param(
            # Trailers must be the last paragraph; in the middle of the body they are prose.
            GOOD.replace("Human-Initiator: Dana Levi\n", "Human-Initiator: Dana Levi\n\nMore.\n"),
            "trailer 'Session-ID:' or 'Manus-Session-ID:' is missing",
            id="trailers-not-last",
        ),
        pytest.param("# only comments\n\n", "the message is empty", id="empty"),
    ],
)
def test_a_bad_message_is_rejected_with_its_reason(repo: Repo, message: str, expected: str) -> None:
    repo.commit(GOOD)

    result = repo.commit(message)

    assert result.returncode != 0
    assert expected in result.stderr
    assert "commit rejected" in result.stderr
    assert "docs/GIT_PROTOCOL.md" in result.stderr
    assert repo.count() == 1  # nothing was committed


def test_every_problem_is_reported_at_once(repo: Repo) -> None:
    result = repo.commit("Update stuff.\n")

    assert result.returncode != 0
    for expected in ("does not match", "ends with a period", "body is missing", "'Task-ID:'"):
        assert expected in result.stderr
    assert repo.count() == 0


def test_a_first_line_of_exactly_72_characters_is_accepted(repo: Repo) -> None:
    subject = "fix(scheduling): " + "k" * (72 - len("fix(scheduling): "))

    result = repo.commit(GOOD.replace("fix(scheduling): keep friday afternoon closed", subject))

    assert result.returncode == 0, result.stderr


def test_the_work_plans_manus_session_id_counts_as_the_session(repo: Repo) -> None:
    result = repo.commit(GOOD.replace("Session-ID:", "Manus-Session-ID:"))

    assert result.returncode == 0, result.stderr


def test_trailer_names_come_from_git_config(repo: Repo) -> None:
    repo.git("config", "dental.trailers", "Session-ID,Reviewed-by")

    rejected = repo.commit(GOOD)
    accepted = repo.commit(GOOD.replace("Task-ID: 6", "Reviewed-by: Dr. Cohen"))

    assert rejected.returncode != 0
    assert "trailer 'Reviewed-by:' is missing" in rejected.stderr
    assert "Task-ID" not in rejected.stderr
    assert accepted.returncode == 0, accepted.stderr


def test_trailer_names_from_the_environment_win_over_git_config(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.git("config", "dental.trailers", "Reviewed-by")
    monkeypatch.setenv("DENTAL_COMMIT_TRAILERS", "Task-ID")

    assert repo.commit(GOOD).returncode == 0


def test_types_and_scopes_are_the_templates_lists(repo: Repo) -> None:
    template = repo.path / ".gitmessage"
    text = template.read_text(encoding="utf-8")
    template.write_text(text.replace("# scope: ", "# scope: billing "), encoding="utf-8")

    assert repo.commit(GOOD.replace("(scheduling)", "(billing)")).returncode == 0


def test_a_missing_template_is_a_clear_error(repo: Repo) -> None:
    (repo.path / ".gitmessage").unlink()

    result = repo.commit(GOOD)

    assert result.returncode != 0
    assert "commit template" in result.stderr
    assert "is missing" in result.stderr


def test_breaking_change_marker_is_accepted(repo: Repo) -> None:
    assert repo.commit(GOOD.replace("fix(scheduling):", "fix(scheduling)!:")).returncode == 0


def test_merge_and_autosquash_messages_pass(repo: Repo) -> None:
    assert repo.commit(GOOD).returncode == 0
    repo.git("checkout", "--quiet", "-b", "topic")
    assert repo.commit("fixup! fix(scheduling): keep friday afternoon closed\n").returncode == 0
    repo.git("checkout", "--quiet", "main")
    assert repo.commit(GOOD.replace("closed", "open")).returncode == 0

    merged = repo.git("merge", "--no-ff", "--no-edit", "topic")

    assert merged.returncode == 0, merged.stderr
    assert repo.head_message().startswith("Merge branch 'topic'")


def test_a_revert_keeps_gits_subject_but_needs_a_body_and_trailers(repo: Repo) -> None:
    assert repo.commit(GOOD).returncode == 0
    head = repo.git("rev-parse", "HEAD").stdout.strip()
    subject = 'Revert "fix(scheduling): keep friday afternoon closed"\n\n'
    body = f"This reverts commit {head}: the clinic reopened on Friday afternoons.\n\n"
    trailers = "Session-ID: 7f3a2c\nTask-ID: 6\nHuman-Initiator: Dana Levi\n"
    repo.git("revert", "--no-commit", "HEAD")

    plain = repo.git("commit", "--message", subject + body)
    accepted = repo.git("commit", "--message", subject + body + trailers)

    assert plain.returncode != 0
    assert "trailer 'Task-ID:' is missing" in plain.stderr
    assert "does not match" not in plain.stderr
    assert accepted.returncode == 0, accepted.stderr


# --- agent-commit.py: the human authors, the agent commits --------------------------------------


def _agent_commit(
    repo: Repo, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (repo.path / "agent.txt").write_text("z\n", encoding="utf-8")
    repo.git("add", "agent.txt")
    return subprocess.run(
        [sys.executable, str(AGENT_COMMIT), *args],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


COMMIT_ARGS = (
    "--",
    "--quiet",
    "-m",
    "feat(git): record who asked for a change",
    "-m",
    "The audit trail names the human initiator and the agent separately.",
)


def test_agent_commit_sets_author_committer_and_trailers(repo: Repo) -> None:
    result = _agent_commit(
        repo,
        "--human",
        "Dana Levi <dana@clinic.example>",
        "--agent",
        "Alex agent <agent@clinic.example>",
        "--session-id",
        "7f3a2c",
        "--task-id",
        "6",
        *COMMIT_ARGS,
    )

    assert result.returncode == 0, result.stderr  # and the hook accepted it
    identities = repo.git("log", "-1", "--format=%an <%ae>|%cn <%ce>").stdout.strip()
    assert identities == "Dana Levi <dana@clinic.example>|Alex agent <agent@clinic.example>"
    trailers = repo.git("log", "-1", "--format=%(trailers:only,unfold)").stdout.strip()
    assert trailers.splitlines() == [
        "Session-ID: 7f3a2c",
        "Task-ID: 6",
        "Human-Initiator: Dana Levi <dana@clinic.example>",
    ]


def test_agent_commit_reads_the_environment_and_the_manus_trailer_name(repo: Repo) -> None:
    env = {
        **os.environ,
        "DENTAL_HUMAN": "Dana Levi <dana@clinic.example>",
        "DENTAL_AGENT": "Alex agent <agent@clinic.example>",
        "DENTAL_SESSION_ID": "manus-42",
        "DENTAL_TASK_ID": "6",
    }

    result = _agent_commit(repo, "--session-trailer", "Manus-Session-ID", *COMMIT_ARGS, env=env)

    assert result.returncode == 0, result.stderr
    assert "Manus-Session-ID: manus-42" in repo.head_message()
    assert repo.git("log", "-1", "--format=%cn").stdout.strip() == "Alex agent"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--agent", "A <a@x.example>", "--session-id", "s", "--task-id", "6"),
            "--human (or DENTAL_HUMAN) is required",
        ),
        (
            (
                "--human",
                "Dana",
                "--agent",
                "A <a@x.example>",
                "--session-id",
                "s",
                "--task-id",
                "6",
            ),
            "--human must look like 'Name <name@example.org>'",
        ),
        (
            (
                "--human",
                "D <d@x.example>",
                "--agent",
                "A <a@x.example>",
                "--session-id",
                " ",
                "--task-id",
                "6",
            ),
            "--session-id must be one non-empty line",
        ),
    ],
)
def test_agent_commit_refuses_bad_options_and_commits_nothing(
    repo: Repo, args: tuple[str, ...], expected: str
) -> None:
    result = _agent_commit(repo, *args, *COMMIT_ARGS)

    assert result.returncode == 2
    assert expected in result.stderr
    assert repo.count() == 0
