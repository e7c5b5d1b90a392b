"""The `release` part of a set: an installable wheel of the app that made it, and its lock files.

A recovery on a new machine needs the software before it can run `dental backup restore`, and
no package index publishes this app. So each set carries `release.tar`: `release/<wheel>` built
from the running app's source with `pip wheel --no-deps`, and `release/requirements/*.lock`,
the exact dependency versions. The runbook decrypts it with the `age` command line and
installs from it (docs/RECOVERY_RUNBOOK.md, step 2).

The wheel is built from a copy of the source (pyproject.toml, README.md and the packages it
names), so the live checkout gets no build/ or *.egg-info, and without build isolation, so a
backup never needs a package index.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

from serving.backup.errors import CollectionFailed

logger = logging.getLogger(__name__)

PART_NAME = "release.tar"
PART_KIND = "release"
APP_SOURCE = Path(__file__).resolve().parents[2]
"""Where the running app's pyproject.toml is, when it runs from a source checkout."""
WHEEL_TIMEOUT_SECONDS = 600


def source_packages(source: Path) -> list[str]:
    """The top-level packages pyproject.toml's `[tool.setuptools.packages.find]` includes."""
    try:
        with (source / "pyproject.toml").open("rb") as stream:
            patterns = tomllib.load(stream)["tool"]["setuptools"]["packages"]["find"]["include"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError):
        raise CollectionFailed(
            f"{source / 'pyproject.toml'} names no packages ([tool.setuptools.packages.find])"
        ) from None
    return sorted({str(pattern).split(".")[0].rstrip("*") for pattern in patterns})


def build_wheel(source: Path, staging: Path, output: Path) -> Path:
    """`pip wheel --no-deps` of a copy of `source` in `staging`; the wheel, in `output`."""
    copy = staging / "source"
    copy.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(source / name, copy / name)
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in source_packages(source):
        shutil.copytree(source / package, copy / package, ignore=ignored)
    output.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    command += ["--no-index", "--quiet", "--wheel-dir", str(output), str(copy)]
    try:
        result = subprocess.run(  # noqa: S603 - fixed command, arguments are paths
            command,
            capture_output=True,
            text=True,
            timeout=WHEEL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CollectionFailed(f"cannot build the app's wheel: {type(exc).__name__}") from None
    if result.returncode != 0:
        raise CollectionFailed(
            f"pip wheel failed for {source}: {_pip_reason(result.stderr, result.returncode)} "
            "(`pip wheel --no-deps --no-build-isolation .` there shows the details)"
        )
    shutil.rmtree(copy)
    wheels = sorted(output.glob("*.whl"))
    if len(wheels) != 1:
        raise CollectionFailed(f"pip wheel made {len(wheels)} wheels in {output}, expected one")
    return wheels[0]


def _pip_reason(stderr: str, returncode: int) -> str:
    """pip's own one-line verdict: its `ERROR:` line, else the `×` summary of a failed build."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in ("ERROR:", "×"):
        found = next((line for line in lines if line.startswith(marker)), None)
        if found is not None:
            return found.removeprefix(marker).strip()
    return lines[-1] if lines else f"exit {returncode}"


def collect_release(target: Path, source: Path = APP_SOURCE) -> tuple[Path | None, str | None]:
    """`release.tar` at `target`, or None and why not.

    A release that cannot be built is left out of the set, with the reason in its manifest
    (`skipped`), rather than costing the clinic that night's database snapshot.
    """
    if not (source / "pyproject.toml").is_file():
        return None, f"the app does not run from a source checkout ({source})"
    try:
        return release_archive(target, source), None
    except (CollectionFailed, OSError) as exc:
        why = str(exc) if isinstance(exc, CollectionFailed) else f"cannot copy the source ({exc})"
        logger.warning("the set will hold no release: %s", why)
        return None, why


def release_archive(target: Path, source: Path) -> Path:
    """`release.tar` of the app's wheel and lock files, built from `source`."""
    staging = target.with_suffix(".d")
    release = staging / "release"
    try:
        build_wheel(source, staging, release)
        locks = sorted((source / "requirements").glob("*.lock"))
        if not locks:
            raise CollectionFailed(f"no lock files in {source / 'requirements'}")
        (release / "requirements").mkdir()
        for lock in locks:
            shutil.copy2(lock, release / "requirements" / lock.name)
        with tarfile.open(target, "w") as archive:
            archive.add(release, arcname="release")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
