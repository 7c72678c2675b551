"""Time to reconcile 50 connectors with 50 ms of injected latency per call (run: ./dev bench).

25 certificate and 25 basic-auth connectors, all behind Key Vault, every request to the emulator
(token, Key Vault, Graph) delayed by 50 ms. Each configuration starts cold (fresh state, fresh
clients); the figure is the wall time of one ``rotate`` over all 50.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rotator.emulator import Emulator, pki
from rotator.model import RotationRequest
from rotator.rotation import Rotator
from rotator.settings import Settings

CONNECTORS = 50
LATENCY = 0.05


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
    emu: Emulator, tmp: Path, parallel: int, certs: tuple[pki.Issued, pki.Issued, pki.Issued]
) -> tuple[float, Counter[str], int]:
    from azure.keyvault.certificates._shared import http_challenge_cache as c
    from azure.keyvault.secrets._shared import http_challenge_cache as s

    emu.reset()
    targets = seed(emu, *certs)
    env = {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps({"keyVaultUrl": emu.vault_url, "connectors": targets}),
        "ROTATOR_STATE_DIR": str(tmp / f"state-{parallel}"),
        "ROTATOR_MAX_PARALLEL": str(parallel),
    }
    c.clear()
    s.clear()
    emu.faults.add(service="*", delay=LATENCY)
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
        certs = (ca, pki.make_leaf("new.test", issuer=ca), pki.make_leaf("old.test", issuer=ca))
        print(
            f"reconcile {CONNECTORS} connectors (25 certificate, 25 basic), {LATENCY * 1000:.0f} ms per request"
        )
        print(f"{'ROTATOR_MAX_PARALLEL':<22} {'wall s':>7} {'requests':>9}  outcomes")
        ok = True
        for parallel in (1, 4, 8):
            seconds, outcomes, requests = run(emu, Path(tmp), parallel, certs)
            label = f"{parallel} (sequential)" if parallel == 1 else str(parallel)
            print(f"{label:<22} {seconds:>7.2f} {requests:>9}  {dict(outcomes)}")
            ok &= outcomes == Counter({"rotated": CONNECTORS})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
