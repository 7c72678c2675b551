"""One bad record, answer or lease never stops the run, silences an alarm, or leaks a secret:
damaged state, status that always answers, stuck leases, terminal escapes, echoed secrets."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rotator.emulator import Emulator, pki
from rotator.functions import service
from rotator.model import Outcome, RotationReport, RotationRequest
from rotator.state.local import LocalStateStore
from rotator.state.records import HistoryEntry, append, now_iso
from rotator.steps.leases import FUNCTION_TIMEOUT, LEASE_STUCK_AFTER

from .support import environment, graph_writes, make_rotator, seed_certificate, seed_secret
from .test_cli import run

pytestmark = pytest.mark.usefixtures("azure_env")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Hardening CA")


def two_basic(emu: Emulator) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two basic-auth connectors behind one secret with a newer version to install."""
    seed_secret(emu, "pw", [{"value": "old", "age": 9}, {"value": "new-password-1"}])
    first = emu.graph.add_connector("A", "https://a.test", username="u", password="old")
    second = emu.graph.add_connector("B", "https://b.test", username="u", password="old")
    target = {"basic": {"username": "u", "passwordSecret": "pw"}}
    return {"id": first, **target}, {"id": second, **target}


def damage(state_dir: Path, connector: str, data: bytes) -> Path:
    path = state_dir / "connectors" / f"{connector}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# -- 1. a damaged state record ----------------------------------------------------------------


def test_a_damaged_record_fails_only_its_connector_and_the_run_completes(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not UTF-8 in one record: that connector fails naming the record, the other
    rotates, the run completes and is logged, the failure's own history write is only a warning."""
    first, second = two_basic(emu)
    path = damage(tmp_path, first["id"], b"\xff\xfe{}")
    with (
        caplog.at_level(logging.INFO, logger="rotator"),
        make_rotator(emu, tmp_path, first, second, ROTATOR_MAX_PARALLEL="1") as rotator,
    ):
        report = rotator.rotate(RotationRequest())
    damaged, fine = report.outcomes
    assert damaged.outcome is Outcome.FAILED
    assert damaged.reason == (
        f"state record of connector {first['id']} ({path}) is unreadable: it is not UTF-8 text "
        "(byte 0); delete or repair it (the next run starts afresh without it)"
    )
    assert fine.outcome is Outcome.ROTATED
    events = [r.getMessage().split(" ", 1)[0] for r in caplog.records]
    assert "rotation.run_completed" in events
    assert "rotation.history_not_written" in events
    assert len(graph_writes(emu)) == 1


def test_the_cli_reaches_every_connector_past_a_damaged_record(
    emu: Emulator, tmp_path: Path
) -> None:
    """The CLI, one connector at a time, reports the damaged record and rotates the next: exit 1,
    no traceback."""
    first, second = two_basic(emu)
    state = tmp_path / "state"
    damage(state, first["id"], b"\xff\xfe{}")
    env = environment(emu, state, first, second, ROTATOR_MAX_PARALLEL="1")
    result = run(env, "rotate", "--json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    outcomes = [o["outcome"] for o in json.loads(result.stdout)["outcomes"]]
    assert outcomes == ["failed", "rotated"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"pin": {"version": "v1", "pinned_at": "garbage"}}, "field pin.pinned_at"),
        ({"applied": {"key_vault_url": 1}}, "field applied.key_vault_url"),
    ],
)
def test_a_damaged_pin_or_applied_field_is_named(
    emu: Emulator, tmp_path: Path, record: dict[str, Any], field: str
) -> None:
    """A damaged pin or applied field says which record and field, not 'unexpected ValueError'."""
    first, _ = two_basic(emu)
    damage(tmp_path, first["id"], json.dumps(record).encode())
    with make_rotator(emu, tmp_path, first) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
        (status,) = rotator.status().targets
    assert outcome.outcome is Outcome.FAILED
    assert field in (outcome.reason or "")
    assert "unexpected" not in (outcome.reason or "")
    assert status.in_sync is None
    assert field in (status.error or "")


def test_a_damaged_blob_record_fails_only_its_connector(
    emu: Emulator, tmp_path: Path, azurite: str
) -> None:
    """The blob store: a record of bytes that are not UTF-8 fails its connector, names the blob."""
    from rotator.state.blob import BlobStateStore

    first, second = two_basic(emu)
    store = BlobStateStore.from_connection_string(azurite, "hardening")
    store.read(first["id"])  # creates the container
    container = store._container
    container.get_blob_client(f"connectors/{first['id']}.json").upload_blob(
        b"\xff\xfe{}", overwrite=True
    )
    # as in a Function App: no ROTATOR_STATE_DIR (set, it would win over AzureWebJobsStorage)
    env = {
        "AzureWebJobsStorage": azurite,
        "ROTATOR_STATE_CONTAINER": "hardening",
        "ROTATOR_STATE_DIR": "",
    }
    with make_rotator(emu, tmp_path, first, second, **env) as rotator:
        report = rotator.rotate(RotationRequest())
    assert [o.outcome for o in report.outcomes] == [Outcome.FAILED, Outcome.ROTATED]
    assert f"blob hardening/connectors/{first['id']}.json" in (report.outcomes[0].reason or "")
    store.close()


