"""Which build of the app is running: version, git commit and build time.

The commit is captured once, when the package is installed or the image is built
(`python -m serving.build_info`, called by the Makefile and the Dockerfile), and stored next to
the code in `serving/_build_info.json`. At runtime it is only read: containers ship without
`.git`, and shelling out to git on every start would report whatever checkout happens to be
around rather than the code that was built.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from serving import __version__

BUILD_INFO_PATH = Path(__file__).with_name("_build_info.json")
REPO_DIR = Path(__file__).resolve().parent.parent
UNKNOWN = "unknown"

COMMIT_ENV = "DENTAL_GIT_COMMIT"
BUILD_TIME_ENV = "DENTAL_BUILD_TIME"


@dataclass(frozen=True)
class BuildInfo:
    """The running build; fields that could not be determined are `"unknown"`."""

    version: str
    commit: str
    build_time: str


def git_commit(repo_dir: Path = REPO_DIR) -> str | None:
    """The commit checked out in `repo_dir`, or None without git, a commit, or when `repo_dir`
    is not the root of its own checkout (an installed copy inside some other repository must
    not report that repository's commit)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],  # noqa: S607 - git from PATH
            cwd=repo_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.splitlines()
    if len(lines) != 2 or Path(lines[0]).resolve() != repo_dir.resolve():
        return None
    return lines[1]


def write_build_info(
    path: Path | None = None,
    *,
    repo_dir: Path = REPO_DIR,
    environ: Mapping[str, str] | None = None,
) -> BuildInfo:
    """Record the build at install or image-build time and return what was written.

    The commit comes from git when the source is a checkout, else from `DENTAL_GIT_COMMIT`
    (the Dockerfile's build argument, since images are built without `.git`).
    """
    env = os.environ if environ is None else environ
    info = BuildInfo(
        version=__version__,
        commit=git_commit(repo_dir) or env.get(COMMIT_ENV) or UNKNOWN,
        build_time=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    target = BUILD_INFO_PATH if path is None else path
    target.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    return info


def read_build_info(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> BuildInfo:
    """The build recorded by `write_build_info`, falling back to the environment, then unknown.

    The version is always the imported code's own, so a stale file cannot misreport it.
    """
    env = os.environ if environ is None else environ
    recorded = _read_recorded(BUILD_INFO_PATH if path is None else path)
    return BuildInfo(
        version=__version__,
        commit=_known(recorded.get("commit")) or env.get(COMMIT_ENV) or UNKNOWN,
        build_time=_known(recorded.get("build_time")) or env.get(BUILD_TIME_ENV) or UNKNOWN,
    )


def _read_recorded(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _known(value: object) -> str | None:
    return value if isinstance(value, str) and value and value != UNKNOWN else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m serving.build_info",
        description="Record the git commit and build time of this install.",
    )
    parser.add_argument("--output", type=Path, default=BUILD_INFO_PATH, help="file to write")
    args = parser.parse_args(argv)
    info = write_build_info(args.output)
    print(f"{args.output}: version {info.version}, commit {info.commit}, built {info.build_time}")


if __name__ == "__main__":
    main()
