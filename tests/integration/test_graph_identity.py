"""Graph reached as an app registered in the B2C tenant (certificate or secret kept in Key Vault).

The managed identity reads Key Vault (the app's credential included); Graph only ever sees the
app's tokens from the emulated Entra token endpoint.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential
from cryptography.hazmat.primitives import serialization

from rotator.emulator import Emulator, pki
from rotator.faces import cli
from rotator.model import Outcome, RotationRequest, TargetOutcome

from .support import DAY, environment, graph_writes, make_rotator, requests, seed_certificate

pytestmark = pytest.mark.usefixtures("azure_env")

B2C_TENANT = str(uuid.uuid4())
APP_ID = str(uuid.uuid4())
APP_SECRET = "emulated-client-secret-value"


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Graph identity CA")


@pytest.fixture
def connector(emu: Emulator, ca: pki.Issued) -> dict[str, Any]:
    """A basic-auth connector of the B2C tenant, to be moved to the newest 'api-cert'."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector_id = emu.graph.add_connector("API", "https://api.test", tenant_id=B2C_TENANT)
    return {"id": connector_id, "certificate": "api-cert"}


def client_mode(emu: Emulator, kind: str) -> dict[str, str]:
    """Graph as the app APP_ID of B2C_TENANT, with its credential in Key Vault ('graph-app' for
    a certificate, 'graph-app-secret' for a secret), tokens from the emulated Entra."""
    return {
        "ROTATOR_GRAPH_CREDENTIAL": f"client-{kind}",
        "ROTATOR_GRAPH_TENANT_ID": B2C_TENANT,
        "ROTATOR_GRAPH_CLIENT_ID": APP_ID,
        f"ROTATOR_GRAPH_CLIENT_{kind.upper()}": "graph-app"
        + ("-secret" if kind == "secret" else ""),
        "ROTATOR_AUTHORITY_HOST": emu.authority_url,
    }


def certificate_mode(emu: Emulator) -> dict[str, str]:
    return client_mode(emu, "certificate")


def secret_mode(emu: Emulator) -> dict[str, str]:
    return client_mode(emu, "secret")


def app_certificate(emu: Emulator, ca: pki.Issued, *, expired: bool = False) -> pki.Issued:
    """The app's certificate, imported into the emulator's vault as 'graph-app'."""
    now = pki.utcnow()
    leaf = pki.make_leaf(
        "rotator-graph-app",
        issuer=ca,
        not_before=now - (400 if expired else 1) * DAY,
        not_after=now - DAY if expired else now + 365 * DAY,
    )
    emu.vault.import_certificate("graph-app", leaf, chain=[ca.certificate], created=now - DAY)
    return leaf


def rotate(emu: Emulator, tmp_path: Path, target: dict[str, Any], **env: str) -> TargetOutcome:
    with make_rotator(emu, tmp_path, target, **env) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    return outcome


def failure(emu: Emulator, tmp_path: Path, target: dict[str, Any], **env: str) -> str:
    """The reason of a rotation that must fail; nothing may have been written to Graph."""
    outcome = rotate(emu, tmp_path, target, **env)
    assert outcome.outcome is Outcome.FAILED, outcome
    assert outcome.reason is not None
    assert graph_writes(emu) == []
    return outcome.reason


