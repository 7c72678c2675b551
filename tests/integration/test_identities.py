"""Several tenants in one deployment: each identity has its own credential, client and workers,
so one tenant's broken credential or 429 storm touches only its own connectors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from rotator.config.settings import Settings
from rotator.emulator import Emulator, pki
from rotator.model import Outcome, RotationRequest
from rotator.rotation import Rotator

from .support import DAY, graph_writes, requests, seed_secret
from .test_check import check
from .test_cli import run

pytestmark = pytest.mark.usefixtures("azure_env")

PROD, TEST, STORM = (str(uuid.uuid4()) for _ in range(3))
PROD_APP, TEST_APP, STORM_APP = (str(uuid.uuid4()) for _ in range(3))


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Identities CA")


def app_certificate(emu: Emulator, ca: pki.Issued, name: str) -> pki.Issued:
    now = pki.utcnow()
    leaf = pki.make_leaf(name, issuer=ca, not_before=now - DAY, not_after=now + 365 * DAY)
    emu.vault.import_certificate(name, leaf, chain=[ca.certificate], created=now - DAY)
    return leaf


def fleet(emu: Emulator, ca: pki.Issued) -> dict[str, Any]:
    """Four identities, one basic-auth connector each, all behind a newer password: b2c-prod
    (certificate app), b2c-test (secret app whose Key Vault secret is wrong), storm (certificate
    app in a tenant whose Graph answers 429 to everything) and workforce (the managed identity)."""
    seed_secret(emu, "pw", [{"value": "old", "age": 9}, {"value": "new-password-1"}])
    for tenant, app, name in ((PROD, PROD_APP, "prod-app"), (STORM, STORM_APP, "storm-app")):
        emu.entra.register_app(
            app, tenant_id=tenant, certificate=app_certificate(emu, ca, name).certificate
        )
    emu.entra.register_app(TEST_APP, tenant_id=TEST, secret="the-right-secret")
    emu.vault.add_secret_version("test-app-secret", "a-wrong-secret")
    connectors = {}
    identities: tuple[tuple[str, str | None], ...] = (
        ("b2c-prod", PROD),
        ("b2c-test", TEST),
        ("storm", STORM),
        ("workforce", None),
    )
    for identity, home_tenant in identities:
        connector = emu.graph.add_connector(
            identity, "https://api.test", username="u", password="old", tenant_id=home_tenant
        )
        connectors[identity] = connector
    emu.faults.add(service="graph", path=connectors["storm"], status=429, retry_after="1")
    authority = emu.authority_url
    config = {
        "keyVaultUrl": emu.vault_url,
        "identities": {
            "b2c-prod": {
                "credential": "client-certificate",
                "tenantId": PROD,
                "clientId": PROD_APP,
                "clientCertificate": "prod-app",
                "authorityHost": authority,
            },
            "b2c-test": {
                "credential": "client-secret",
                "tenantId": TEST,
                "clientId": TEST_APP,
                "clientSecret": "test-app-secret",
                "authorityHost": authority,
            },
            "storm": {
                "credential": "client-certificate",
                "tenantId": STORM,
                "clientId": STORM_APP,
                "clientCertificate": "storm-app",
                "authorityHost": authority,
                "maxParallel": 2,
            },
            "workforce": {"credential": "default"},
        },
        "connectors": [
            {
                "id": connector,
                "identity": identity,
                "basic": {"username": "u", "passwordSecret": "pw"},
            }
            for identity, connector in connectors.items()
        ],
    }
    return {"config": config, "connectors": connectors}


def env_of(emu: Emulator, tmp_path: Path, config: dict[str, Any]) -> dict[str, str]:
    return {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps(config),
        "ROTATOR_STATE_DIR": str(tmp_path / "state"),
        "ROTATOR_VERIFY_TIMEOUT": "3",
    }


def test_a_broken_tenant_and_a_throttled_tenant_touch_only_their_own_connectors(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """b2c-test's wrong secret and storm's 429s fail only their connectors; b2c-prod and
    workforce rotate, each with its own tenant's token, and finish before the storm is over."""
    setup = fleet(emu, ca)
    connectors = setup["connectors"]
    settings = Settings.from_env(env_of(emu, tmp_path, setup["config"]))
    with Rotator.from_settings(settings, graph_options={"max_attempts": 3}) as rotator:
        report = rotator.rotate(RotationRequest())
    by_identity = {o.identity: o for o in report.outcomes}
    assert by_identity["b2c-prod"].outcome is Outcome.ROTATED, by_identity["b2c-prod"].reason
    assert by_identity["workforce"].outcome is Outcome.ROTATED, by_identity["workforce"].reason
    assert by_identity["b2c-test"].outcome is Outcome.FAILED
    assert "Entra refused the client secret" in (by_identity["b2c-test"].reason or "")
    assert by_identity["storm"].outcome is Outcome.FAILED
    assert "429" in (by_identity["storm"].reason or "")
    assert by_identity["b2c-prod"].tenant_id == PROD
    assert by_identity["b2c-prod"].to_json()["identity"] == "b2c-prod"
    writes = {e.path.rsplit("/", 1)[-1] for e in graph_writes(emu) if e.status == 204}
    assert writes == {connectors["b2c-prod"], connectors["workforce"]}
    tokens = {(t.tenant_id, t.client_id) for t in emu.entra.issued()}
    assert (PROD, PROD_APP) in tokens
    assert (STORM, STORM_APP) in tokens
    storm_calls = [e for e in requests(emu, service="graph") if connectors["storm"] in e.path]
    healthy_done = max(
        e.started + e.duration
        for e in requests(emu, service="graph")
        if connectors["b2c-prod"] in e.path or connectors["workforce"] in e.path
    )
    assert len(storm_calls) >= 2
    assert healthy_done < max(e.started for e in storm_calls)


def test_check_reports_once_per_identity(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """`rotator check` names each identity's tenant and app, whether it is usable, and when the
    app's certificate expires; the broken one says what Entra refused."""
    setup = fleet(emu, ca)
    emu.faults.clear()
    code, report = check(env_of(emu, tmp_path, setup["config"]))
    assert code == 1
    identities = {i["name"]: i for i in report["identities"]}
    assert set(identities) == {"b2c-prod", "b2c-test", "storm", "workforce"}
    assert identities["b2c-prod"]["ok"] is True
    assert identities["b2c-prod"]["tenantId"] == PROD
    assert identities["b2c-prod"]["identity"]["appId"] == PROD_APP
    assert identities["b2c-prod"]["credentialExpiresOn"] is not None
    assert identities["b2c-test"]["ok"] is False
    assert identities["workforce"]["ok"] is True
    ready = {t["connectorId"]: t["ok"] for t in report["targets"]}
    assert ready[setup["connectors"]["b2c-test"]] is False
    assert ready[setup["connectors"]["b2c-prod"]] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"connectors": [{"id": "c1", "identity": "nope", "certificate": "x"}]},
            "uses identity 'nope', which 'identities' does not define",
        ),
        (
            {
                "identities": {"spare": {"credential": "default"}},
                "connectors": [{"id": "c1", "certificate": "x"}],
            },
            "identity 'spare' is defined but no connector uses it",
        ),
    ],
)
def test_identity_mistakes_are_configuration_errors_before_any_call(
    emu: Emulator, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    """An unknown or unused identity stops the command with exit 2; nothing is called."""
    config = {"keyVaultUrl": emu.vault_url, **change}
    emu.clear_journal()
    result = run(env_of(emu, tmp_path, config), "status")
    assert result.returncode == 2
    assert message in result.stderr
    assert emu.journal() == []
