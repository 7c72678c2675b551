"""Time to reconcile 50 connectors with 50 ms of injected latency per call (run: ./dev bench).

25 certificate and 25 basic-auth connectors, all behind Key Vault, every request to the emulator
(token, Key Vault, Graph) delayed by 50 ms. Each configuration starts cold (fresh state, fresh
clients); the figure is the wall time of one ``rotate`` over all 50.

The CPU floor is the same run with no injected latency (what rotator, the SDK and the emulator
cost on this machine's cores). The ideal wall time is ``max(requests x latency / parallel, CPU
floor)``; the ratio says how far a run is from it. Outcomes are asserted: every connector must
be rotated (the installed certificate expires in 30 days, the new one in a year, so the
"expires before the certificate the connector uses now" rule can never refuse it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rotator.config.settings import Settings
from rotator.emulator import Emulator, pki
from rotator.model import RotationRequest
from rotator.rotation import Rotator

CONNECTORS = int(os.environ.get("BENCH_CONNECTORS", "50"))  # even: half certificate, half basic
LATENCY = float(os.environ.get("BENCH_LATENCY", "0.05"))
DAY = dt.timedelta(days=1)


def seed(
    emu: Emulator, ca: pki.Issued, leaf: pki.Issued, old: pki.Issued
) -> list[dict[str, object]]:
    targets: list[dict[str, object]] = []
    for index in range(CONNECTORS):
        if index % 2 == 0:
            name = f"cert-{index}"
            emu.vault.import_certificate(name, leaf, chain=[ca.certificate])
            connector = emu.graph.add_connector(f"API {index}", "https://api.test")
            emu.graph.install_certificate(connector, old)
            targets.append({"id": connector, "certificate": name})
        else:
            name = f"password-{index}"
            emu.vault.add_secret_version(name, os.urandom(12).hex())
            connector = emu.graph.add_connector(
                f"API {index}", "https://api.test", username="svc", password="old"
            )
            targets.append({"id": connector, "basic": {"username": "svc", "passwordSecret": name}})
    return targets


def run(
    emu: Emulator,
    tmp: Path,
    parallel: int,
    certs: tuple[pki.Issued, pki.Issued, pki.Issued],
    latency: float,
) -> tuple[float, Counter[str], int]:
    from azure.keyvault.certificates._shared import http_challenge_cache as c
    from azure.keyvault.secrets._shared import http_challenge_cache as s

    emu.reset()
    targets = seed(emu, *certs)
    env = {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps({"keyVaultUrl": emu.vault_url, "connectors": targets}),
        "ROTATOR_STATE_DIR": str(tmp / f"state-{parallel}-{latency}"),
        "ROTATOR_MAX_PARALLEL": str(parallel),
    }
    c.clear()
    s.clear()
    if latency:
        emu.faults.add(service="*", delay=latency)
    emu.clear_journal()
    started = time.perf_counter()
    with Rotator.from_settings(Settings.from_env(env)) as rotator:
        report = rotator.rotate(RotationRequest(trigger="bench"))
    seconds = time.perf_counter() - started
    return seconds, Counter(o.outcome.value for o in report.outcomes), len(emu.journal())


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, Emulator(workdir=Path(tmp) / "emu") as emu:
        os.environ.update(emu.env())
        for key in ("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "MSI_ENDPOINT"):
            os.environ.pop(key, None)
        ca = pki.make_ca()
        now = pki.utcnow()
        new = pki.make_leaf("new.test", issuer=ca, not_before=now - DAY, not_after=now + 365 * DAY)
        old = pki.make_leaf(
            "old.test", issuer=ca, not_before=now - 300 * DAY, not_after=now + 30 * DAY
        )
        certs = (ca, new, old)
        print(
            f"reconcile {CONNECTORS} connectors ({CONNECTORS // 2} certificate, "
            f"{CONNECTORS - CONNECTORS // 2} basic), "
            f"{LATENCY * 1000:.0f} ms per request, {os.cpu_count()} CPU(s)"
        )
        header = (
            f"{'ROTATOR_MAX_PARALLEL':<22} {'wall s':>7} {'requests':>9} {'latency s':>10} "
            f"{'CPU floor s':>12} {'ideal s':>8} {'wall/ideal':>11}"
        )
        print(header)
        print("-" * len(header))
        failures = []
        for parallel in (1, 4, 8):
            floor, floor_outcomes, _ = run(emu, Path(tmp), parallel, certs, 0.0)
            seconds, outcomes, requests = run(emu, Path(tmp), parallel, certs, LATENCY)
            waiting = requests * LATENCY / parallel
            ideal = max(waiting, floor)
            label = f"{parallel} (sequential)" if parallel == 1 else str(parallel)
            print(
                f"{label:<22} {seconds:>7.2f} {requests:>9} {waiting:>10.2f} {floor:>12.2f} "
                f"{ideal:>8.2f} {seconds / ideal:>10.2f}x"
            )
            for what, seen in (("latency", outcomes), ("floor", floor_outcomes)):
                if seen != Counter({"rotated": CONNECTORS}):
                    failures.append(f"parallel {parallel} ({what} run): {dict(seen)}")
        print(
            "latency s = requests x latency / parallel; ideal = max(latency s, CPU floor); "
            "CPU floor = the same run without injected latency"
        )
        for failure in failures:
            print(f"FAILED: not every connector rotated: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
