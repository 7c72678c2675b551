"""Bad input: each case gets a clear, specific reason and leaves the connector untouched."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from rotator.emulator import Emulator, pki
from rotator.model import Outcome, RotationRequest, TargetOutcome

from .support import graph_writes, make_rotator, seed_certificate, seed_secret

pytestmark = pytest.mark.usefixtures("azure_env")


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Bad Input CA")


@pytest.fixture(scope="module")
def installed(ca: pki.Issued) -> pki.Issued:
    return pki.make_leaf("installed.test", issuer=ca)


def rotate_one(
    emu: Emulator, tmp_path: Path, target: dict[str, Any], installed: pki.Issued | None = None
) -> TargetOutcome:
    """Rotate a single target against a connector that holds ``installed``; assert nothing was written."""
    connector = target.get("id") or emu.graph.add_connector("API", "https://api.test")
    if installed is not None:
        emu.graph.install_certificate(connector, installed)
    before = emu.graph.connector(connector) if "id" not in target else None
    with make_rotator(emu, tmp_path, {**target, "id": connector}) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    assert graph_writes(emu) == [], "a refused or failed rotation must not write to Graph"
    if before is not None:
        assert emu.graph.connector(connector) == before
    return outcome


def raw_certificate(
    emu: Emulator, leaf: pki.Issued, secret_value: str, content_type: str = "application/x-pkcs12"
) -> None:
    emu.vault.add_certificate_version(
        "bad-cert",
        cer=leaf.certificate.public_bytes(serialization.Encoding.DER),
        secret_value=secret_value,
        content_type=content_type,
    )


def test_corrupt_pfx(emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path) -> None:
    """A backing secret that is not a PFX is refused as corrupt."""
    leaf = pki.make_leaf("x", issuer=ca)
    raw_certificate(emu, leaf, base64.b64encode(b"\x30\x82garbage").decode())
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "corrupt" in (outcome.reason or "")
    assert "bad-cert" in (outcome.reason or "")


def test_pem_without_key(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """A PEM certificate without its key (non-exportable) is refused with the fix."""
    leaf = pki.make_leaf("x", issuer=ca)
    emu.vault.import_certificate(
        "bad-cert", leaf, content_type="application/x-pem-file", include_key=False
    )
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "no private key" in (outcome.reason or "")
    assert "exportable" in (outcome.reason or "")


def test_key_that_does_not_match_the_leaf(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """A secret whose key belongs to another certificate is refused."""
    leaf = pki.make_leaf("x", issuer=ca)
    raw_certificate(
        emu, leaf, pki.pem_bundle(pki.new_rsa_key(), leaf.certificate), "application/x-pem-file"
    )
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "does not match" in (outcome.reason or "")


def test_only_expired_versions(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """A certificate whose every version has expired is refused, counting them."""
    seed_certificate(
        emu, "bad-cert", ca, [{"age": 400, "valid": (-400, -30)}, {"age": 100, "valid": (-100, -1)}]
    )
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "no usable version (2 expired)" in (outcome.reason or "")


def test_only_not_yet_valid_versions(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """A certificate whose only version starts in the future is refused."""
    seed_certificate(emu, "bad-cert", ca, [{"age": 0, "valid": (5, 400)}])
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "1 not yet valid" in (outcome.reason or "")


def test_disabled_newest_version_falls_back_to_the_previous(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """An operator disabling the newest version makes rotator use the one before it."""
    seeded = seed_certificate(emu, "cert", ca, [{"age": 10}, {"age": 1, "enabled": False}])
    connector = emu.graph.add_connector("API", "https://api.test")
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "cert"}) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    assert outcome.outcome is Outcome.ROTATED
    assert outcome.key_vault_version == seeded.versions[0]


def test_only_version_disabled(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """A certificate whose only version is disabled is refused."""
    seed_certificate(emu, "bad-cert", ca, [{"age": 1, "enabled": False}])
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "1 disabled" in (outcome.reason or "")


def test_ec_key(emu: Emulator, installed: pki.Issued, tmp_path: Path) -> None:
    """An EC certificate is refused: B2C needs RSA."""
    emu.vault.import_certificate("bad-cert", pki.make_leaf("ec", key=pki.new_ec_key()))
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "RSA" in (outcome.reason or "")


def test_rsa_1024(emu: Emulator, installed: pki.Issued, tmp_path: Path) -> None:
    """RSA below 2048 bits is refused."""
    emu.vault.import_certificate("bad-cert", pki.make_leaf("weak", key=pki.new_rsa_key(1024)))
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "1024 bits" in (outcome.reason or "")


def test_certificate_not_found(emu: Emulator, installed: pki.Issued, tmp_path: Path) -> None:
    """A certificate name that is not in the vault fails with the name and the vault."""
    outcome = rotate_one(emu, tmp_path, {"certificate": "missing-cert"}, installed)
    assert outcome.outcome is Outcome.FAILED
    assert "missing-cert" in (outcome.reason or "")
    assert "not found" in (outcome.reason or "")


def test_secret_not_found(emu: Emulator, tmp_path: Path) -> None:
    """A password secret that is not in the vault fails with its name."""
    outcome = rotate_one(
        emu, tmp_path, {"basic": {"username": "u", "passwordSecret": "missing-secret"}}
    )
    assert outcome.outcome is Outcome.FAILED
    assert "missing-secret" in (outcome.reason or "")
    assert "not found" in (outcome.reason or "")


def test_content_type_neither_pkcs12_nor_pem(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """A backing secret of another content type is refused naming the type."""
    leaf = pki.make_leaf("x", issuer=ca)
    raw_certificate(emu, leaf, "hello", "text/plain")
    outcome = rotate_one(emu, tmp_path, {"certificate": "bad-cert"}, installed)
    assert outcome.outcome is Outcome.REFUSED
    assert "'text/plain'" in (outcome.reason or "")


def test_unknown_connector(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """A connector id Graph does not know fails with Graph's 404 and request-id."""
    seed_certificate(emu, "cert", ca, [{"age": 1}])
    outcome = rotate_one(
        emu, tmp_path, {"id": "11111111-2222-3333-4444-555555555555", "certificate": "cert"}
    )
    assert outcome.outcome is Outcome.FAILED
    assert outcome.graph_status == 404
    assert "not found in the tenant" in (outcome.reason or "")
    assert outcome.request_id


