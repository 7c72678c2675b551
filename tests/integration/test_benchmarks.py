"""The benchmark scripts run to the end and check their own outcomes (small sizes here; the
figures themselves are never asserted: they drift with the machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FOREIGN_AZURE_VARIABLES

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def bench(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in FOREIGN_AZURE_VARIABLES}
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_parallel_reconcile_rotates_every_connector_and_prints_ratios() -> None:
    """Every connector is rotated at every parallelism; the table has the CPU floor and ratios."""
    result = bench("parallel_reconcile.py", BENCH_CONNECTORS="6", BENCH_LATENCY="0.01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CPU floor s" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.rstrip().endswith("x")]
    assert len(rows) == 3


@pytest.mark.parametrize(
    "script",
    [
        "requests_per_rotation.py",
        "cold_import.py",
        "probe_control_cost.py",
        "status_page.py",
        "nothing_listening.py",
    ],
)
def test_benchmark_checks_its_outcomes(script: str) -> None:
    """The script exits 0: each scenario ended as expected (rotated / up-to-date; indexing the
    Function loads neither rotator nor the Azure SDK; the status page's overview in order)."""
    result = bench(script, BENCH_RUNS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stderr
