"""A stand-in for the AWS command line's `aws s3 cp s3://bucket/key destination`, the one call
the recovery runbook makes before the app is installed. It downloads through boto3 from
`AWS_ENDPOINT_URL` (the moto server of tests/aws_stand_in.py), so the runbook's own shell block
runs unchanged in a test. `install(directory)` puts an `aws` executable there for PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3


def copy_from_s3(source: str, destination: str) -> None:
    bucket, _, key = source.removeprefix("s3://").partition("/")
    target = Path(destination)
    if target.is_dir() or destination.endswith("/"):
        target = target / key.rsplit("/", 1)[-1]
    boto3.session.Session().client("s3").download_file(bucket, key, str(target))
    print(f"download: {source} to {target}")


def main(arguments: list[str]) -> int:
    if len(arguments) != 4 or arguments[:2] != ["s3", "cp"] or not arguments[2].startswith("s3:"):
        print(f"aws stand-in: only `aws s3 cp s3://... DEST`, not {arguments}", file=sys.stderr)
        return 2
    copy_from_s3(arguments[2], arguments[3])
    return 0


def install(directory: Path) -> Path:
    """An `aws` executable in `directory` that runs this stand-in with this Python."""
    directory.mkdir(parents=True, exist_ok=True)
    executable = directory / "aws"
    executable.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n',
        encoding="utf-8",
    )
    executable.chmod(0o755)
    return executable


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
