"""The held-out sets are frozen: the messages and the booking requests. Each file's md5 is
recorded in dvc.lock (a dependency of every evaluation), and the file must still be what was
recorded. Editing one fails CI until the freeze is deliberately re-recorded (`dvc repro` or
`dvc commit`; data/heldout/README.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.datasets import HELDOUT, HELDOUT_BOOKINGS

ROOT = Path(__file__).resolve().parents[1]
FROZEN = {HELDOUT: "--heldout", HELDOUT_BOOKINGS: "--heldout-bookings"}
"""Each frozen file and the option every evaluation reads it with."""


def recorded_md5s(lock: dict[str, Any], path: str) -> dict[str, str]:
    """The md5 each dvc.lock stage recorded for its dependency `path`, by stage."""
    return {
        stage: dep["md5"]
        for stage, spec in lock["stages"].items()
        for dep in spec.get("deps", [])
        if dep["path"] == path
    }


def freeze_problems(root: Path, frozen: Path = HELDOUT) -> list[str]:
    """Why `root`'s held-out file `frozen` is not the frozen one; empty when it is."""
    lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    recorded = recorded_md5s(lock, frozen.as_posix())
    if not recorded:
        return [f"dvc.lock records no md5 for {frozen}: run `dvc repro` and commit dvc.lock"]
    actual = hashlib.md5((root / frozen).read_bytes()).hexdigest()  # noqa: S324 (DVC's hash)
    return [
        f"{frozen} is not the frozen set: md5 {actual}, dvc.lock {stage} recorded {md5}"
        for stage, md5 in sorted(recorded.items())
        if md5 != actual
    ]


@pytest.mark.parametrize("frozen", list(FROZEN), ids=lambda path: path.name)
def test_every_evaluation_depends_on_the_held_out_file(frozen: Path) -> None:
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    evaluate = pipeline["stages"]["evaluate"]["do"]
    assert frozen.as_posix() in evaluate["deps"]
    assert f"{FROZEN[frozen]} {frozen.as_posix()}" in evaluate["cmd"]
    assert frozen.as_posix() in pipeline["stages"]["prepare"]["deps"]


@pytest.mark.parametrize("frozen", list(FROZEN), ids=lambda path: path.name)
def test_the_held_out_file_is_the_one_frozen_in_dvc_lock(frozen: Path) -> None:
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))
    assert "prepare" in recorded_md5s(lock, frozen.as_posix())  # the freeze itself
    assert freeze_problems(ROOT, frozen) == []


@pytest.mark.parametrize("frozen", list(FROZEN), ids=lambda path: path.name)
def test_an_edited_held_out_file_breaks_the_freeze(tmp_path: Path, frozen: Path) -> None:
    (tmp_path / frozen).parent.mkdir(parents=True)
    original = b'{"id": "h-en-001", "text": "..."}\n'
    (tmp_path / frozen).write_bytes(original)
    md5 = hashlib.md5(original).hexdigest()  # noqa: S324
    lock = {
        "schema": "2.0",
        "stages": {
            stage: {"deps": [{"path": frozen.as_posix(), "hash": "md5", "md5": md5}]}
            for stage in ("evaluate@alex", "evaluate@team")
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")
    assert freeze_problems(tmp_path, frozen) == []

    (tmp_path / frozen).write_bytes(original.replace(b"...", b"...."))
    edited = hashlib.md5((tmp_path / frozen).read_bytes()).hexdigest()  # noqa: S324
    assert freeze_problems(tmp_path, frozen) == [
        f"{frozen} is not the frozen set: md5 {edited}, dvc.lock {stage} recorded {md5}"
        for stage in ("evaluate@alex", "evaluate@team")
    ]
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"stages": {}}), encoding="utf-8")
    assert freeze_problems(tmp_path, frozen) == [
        f"dvc.lock records no md5 for {frozen}: run `dvc repro` and commit dvc.lock"
    ]
