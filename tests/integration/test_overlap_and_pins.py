"""Overlap mode (upload beside, pre-stage, compact) and rollback pins, end to end."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rotator.emulator import Emulator, pki
from rotator.model import Outcome, RotationRequest
from rotator.state.local import LocalStateStore

from .support import environment, graph_writes, make_rotator, requests, seed_certificate

pytestmark = pytest.mark.usefixtures("azure_env")


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Overlap CA")


def overlap(connector: str) -> dict[str, Any]:
    return {"id": connector, "certificate": "api-cert", "mode": "overlap"}


def thumbprints(emu: Emulator, connector: str) -> list[str]:
    return [c.thumbprint for c in emu.graph.connector(connector).certificates]


def active(emu: Emulator, connector: str) -> list[str]:
    return [c.thumbprint for c in emu.graph.connector(connector).certificates if c.is_active]


def test_overlap_uploads_beside_the_old_certificate(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """The new certificate is added with uploadClientCertificate and becomes active; the old stays."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 100, "valid": (-100, 60)}, {"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    emu.graph.install_certificate(connector, seeded.leaves[0])
    with make_rotator(emu, tmp_path, overlap(connector)) as rotator:
        report = rotator.rotate(RotationRequest())
    assert report.outcomes[0].outcome is Outcome.ROTATED, report.outcomes[0].reason
    assert thumbprints(emu, connector) == [seeded.leaves[0].thumbprint, seeded.leaves[1].thumbprint]
    assert active(emu, connector) == [seeded.leaves[1].thumbprint]
    assert [e.method for e in graph_writes(emu)] == ["POST"]