# -- 3. status always answers -----------------------------------------------------------------


def test_status_answers_with_a_damaged_record_and_a_hostile_graph(
    emu: Emulator, tmp_path: Path
) -> None:
    """Each target's entry carries its own error; the other targets are reported as usual."""
    first, second = two_basic(emu)
    damage(tmp_path, first["id"], b"\xff")
    emu.faults.add(service="graph", method="GET", path=second["id"], body='"a string"')
    with make_rotator(emu, tmp_path, first, second) as rotator:
        targets = rotator.status().targets
    assert [t.in_sync for t in targets] == [None, None]
    assert "is unreadable" in (targets[0].error or "")
    assert "Microsoft Graph" in (targets[1].error or "")


# -- 4. a stuck lease -------------------------------------------------------------------------

HOLDER = """
import json, sys, time, fcntl
from pathlib import Path
path = Path(sys.argv[1])
path.parent.mkdir(parents=True, exist_ok=True)
with path.open("a+") as handle:
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    handle.seek(0); handle.truncate()
    handle.write(json.dumps({"since": sys.argv[2], "pid": 4242, "host": "hung-worker"}))
    handle.flush()
    print("held", flush=True)
    time.sleep(60)
"""


def hold_lease(state_dir: Path, connector: str, since: dt.datetime) -> subprocess.Popen[str]:
    """Another process holds the connector's lease file, saying it took it at ``since``."""
    path = state_dir / "connectors" / f"{connector}.lease"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), now_iso(since)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def expiring_certificate(emu: Emulator, ca: pki.Issued) -> dict[str, Any]:
    """A connector on a certificate 5 days from expiry, nothing newer in Key Vault."""
    seeded = seed_certificate(emu, "cert", ca, [{"age": 300, "valid": (-300, 5)}])
    connector = emu.graph.add_connector("Expiring", "https://x.test")
    emu.graph.install_certificate(connector, seeded.leaves[0], chain=[ca.certificate])
    return {"id": connector, "certificate": "cert"}


def timer_run_with_lease_held(
    emu: Emulator,
    ca: pki.Issued,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    *,
    held_for: dt.timedelta,
) -> RotationReport:
    """A timer run over an expiring certificate whose lease another process took ``held_for`` ago."""
    target = expiring_certificate(emu, ca)
    holder = hold_lease(tmp_path, target["id"], dt.datetime.now(dt.UTC) - held_for)
    try:
        with (
            caplog.at_level(logging.INFO, logger="rotator"),
            make_rotator(emu, tmp_path, target) as rotator,
        ):
            return service.run_timer(rotator)
    finally:
        holder.kill()
        holder.wait()


def test_the_stuck_threshold_is_twice_the_functions_timeout() -> None:
    """A lease is stuck after twice host.json's functionTimeout: longer than any run."""
    hours, minutes, seconds = json.loads((REPO / "host.json").read_text())["functionTimeout"].split(
        ":"
    )
    timeout = dt.timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds))
    assert timeout == FUNCTION_TIMEOUT
    assert 2 * timeout == LEASE_STUCK_AFTER


