"""PKCS#12 handling: what Key Vault gives is validated, and what Graph gets is 3DES with the chain."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

from rotator import pkcs12
from rotator.emulator import pki
from rotator.errors import CredentialError
from rotator.model import Pkcs12Profile

NOW = pki.utcnow()
SRC = "certificate 'c' version v1"


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Test Root")


@pytest.fixture(scope="module")
def intermediate(ca: pki.Issued) -> pki.Issued:
    return pki.make_ca("Test Intermediate", issuer=ca)


@pytest.fixture(scope="module")
def leaf(intermediate: pki.Issued) -> pki.Issued:
    return pki.make_leaf("api.contoso.test", issuer=intermediate)


def pfx_secret(key: object, leaf: pki.Issued, *chain: pki.Issued) -> str:
    data = pki.keyvault_pfx(key, leaf.certificate, [c.certificate for c in chain])  # type: ignore[arg-type]
    return base64.b64encode(data).decode()


def test_loads_key_vault_pfx_with_chain_in_order(
    ca: pki.Issued, intermediate: pki.Issued, leaf: pki.Issued
) -> None:
    """A PFX secret yields the leaf and its issuers nearest first, whatever order they came in."""
    bundle = pkcs12.load_secret(
        pfx_secret(leaf.key, leaf, ca, intermediate), "application/x-pkcs12", source=SRC
    )
    assert bundle.thumbprint == leaf.thumbprint
    assert [c.subject for c in bundle.chain] == [
        intermediate.certificate.subject,
        ca.certificate.subject,
    ]


def test_loads_pem_with_leaf_not_first(
    ca: pki.Issued, intermediate: pki.Issued, leaf: pki.Issued
) -> None:
    """A PEM secret whose certificates are out of order still finds the leaf by its key."""
    text = pki.pem_bundle(leaf.key, ca.certificate, [leaf.certificate, intermediate.certificate])
    bundle = pkcs12.load_secret(text, "application/x-pem-file", source=SRC)
    assert bundle.thumbprint == leaf.thumbprint
    assert len(bundle.chain) == 2


def test_unrelated_certificates_are_left_out(leaf: pki.Issued, intermediate: pki.Issued) -> None:
    """A certificate that is not on the leaf's path is not sent to Graph."""
    stranger = pki.make_ca("Unrelated CA")
    bundle = pkcs12.load_secret(
        pfx_secret(leaf.key, leaf, stranger, intermediate), "application/x-pkcs12", source=SRC
    )
    assert [c.subject for c in bundle.chain] == [intermediate.certificate.subject]


