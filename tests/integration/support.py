"""Helpers for the integration tests: seed the emulator and build a real Rotator against it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

from rotator.config.settings import Settings
from rotator.emulator import Emulator, JournalEntry, pki
from rotator.rotation import Rotator

DAY = dt.timedelta(days=1)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Seeded:
    """What a seeding step created: Key Vault version ids and certificates, oldest first."""

    versions: list[str]
    leaves: list[pki.Issued]


def seed_certificate(
    emu: Emulator,
    name: str,
    ca: pki.Issued,
    specs: Sequence[dict[str, Any]],
    *,
    content_type: str = "application/x-pkcs12",
) -> Seeded:
    """Import one certificate version per spec: keys ``age`` (days since created),
    ``valid`` ((days from now to notBefore, days to notAfter)), ``enabled``."""
    now = pki.utcnow()
    seeded = Seeded([], [])
    for spec in specs:
        nbf_days, exp_days = spec.get("valid", (-1, 365))
        leaf = pki.make_leaf(
            "api.contoso.test",
            issuer=ca,
            not_before=now + nbf_days * DAY,
            not_after=now + exp_days * DAY,
        )
        version = emu.vault.import_certificate(
            name,
            leaf,
            chain=[ca.certificate],
            content_type=content_type,
            created=now - spec.get("age", 1) * DAY,
            enabled=spec.get("enabled", True),
        )
        seeded.versions.append(version)
        seeded.leaves.append(leaf)
    return seeded


def seed_secret(emu: Emulator, name: str, specs: Sequence[dict[str, Any]]) -> Seeded:
    """Add one secret version per spec: ``value``, ``age`` (days), ``enabled``, ``expired``."""
    now = pki.utcnow()
    seeded = Seeded([], [])
    for spec in specs:
        version = emu.vault.add_secret_version(
            name,
            spec["value"],
            created=now - spec.get("age", 1) * DAY,
            enabled=spec.get("enabled", True),
            expires_on=now - DAY if spec.get("expired") else None,
        )
        seeded.versions.append(version)
    return seeded


def environment(
    emu: Emulator, state_dir: Path, *connectors: dict[str, Any], **overrides: str
) -> dict[str, str]:
    """The environment of a rotator pointed at the emulator with these connectors."""
    return {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps(
            {"keyVaultUrl": emu.vault_url, "connectors": list(connectors)}
        ),
        "ROTATOR_STATE_DIR": str(state_dir),
        "ROTATOR_VERIFY_TIMEOUT": "3",
        **overrides,
    }


def make_rotator(
    emu: Emulator, state_dir: Path, *connectors: dict[str, Any], **overrides: str
) -> Rotator:
    """A real Rotator (DefaultAzureCredential, SDK clients, httpx) wired from settings."""
    return Rotator.from_settings(
        Settings.from_env(environment(emu, state_dir, *connectors, **overrides))
    )


def requests(
    emu: Emulator, *, service: str | None = None, method: str | None = None, path: str = ""
) -> list[JournalEntry]:
    """The journal entries that match."""
    return [
        e
        for e in emu.journal()
        if (service is None or e.service == service)
        and (method is None or e.method == method)
        and path in e.path
    ]


def graph_writes(emu: Emulator) -> list[JournalEntry]:
    """Every PATCH or POST that reached Graph."""
    return [e for e in emu.journal() if e.service == "graph" and e.method in ("PATCH", "POST")]


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m rotator ARGS`` in a separate process with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "rotator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def deferred_target(emu: Emulator, ca: pki.Issued) -> dict[str, Any]:
    """An overlap connector with a probe holding Key Vault's current certificate while a newer
    one is valid only in 5 days (a run defers it); its ROTATOR_CONFIG entry."""
    seeded = seed_certificate(
        emu, "api-cert", ca, [{"age": 9, "valid": (-9, 300)}, {"age": 1, "valid": (5, 400)}]
    )
    connector = emu.graph.add_connector("Cert API", emu.api_url_for("overlap-api"))
    emu.graph.install_certificate(connector, seeded.leaves[0], chain=[ca.certificate])
    return {"id": connector, "certificate": "api-cert", "mode": "overlap", "probe": {}}


class InvocationContext(func.Context):
    """What the Python worker hands a function as ``context``."""

    def __init__(self) -> None:
        self._id = str(uuid.uuid4())
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return "test"

    @property
    def function_directory(self) -> str:
        return str(REPO)

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None