def test_graph_403_names_the_permission(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """Without APIConnectors.ReadWrite.All in the token, the error says to grant it."""
    seed_certificate(emu, "cert", ca, [{"age": 1}])
    emu.identity.graph_roles = set()
    outcome = rotate_one(emu, tmp_path, {"certificate": "cert"}, installed)
    assert outcome.outcome is Outcome.FAILED
    assert outcome.graph_status == 403
    assert "APIConnectors.ReadWrite.All" in (outcome.reason or "")


def test_key_vault_403_names_the_role(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """Key Vault access denied says which role to grant."""
    seed_certificate(emu, "cert", ca, [{"age": 1}])
    emu.vault.deny("certificates", "cert")
    outcome = rotate_one(emu, tmp_path, {"certificate": "cert"}, installed)
    assert outcome.outcome is Outcome.FAILED
    assert "Key Vault Certificate User" in (outcome.reason or "")


def test_key_vault_403_on_the_backing_secret_names_the_secrets_role(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """Reading the private key needs the secrets role; the error says so."""
    seed_certificate(emu, "cert", ca, [{"age": 1}])
    emu.vault.deny("secrets", "cert")
    outcome = rotate_one(emu, tmp_path, {"certificate": "cert"}, installed)
    assert outcome.outcome is Outcome.FAILED
    assert "Key Vault Secrets User" in (outcome.reason or "")


def test_wrong_audience_token(
    emu: Emulator, ca: pki.Issued, installed: pki.Issued, tmp_path: Path
) -> None:
    """A token minted for the wrong audience is refused by the services; the run fails clearly."""
    seed_certificate(emu, "cert", ca, [{"age": 1}])
    emu.identity.audience_override = "https://wrong.example"
    outcome = rotate_one(emu, tmp_path, {"certificate": "cert"}, installed)
    assert outcome.outcome is Outcome.FAILED
    assert (
        "authentication" in (outcome.reason or "").lower()
        or "token" in (outcome.reason or "").lower()
    )


def test_empty_password_secret(emu: Emulator, tmp_path: Path) -> None:
    """An empty password is refused, never sent."""
    seed_secret(emu, "pw", [{"value": "", "age": 1}])
    outcome = rotate_one(emu, tmp_path, {"basic": {"username": "u", "passwordSecret": "pw"}})
    assert outcome.outcome is Outcome.REFUSED
    assert "empty" in (outcome.reason or "")


def test_only_expired_password_versions(emu: Emulator, tmp_path: Path) -> None:
    """A password secret whose versions all expired is refused."""
    seed_secret(emu, "pw", [{"value": "a", "age": 10, "expired": True}])
    outcome = rotate_one(emu, tmp_path, {"basic": {"username": "u", "passwordSecret": "pw"}})
    assert outcome.outcome is Outcome.REFUSED
    assert "expired" in (outcome.reason or "")
