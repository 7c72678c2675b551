"""Cold-start import cost of the Function app (run: ./dev bench).

Each figure is the median of fresh interpreter processes (bytecode caches warm, as on a deployed
app) timing only the import statement. What the host pays when it indexes ``function_app`` is
compared with the stack a first invocation then loads.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "azure.functions alone": "import azure.functions",
    "function_app (what indexing pays)": "import function_app",
    "the six SDK imports together": (
        "import azure.functions, azure.identity, azure.keyvault.secrets, "
        "azure.keyvault.certificates, httpx, cryptography.hazmat.primitives.serialization.pkcs12"
    ),
    "function_app + first invocation": (
        "import function_app, rotator.functions.service, rotator.azure.keyvault, rotator.azure.graph, azure.identity"
    ),
}


def measure(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def indexing_loads_only_azure_functions() -> list[str]:
    """What importing ``function_app`` loads besides ``azure.functions`` (must be nothing of
    rotator or the Azure SDK: they load on the first invocation)."""
    code = (
        "import sys, function_app; print(' '.join(sorted(m for m in sys.modules if "
        "m.startswith(('rotator', 'azure.identity', 'azure.keyvault', 'azure.storage', 'httpx')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def main() -> int:
    for statement in CASES.values():  # write the bytecode caches first
        measure(statement)
    print(f"cold import time, median of {RUNS} fresh processes (ms)")
    for name, statement in CASES.items():
        samples = [measure(statement) for _ in range(RUNS)]
        print(f"  {name:<36} {statistics.median(samples) * 1000:7.1f}")
    loaded = indexing_loads_only_azure_functions()
    if loaded:
        print(f"FAILED: importing function_app also loads {', '.join(loaded)}", file=sys.stderr)
    return 1 if loaded else 0


if __name__ == "__main__":
    sys.exit(main())
