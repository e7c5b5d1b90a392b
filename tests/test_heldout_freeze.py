"""The held-out set is frozen: its md5 is recorded in dvc.lock (a dependency of every
evaluation), and the file must still be what was recorded. Editing it fails CI until the
freeze is deliberately re-recorded (`dvc repro` or `dvc commit`; data/heldout/README.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from evals.datasets import HELDOUT

ROOT = Path(__file__).resolve().parents[1]


def recorded_md5s(lock: dict[str, Any], path: str) -> dict[str, str]:
    """The md5 each dvc.lock stage recorded for its dependency `path`, by stage."""
    return {
        stage: dep["md5"]
        for stage, spec in lock["stages"].items()
        for dep in spec.get("deps", [])
        if dep["path"] == path
    }


def freeze_problems(root: Path) -> list[str]:
    """Why `root`'s held-out file is not the frozen one; empty when it is."""
    lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    recorded = recorded_md5s(lock, HELDOUT.as_posix())
    if not recorded:
        return [f"dvc.lock records no md5 for {HELDOUT}: run `dvc repro` and commit dvc.lock"]
    actual = hashlib.md5((root / HELDOUT).read_bytes()).hexdigest()  # noqa: S324 (DVC's hash)
    return [
        f"{HELDOUT} is not the frozen set: md5 {actual}, dvc.lock {stage} recorded {md5}"
        for stage, md5 in sorted(recorded.items())
        if md5 != actual
    ]


def test_every_evaluation_depends_on_the_held_out_file() -> None:
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    evaluate = pipeline["stages"]["evaluate"]["do"]
    assert HELDOUT.as_posix() in evaluate["deps"]
    assert f"--heldout {HELDOUT.as_posix()}" in evaluate["cmd"]


def test_the_held_out_file_is_the_one_frozen_in_dvc_lock() -> None:
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))
    assert "prepare" in recorded_md5s(lock, HELDOUT.as_posix())  # the freeze itself
    assert freeze_problems(ROOT) == []


def test_an_edited_held_out_file_breaks_the_freeze(tmp_path: Path) -> None:
    (tmp_path / HELDOUT).parent.mkdir(parents=True)
    original = b'{"id": "h-en-001", "text": "..."}\n'
    (tmp_path / HELDOUT).write_bytes(original)
    md5 = hashlib.md5(original).hexdigest()  # noqa: S324
    lock = {
        "schema": "2.0",
        "stages": {
            stage: {"deps": [{"path": HELDOUT.as_posix(), "hash": "md5", "md5": md5}]}
            for stage in ("evaluate@alex", "evaluate@team")
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")
    assert freeze_problems(tmp_path) == []

    (tmp_path / HELDOUT).write_bytes(original.replace(b"...", b"...."))
    edited = hashlib.md5((tmp_path / HELDOUT).read_bytes()).hexdigest()  # noqa: S324
    assert freeze_problems(tmp_path) == [
        f"{HELDOUT} is not the frozen set: md5 {edited}, dvc.lock {stage} recorded {md5}"
        for stage in ("evaluate@alex", "evaluate@team")
    ]
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"stages": {}}), encoding="utf-8")
    assert freeze_problems(tmp_path) == [
        f"dvc.lock records no md5 for {HELDOUT}: run `dvc repro` and commit dvc.lock"
    ]