def test_certificate_rotation_through_a_client_certificate_app(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, connector: dict[str, Any]
) -> None:
    """A full rotation works with Graph reached as the app, signed by its Key Vault certificate."""
    app_cert = app_certificate(emu, ca)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=app_cert.certificate)
    outcome = rotate(emu, tmp_path, connector, **certificate_mode(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert emu.graph.connector(connector["id"]).auth_type == "certificate"
    (issued,) = emu.entra.issued()
    assert (issued.tenant_id, issued.client_id) == (B2C_TENANT, APP_ID)
    assert (issued.credential, issued.thumbprint) == ("certificate", app_cert.thumbprint)
    assert issued.scope == f"{emu.graph_url}/.default"
    assert all(e.authorized for e in requests(emu, service="graph"))


def test_certificate_rotation_through_a_client_secret_app(
    emu: Emulator, tmp_path: Path, connector: dict[str, Any]
) -> None:
    """client-secret mode reads the app's secret from Key Vault and rotates the same way."""
    emu.vault.add_secret_version("graph-app-secret", APP_SECRET)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, secret=APP_SECRET)
    outcome = rotate(emu, tmp_path, connector, **secret_mode(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert [t.credential for t in emu.entra.issued()] == ["secret"]
    assert [e.status for e in graph_writes(emu)] == [204]


def test_managed_identity_is_never_asked_for_a_graph_token(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, connector: dict[str, Any]
) -> None:
    """In a client mode the managed identity only ever gets Key Vault tokens."""
    app_cert = app_certificate(emu, ca)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=app_cert.certificate)
    rotate(emu, tmp_path, connector, **certificate_mode(emu))
    resources = {parse_qs(e.query)["resource"][0] for e in requests(emu, service="identity")}
    assert resources == {"https://vault.azure.net"}
    assert requests(emu, service="entra", method="POST") != []


def test_a_transient_entra_fault_is_retried(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, connector: dict[str, Any]
) -> None:
    """Faults work on the Entra endpoint ("entra" in the journal); one 503 is retried past."""
    app_cert = app_certificate(emu, ca)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=app_cert.certificate)
    emu.faults.add(service="entra", method="POST", path="/oauth2/v2.0/token", status=503, times=1)
    outcome = rotate(emu, tmp_path, connector, **certificate_mode(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert [e.status for e in requests(emu, service="entra", method="POST")] == [503, 200]


def test_unregistered_certificate_fails_with_the_thumbprint_to_upload(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, connector: dict[str, Any]
) -> None:
    """Entra's AADSTS700027 for a certificate the app does not hold names the one to upload."""
    app_cert = app_certificate(emu, ca)
    other = pki.make_leaf("some other certificate", issuer=ca)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=other.certificate)
    reason = failure(emu, tmp_path, connector, **certificate_mode(emu))
    assert "AADSTS700027" in reason
    assert f"upload the certificate {app_cert.thumbprint}" in reason
    assert f"to app {APP_ID} in tenant {B2C_TENANT}" in reason
    assert requests(emu, service="graph") == []


def test_expired_client_certificate_fails_before_asking_entra(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, connector: dict[str, Any]
) -> None:
    """An expired app certificate in Key Vault is a failure naming the setting and the fix."""
    app_cert = app_certificate(emu, ca, expired=True)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=app_cert.certificate)
    reason = failure(emu, tmp_path, connector, **certificate_mode(emu))
    assert "ROTATOR_GRAPH_CLIENT_CERTIFICATE (certificate 'graph-app'" in reason
    assert "1 expired" in reason
    assert "uploaded to app" in reason
    assert requests(emu, service="entra") == []


@pytest.mark.parametrize(
    ("stored", "fix_names"),
    [
        (None, ["ROTATOR_GRAPH_CLIENT_SECRET (secret 'graph-app-secret'", "was not found"]),
        ("an-old-secret-value", ["AADSTS7000215", "new version of ROTATOR_GRAPH_CLIENT_SECRET"]),
    ],
    ids=["missing-in-key-vault", "refused-by-entra"],
)
def test_unusable_client_secret_fails_naming_the_fix(
    emu: Emulator,
    tmp_path: Path,
    connector: dict[str, Any],
    stored: str | None,
    fix_names: list[str],
) -> None:
    """A client secret missing from Key Vault, or one Entra refuses, fails with what to change."""
    if stored is not None:
        emu.vault.add_secret_version("graph-app-secret", stored)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, secret=APP_SECRET)
    reason = failure(emu, tmp_path, connector, **secret_mode(emu))
    assert all(name in reason for name in fix_names), reason


