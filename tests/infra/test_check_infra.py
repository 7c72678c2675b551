"""The two gates of scripts/check-infra decide as they should, on made-up input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra import bicepmodel, checkov_report

CLEAN_SUMMARY = {
    "passed": 3,
    "failed": 0,
    "skipped": 0,
    "parsing_errors": 0,
    "resource_count": 5,
    "checkov_version": "3.3.30",
}


def _report(tmp_path: Path, summary: dict[str, Any], **results: Any) -> Path:
    path = tmp_path / "results_json.json"
    body = {"check_type": "bicep", "summary": {**CLEAN_SUMMARY, **summary}, "results": results}
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_checkov_report_passes_a_clean_scan(tmp_path: Path) -> None:
    """No failure, no parsing error, resources scanned: the build passes."""
    assert checkov_report.main(["", str(_report(tmp_path, {}))]) == 0


def test_checkov_report_fails_on_a_parsing_error_although_checkov_exits_0(tmp_path: Path) -> None:
    """A file checkov could not parse fails the build instead of being skipped silently."""
    report = _report(tmp_path, {"parsing_errors": 1}, parsing_errors=["/infra/broken.bicep"])
    assert checkov_report.main(["", str(report)]) == 1


def test_checkov_report_fails_on_a_failed_check(tmp_path: Path) -> None:
    """Any failed check fails the build."""
    failed = {"check_id": "CKV_AZURE_3", "file_path": "/x.bicep", "file_line_range": [1, 2]}
    report = _report(tmp_path, {"failed": 1}, failed_checks=[failed])
    assert checkov_report.main(["", str(report)]) == 1


def test_checkov_report_fails_on_a_skip_without_a_reason(tmp_path: Path) -> None:
    """A //checkov:skip without a reason (checkov says "No comment provided") fails the build."""
    skipped = {
        "check_id": "CKV_AZURE_35",
        "check_result": {"result": "SKIPPED", "suppress_comment": "No comment provided"},
    }
    report = _report(tmp_path, {"skipped": 1}, skipped_checks=[skipped])
    assert checkov_report.main(["", str(report)]) == 1


def test_checkov_report_fails_when_nothing_was_scanned(tmp_path: Path) -> None:
    """A scan that found no resource (wrong directory, every file unparsed) fails the build."""
    assert checkov_report.main(["", str(_report(tmp_path, {"resource_count": 0}))]) == 1


def test_parse_step_fails_on_a_file_pycep_cannot_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A .bicep file that does not parse makes the parse step exit 1 and name the file."""
    broken = tmp_path / "infra" / "broken.bicep"
    broken.parent.mkdir()
    broken.write_text("resource x 'Microsoft.Web/sites@2024-04-01' = {\n", encoding="utf-8")
    monkeypatch.setattr(bicepmodel, "REPO", tmp_path)
    assert bicepmodel.main(["", str(broken.parent)]) == 1
    assert "FAIL  infra/broken.bicep" in capsys.readouterr().out