def test_overlap_never_uploads_the_same_certificate_twice(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """A second run is up to date, and an upload whose answer was lost is not repeated."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 100, "valid": (-100, 60)}, {"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    emu.graph.install_certificate(connector, seeded.leaves[0])
    emu.faults.add(service="graph", method="POST", lose_response=True, times=1)
    with make_rotator(emu, tmp_path, overlap(connector)) as rotator:
        first = rotator.rotate(RotationRequest())
        second = rotator.rotate(RotationRequest())
    assert first.outcomes[0].outcome is Outcome.ROTATED, first.outcomes[0].reason
    assert second.outcomes[0].outcome is Outcome.UP_TO_DATE
    assert thumbprints(emu, connector) == [seeded.leaves[0].thumbprint, seeded.leaves[1].thumbprint]
    assert len(requests(emu, service="graph", method="POST")) == 1


def test_overlap_prestages_a_future_certificate(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """A version valid only from next week is uploaded now, inactive; B2C switches when it starts."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 10}, {"age": 1, "valid": (7, 400)}])
    connector = emu.graph.add_connector("API", "https://api.test")
    emu.graph.install_certificate(connector, seeded.leaves[0])
    with make_rotator(emu, tmp_path, overlap(connector)) as rotator:
        report = rotator.rotate(RotationRequest())
        again = rotator.rotate(RotationRequest())
    outcome = report.outcomes[0]
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.key_vault_version == seeded.versions[1]
    assert "pre-staged" in (outcome.reason or "") or "pre-staged" in str(
        LocalStateStore(tmp_path).read(connector).history[-1].reason
    )
    assert thumbprints(emu, connector) == [seeded.leaves[0].thumbprint, seeded.leaves[1].thumbprint]
    assert active(emu, connector) == [seeded.leaves[0].thumbprint]
    assert again.outcomes[0].outcome is Outcome.UP_TO_DATE


def test_replace_mode_ignores_future_certificates(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """In replace mode a not-yet-valid version is never installed (it would break the API now)."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 10}, {"age": 1, "valid": (7, 400)}])
    connector = emu.graph.add_connector("API", "https://api.test")
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        rotator.rotate(RotationRequest())
    assert thumbprints(emu, connector) == [seeded.leaves[0].thumbprint]


def test_overlap_compacts_a_list_holding_expired_certificates(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Expired entries are dropped by a replace, then the pending certificate is uploaded again."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 10}, {"age": 1, "valid": (7, 400)}])
    now, day = pki.utcnow(), dt.timedelta(days=1)
    expired = pki.make_leaf("expired", issuer=ca, not_before=now - 400 * day, not_after=now - day)
    connector = emu.graph.add_connector("API", "https://api.test")
    emu.graph.install_certificate(connector, expired)
    emu.graph.install_certificate(connector, seeded.leaves[0], replace=False)
    with make_rotator(emu, tmp_path, overlap(connector)) as rotator:
        report = rotator.rotate(RotationRequest())
    assert report.outcomes[0].outcome is Outcome.ROTATED, report.outcomes[0].reason
    assert thumbprints(emu, connector) == [seeded.leaves[0].thumbprint, seeded.leaves[1].thumbprint]
    assert [e.method for e in graph_writes(emu)] == ["PATCH", "POST"]


def test_rollback_pin_holds_until_unpinned(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """--version pins an older version: scheduled runs keep it; unpin returns to the newest."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 30}, {"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    target = {"id": connector, "certificate": "api-cert"}
    with make_rotator(emu, tmp_path, target) as rotator:
        rotator.rotate(RotationRequest())
        rollback = rotator.rotate(
            RotationRequest(
                connector_ids=(connector,),
                version=seeded.versions[0],
                force=True,
                reason="new cert breaks the API",
            )
        )
        scheduled = rotator.rotate(RotationRequest(trigger="timer"))
        status = rotator.status()
        assert rotator.unpin(connector) is not None
        after_unpin = rotator.rotate(RotationRequest(trigger="timer"))
    assert rollback.outcomes[0].outcome is Outcome.ROTATED
    assert scheduled.outcomes[0].outcome is Outcome.UP_TO_DATE
    assert "pinned" in (scheduled.outcomes[0].reason or "")
    assert status.targets[0].pinned_version == seeded.versions[0]
    assert status.targets[0].target_version == seeded.versions[0]
    assert status.targets[0].newest_version == seeded.versions[1]
    assert status.targets[0].in_sync is True
    assert after_unpin.outcomes[0].outcome is Outcome.ROTATED
    assert thumbprints(emu, connector) == [seeded.leaves[1].thumbprint]
    assert LocalStateStore(tmp_path).read(connector).pin is None


def test_a_newer_version_after_the_pin_releases_it(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """A version added to Key Vault after the rollback wins: the pin is cleared and it is installed."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 30}, {"age": 2}])
    connector = emu.graph.add_connector("API", "https://api.test")
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        rotator.rotate(
            RotationRequest(
                connector_ids=(connector,), version=seeded.versions[0], reason="rollback"
            )
        )
        fixed = pki.make_leaf("fixed", issuer=ca)
        emu.vault.import_certificate("api-cert", fixed, chain=[ca.certificate])
        report = rotator.rotate(RotationRequest(trigger="timer"))
    assert report.outcomes[0].outcome is Outcome.ROTATED
    assert thumbprints(emu, connector) == [fixed.thumbprint]
    assert LocalStateStore(tmp_path).read(connector).pin is None


def test_unpin_command(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """`rotator unpin --connector ID` clears a pin and says so."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 30}, {"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        rotator.rotate(
            RotationRequest(connector_ids=(connector,), version=seeded.versions[0], reason="r")
        )
    result = subprocess.run(
        [sys.executable, "-m", "rotator", "unpin", "--connector", connector],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"unpinned from version {seeded.versions[0]}" in result.stdout
    assert LocalStateStore(tmp_path).read(connector).pin is None


def test_racing_callers_write_to_graph_once(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, azurite: str
) -> None:
    """Four processes rotating one connector at once through the blob store: one PATCH reaches Graph."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    emu.faults.add(service="graph", method="PATCH", delay=1.5)  # the holder is mid-rotation
    env = {
        **os.environ,
        **environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"}),
        "AzureWebJobsStorage": azurite,
        "ROTATOR_STATE_DIR": "",  # as in a Function App: else it would win over the blob store
        "ROTATOR_STATE_CONTAINER": f"race-{uuid.uuid4().hex[:8]}",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "rotator", "rotate", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = Counter(
        json.loads(p.communicate(timeout=120)[0])["outcomes"][0]["outcome"] for p in processes
    )
    assert len(requests(emu, service="graph", method="PATCH")) == 1
    assert outcomes["rotated"] == 1
    assert outcomes["rotated"] + outcomes["skipped"] + outcomes["up-to-date"] == 4
    assert outcomes["skipped"] >= 1


def test_a_dry_run_rollback_pins_nothing(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """--version with --dry-run is a preview: no pin is written, the next run is unaffected."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 30}, {"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    emu.graph.install_certificate(connector, seeded.leaves[0])
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        preview = rotator.rotate(
            RotationRequest(connector_ids=(connector,), version=seeded.versions[0], dry_run=True)
        )
        scheduled = rotator.rotate(RotationRequest(trigger="timer"))
    assert preview.outcomes[0].outcome is Outcome.UP_TO_DATE
    assert LocalStateStore(tmp_path).read(connector).pin is None
    assert scheduled.outcomes[0].outcome is Outcome.ROTATED
    assert thumbprints(emu, connector) == [seeded.leaves[1].thumbprint]


def test_check_accepts_a_prestaged_certificate(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """`rotator check` after an overlap pre-stage: up to date, not refused for the future version."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 10}, {"age": 1, "valid": (7, 400)}])
    connector = emu.graph.add_connector("API", "https://api.test")
    with make_rotator(emu, tmp_path, overlap(connector)) as rotator:
        assert rotator.rotate(RotationRequest()).outcomes[0].outcome is Outcome.ROTATED
    env = environment(emu, tmp_path, overlap(connector))
    result = subprocess.run(
        [sys.executable, "-m", "rotator", "check", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout
    (target,) = json.loads(result.stdout)["targets"]
    assert target["keyVaultVersion"] == seeded.versions[0]
    assert target["plan"] == "up-to-date"
