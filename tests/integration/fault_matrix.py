"""The fault matrix: every step of a certificate rotation by every kind of fault, against the emulator.

Shared by ``test_fault_matrix.py`` (which asserts each cell) and ``benchmarks/fault_matrix.py``
(which prints the table). A cell seeds a connector holding an old certificate and a vault with a
new one, injects one fault, rotates once, and records the outcome, the connector's final state,
the requests and the wall time. A cell that may have written without confirmation is run again
without the fault to show the next run repairs it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rotator.config.settings import Settings
from rotator.emulator import Emulator, pki
from rotator.model import RotationRequest
from rotator.rotation import Rotator

STEPS: dict[str, dict[str, Any]] = {
    "token": {"service": "identity"},
    "kv list": {"service": "vault", "method": "GET", "path": r"/certificates/[^/]+/versions"},
    "kv secret": {"service": "vault", "method": "GET", "path": r"^/secrets/"},
    "graph get": {"service": "graph", "method": "GET"},
    "patch": {"service": "graph", "method": "PATCH"},
    "upload": {"service": "graph", "method": "POST"},  # overlap mode: uploadClientCertificate
    "verify get": {"service": "graph", "method": "GET", "after": 1},
}
FAULTS: dict[str, dict[str, Any]] = {
    "429 Retry-After": {"status": 429, "retry_after": "1", "times": 1},
    "503": {"status": 503, "times": 1},
    "500": {"status": 500, "times": 1},
    "read timeout": {"delay": 2.5, "times": 1},
    "dropped": {"drop": True, "times": 1},
    "clears after 3": {"status": 503, "times": 3},
    "never clears": {"status": 503},
    "answer lost": {"lose_response": True, "times": 1},
}
# "answer lost" (handled, then the connection dropped) only means something for a write.
WRITES = ("patch", "upload")
CELLS = [
    (step, fault) for step in STEPS for fault in FAULTS if fault != "answer lost" or step in WRITES
]

# Fast but real retries: the client's own backoff, scaled down, and a 1 s read timeout.
GRAPH_OPTIONS = {"backoff": 0.05, "max_retry_after": 1.0}
KEYVAULT_OPTIONS = {"retry_backoff_factor": 0.05, "retry_backoff_max": 0.5}
SETTINGS = {"ROTATOR_HTTP_TIMEOUT": "1", "ROTATOR_VERIFY_TIMEOUT": "2"}


@dataclass(frozen=True)
class CellResult:
    """What one cell did."""

    step: str
    fault: str
    outcome: str
    unverified: bool
    connector: str  # "new" (replace: only the new one; overlap: old + new), "old", or the list
    requests: int
    seconds: float
    repaired: str | None  # the next run's outcome and connector state, when it was needed
    reason: str | None


@dataclass
class Fixtures:
    """Certificates made once and reused by every cell."""

    ca: pki.Issued
    old: pki.Issued
    new: pki.Issued

    @classmethod
    def make(cls) -> Fixtures:
        ca = pki.make_ca("Fault Matrix CA")
        return cls(ca, pki.make_leaf("old.test", issuer=ca), pki.make_leaf("new.test", issuer=ca))


def run_cell(
    emu: Emulator, fixtures: Fixtures, state_dir: Path, step: str, fault: str
) -> CellResult:
    """Seed, inject ``fault`` at ``step``, rotate once (and once more if it may have written)."""
    emu.reset()
    emu.vault.import_certificate("api-cert", fixtures.new, chain=[fixtures.ca.certificate])
    connector = emu.graph.add_connector("API", "https://api.test")
    emu.graph.install_certificate(connector, fixtures.old, chain=[fixtures.ca.certificate])
    mode = "overlap" if step == "upload" else "replace"
    target = {"id": connector, "certificate": "api-cert", "mode": mode}
    env = {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps({"keyVaultUrl": emu.vault_url, "connectors": [target]}),
        "ROTATOR_STATE_DIR": str(state_dir),
        **SETTINGS,
    }
    settings = Settings.from_env(env)
    _clear_challenge_caches()
    emu.faults.add(**STEPS[step], **FAULTS[fault])
    started = time.perf_counter()
    with Rotator.from_settings(
        settings, graph_options=GRAPH_OPTIONS, keyvault_options=KEYVAULT_OPTIONS
    ) as rotator:
        (outcome,) = rotator.rotate(RotationRequest(trigger="fault-matrix")).outcomes
    seconds = time.perf_counter() - started
    requests = len(emu.journal())
    held = _held(emu, connector, fixtures, mode)
    repaired = None
    if (
        outcome.unverified
        or held not in ("old", "new")
        or (outcome.outcome.value == "failed" and held == "new")
    ):
        emu.faults.clear()
        with Rotator.from_settings(
            settings, graph_options=GRAPH_OPTIONS, keyvault_options=KEYVAULT_OPTIONS
        ) as rotator:
            (again,) = rotator.rotate(RotationRequest(trigger="fault-matrix")).outcomes
        repaired = f"{again.outcome.value}, connector {_held(emu, connector, fixtures, mode)}"
    return CellResult(
        step=step,
        fault=fault,
        outcome=outcome.outcome.value,
        unverified=outcome.unverified,
        connector=held,
        requests=requests,
        seconds=seconds,
        repaired=repaired,
        reason=outcome.reason,
    )


def _held(emu: Emulator, connector: str, fixtures: Fixtures, mode: str) -> str:
    thumbprints = [c.thumbprint for c in emu.graph.connector(connector).certificates]
    new = [fixtures.new.thumbprint]
    if mode == "overlap":
        new = [fixtures.old.thumbprint, fixtures.new.thumbprint]
    if thumbprints == new:
        return "new"
    if thumbprints == [fixtures.old.thumbprint]:
        return "old"
    return "+".join(t[:8] for t in thumbprints) or "nothing"


def _clear_challenge_caches() -> None:
    """Each cell starts like a fresh process: Key Vault's challenge is fetched again."""
    from azure.keyvault.certificates._shared import http_challenge_cache as certificates
    from azure.keyvault.secrets._shared import http_challenge_cache as secrets

    certificates.clear()
    secrets.clear()