def test_content_type_parameters_are_ignored(leaf: pki.Issued) -> None:
    """``application/x-pkcs12; charset=…`` is still PKCS#12."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12; x=y", source=SRC)
    assert bundle.thumbprint == leaf.thumbprint


@pytest.mark.parametrize(
    ("value", "content_type", "message"),
    [
        ("not base64 at all!", "application/x-pkcs12", "not valid base64"),
        (base64.b64encode(b"garbage").decode(), "application/x-pkcs12", "corrupt"),
        ("hello", "text/plain", "neither application/x-pkcs12 nor application/x-pem-file"),
        ("hello", None, "content type None"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "application/x-pem-file",
            "corrupt",
        ),
    ],
)
def test_unreadable_secrets_are_refused(value: str, content_type: str | None, message: str) -> None:
    """Corrupt or unknown secrets raise a CredentialError that names the source."""
    with pytest.raises(CredentialError, match=message) as caught:
        pkcs12.load_secret(value, content_type, source=SRC)
    assert SRC in str(caught.value)


def test_pem_without_key_is_refused(leaf: pki.Issued) -> None:
    """A certificate without its private key cannot be sent (the key must be exportable)."""
    with pytest.raises(CredentialError, match=r"no private key.*exportable"):
        pkcs12.load_secret(
            pki.pem_bundle(None, leaf.certificate), "application/x-pem-file", source=SRC
        )


def test_pfx_without_key_is_refused(leaf: pki.Issued) -> None:
    """A PFX holding only the certificate is refused the same way."""
    with pytest.raises(CredentialError, match="no private key"):
        pkcs12.load_secret(pfx_secret(None, leaf), "application/x-pkcs12", source=SRC)


def test_key_that_does_not_match_the_leaf_is_refused(leaf: pki.Issued) -> None:
    """A key from another certificate is refused before anything is sent."""
    other_key = pki.new_rsa_key()
    with pytest.raises(CredentialError, match="does not match"):
        pkcs12.load_secret(
            pki.pem_bundle(other_key, leaf.certificate), "application/x-pem-file", source=SRC
        )


def test_ec_key_is_refused() -> None:
    """B2C needs RSA; an EC certificate is refused with that reason."""
    ec_leaf = pki.make_leaf("ec.test", key=pki.new_ec_key())
    with pytest.raises(CredentialError, match=r"elliptic-curve.*RSA"):
        pkcs12.load_secret(
            pki.pem_bundle(ec_leaf.key, ec_leaf.certificate), "application/x-pem-file", source=SRC
        )


def test_short_rsa_key_is_refused() -> None:
    """RSA below 2048 bits is refused (B2C's documented minimum)."""
    weak = pki.make_leaf("weak.test", key=pki.new_rsa_key(1024))
    with pytest.raises(CredentialError, match=r"1024 bits.*2048"):
        pkcs12.load_secret(pfx_secret(weak.key, weak), "application/x-pkcs12", source=SRC)


def test_encrypted_pem_key_is_refused(leaf: pki.Issued) -> None:
    """Key Vault keeps PEM keys unencrypted; an encrypted one is refused with that explanation."""
    from cryptography.hazmat.primitives import serialization

    key_pem = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    text = key_pem + pki.pem_bundle(None, leaf.certificate)
    with pytest.raises(CredentialError, match="encrypted"):
        pkcs12.load_secret(text, "application/x-pem-file", source=SRC)


def test_validate_refuses_expired_and_not_yet_valid(intermediate: pki.Issued) -> None:
    """The leaf must be valid now."""
    old = pki.make_leaf(
        "old",
        issuer=intermediate,
        not_before=NOW - dt.timedelta(days=30),
        not_after=NOW - dt.timedelta(days=1),
    )
    future = pki.make_leaf("new", issuer=intermediate, not_before=NOW + dt.timedelta(days=1))
    for issued, message in ((old, "expired"), (future, "not valid before")):
        bundle = pkcs12.load_secret(
            pfx_secret(issued.key, issued), "application/x-pkcs12", source=SRC
        )
        with pytest.raises(CredentialError, match=message):
            pkcs12.validate(bundle, now=NOW, source=SRC)


def test_validate_refuses_a_secret_that_holds_another_certificate(leaf: pki.Issued) -> None:
    """The backing secret must hold the certificate Key Vault lists for that version."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12", source=SRC)
    with pytest.raises(CredentialError, match="lists"):
        pkcs12.validate(bundle, now=NOW, source=SRC, expected_thumbprint="00" * 20)
    pkcs12.validate(bundle, now=NOW, source=SRC, expected_thumbprint=leaf.thumbprint.lower())


def test_legacy_profile_is_3des_with_sha1_mac(
    ca: pki.Issued, intermediate: pki.Issued, leaf: pki.Issued
) -> None:
    """The default output is what B2C accepts: 3DES bags and a SHA-1 MAC (read by openssl)."""
    bundle = pkcs12.load_secret(
        pfx_secret(leaf.key, leaf, intermediate, ca), "application/x-pkcs12", source=SRC
    )
    password = pkcs12.new_password()
    data = pkcs12.to_pkcs12(bundle, password, Pkcs12Profile.LEGACY_3DES)
    info = openssl_info(data, password)
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "MAC: sha1" in info
    assert "AES" not in info
    _, cert, extra = crypto_pkcs12.load_key_and_certificates(data, password.encode())
    assert cert is not None
    assert pkcs12.thumbprint(cert) == leaf.thumbprint
    assert [c.subject for c in extra] == [intermediate.certificate.subject, ca.certificate.subject]


def test_aes_profile_is_pbes2(leaf: pki.Issued) -> None:
    """The opt-in aes256 profile writes PBES2 AES-256 with a SHA-256 MAC."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12", source=SRC)
    password = pkcs12.new_password()
    info = openssl_info(pkcs12.to_pkcs12(bundle, password, Pkcs12Profile.AES256), password)
    assert "AES-256-CBC" in info
    assert "MAC: sha256" in info


def test_empty_password_is_refused(leaf: pki.Issued) -> None:
    """Graph gets no PFX without a password."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12", source=SRC)
    with pytest.raises(ValueError, match="non-empty"):
        pkcs12.to_pkcs12(bundle, "", Pkcs12Profile.LEGACY_3DES)


def test_new_password_is_fresh_and_long() -> None:
    """Each rotation gets a new random password of 43 URL-safe characters."""
    passwords = {pkcs12.new_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 43 for p in passwords)


def test_bundle_repr_hides_the_key(leaf: pki.Issued) -> None:
    """repr of a bundle never shows the private key."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12", source=SRC)
    assert "private_key" not in repr(bundle)
    assert "RSAPrivateKey" not in repr(bundle)


def openssl_info(data: bytes, password: str) -> str:
    """What the openssl CLI, an independent reader, says about a PKCS#12 file."""
    result = subprocess.run(
        ["openssl", "pkcs12", "-info", "-noout", "-passin", f"pass:{password}"],
        input=data,
        capture_output=True,
        check=True,
    )
    return (result.stdout + result.stderr).decode()
