"""Requests and wall time per rotation against the local emulator (run: ./dev bench).

Each scenario runs in a fresh Rotator (new credential, new connections, Key Vault challenge cache
cleared), the way a cold Function or a new CLI process runs it. Prints a table of medians.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.keyvault.certificates._shared import http_challenge_cache as cert_challenges
from azure.keyvault.secrets._shared import http_challenge_cache as secret_challenges

from rotator.config.settings import Settings
from rotator.emulator import Emulator, pki
from rotator.model import RotationRequest
from rotator.rotation import Rotator

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
DAY = dt.timedelta(days=1)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, Emulator(workdir=Path(tmp) / "emu") as emu:
        os.environ.update(emu.env())
        for key in ("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "MSI_ENDPOINT"):
            os.environ.pop(key, None)
        ca = pki.make_ca()
        now = pki.utcnow()
        # leaves[0] the new version (a year), leaves[1] the one installed (30 days left): the
        # rotation is never refused for expiring before the installed one, whatever the clock
        leaves = [
            pki.make_leaf("bench.test", issuer=ca, not_before=now - DAY, not_after=now + 365 * DAY),
            pki.make_leaf(
                "bench.test", issuer=ca, not_before=now - 300 * DAY, not_after=now + 30 * DAY
            ),
        ]
        rows = []
        for name, scenario in scenarios(ca, leaves).items():
            samples = [measure(emu, Path(tmp) / f"state-{name}-{i}", scenario) for i in range(RUNS)]
            rows.append((name, samples))
        print_table(rows)
        wrong = [
            f"{name}: {s['outcome']} (expected {EXPECTED[name]})"
            for name, samples in rows
            for s in samples
            if s["outcome"] != EXPECTED[name]
        ]
        for line in wrong:
            print(f"FAILED: {line}", file=sys.stderr)
        return 1 if wrong else 0


EXPECTED = {
    "certificate rotation": "rotated",
    "basic rotation": "rotated",
    "up-to-date (certificate)": "up-to-date",
    "up-to-date (basic)": "up-to-date",
}


def scenarios(
    ca: pki.Issued, leaves: list[pki.Issued]
) -> dict[str, Callable[[Emulator, Path], dict[str, Any]]]:
    def cert(emu: Emulator, state: Path, *, up_to_date: bool) -> dict[str, Any]:
        emu.vault.import_certificate("bench-cert", leaves[0], chain=[ca.certificate])
        connector = emu.graph.add_connector("Bench", "https://bench.test")
        if up_to_date:
            emu.graph.install_certificate(connector, leaves[0], chain=[ca.certificate])
        else:
            emu.graph.install_certificate(connector, leaves[1], chain=[ca.certificate])
        return {"id": connector, "certificate": "bench-cert"}

    def basic(emu: Emulator, state: Path, *, up_to_date: bool) -> dict[str, Any]:
        emu.vault.add_secret_version("bench-password", "bench-" + os.urandom(8).hex())
        connector = emu.graph.add_connector(
            "Bench", "https://bench.test", username="svc", password="old"
        )
        target = {"id": connector, "basic": {"username": "svc", "passwordSecret": "bench-password"}}
        if up_to_date:  # a first rotation records the applied version; then measure the second
            run_once(emu, state, target)
        return target

    return {
        "certificate rotation": lambda emu, state: cert(emu, state, up_to_date=False),
        "basic rotation": lambda emu, state: basic(emu, state, up_to_date=False),
        "up-to-date (certificate)": lambda emu, state: cert(emu, state, up_to_date=True),
        "up-to-date (basic)": lambda emu, state: basic(emu, state, up_to_date=True),
    }


def run_once(emu: Emulator, state: Path, target: dict[str, Any]) -> str:
    env = {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps({"keyVaultUrl": emu.vault_url, "connectors": [target]}),
        "ROTATOR_STATE_DIR": str(state),
    }
    cert_challenges.clear()
    secret_challenges.clear()
    with Rotator.from_settings(Settings.from_env(env)) as rotator:
        report = rotator.rotate(RotationRequest(trigger="bench"))
    return report.outcomes[0].outcome.value


def measure(
    emu: Emulator, state: Path, scenario: Callable[[Emulator, Path], dict[str, Any]]
) -> dict[str, Any]:
    emu.reset()
    target = scenario(emu, state)
    emu.clear_journal()
    started = time.perf_counter()
    outcome = run_once(emu, state, target)
    seconds = time.perf_counter() - started
    counts = Counter(entry.service for entry in emu.journal())
    return {"outcome": outcome, "seconds": seconds, **counts}


def print_table(rows: list[tuple[str, list[dict[str, Any]]]]) -> None:
    print(f"requests per rotation against the emulator (median of {RUNS} cold runs each)")
    header = f"{'scenario':<26} {'outcome':<11} {'vault':>5} {'graph':>5} {'token':>5} {'total':>5} {'wall ms':>8}"
    print(header)
    print("-" * len(header))
    for name, samples in rows:
        med = {
            k: statistics.median(s.get(k, 0) for s in samples)
            for k in ("vault", "graph", "identity", "seconds")
        }
        total = med["vault"] + med["graph"] + med["identity"]
        print(
            f"{name:<26} {samples[0]['outcome']:<11} {med['vault']:>5.0f} {med['graph']:>5.0f} "
            f"{med['identity']:>5.0f} {total:>5.0f} {med['seconds'] * 1000:>8.1f}"
        )
    print("vault counts include Key Vault's anonymous 401 challenge (one per SDK client, cold).")


if __name__ == "__main__":
    sys.exit(main())
