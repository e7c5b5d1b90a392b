#!/usr/bin/env python3
"""Run checkov over infra/terraform offline and fail on anything but a clean, complete scan.

checkov exits 0 when a file does not parse (the file is simply not scanned) and when it finds
nothing to scan, so its exit code alone could pass a broken or empty configuration. This gate
fails on failed checks, parsing errors, zero resources, or checkov missing or crashing; it
prints each finding as `CKV_ID resource file:line name` and a one-line summary.

    python3 infra/terraform/checkov_gate.py var/tools/checkov/bin/checkov infra/terraform

Offline: no API key, `--skip-download` (no guidelines or policies fetched), no external modules,
and BC_SKIP_MAPPING so checkov does not fetch its ID mapping. Standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_checkov(checkov: Path, directory: Path) -> dict[str, Any]:
    if not os.access(checkov, os.X_OK):
        raise SystemExit(f"checkov-gate: {checkov} is missing; run `make infra-check`")
    command = [
        str(checkov),
        "--directory",
        str(directory),
        "--framework",
        "terraform",
        "--compact",
        "--quiet",
        "--skip-download",
        "--download-external-modules",
        "false",
        "--output",
        "json",
    ]
    environment = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        "BC_API_KEY": "",
    }
    result = subprocess.run(  # noqa: S603 - our own tool's path and fixed arguments
        command, capture_output=True, text=True, env=environment, check=False
    )
    if result.returncode not in (0, 1):  # 1 = failed checks, reported below
        sys.stderr.write(result.stderr)
        raise SystemExit(f"checkov-gate: checkov crashed (exit status {result.returncode})")
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
        raise SystemExit("checkov-gate: checkov printed no JSON report") from None
    if isinstance(report, list):  # one entry per framework; only terraform is asked for
        report = next((item for item in report if item.get("check_type") == "terraform"), {})
    if not isinstance(report, dict):
        raise SystemExit("checkov-gate: unexpected checkov report")
    return report


def problems_of(report: dict[str, Any]) -> list[str]:
    summary = report.get("summary", report)
    results = report.get("results", {})
    lines = [
        f"{check['check_id']} {check['resource']} {check['file_path']}:"
        f"{check['file_line_range'][0]} {check['check_name']}"
        for check in results.get("failed_checks", [])
    ]
    lines += [f"parsing error: {path}" for path in results.get("parsing_errors", [])]
    if summary.get("parsing_errors") and not results.get("parsing_errors"):
        lines.append(f"{summary['parsing_errors']} file(s) could not be parsed")
    if not summary.get("resource_count"):
        lines.append("no Terraform resources were scanned")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: checkov_gate.py <checkov executable> <terraform directory>", file=sys.stderr)
        return 2
    report = run_checkov(Path(argv[1]), Path(argv[2]))
    summary = report.get("summary", report)
    problems = problems_of(report)
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    print(
        f"checkov {summary.get('checkov_version', '?')}: {summary.get('resource_count', 0)} "
        f"resources, {summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
        f"{summary.get('skipped', 0)} skipped (each justified inline), "
        f"{summary.get('parsing_errors', 0)} parsing errors"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
