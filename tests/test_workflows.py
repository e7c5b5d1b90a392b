"""The GitHub workflows agree with the code they run and with infra/terraform.

zizmor (`make infra-check`) lints them for security; these tests catch drift: a renamed CLI
command or option, a renamed setting, an unpinned action, a secret value pasted into a file, or a
workflow whose OIDC subject the BackupWriterRole no longer trusts.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from serving.cli import app
from serving.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
BACKUP = WORKFLOWS / "backup.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda path: path.name)
def test_every_action_is_pinned_to_a_commit_with_its_version_noted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for step in steps(load(path)):
        if "uses" not in step:
            continue
        assert PINNED.match(step["uses"]), f"{path.name}: {step['uses']} is not pinned by SHA"
        line = next(line for line in text.splitlines() if step["uses"] in line)
        assert re.search(r"# v\d", line), f"{path.name}: say which version {step['uses']} is"


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda path: path.name)
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    for step in steps(load(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_backup_runs_on_every_push_to_main_with_full_history() -> None:
    workflow = load(BACKUP)
    on: dict[str, Any] = workflow[True]  # type: ignore[index] # YAML 1.1 reads `on` as true

    assert on["push"]["branches"] == ["main"]
    checkout = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_backup_has_least_privilege_and_no_secret_values() -> None:
    workflow = load(BACKUP)
    (job,) = workflow["jobs"].values()

    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    used = set(re.findall(r"secrets\.([A-Z0-9_]+)", BACKUP.read_text(encoding="utf-8")))
    assert used == {"AWS_ROLE_ARN", "BACKUP_AGE_RECIPIENT", "MANUS_API_TOKEN"}
    for step in steps(workflow):
        for name, value in {**step.get("env", {}), **step.get("with", {})}.items():
            if re.search(r"TOKEN|SECRET|RECIPIENT|PASSWORD|KEY|role-to-assume", name):
                assert EXPRESSION.fullmatch(str(value)), f"{name} must come from a secret"


def test_backup_environment_variables_are_settings_the_app_reads() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    run_step = next(s for s in steps(load(BACKUP)) if "backup create" in s.get("run", ""))

    for name in run_step["env"]:
        assert name in fields, f"{name} is not a setting: the backup would silently ignore it"


def _command_lines(workflow: dict[str, Any]) -> list[list[str]]:
    lines = []
    for step in steps(workflow):
        for line in step.get("run", "").splitlines():
            match = re.search(r"\.venv/bin/dental ([^)\"]*)", line)
            if match:
                lines.append(shlex.split(match.group(1)))
    return lines


def _resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The CLI command `words` name, and the words left over (its options)."""
    command: Any = typer.main.get_command(app)
    rest = list(words)
    while rest and not rest[0].startswith("-") and getattr(command, "commands", None):
        assert rest[0] in command.commands, f"`dental {' '.join(words)}`: no command {rest[0]!r}"
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def test_backup_calls_dental_commands_and_options_that_exist() -> None:
    lines = _command_lines(load(BACKUP))

    assert ["backup", "create", "--no-database", "--no-dvc"] in lines
    for words in lines:
        command, options = _resolve(words)
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for option in options:
            assert option.split("=")[0] in known, f"`dental {' '.join(words)}`: no {option}"


def test_backup_writer_role_trusts_the_workflows_environment() -> None:
    (job,) = load(BACKUP)["jobs"].values()
    iam = (ROOT / "infra" / "terraform" / "iam.tf").read_text(encoding="utf-8")

    subject = f'"repo:${{var.github_repository}}:environment:{job["environment"]}"'
    assert subject in iam
