"""Every step by every fault: a connector ends verified on the new certificate, or untouched, or
(when a write may have landed unconfirmed) reported so and repaired by the next run."""

from __future__ import annotations

from pathlib import Path

import pytest

from rotator.emulator import Emulator

from .fault_matrix import CELLS, Fixtures, run_cell

pytestmark = pytest.mark.usefixtures("azure_env")


@pytest.fixture(scope="module")
def fixtures() -> Fixtures:
    return Fixtures.make()


@pytest.mark.parametrize(("step", "fault"), CELLS, ids=[f"{s}|{f}" for s, f in CELLS])
def test_fault_leaves_the_connector_consistent(
    emu: Emulator, fixtures: Fixtures, tmp_path: Path, step: str, fault: str
) -> None:
    """Transient faults are retried to a verified rotation; a fault that never clears fails the
    rotation without changing the connector, or flags it unverified and the next run repairs it
    (an ambiguous upload always goes that way, and never leaves a duplicate)."""
    result = run_cell(emu, fixtures, tmp_path, step, fault)
    if result.outcome == "rotated":
        assert result.connector == "new", "rotated must mean Graph holds the new certificate"
    if fault == "429 Retry-After":
        assert result.seconds >= 1.0, "the services' Retry-After: 1 was waited out"
    if step == "upload" and result.outcome == "failed":
        # an ambiguous upload is never sent twice in one run: the next run settles it
        assert result.unverified, result
        assert result.repaired in ("rotated, connector new", "up-to-date, connector new"), result
    elif fault == "never clears":
        assert result.outcome == "failed", result
        assert result.reason
        if result.unverified:
            assert result.repaired in ("rotated, connector new", "up-to-date, connector new"), (
                result
            )
        else:
            assert result.connector == "old", (
                "a failure without a write leaves the connector as it was"
            )
    else:
        assert (result.outcome, result.connector) == ("rotated", "new"), result
