"""Seconds `rotator rotate`, `status` and `check` take when nothing listens at the configured
endpoints (the emulator stopped): every endpoint refuses the connection.

Run: ./dev bench (or `.venv/bin/python benchmarks/nothing_listening.py`). BENCH_PYTHON chooses
the interpreter whose rotator is measured (another checkout's .venv/bin/python: before/after);
BENCH_RUNS the runs per command (the median is printed). The baseline row is `rotator --help`:
the cost of starting Python and importing the CLI, which every command pays.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = (("--help",), ("rotate",), ("status",), ("check",))
EXPECTED_EXIT = {"--help": 0, "rotate": 1, "status": 1, "check": 1}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(state_dir: str) -> dict[str, str]:
    port = closed_port()
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ROTATOR_", "AZURE_", "IDENTITY_", "MSI_", "AzureWebJobs"))
    }
    return {
        **clean,
        "ROTATOR_GRAPH_ENDPOINT": f"https://127.0.0.1:{port}",
        "ROTATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{port}/msi/token",
        "IDENTITY_HEADER": "emulator-header",
        "AZURE_TOKEN_CREDENTIALS": "managedidentitycredential",
        "ROTATOR_STATE_DIR": state_dir,
        "ROTATOR_CONFIG": json.dumps(
            {
                "keyVaultUrl": f"https://127.0.0.1:{port}",
                "connectors": [
                    {"id": "00000000-0000-0000-0000-0000000000c1", "certificate": "api-cert"},
                    {
                        "id": "00000000-0000-0000-0000-0000000000c2",
                        "basic": {"username": "b2c", "passwordSecret": "api-password"},
                    },
                ],
            }
        ),
    }


def main() -> int:
    python = os.environ.get("BENCH_PYTHON") or sys.executable
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    print(f"nothing listening: median of {runs} run(s) per command, {python}")
    print(f"{'command':<10} {'exit':>4} {'wall s':>7}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        env = environment(tmp)
        for command in COMMANDS:
            seconds, code = [], -1
            for _ in range(runs):
                started = time.perf_counter()
                done = subprocess.run(
                    [python, "-m", "rotator", *command],
                    env=env,
                    cwd=tmp,  # not a checkout: `-m` imports the interpreter's own rotator
                    capture_output=True,
                    timeout=120,
                )
                seconds.append(time.perf_counter() - started)
                code = done.returncode
            print(f"{command[0]:<10} {code:>4} {statistics.median(seconds):>7.2f}")
            ok &= code == EXPECTED_EXIT[command[0]]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
