"""Read checkov's JSON report of infra/ and decide whether the build passes (stdlib only).

checkov exits 0 when a file fails to parse, so its exit code is not enough: this fails the build
on any failed check, on any parsing error, on a scan that saw no resource, and on a skip without a
reason. It prints checkov's summary line, every skip with its reason and every failure.

Usage: ``python tests/infra/checkov_report.py REPORT.json``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NO_REASON = "No comment provided"


def _report(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):  # one entry per framework when several ran
        (data,) = (d for d in data if d.get("check_type") == "bicep")
    if not isinstance(data, dict):
        raise TypeError(f"{path}: unexpected checkov report shape")
    return data


def _where(result: dict[str, Any]) -> str:
    start, end = result.get("file_line_range") or (0, 0)
    return f"{result.get('file_path', '?')}:{start}-{end} {result.get('resource', '')}"


def main(argv: list[str]) -> int:
    """Print the summary, the skips and the failures of one report; 1 if the build must fail."""
    report = _report(Path(argv[1]))
    summary = report.get("summary", {})
    results = report.get("results", {})
    print(
        f"checkov {summary.get('checkov_version', '?')}: "
        f"Passed checks: {summary.get('passed', 0)}, Failed checks: {summary.get('failed', 0)}, "
        f"Skipped checks: {summary.get('skipped', 0)}, Parsing errors: {summary.get('parsing_errors', 0)}, "
        f"Resources: {summary.get('resource_count', 0)}"
    )
    problems = []
    for skipped in results.get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "").strip()
        print(f"  skipped {skipped['check_id']} on {_where(skipped)}: {reason}")
        if not reason or reason == NO_REASON:
            problems.append(
                f"{skipped['check_id']} on {_where(skipped)} is skipped without a reason"
            )
    for failed in results.get("failed_checks", []):
        problems.append(
            f"{failed['check_id']} {failed.get('check_name', '')} FAILED on {_where(failed)}"
        )
    for path in results.get("parsing_errors", []):
        problems.append(f"checkov could not parse {path} (it would have skipped it silently)")
    if not summary.get("resource_count"):
        problems.append("checkov scanned no resource")
    for problem in problems:
        print(f"FAIL  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
