#!/usr/bin/env python3
"""Commit on behalf of a human: the human is the author, the agent the committer.

    infra/git/agent-commit.py --human "Dana Levi <dana@clinic.example>" \\
        --agent "Alex agent <agent@clinic.example>" --session-id 4f2c --task-id 6 \\
        -- -m "fix(scheduling): keep friday afternoon closed" -m "Why ..."

Every option can come from the environment instead (`DENTAL_HUMAN`, `DENTAL_AGENT`,
`DENTAL_SESSION_ID`, `DENTAL_TASK_ID`). Arguments after `--` go to `git commit` unchanged. The
script sets GIT_AUTHOR_NAME/EMAIL to the human and GIT_COMMITTER_NAME/EMAIL to the agent, and
adds the protocol's trailers with `git commit --trailer`, so the commit-msg hook sees them:

    Session-ID: 4f2c            (--session-trailer Manus-Session-ID for the work plan's name)
    Task-ID: 6
    Human-Initiator: Dana Levi <dana@clinic.example>

`git log --format='%an <%ae> | %cn <%ce>'` then shows who asked for a change and who made it.
Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Sequence

IDENTITY = re.compile(r"^\s*(?P<name>[^<>]*[^<>\s])\s*<(?P<email>[^<>\s]+@[^<>\s]+)>\s*$")


class UsageError(ValueError):
    """A missing or malformed option; the message says which."""


def parse_identity(value: str, what: str) -> tuple[str, str]:
    """`"Name <email>"` as (name, email)."""
    match = IDENTITY.match(value)
    if not match:
        raise UsageError(f"{what} must look like 'Name <name@example.org>', got {value!r}")
    return match.group("name"), match.group("email")


def single_line(value: str, what: str) -> str:
    value = value.strip()
    if not value or "\n" in value or "\r" in value:
        raise UsageError(f"{what} must be one non-empty line")
    return value


def commit_command(
    *, human: str, session_id: str, task_id: str, session_trailer: str, git_args: Sequence[str]
) -> list[str]:
    """The `git commit` command line with the protocol's trailers."""
    trailers = [
        f"{session_trailer}: {session_id}",
        f"Task-ID: {task_id}",
        f"Human-Initiator: {human}",
    ]
    command = ["git", "commit"]
    for trailer in trailers:
        command += ["--trailer", trailer]
    return command + list(git_args)


def commit_environment(
    human: tuple[str, str], agent: tuple[str, str], base: dict[str, str]
) -> dict[str, str]:
    """`base` with the author set to the human and the committer to the agent."""
    return {
        **base,
        "GIT_AUTHOR_NAME": human[0],
        "GIT_AUTHOR_EMAIL": human[1],
        "GIT_COMMITTER_NAME": agent[0],
        "GIT_COMMITTER_EMAIL": agent[1],
    }


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        description="git commit with the human as author, the agent as committer, and the "
        "protocol's trailers. Arguments after `--` go to git commit.",
    )
    parser.add_argument("--human", default=env.get("DENTAL_HUMAN"), help="'Name <email>'")
    parser.add_argument("--agent", default=env.get("DENTAL_AGENT"), help="'Name <email>'")
    parser.add_argument("--session-id", default=env.get("DENTAL_SESSION_ID"))
    parser.add_argument("--task-id", default=env.get("DENTAL_TASK_ID"))
    parser.add_argument(
        "--session-trailer",
        default="Session-ID",
        choices=("Session-ID", "Manus-Session-ID"),
        help="trailer name for the session (default Session-ID)",
    )
    parser.add_argument("git_args", nargs=argparse.REMAINDER, help="-- then git commit arguments")
    return parser


def main(argv: Sequence[str]) -> int:
    options = build_parser().parse_args(argv)
    try:
        for name, env_name in (
            ("human", "DENTAL_HUMAN"),
            ("agent", "DENTAL_AGENT"),
            ("session_id", "DENTAL_SESSION_ID"),
            ("task_id", "DENTAL_TASK_ID"),
        ):
            if not getattr(options, name):
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} (or {env_name}) is required")
        human = parse_identity(options.human, "--human")
        agent = parse_identity(options.agent, "--agent")
        session_id = single_line(options.session_id, "--session-id")
        task_id = single_line(options.task_id, "--task-id")
    except UsageError as exc:
        print(f"agent-commit: {exc}", file=sys.stderr)
        return 2
    git_args = options.git_args[1:] if options.git_args[:1] == ["--"] else options.git_args
    command = commit_command(
        human=f"{human[0]} <{human[1]}>",
        session_id=session_id,
        task_id=task_id,
        session_trailer=options.session_trailer,
        git_args=git_args,
    )
    environment = commit_environment(human, agent, dict(os.environ))
    return subprocess.run(command, env=environment, check=False).returncode  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
