"""The DVC pipeline as a fresh clone meets it: `dvc repro` offline, `dvc metrics show`, and
the outputs pushed to an S3 remote (moto's server on a real port) and pulled into a clone
that has nothing but git.

DVC runs as a subprocess in throwaway copies of this working tree, never in it. Outbound HTTP
goes through a proxy on a closed port, so anything that tried the network would fail; the S3
stand-in is on 127.0.0.1, which bypasses the proxy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from tests.aws_stand_in import REGION, moto_server_fixture  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUCKET = "dvc-stand-in"


def _run(
    command: list[str], cwd: Path, env: dict[str, str], *, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def fresh_clone(destination: Path) -> Path:
    """What a `git clone` of this working tree would hold: tracked and new files that are not
    ignored (no DVC cache, no var/, no pipeline outputs), committed in a new repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git(destination, "init", "-q")
    _git(destination, "add", "-A")
    _git(destination, "commit", "-q", "-m", "fresh clone")
    return destination


def _git(cwd: Path, *arguments: str) -> None:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", *identity, *arguments], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def dvc_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """DVC and the project's Python first on PATH; no analytics, no user or site config, no
    network but 127.0.0.1; dummy AWS credentials that reach nothing but the stand-in."""
    home = tmp_path_factory.mktemp("dvc-home")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "DVC_", "OPENAI_", "MLFLOW_", "LLM_"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        DVC_NO_ANALYTICS="1",
        DVC_GLOBAL_CONFIG_DIR=str(home / "global"),
        DVC_SYSTEM_CONFIG_DIR=str(home / "system"),
        DVC_SITE_CACHE_DIR=str(home / "site-cache"),
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        HF_HUB_OFFLINE="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
    )
    return env


@pytest.fixture(scope="module")
def reproduced(
    tmp_path_factory: pytest.TempPathFactory, dvc_env: dict[str, str]
) -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    """A fresh clone after `dvc repro`, on a slice of the sets and one architecture (CI time);
    the full pipeline is the same command with params.yaml as committed."""
    clone = fresh_clone(tmp_path_factory.mktemp("clone"))
    params = yaml.safe_load((clone / "params.yaml").read_text(encoding="utf-8"))
    params["evaluate"].update(architectures=["alex"], sample_every=12)
    (clone / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    assert not (clone / ".dvc" / "cache").exists()
    yield clone, _run([str(BIN / "dvc"), "repro"], clone, dvc_env)


def test_repro_runs_offline_on_a_fresh_clone(
    reproduced: tuple[Path, subprocess.CompletedProcess[str]], dvc_env: dict[str, str]
) -> None:
    clone, repro = reproduced
    assert "Running stage 'prepare'" in repro.stdout
    assert "Running stage 'evaluate@alex'" in repro.stdout
    assert "Running stage 'training_data'" in repro.stdout
    training = json.loads((clone / "data/training/manifest.json").read_text(encoding="utf-8"))
    triage = (clone / "data/training/triage.jsonl").read_bytes()
    assert training["files"]["triage.jsonl"]["sha256"] == hashlib.sha256(triage).hexdigest()
    assert training["origins"] >= 200  # every dev message, with its paraphrases
    manifest = json.loads((clone / "data/prepared/manifest.json").read_text(encoding="utf-8"))
    assert manifest["scenarios.jsonl"]["rows"] >= 12
    assert "<img" in (clone / "data/results/alex/report.html").read_text(encoding="utf-8")
    metrics = json.loads((clone / "data/results/alex/metrics.json").read_text(encoding="utf-8"))
    assert metrics["dev.emergency_recall"] == 1.0
    # The frozen held-out set is measured per language, and reported, never asserted here.
    for name in ("heldout.en.emergency_recall", "heldout.he.intent_accuracy", "gates.failed"):
        assert name in metrics, name
    lock = yaml.safe_load((clone / "dvc.lock").read_text(encoding="utf-8"))
    held = {
        d["path"]: d["md5"]
        for d in lock["stages"]["evaluate@alex"]["deps"]
        if d["path"].startswith("data/heldout/")
    }
    assert set(held) == {"data/heldout/messages.jsonl", "data/heldout/booking_requests.jsonl"}
    assert all(held.values())
    assert "booking.heldout.satisfaction" in metrics

    shown = _run([str(BIN / "dvc"), "metrics", "show"], clone, dvc_env).stdout
    assert "data/results/alex/metrics.json" in shown
    assert "heldout.emergency_recall" in shown
    assert "scenarios.task_success" in shown


def test_outputs_go_to_s3_and_come_back_into_another_clone(
    reproduced: tuple[Path, subprocess.CompletedProcess[str]],
    dvc_env: dict[str, str],
    moto_server: str,
    tmp_path: Path,
) -> None:
    clone, _ = reproduced
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})

    # The committed `s3` remote, pointed at the stand-in by this machine's .dvc/config.local.
    dvc = str(BIN / "dvc")
    _run([dvc, "remote", "modify", "--local", "s3", "url", f"s3://{BUCKET}/store"], clone, dvc_env)
    _run([dvc, "remote", "modify", "--local", "s3", "endpointurl", moto_server], clone, dvc_env)
    _run([dvc, "push", "-r", "s3"], clone, dvc_env)
    stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="store/")
    assert stored["KeyCount"] > 0

    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", "reproduced")
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(clone), str(other)], check=True)
    assert not (other / "data/prepared").exists()
    shutil.copy2(clone / ".dvc/config.local", other / ".dvc/config.local")  # not in git
    _run([dvc, "pull", "-r", "s3"], other, dvc_env)

    for output in (
        "data/prepared/scenarios.jsonl",
        "data/prepared/manifest.json",
        "data/training/triage.jsonl",
        "data/results/alex/report.html",
        "data/results/alex/failures.json",
    ):
        assert (other / output).read_bytes() == (clone / output).read_bytes(), output
    assert "up to date" in _run([dvc, "status"], other, dvc_env).stdout


def test_the_default_remote_is_a_local_directory(
    reproduced: tuple[Path, subprocess.CompletedProcess[str]], dvc_env: dict[str, str]
) -> None:
    clone, _ = reproduced
    _run([str(BIN / "dvc"), "push"], clone, dvc_env)
    remote = clone / "var" / "dvc-remote"
    assert any(path.is_file() for path in remote.rglob("*"))
