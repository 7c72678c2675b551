"""``rotator status`` as a monitor reads it (issue 21): the word of attention, the last outcome and
the display name of every target, and an exit code that is 1 exactly when someone must act."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rotator.emulator import Emulator, pki

from .support import deferred_target, environment, seed_certificate
from .test_cli import run


@pytest.fixture
def ca() -> pki.Issued:
    return pki.make_ca("Status CA")


def one_target(document: str) -> dict[str, Any]:
    (target,) = json.loads(document)["targets"]
    assert isinstance(target, dict)
    return target


def test_a_failed_last_rotation_is_failing_and_exits_1(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Graph refuses the write: status exits 1, JSON says lastOutcome failed and attention
    failing, and the text starts with FAILING, the display name and the failure."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector = emu.graph.add_connector("Profile enrichment API", "https://api.test")
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    emu.faults.add(service="graph", method="PATCH", status=400)
    assert run(env, "rotate").returncode == 1
    document = run(env, "status", "--json")
    assert document.returncode == 1, document.stderr
    target = one_target(document.stdout)
    assert target["lastOutcome"]["outcome"] == "failed"
    assert target["lastOutcome"]["trigger"] == "cli"
    assert target["lastOutcome"]["at"].endswith("Z")
    assert target["attention"] == "failing"
    assert target["displayName"] == "Profile enrichment API"
    text = run(env, "status")
    assert text.returncode == 1
    first, second = text.stdout.splitlines()[:2]
    assert first.startswith(f'FAILING     {connector}  "Profile enrichment API"')
    assert second.startswith("            last       failed ")
    assert "(cli): " in second


def test_an_expiring_credential_exits_1_though_in_sync(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """In sync but expiring within the warning days: attention expiring, exit 1."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1, "valid": (-1, 10)}])
    connector = emu.graph.add_connector("API", "https://api.test")
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    assert run(env, "rotate").returncode == 0
    result = run(env, "status", "--json")
    assert result.returncode == 1
    target = one_target(result.stdout)
    assert (target["inSync"], target["attention"]) == (True, "expiring")
    assert target["lastOutcome"]["outcome"] == "rotated"
    quiet = environment(
        emu,
        tmp_path,
        {"id": connector, "certificate": "api-cert"},
        ROTATOR_EXPIRY_WARNING_DAYS="5",
    )
    assert run(quiet, "status").returncode == 0


def test_a_deferred_certificate_exits_0(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """A certificate waiting for its notBefore asks nothing: attention deferred, exit 0."""
    target = deferred_target(emu, ca)
    connector = target["id"]
    env = environment(emu, tmp_path, target)
    result = run(env, "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert one_target(result.stdout)["attention"] == "deferred"
    assert run(env, "status").stdout.startswith(f'deferred    {connector}  "Cert API"')


def test_an_ok_target_exits_0_and_rotate_names_it(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """rotate --json and its text carry the display name read from Graph; status is then ok."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector = emu.graph.add_connector("Orders API", "https://api.test")
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    rotated = run(env, "rotate", "--json")
    assert json.loads(rotated.stdout)["outcomes"][0]["displayName"] == "Orders API"
    again = run(env, "rotate")
    assert again.stdout.startswith(f'up-to-date  {connector}  "Orders API"  (certificate)')
    status = run(env, "status")
    assert status.returncode == 0, status.stdout
    assert status.stdout.startswith(f'ok          {connector}  "Orders API"')
    assert status.stdout.splitlines()[-1] == "1 target(s): 1 ok"


def test_status_help_documents_the_exit_codes() -> None:
    """`status --help` says which words of attention exit 1."""
    text = run({}, "status", "--help").stdout
    assert "1 a target is failing, refused, behind or expiring" in text
    assert "0 every target is ok or deferred" in text
