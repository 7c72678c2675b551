"""`rotator check`, the operator's preflight: what is wrong, with the fix, and nothing written.

Each test runs the command as a separate process against the emulator, as an operator would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rotator.emulator import Emulator, pki

from .support import DAY, environment, graph_writes, seed_certificate, seed_secret
from .test_cli import run
from .test_graph_identity import APP_ID, B2C_TENANT, certificate_mode

PASSWORD = "check-canary-password-7f3a"


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Check CA")


@pytest.fixture
def targets(emu: Emulator, ca: pki.Issued) -> tuple[dict[str, Any], dict[str, Any]]:
    """A certificate target and a basic-auth target, both behind Key Vault."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    seed_secret(emu, "api-password", [{"value": PASSWORD}])
    cert = {"id": emu.graph.add_connector("Cert API", "https://a.test"), "certificate": "api-cert"}
    basic = {
        "id": emu.graph.add_connector("Basic API", "https://b.test", username="svc"),
        "basic": {"username": "svc", "passwordSecret": "api-password"},
    }
    return cert, basic


def check(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = run(env, "check", "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def finding(target: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in target["findings"] if f["check"] == name)


def graph_finding(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in report["graph"]["findings"] if f["check"] == name)


def test_healthy_targets_exit_0_and_say_they_would_rotate(
    emu: Emulator, tmp_path: Path, targets: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """A working deployment exits 0; each target says which version a rotation would install."""
    code, report = check(environment(emu, tmp_path, *targets))
    assert code == 0, report
    assert report["ok"] is True
    assert [t["plan"] for t in report["targets"]] == ["rotate", "rotate"]
    assert all(f["ok"] for t in report["targets"] for f in t["findings"])
    assert report["graph"]["identity"]["tenantId"] == emu.tenant_id
    assert report["graph"]["identity"]["roles"] == sorted(emu.identity.graph_roles)
    assert report["keyVault"]["identity"]["audience"] == "https://vault.azure.net"
    assert graph_writes(emu) == []


def test_check_writes_no_state(
    emu: Emulator, tmp_path: Path, targets: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """The state store is not created or written by a check."""
    state_dir = tmp_path / "state"
    code, _ = check({**environment(emu, state_dir, *targets)})
    assert code == 0
    assert not state_dir.exists() or list(state_dir.iterdir()) == []


def test_up_to_date_after_a_rotation(
    emu: Emulator, tmp_path: Path, targets: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """After a rotation the check reports both targets up to date."""
    env = environment(emu, tmp_path, *targets)
    assert run(env, "rotate").returncode == 0
    emu.clear_journal()
    code, report = check(env)
    assert code == 0
    assert [t["plan"] for t in report["targets"]] == ["up-to-date", "up-to-date"]
    assert report["targets"][0]["connectorAuthentication"] == "certificate"
    assert report["targets"][0]["connectorExpiresOn"].endswith("Z")
    assert graph_writes(emu) == []


def test_human_output_shows_plan_and_no_secret(
    emu: Emulator, tmp_path: Path, targets: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """The human report names identities and plans and never prints a password or a token."""
    result = run(environment(emu, tmp_path, *targets), "check")
    assert result.returncode == 0, result.stderr
    assert "graph identity" in result.stdout
    assert "would rotate to version" in result.stdout
    assert result.stdout.rstrip().endswith("2 target(s): 2 ready, 0 not ready")
    assert PASSWORD not in result.stdout + result.stderr
    assert "eyJ" not in result.stdout + result.stderr  # no JWT


def no_permission(emu: Emulator) -> None:
    emu.identity.graph_roles = set()


def wrong_audience(emu: Emulator) -> None:
    emu.identity.audience_override = "https://management.azure.com"


@pytest.mark.parametrize(
    ("breakage", "failing", "fix_names"),
    [
        (no_permission, "graph.permission", ["APIConnectors.ReadWrite.All", "admin consent"]),
        (wrong_audience, "graph.audience", ["ROTATOR_GRAPH_ENDPOINT"]),
    ],
    ids=["missing-permission", "wrong-audience"],
)
def test_unusable_graph_token_names_the_fix(
    emu: Emulator,
    tmp_path: Path,
    targets: tuple[dict[str, Any], dict[str, Any]],
    breakage: Callable[[Emulator], None],
    failing: str,
    fix_names: list[str],
) -> None:
    """A Graph token without the permission or for another audience fails, fix named, no write."""
    breakage(emu)
    code, report = check(environment(emu, tmp_path, *targets))
    assert code == 1
    failed = graph_finding(report, failing)
    assert failed["ok"] is False
    assert all(name in failed["fix"] for name in fix_names)
    assert all(not finding(t, "graph.connector")["ok"] for t in report["targets"])
    assert all(t["plan"] == "fail" for t in report["targets"])
    assert graph_writes(emu) == []


def test_missing_secret_names_the_object_to_create(
    emu: Emulator, tmp_path: Path, targets: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """A password secret that does not exist is reported with the vault and the config key."""
    _, basic = targets
    missing = {**basic, "basic": {"username": "svc", "passwordSecret": "no-such-secret"}}
    code, report = check(environment(emu, tmp_path, missing))
    assert code == 1
    versions = finding(report["targets"][0], "keyvault.versions")
    assert versions["ok"] is False
    assert "'no-such-secret' was not found" in versions["detail"]
    assert "ROTATOR_CONFIG" in versions["fix"]
    assert graph_writes(emu) == []


@pytest.mark.parametrize(
    ("denied", "failing", "role"),
    [
        ("secrets", "keyvault.value", "Key Vault Secrets User"),  # the backing secret (the key)
        ("certificates", "keyvault.versions", "Key Vault Certificate User"),
    ],
)
def test_missing_vault_role_names_the_role_and_the_identity(
    emu: Emulator,
    tmp_path: Path,
    targets: tuple[dict[str, Any], dict[str, Any]],
    denied: str,
    failing: str,
    role: str,
) -> None:
    """A Key Vault role the identity lacks is named, with the identity and the vault."""
    emu.vault.deny(denied)
    cert, _ = targets
    code, report = check(environment(emu, tmp_path, cert))
    assert code == 1
    failed = finding(report["targets"][0], failing)
    assert failed["ok"] is False
    assert f"'{role}' role on the vault {emu.vault_url}" in failed["fix"]
    assert emu.tokens.client_id in failed["fix"]
    assert report["targets"][0]["plan"] == "fail"
    assert graph_writes(emu) == []


def test_expired_client_certificate_names_the_setting(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, targets: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """client-certificate mode with an expired app certificate fails on the Graph identity."""
    now = pki.utcnow()
    expired = pki.make_leaf("graph-app", issuer=ca, not_before=now - 400 * DAY, not_after=now - DAY)
    emu.vault.import_certificate("graph-app", expired, chain=[ca.certificate])
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=expired.certificate)
    env = environment(emu, tmp_path, *targets, **certificate_mode(emu))
    code, report = check(env)
    assert code == 1
    token = graph_finding(report, "graph.token")
    assert token["ok"] is False
    assert "ROTATOR_GRAPH_CLIENT_CERTIFICATE (certificate 'graph-app'" in token["detail"]
    assert "1 expired" in token["detail"]
    assert report["graph"]["identity"] is None
    assert all(t["plan"] == "fail" for t in report["targets"])
    assert graph_writes(emu) == []


def test_client_certificate_identity_is_the_b2c_app(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, targets: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """In client-certificate mode Graph sees the app in the B2C tenant, Key Vault the MI."""
    b2c_targets = [
        {**t, "id": emu.graph.add_connector("B2C API", "https://b2c.test", tenant_id=B2C_TENANT)}
        for t in targets
    ]
    app = pki.make_leaf("graph-app", issuer=ca)
    emu.vault.import_certificate("graph-app", app, chain=[ca.certificate])
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=app.certificate)
    code, report = check(environment(emu, tmp_path, *b2c_targets, **certificate_mode(emu)))
    assert code == 0, report
    graph = report["graph"]["identity"]
    assert (graph["tenantId"], graph["appId"], graph["identityType"]) == (B2C_TENANT, APP_ID, "app")
    assert app.thumbprint in graph["source"]
    assert report["keyVault"]["identity"]["tenantId"] == emu.tenant_id
    assert graph_writes(emu) == []


def test_invalid_configuration_exits_2(emu: Emulator, tmp_path: Path) -> None:
    """A configuration error stops the check before any network call, with exit code 2."""
    emu.clear_journal()
    env = environment(
        emu, tmp_path, {"id": "c1", "certificate": "x"}, ROTATOR_GRAPH_CREDENTIAL="client-cert"
    )
    result = run(env, "check")
    assert result.returncode == 2
    assert "ROTATOR_GRAPH_CREDENTIAL='client-cert'" in result.stderr
    assert emu.journal() == []
