"""Keep-alive against the emulator: rotator registers its own renewed certificate on its Graph
app with addKey (a proof signed by the old key), waits for Entra to accept it, rotates with it,
and later removes the keys it added."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from rotator.config.settings import Settings
from rotator.emulator import Emulator, pki
from rotator.functions import service
from rotator.model import Outcome, RotationRequest
from rotator.rotation import Rotator

from .support import DAY, requests, seed_secret

pytestmark = pytest.mark.usefixtures("azure_env")

TENANT, APP = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Keep-alive CA")


def app_version(emu: Emulator, ca: pki.Issued, *, age: int, days: int) -> pki.Issued:
    """A version of Key Vault certificate 'graph-app' created ``age`` days ago, valid ``days``."""
    now = pki.utcnow()
    leaf = pki.make_leaf(
        "rotator-app", issuer=ca, not_before=now - age * DAY, not_after=now + days * DAY
    )
    emu.vault.import_certificate("graph-app", leaf, chain=[ca.certificate], created=now - age * DAY)
    return leaf


def setup(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, *, verify_timeout: str = "10", **identity: Any
) -> tuple[Settings, str, str]:
    """An app registered with today's certificate only; a basic connector of its tenant."""
    seed_secret(emu, "pw", [{"value": "old", "age": 9}, {"value": "new-password-1"}])
    connector = emu.graph.add_connector("API", "https://a.test", username="u", tenant_id=TENANT)
    object_id = emu.entra.object_id(TENANT, APP)
    config = {
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
                **identity,
            }
        },
        "connectors": [
            {"id": connector, "identity": "b2c", "basic": {"username": "u", "passwordSecret": "pw"}}
        ],
    }
    env = {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps(config),
        "ROTATOR_STATE_DIR": str(tmp_path / "state"),
        "ROTATOR_VERIFY_TIMEOUT": verify_timeout,
    }
    return Settings.from_env(env), connector, object_id


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [
        r.__dict__["rotator"] for r in caplog.records if r.getMessage().split(" ", 1)[0] == name
    ]


