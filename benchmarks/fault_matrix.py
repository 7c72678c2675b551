"""Print the fault matrix (step by fault → outcome, requests, wall time) against the emulator.

Run: ./dev bench. The cells and their runner live in tests/integration/fault_matrix.py, which
test_fault_matrix.py asserts; this script only prints them as a table.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rotator.emulator import Emulator  # noqa: E402
from tests.integration.fault_matrix import CELLS, Fixtures, run_cell  # noqa: E402


def main() -> int:
    for name in ("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "MSI_ENDPOINT"):
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory() as tmp, Emulator(workdir=Path(tmp) / "emu") as emu:
        os.environ.update(emu.env())
        fixtures = Fixtures.make()
        print("fault matrix: one certificate rotation per cell, fault injected by the emulator")
        header = f"{'step':<11} {'fault':<16} {'outcome':<18} {'connector':<9} {'requests':>8} {'wall s':>7}  next run"
        print(header)
        print("-" * (len(header) + 22))
        consistent = True
        for index, (step, fault) in enumerate(CELLS):
            result = run_cell(emu, fixtures, Path(tmp) / f"state-{index}", step, fault)
            outcome = result.outcome + (" (unverified)" if result.unverified else "")
            print(
                f"{step:<11} {fault:<16} {outcome:<18} {result.connector:<9} {result.requests:>8} "
                f"{result.seconds:>7.2f}  {result.repaired or '-'}"
            )
            consistent &= result.outcome != "rotated" or result.connector == "new"
    print("retries use the clients' own backoff scaled down (see GRAPH_OPTIONS / KEYVAULT_OPTIONS)")
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