@pytest.mark.parametrize("kind", ["certificate", "secret"])
def test_app_credential_never_appears_in_output_or_logs(
    emu: Emulator,
    ca: pki.Issued,
    tmp_path: Path,
    connector: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    """At -vvv, check and rotate (refused first, then accepted) print no app key or secret."""
    stale = "CANARY-stale-app-secret-Pq7Rt2"
    app_cert = app_certificate(emu, ca)
    emu.vault.add_secret_version("graph-app-secret", stale, created=pki.utcnow() - 2 * DAY)
    other = pki.make_leaf("not the app's certificate", issuer=ca)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=other.certificate, secret="x")
    env = environment(emu, tmp_path / "state", connector, **client_mode(emu, kind))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["-vvv", "rotate"]) == 1  # refused by Entra: the error path is scanned too
    emu.vault.add_secret_version("graph-app-secret", APP_SECRET)
    emu.entra.register_app(
        APP_ID, tenant_id=B2C_TENANT, certificate=app_cert.certificate, secret=APP_SECRET
    )
    assert cli.main(["-vvv", "check"]) == 0
    assert cli.main(["-vvv", "rotate"]) == 0
    captured = capsys.readouterr()
    assert "DEBUG" in captured.err
    key_pem = app_cert.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_body = "".join(key_pem.split("-----")[2].split())
    emitted = captured.out + captured.err
    squeezed = "".join(emitted.split())  # a logged PEM has line breaks every 64 characters
    for canary in (stale, APP_SECRET, key_body[100:160]):
        assert canary not in emitted
        assert canary not in squeezed


def test_entra_refuses_an_expired_registered_certificate(emu: Emulator, ca: pki.Issued) -> None:
    """The emulated Entra answers AADSTS700027 'key used is expired' like the real one."""
    now = pki.utcnow()
    expired = pki.make_leaf("old", issuer=ca, not_before=now - 400 * DAY, not_after=now - DAY)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=expired.certificate)
    pem = expired.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + expired.certificate.public_bytes(serialization.Encoding.PEM)
    credential = CertificateCredential(
        B2C_TENANT,
        APP_ID,
        certificate_data=pem,
        authority=emu.authority_url,
        disable_instance_discovery=True,
        connection_verify=str(emu.ca_path),
    )
    with pytest.raises(ClientAuthenticationError, match="The key used is expired"):
        credential.get_token(f"{emu.graph_url}/.default")
    assert emu.entra.issued() == []


def test_a_new_unregistered_app_certificate_falls_back_to_the_one_that_works(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Key Vault renewed the app's certificate before anyone uploaded it to the app: Graph keeps
    working with the previous (still valid) certificate, and a warning names what to upload."""
    from rotator.azure.app_credential import KeyVaultAppCredential
    from rotator.azure.credentials import keyvault_factory
    from rotator.config.settings import Settings

    first = app_certificate(emu, ca)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=first.certificate)
    settings = Settings.from_env(
        environment(emu, tmp_path, {"id": "c1", "certificate": "api-cert"}, **certificate_mode(emu))
    )
    from azure.identity import ManagedIdentityCredential

    vaults = keyvault_factory(settings, ManagedIdentityCredential())
    with KeyVaultAppCredential(settings, vaults, refresh_seconds=0) as credential:
        credential.get_token(f"{emu.graph_url}/.default")
        renewed = pki.make_leaf("rotator-graph-app", issuer=ca)
        emu.vault.import_certificate("graph-app", renewed, chain=[ca.certificate])
        token = credential.get_token(f"{emu.graph_url}/.default")
    assert token.token
    warning = next(
        r for r in caplog.records if r.getMessage().startswith("graph.app_credential_fallback")
    )
    assert renewed.thumbprint in warning.getMessage()
    assert "upload" in warning.getMessage()


def test_an_unreachable_authority_is_not_called_a_refusal(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, connector: dict[str, Any]
) -> None:
    """No answer from the token endpoint says 'cannot reach', naming ROTATOR_AUTHORITY_HOST."""
    first = app_certificate(emu, ca)
    emu.entra.register_app(APP_ID, tenant_id=B2C_TENANT, certificate=first.certificate)
    emu.faults.add(service="entra", drop=True)
    reason = failure(emu, tmp_path, connector, **certificate_mode(emu))
    assert "cannot reach Entra" in reason
    assert "ROTATOR_AUTHORITY_HOST" in reason
    assert "refused" not in reason.split("cannot reach Entra")[0]


def test_the_managed_identity_cannot_see_the_b2c_tenants_connectors(
    emu: Emulator, tmp_path: Path, connector: dict[str, Any]
) -> None:
    """A B2C tenant is another directory: with the default credential its connector is not found."""
    reason = failure(emu, tmp_path, connector)
    assert "not found in the tenant" in reason