def test_a_renewed_certificate_is_added_accepted_used_and_the_old_rotator_key_removed(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Run 1: addKey for the renewed certificate (proof by the old one), a token with it after
    Entra's half-second delay, then the connector rotated with it. Run 2, after a third version:
    added again, and the key run 1 added removed (grace 0); the administrator's key stays."""
    first = app_version(emu, ca, age=300, days=20)
    emu.entra.register_app(APP, tenant_id=TENANT, certificate=first.certificate)
    second = app_version(emu, ca, age=1, days=365)
    emu.entra.new_key_delay = 0.5
    settings, _, object_id = setup(emu, ca, tmp_path, keepAliveGraceDays=0)
    emu.clear_journal()
    with (
        caplog.at_level(logging.INFO, logger="rotator"),
        Rotator.from_settings(settings) as rotator,
    ):
        report = service.run_timer(rotator)
        assert [o.outcome for o in report.outcomes] == [Outcome.ROTATED]
        (added,) = events(caplog, "rotation.identity_key_added")
        assert (added["thumbprint"], added["provenBy"]) == (second.thumbprint, first.thumbprint)
        keys = {k.thumbprint: k for k in emu.entra.key_credentials(TENANT, APP)}
        assert set(keys) == {first.thumbprint, second.thumbprint}
        assert keys[second.thumbprint].added_by_add_key
        assert keys[second.thumbprint].key_id == added["keyId"]
        graph_tokens = [t for t in emu.entra.issued() if t.scope.startswith(emu.graph_url)]
        assert graph_tokens[-1].thumbprint == second.thumbprint  # the rotation used the new one
        add_calls = requests(
            emu, service="graph", method="POST", path=f"/applications/{object_id}/addKey"
        )
        assert [e.status for e in add_calls] == [200]
        (status,) = events(caplog, "rotation.identity_keep_alive")
        assert status["status"] == "added"

        third = app_version(emu, ca, age=0, days=400)
        caplog.clear()
        rotator.keep_alive()
    keys_now = {k.thumbprint for k in emu.entra.key_credentials(TENANT, APP)}
    assert keys_now == {first.thumbprint, third.thumbprint}
    (removed,) = events(caplog, "rotation.identity_key_removed")
    assert (removed["keyId"], removed["why"]) == (added["keyId"], "superseded")
    assert [e.status for e in requests(emu, service="graph", path="/removeKey")] == [204]


def test_an_add_key_whose_answer_is_unusable_is_not_forgotten(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """addKey lands but Graph's 200 carries HTML (a fault on this tenant only): the run still
    confirms the key (added), remembering it without a keyId; the next run reads the app, finds
    the key by its thumbprint, and once a newer version works removes it (grace 0)."""
    first = app_version(emu, ca, age=300, days=20)
    emu.entra.register_app(APP, tenant_id=TENANT, certificate=first.certificate)
    second = app_version(emu, ca, age=1, days=365)
    settings, _, object_id = setup(emu, ca, tmp_path, keepAliveGraceDays=0)
    emu.faults.add(
        service="graph",
        method="POST",
        path="/addKey$",
        body="<html><body>Service busy</body></html>",
        content_type="text/html",
        handled=True,
        tenant=TENANT,
        times=1,
    )
    with (
        caplog.at_level(logging.INFO, logger="rotator"),
        Rotator.from_settings(settings) as rotator,
    ):
        (added,) = rotator.keep_alive()
        keys = {k.thumbprint: k.key_id for k in emu.entra.key_credentials(TENANT, APP)}
        third = app_version(emu, ca, age=0, days=400)
        (renewed,) = rotator.keep_alive()
    assert (added.status, renewed.status) == ("added", "added")
    on_app = {k.thumbprint: k.key_id for k in emu.entra.key_credentials(TENANT, APP)}
    (reconciled,) = events(caplog, "rotation.identity_key_reconciled")
    assert reconciled["thumbprint"] == second.thumbprint
    assert reconciled["found"] == "on-application"
    (removed,) = events(caplog, "rotation.identity_key_removed")
    assert (removed["thumbprint"], removed["keyId"]) == (second.thumbprint, keys[second.thumbprint])
    assert set(on_app) == {first.thumbprint, third.thumbprint}
    reads = requests(emu, service="graph", method="GET", path=f"/applications/{object_id}")
    assert [e.status for e in reads] == [200]


def test_a_key_entra_has_not_accepted_yet_is_pending_then_current(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Entra does not accept the new key yet and the run does not wait (verify timeout 0):
    pending (a WARNING, the connector still rotates with the old key); once Entra has caught
    up, the next run finds it current without adding it again."""
    first = app_version(emu, ca, age=300, days=20)
    emu.entra.register_app(APP, tenant_id=TENANT, certificate=first.certificate)
    app_version(emu, ca, age=1, days=365)
    emu.entra.new_key_delay = 3600
    settings, _, _ = setup(emu, ca, tmp_path, verify_timeout="0")
    with (
        caplog.at_level(logging.INFO, logger="rotator"),
        Rotator.from_settings(settings) as rotator,
    ):
        (pending,) = rotator.keep_alive()
        report = rotator.rotate(RotationRequest())
        assert emu.entra.accept_new_keys() == 1
        (current,) = rotator.keep_alive()
    assert pending.status == "pending"
    assert [o.outcome for o in report.outcomes] == [Outcome.ROTATED]
    assert current.status == "current"
    assert len(requests(emu, service="graph", path="/addKey")) == 1


def test_an_app_without_a_working_certificate_is_stranded_with_what_to_upload(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only an expired certificate is registered: no proof can be signed; ERROR naming the
    certificate to upload, the app and the tenant; nothing is sent to Graph."""
    expired = pki.make_leaf(
        "old", issuer=ca, not_before=pki.utcnow() - 400 * DAY, not_after=pki.utcnow() - DAY
    )
    emu.entra.register_app(APP, tenant_id=TENANT, certificate=expired.certificate)
    newest = app_version(emu, ca, age=1, days=365)
    settings, _, _ = setup(emu, ca, tmp_path)
    with (
        caplog.at_level(logging.INFO, logger="rotator"),
        Rotator.from_settings(settings) as rotator,
    ):
        (report,) = rotator.keep_alive()
    assert report.status == "stranded"
    assert f"must upload certificate {newest.thumbprint}" in report.detail
    assert f"app {APP} in tenant {TENANT}" in report.detail
    (logged,) = [
        r for r in caplog.records if r.getMessage().startswith("rotation.identity_keep_alive")
    ]
    assert logged.levelno == logging.ERROR
    assert requests(emu, service="graph", path="/applications/") == []


def test_a_new_version_event_for_rotators_own_certificate_runs_keep_alive(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """A CertificateNewVersionCreated event for the identity's certificate registers the new
    version at once, without waiting for the timer (no connector is bound to that object)."""
    first = app_version(emu, ca, age=300, days=20)
    emu.entra.register_app(APP, tenant_id=TENANT, certificate=first.certificate)
    now = pki.utcnow()
    renewed = pki.make_leaf(
        "rotator-app", issuer=ca, not_before=now - DAY, not_after=now + 365 * DAY
    )
    version = emu.vault.import_certificate(
        "graph-app", renewed, chain=[ca.certificate], created=now
    )
    settings, _, object_id = setup(emu, ca, tmp_path)
    data = {
        "Id": f"{emu.vault_url}/certificates/graph-app/{version}",
        "VaultName": "kv",
        "ObjectType": "Certificate",
        "ObjectName": "graph-app",
        "Version": version,
        "NBF": None,
        "EXP": None,
    }
    with Rotator.from_settings(settings) as rotator:
        answer = service.run_event(
            rotator,
            event_id=str(uuid.uuid4()),
            event_type="Microsoft.KeyVault.CertificateNewVersionCreated",
            data=data,
        )
    assert answer is None  # no connector follows rotator's own certificate
    thumbprints = {k.thumbprint for k in emu.entra.key_credentials(TENANT, APP)}
    assert thumbprints == {first.thumbprint, renewed.thumbprint}
    assert [e.status for e in requests(emu, service="graph", path=f"{object_id}/addKey")] == [200]