def test_a_held_lease_does_not_silence_the_expiry_warning(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A timer run that finds the lease held (briefly) still warns that the certificate expires."""
    report = timer_run_with_lease_held(emu, ca, tmp_path, caplog, held_for=dt.timedelta(0))
    assert [o.outcome for o in report.outcomes] == [Outcome.SKIPPED]
    warnings = [r for r in caplog.records if r.getMessage().startswith("rotation.expiry_warning")]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_a_lease_held_longer_than_any_run_is_an_error_that_says_how_to_free_it(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A lease held 45 minutes: rotation.lease_stuck at ERROR, the target failed (so the alert
    fires), counted in run_completed, the expiry still warned, nothing broken or written."""
    report = timer_run_with_lease_held(emu, ca, tmp_path, caplog, held_for=dt.timedelta(minutes=45))
    (outcome,) = report.outcomes
    assert outcome.outcome is Outcome.FAILED
    assert outcome.lease_stuck
    assert outcome.to_json()["leaseStuck"] is True
    assert "by process 4242 on hung-worker" in (outcome.reason or "")
    assert "(45 minutes)" in (outcome.reason or "")
    assert "so that process is alive but hung: stop it" in (outcome.reason or "")
    by_event = {r.getMessage().split(" ", 1)[0]: r for r in caplog.records}
    assert by_event["rotation.lease_stuck"].levelno == logging.ERROR
    assert by_event["rotation.run_completed"].levelno == logging.ERROR
    assert by_event["rotation.run_completed"].__dict__["rotator"]["leaseStuck"] == 1
    assert by_event["rotation.run_completed"].__dict__["rotator"]["failed"] == 1
    assert "rotation.expiry_warning" in by_event
    assert graph_writes(emu) == []


def test_an_infinite_blob_lease_is_reported_stuck_with_the_blob_to_break(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, azurite: str
) -> None:
    """A blob lease made infinite (rotator never takes one) is stuck at once; never broken."""
    from azure.storage.blob import BlobLeaseClient

    from rotator.state.blob import BlobStateStore

    target = expiring_certificate(emu, ca)
    store = BlobStateStore.from_connection_string(azurite, "stuck")
    store.read(target["id"])
    blob = store._container.get_blob_client(f"leases/{target['id']}")
    blob.upload_blob(b"", overwrite=True)
    BlobLeaseClient(blob).acquire(lease_duration=-1)
    # as in a Function App: no ROTATOR_STATE_DIR (set, it would win over AzureWebJobsStorage)
    env = {
        "AzureWebJobsStorage": azurite,
        "ROTATOR_STATE_CONTAINER": "stuck",
        "ROTATOR_STATE_DIR": "",
    }
    with make_rotator(emu, tmp_path, target, **env) as rotator:
        (outcome,) = rotator.rotate(RotationRequest(trigger="timer")).outcomes
    assert outcome.outcome is Outcome.FAILED
    assert outcome.lease_stuck
    assert "with a lease that never ends" in (outcome.reason or "")
    assert f"break the lease of blob stuck/leases/{target['id']}" in (outcome.reason or "")
    assert blob.get_blob_properties().lease.state == "leased"  # rotator did not break it
    store.close()


# -- 7. text from outside reaches a terminal escaped ------------------------------------------


def test_history_renders_control_characters_visibly(emu: Emulator, tmp_path: Path) -> None:
    """A stored reason with CR LF and a terminal escape neither forges a line nor clears the
    screen: it is printed as \\r\\n and \\x1b; JSON keeps it as JSON escapes it."""
    first, _ = two_basic(emu)
    store = LocalStateStore(tmp_path / "state")
    forged = "boom\r\n  2026-01-01T00:00:00Z  rotated    forged\x1b[2J\u202e"
    append(
        store,
        first["id"],
        HistoryEntry(now_iso(dt.datetime.now(dt.UTC)), "cli", "failed", reason=forged),
    )
    env = environment(emu, tmp_path / "state", first)
    text = run(env, "history", "--connector", first["id"]).stdout
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\u202e" not in text
    assert "boom\\r\\n  2026-01-01T00:00:00Z  rotated    forged\\x1b[2J\\u202e" in text
    assert len([line for line in text.splitlines() if "rotated" in line]) == 1
    as_json = run(env, "history", "--connector", first["id"], "--json").stdout
    assert "\\u001b[2J" in as_json  # JSON's own escape
    assert [e["reason"] for e in json.loads(as_json)["history"]] == [forged]


# -- 9. a secret echoed by a service ----------------------------------------------------------


def test_a_password_echoed_by_graph_never_reaches_the_reason_log_or_history(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Graph's error quoting the request body (the new password): scrubbed everywhere."""
    secret = "ECHO-CANARY-password-7c1f"
    seed_secret(emu, "pw", [{"value": "old", "age": 9}, {"value": secret}])
    connector = emu.graph.add_connector("Echo", "https://e.test", username="u", password="old")
    echo = '{"error": {"code": "BadRequest", "message": "Invalid body: {request}"}}'
    emu.faults.add(service="graph", method="PATCH", status=400, body=echo)
    target = {"id": connector, "basic": {"username": "u", "passwordSecret": "pw"}}
    with caplog.at_level(logging.DEBUG), make_rotator(emu, tmp_path, target) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    assert outcome.outcome is Outcome.FAILED
    assert "Invalid body" in (outcome.reason or "")
    assert "[redacted]" in (outcome.reason or "")
    history = LocalStateStore(tmp_path).read(connector).history[-1].reason or ""
    for place in (outcome.reason or "", caplog.text, history):
        assert secret not in place
