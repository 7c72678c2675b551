"""The keep-alive sequence against the emulator, as its journal shows it (run: ./dev bench).

An app registered with today's certificate only; Key Vault holds a renewed version; Entra accepts
a key added with addKey only 2 s later. Run 1 (a timer run): keep-alive adds the renewed
certificate (proof signed by today's), waits until Entra accepts it, and the connector is rotated
with it. Run 2, after a third version: added the same way, and the key run 1 added is removed
(keepAliveGraceDays 0). Prints the proof's claims, the journal and the app's keys after each run;
exits 1 if the sequence is not the expected one.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from rotator.config.settings import Settings
from rotator.emulator import Emulator, pki
from rotator.functions import service
from rotator.keepalive import proof
from rotator.rotation import Rotator

DAY = 86400
TENANT, APP = str(uuid.uuid4()), str(uuid.uuid4())


def version(emu: Emulator, ca: pki.Issued, *, age_days: int, valid_days: int) -> pki.Issued:
    import datetime as dt

    now = pki.utcnow()
    leaf = pki.make_leaf(
        "rotator-app",
        issuer=ca,
        not_before=now - dt.timedelta(days=age_days),
        not_after=now + dt.timedelta(days=valid_days),
    )
    emu.vault.import_certificate(
        "graph-app", leaf, chain=[ca.certificate], created=now - dt.timedelta(days=age_days)
    )
    return leaf


def show_journal(emu: Emulator, since: float) -> list[str]:
    lines = []
    for entry in emu.journal():
        if entry.started < since or entry.service not in ("graph", "entra"):
            continue
        lines.append(
            f"  +{entry.started - since:6.2f} s  {entry.service:<5} {entry.method:<4} "
            f"{entry.path:<60} {entry.status}"
        )
    return lines


def show_run(emu: Emulator, since: float) -> set[str]:
    """Print the run's Graph and Entra requests and the app's keys; the keys' thumbprints."""
    print("\n".join(show_journal(emu, since)))
    keys = emu.entra.key_credentials(TENANT, APP)
    names = (f"{k.thumbprint[:8]}…{' (addKey)' if k.added_by_add_key else ''}" for k in keys)
    print("  app keys: " + ", ".join(names))
    return {k.thumbprint for k in keys}


def main() -> int:
    logging.basicConfig(level=logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp, Emulator(workdir=Path(tmp) / "emu") as emu:
        os.environ.update(emu.env())  # azure-identity reads the managed identity from here
        ca = pki.make_ca("Keep-alive CA")
        first = version(emu, ca, age_days=300, valid_days=20)
        emu.entra.register_app(APP, tenant_id=TENANT, certificate=first.certificate)
        second = version(emu, ca, age_days=1, valid_days=365)
        emu.entra.new_key_delay = 2
        emu.vault.add_secret_version("pw", "new-password-1")
        connector = emu.graph.add_connector("API", "https://a.test", username="u", tenant_id=TENANT)
        object_id = emu.entra.object_id(TENANT, APP)
        config: dict[str, Any] = {
            "keyVaultUrl": emu.vault_url,
            "identities": {
                "b2c": {
                    "credential": "client-certificate",
                    "tenantId": TENANT,
                    "clientId": APP,
                    "applicationObjectId": object_id,
                    "clientCertificate": "graph-app",
                    "authorityHost": emu.authority_url,
                    "keepAlive": True,
                    "keepAliveGraceDays": 0,
                }
            },
            "connectors": [
                {
                    "id": connector,
                    "identity": "b2c",
                    "basic": {"username": "u", "passwordSecret": "pw"},
                }
            ],
        }
        env = {
            **emu.env(),
            "ROTATOR_CONFIG": json.dumps(config),
            "ROTATOR_STATE_DIR": str(Path(tmp) / "state"),
        }
        assert isinstance(first.key, rsa.RSAPrivateKey)  # make_leaf's default; the proof is RS256
        sample = proof.proof_token(
            first.key, first.certificate, object_id=object_id, now=pki.utcnow()
        )
        header, payload = (
            json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in sample.split(".")[:2]
        )
        print(f"proof header {header}\nproof claims {payload}")
        problems = []
        with Rotator.from_settings(Settings.from_env(env)) as rotator:
            since = time.time()
            report = service.run_timer(rotator)
            print(f"\nrun 1 (timer): connector {report.outcomes[0].outcome.value}")
            keys = show_run(emu, since)
            if keys != {first.thumbprint, second.thumbprint}:
                problems.append("run 1 did not add the renewed certificate")
            third = version(emu, ca, age_days=0, valid_days=400)
            since = time.time()
            (result,) = rotator.keep_alive()
            print(
                f"\nrun 2 (keep-alive after a third version): {result.status}, removed {list(result.removed)}"
            )
            keys = show_run(emu, since)
            if keys != {first.thumbprint, third.thumbprint}:
                problems.append("run 2 did not replace the key run 1 added")
    for problem in problems:
        print(f"PROBLEM {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
