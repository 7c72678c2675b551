"""1,000 connectors across 10 identities (tenants), 20 ms per request (run: ./dev bench).

Each identity is a client-secret app in a tenant of its own with 100 basic-auth connectors, all
behind a newer password in Key Vault. Every request to the emulator is delayed by 20 ms. Three
runs, each from a cold start (fresh state, fresh clients):

- calm: no identity throttles;
- storm: identity 0's Graph answers 429 with ``Retry-After: 1`` to every third call;
- up to date: the calm fleet run again (nothing to write: the common case).

It prints wall time, requests, and each run's wall time of the nine healthy identities (the
time from the run's start to their last request), which the storm must not stretch: each
identity has its own client, Retry-After state and worker pool. Exits 1 if an outcome is not
what the scenario expects (every connector of the nine healthy identities rotated or up to date;
the throttled identity may lose a connector whose every retry met a 429, which it reports).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from rotator.config.settings import Settings
from rotator.emulator import Emulator
from rotator.model import RotationReport, RotationRequest
from rotator.rotation import Rotator

IDENTITIES = 10
PER_IDENTITY = 100
LATENCY = 0.02
PARALLEL = 4  # maxParallel of each identity


def seed(emu: Emulator) -> tuple[dict[str, Any], list[str]]:
    """Ten tenants with an app each, 100 connectors per tenant; the config that names them."""
    emu.vault.add_secret_version("pw", "new-password-1")
    identities: dict[str, Any] = {}
    connectors: list[dict[str, Any]] = []
    tenants = []
    for index in range(IDENTITIES):
        tenant, app = str(uuid.uuid4()), str(uuid.uuid4())
        tenants.append(tenant)
        emu.entra.register_app(app, tenant_id=tenant, secret=f"secret-{index}")
        emu.vault.add_secret_version(f"app-{index}", f"secret-{index}")
        identities[f"tenant-{index}"] = {
            "credential": "client-secret",
            "tenantId": tenant,
            "clientId": app,
            "clientSecret": f"app-{index}",
            "authorityHost": emu.authority_url,
            "maxParallel": PARALLEL,
        }
        for number in range(PER_IDENTITY):
            connector = emu.graph.add_connector(
                f"API {index}.{number}",
                "https://api.test",
                username="svc",
                password="old",
                tenant_id=tenant,
            )
            connectors.append(
                {
                    "id": connector,
                    "identity": f"tenant-{index}",
                    "basic": {"username": "svc", "passwordSecret": "pw"},
                }
            )
    config = {"keyVaultUrl": emu.vault_url, "identities": identities, "connectors": connectors}
    return config, tenants


def run(emu: Emulator, config: dict[str, Any], state: Path) -> tuple[RotationReport, float, float]:
    """One cold rotate over the fleet: the report, its wall time, and its start (epoch)."""
    env = {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps(config),
        "ROTATOR_STATE_DIR": str(state),
        "ROTATOR_VERIFY_TIMEOUT": "10",
    }
    settings = Settings.from_env(env)
    emu.clear_journal()
    started_epoch, started = time.time(), time.perf_counter()
    with Rotator.from_settings(settings) as rotator:
        report = rotator.rotate(RotationRequest(trigger="benchmark"))
    return report, time.perf_counter() - started, started_epoch


def healthy_seconds(emu: Emulator, tenants: list[str], started: float) -> float:
    """From the run's start to the last request of the nine healthy tenants."""
    healthy = {t.lower() for t in tenants[1:]}
    ends = [e.started + e.duration for e in emu.journal() if (e.tenant or "") in healthy]
    return max(ends) - started


def main() -> int:
    problems = []
    rows = []
    logging.basicConfig(level=logging.CRITICAL)  # the figures, not the per-connector logs
    with tempfile.TemporaryDirectory() as tmp, Emulator(workdir=Path(tmp) / "emu") as emu:
        os.environ.update(emu.env())  # azure-identity reads the managed identity from here
        emu.faults.add(service="*", delay=LATENCY)
        config, tenants = seed(emu)
        scenarios = [
            ("calm", "rotated", False),
            ("storm", "rotated", True),
            ("up to date", "up-to-date", False),
        ]
        for name, expected, storm in scenarios:
            # calm and storm start from an empty state store (so every connector is rotated);
            # "up to date" reuses calm's
            if storm:
                emu.faults.add(
                    service="graph", tenant=tenants[0], status=429, retry_after="1", every=3
                )
            state = Path(tmp) / ("state-" + ("calm" if name == "up to date" else name))
            report, wall, started = run(emu, config, state)
            emu.faults.clear()
            emu.faults.add(service="*", delay=LATENCY)
            counts = Counter(o.outcome.value for o in report.outcomes)
            healthy = Counter(o.outcome.value for o in report.outcomes if o.identity != "tenant-0")
            if healthy.get(expected, 0) != (IDENTITIES - 1) * PER_IDENTITY:
                problems.append(f"{name}: healthy identities {dict(healthy)}, expected {expected}")
            if not storm and counts.get(expected, 0) != IDENTITIES * PER_IDENTITY:
                problems.append(f"{name}: {dict(counts)} (expected every connector {expected})")
            outcomes = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            services = Counter(e.service for e in emu.journal())
            throttled = sum(1 for e in emu.journal() if e.status == 429)
            rows.append(
                (
                    name,
                    wall,
                    healthy_seconds(emu, tenants, started),
                    sum(services.values()),
                    services["graph"],
                    services["vault"],
                    services["entra"],
                    throttled,
                    outcomes,
                )
            )
    print(
        f"{IDENTITIES * PER_IDENTITY} connectors, {IDENTITIES} identities x {PER_IDENTITY}, "
        f"{LATENCY * 1000:.0f} ms per request, maxParallel {PARALLEL} per identity"
    )
    print(
        f"{'run':<11} {'wall s':>7} {'9 healthy s':>12} {'requests':>9} {'graph':>6} "
        f"{'vault':>6} {'entra':>6} {'429s':>5}  outcomes"
    )
    for name, wall, healthy_wall, total, graph, vault, entra, throttled, outcomes in rows:
        print(
            f"{name:<11} {wall:>7.2f} {healthy_wall:>12.2f} {total:>9} {graph:>6} {vault:>6} "
            f"{entra:>6} {throttled:>5}  {outcomes}"
        )
    calm_wall, storm_wall = rows[0][2], rows[1][2]
    print(
        "the nine healthy identities under the storm: "
        f"{storm_wall / calm_wall:.2f} x their calm wall time"
    )
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
