"""PKCS#12 handling: what Key Vault gives is validated, and what Graph gets is 3DES with the chain."""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

from rotator.emulator import pki
from rotator.errors import CredentialError
from rotator.model import Pkcs12Profile
from rotator.steps import pkcs12

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


def pfx_secret(key: pki.PrivateKey | None, leaf: pki.Issued, *chain: pki.Issued) -> str:
    data = pki.keyvault_pfx(key, leaf.certificate, [c.certificate for c in chain])
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


# -- behaviour and messages pinned by mutation testing (./dev mutate) ----------------------


def test_a_chain_certificate_whose_signature_does_not_verify_is_left_out(
    ca: pki.Issued, intermediate: pki.Issued, leaf: pki.Issued
) -> None:
    """An issuer with the right name but another key is not the leaf's issuer: it is dropped."""
    impostor = pki.make_ca("Test Intermediate")  # same subject as the intermediate, other key
    bundle = pkcs12.load_secret(
        pfx_secret(leaf.key, leaf, impostor, intermediate, ca), "application/x-pkcs12", source=SRC
    )
    assert [pkcs12.thumbprint(c) for c in bundle.chain] == [
        intermediate.thumbprint,
        ca.thumbprint,
    ]
    alone = pkcs12.load_secret(
        pfx_secret(leaf.key, leaf, impostor), "application/x-pkcs12", source=SRC
    )
    assert alone.chain == ()


def test_a_self_signed_leaf_has_no_chain(ca: pki.Issued) -> None:
    """A self-signed certificate ends the path: nothing that comes with it is added as issuer."""
    twin = pki.make_ca("Test Root", key=ca.key)  # same name and key, another serial
    bundle = pkcs12.load_secret(pfx_secret(ca.key, ca, twin), "application/x-pkcs12", source=SRC)
    assert bundle.thumbprint == ca.thumbprint
    assert bundle.chain == ()


def test_key_kind_messages_are_exact(leaf: pki.Issued) -> None:
    """A key B2C cannot use is named: elliptic-curve by name, anything else by its type."""
    ec_leaf = pki.make_leaf("ec.test", key=pki.new_ec_key())
    with pytest.raises(CredentialError) as caught:
        pkcs12.load_secret(
            pki.pem_bundle(ec_leaf.key, ec_leaf.certificate), "application/x-pem-file", source=SRC
        )
    assert str(caught.value) == (
        "certificate 'c' version v1: the key is an elliptic-curve (EC) key; "
        "B2C API connectors need an RSA key of at least 2048 bits"
    )
    edwards = ed25519.Ed25519PrivateKey.generate()
    text = pki.pem_bundle(edwards, leaf.certificate)  # type: ignore[arg-type]  # the key it refuses
    with pytest.raises(CredentialError) as caught:
        pkcs12.load_secret(text, "application/x-pem-file", source=SRC)
    assert "the key is a key of type Ed25519PrivateKey; B2C API connectors" in str(caught.value)


def test_a_key_matching_no_certificate_lists_the_subjects(ca: pki.Issued, leaf: pki.Issued) -> None:
    """The refusal of a foreign key names every certificate that came with it."""
    text = pki.pem_bundle(pki.new_rsa_key(), leaf.certificate, [ca.certificate])
    with pytest.raises(CredentialError) as caught:
        pkcs12.load_secret(text, "application/x-pem-file", source=SRC)
    assert str(caught.value) == (
        "certificate 'c' version v1: the private key does not match the certificate "
        "(CN=api.contoso.test, CN=Test Root); "
        "the key and the leaf certificate must belong together"
    )


def key_pem(leaf: pki.Issued) -> str:
    return leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_a_key_without_certificate_is_refused(leaf: pki.Issued) -> None:
    """A PEM or a PFX holding only a private key is refused with that reason."""
    pfx = crypto_pkcs12.serialize_key_and_certificates(
        None, leaf.key, None, None, serialization.NoEncryption()
    )
    secrets = (
        (key_pem(leaf), "application/x-pem-file"),
        (base64.b64encode(pfx).decode(), "application/x-pkcs12"),
    )
    for value, content_type in secrets:
        with pytest.raises(CredentialError) as caught:
            pkcs12.load_secret(value, content_type, source=SRC)
        assert (
            str(caught.value) == "certificate 'c' version v1 holds a private key but no certificate"
        )


# The PEM markers are assembled, so no key-shaped block stands in the tree (nothing here is a key).
_BEGIN, _END = "-----BEGIN " + "PRIVATE KEY-----", "-----END " + "PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("key_block", "message"),
    [
        (f"{_BEGIN}\nAAAA\n", "the PEM private key block is incomplete"),
        (f"{_BEGIN}\nAAAA\n{_END}\n", "the PEM private key is corrupt"),
    ],
)
def test_broken_pem_keys_are_refused(leaf: pki.Issued, key_block: str, message: str) -> None:
    """A truncated or corrupt PEM key is refused with a sentence that says which."""
    text = pki.pem_bundle(None, leaf.certificate) + key_block
    with pytest.raises(CredentialError) as caught:
        pkcs12.load_secret(text, "application/x-pem-file", source=SRC)
    assert str(caught.value) == f"{SRC}: {message}"


def test_a_pem_with_an_unencodable_character_still_loads(leaf: pki.Issued) -> None:
    """A stray lone surrogate outside the PEM blocks does not stop the secret from loading."""
    text = "comment \ud800\n" + pki.pem_bundle(leaf.key, leaf.certificate)
    assert pkcs12.load_secret(text, "application/x-pem-file", source=SRC).thumbprint == (
        leaf.thumbprint
    )


def test_pfx_messages_are_exact(leaf: pki.Issued) -> None:
    """Corrupt PKCS#12 and a secret without a key say what happened and what to do."""
    with pytest.raises(CredentialError) as caught:
        pkcs12.load_secret(
            base64.b64encode(b"garbage").decode(), "application/x-pkcs12", source=SRC
        )
    assert str(caught.value) == (
        f"{SRC}: the PKCS#12 file is corrupt or password-protected; Key Vault keeps "
        "certificates as PFX without a password, so re-import it"
    )
    with pytest.raises(CredentialError) as caught:
        pkcs12.load_secret(pfx_secret(None, leaf), "application/x-pkcs12", source=SRC)
    assert str(caught.value) == (
        f"{SRC} holds no private key: the certificate policy must mark the key exportable "
        "(key_props.exportable = true) and the certificate must be imported with its key"
    )


def test_base64_may_be_wrapped_but_not_carry_junk(leaf: pki.Issued) -> None:
    """Line breaks inside the base64 are ignored; any other stray character refuses the secret."""
    encoded = pfx_secret(leaf.key, leaf)
    wrapped = "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
    assert pkcs12.load_secret(wrapped, "application/x-pkcs12", source=SRC).thumbprint == (
        leaf.thumbprint
    )
    junk = encoded[:100] + "*" + encoded[100:]
    with pytest.raises(CredentialError) as caught:
        pkcs12.load_secret(junk, "application/x-pkcs12", source=SRC)
    assert str(caught.value) == (
        f"{SRC}: the PKCS#12 secret is not valid base64; re-import the certificate"
    )


def test_validity_boundaries_are_not_before_inclusive_not_after_exclusive(
    intermediate: pki.Issued,
) -> None:
    """A leaf is valid from its notBefore included to its notAfter excluded."""
    issued = pki.make_leaf(
        "edge", issuer=intermediate, not_before=NOW - dt.timedelta(days=1), not_after=NOW
    )
    bundle = pkcs12.load_secret(pfx_secret(issued.key, issued), "application/x-pkcs12", source=SRC)
    pkcs12.validate(bundle, now=bundle.not_before, source=SRC)
    with pytest.raises(CredentialError) as caught:
        pkcs12.validate(bundle, now=bundle.not_after, source=SRC)
    assert str(caught.value) == (
        f"{SRC}: the certificate expired on {bundle.not_after:%Y-%m-%d %H:%M} UTC"
    )


def test_thumbprint_mismatch_message_is_exact(leaf: pki.Issued) -> None:
    """The refusal of a secret holding another certificate shows both thumbprints upper-case."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12", source=SRC)
    with pytest.raises(CredentialError) as caught:
        pkcs12.validate(bundle, now=NOW, source=SRC, expected_thumbprint="ab" * 20)
    assert str(caught.value) == (
        f"{SRC}: the backing secret holds certificate {leaf.thumbprint}, but Key Vault "
        f"lists {'AB' * 20} for this version; re-import the certificate"
    )


def test_empty_password_message_is_exact(leaf: pki.Issued) -> None:
    """The programming error of an empty password says what is needed."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12", source=SRC)
    with pytest.raises(ValueError, match=r"^a PKCS#12 for Graph needs a non-empty password$"):
        pkcs12.to_pkcs12(bundle, "", Pkcs12Profile.AES256)


def kdf_iterations(info: str) -> list[int]:
    """The iteration counts openssl reports for the encrypted certificates and the key bag."""
    return [
        int(count)
        for line in info.splitlines()
        if line.startswith(("PKCS7 Encrypted data:", "Shrouded Keybag:"))
        for count in re.findall(r"Iteration (\d+)", line)
    ]


def test_legacy_profile_derives_its_keys_with_2048_iterations(leaf: pki.Issued) -> None:
    """The 3DES PKCS#12 Graph receives says 2048 KDF iterations for its certificates and key."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12", source=SRC)
    password = pkcs12.new_password()
    info = openssl_info(pkcs12.to_pkcs12(bundle, password, Pkcs12Profile.LEGACY_3DES), password)
    assert kdf_iterations(info) == [2048, 2048]


def test_aes_profile_derives_its_keys_with_20000_iterations(leaf: pki.Issued) -> None:
    """The AES-256 PKCS#12 says 20000 PBKDF2 iterations for its certificates and key."""
    bundle = pkcs12.load_secret(pfx_secret(leaf.key, leaf), "application/x-pkcs12", source=SRC)
    password = pkcs12.new_password()
    info = openssl_info(pkcs12.to_pkcs12(bundle, password, Pkcs12Profile.AES256), password)
    assert kdf_iterations(info) == [20000, 20000]


def test_a_traditional_ec_pem_key_is_refused_as_elliptic_curve() -> None:
    """A key in an ``EC PRIVATE KEY`` block is read and refused as elliptic-curve, not as a
    broken block."""
    ec_leaf = pki.make_leaf("ec.test", key=pki.new_ec_key())
    key = ec_leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert key.startswith("-----BEGIN EC ")
    cert = ec_leaf.certificate.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(CredentialError, match=r"elliptic-curve \(EC\) key.*RSA"):
        pkcs12.load_secret(key + cert, "application/x-pem-file", source=SRC)


def test_a_traditional_rsa_pem_key_is_read(leaf: pki.Issued) -> None:
    """A key in an ``RSA PRIVATE KEY`` block loads like a PKCS#8 one."""
    key = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert key.startswith("-----BEGIN RSA ")
    cert = leaf.certificate.public_bytes(serialization.Encoding.PEM).decode()
    bundle = pkcs12.load_secret(key + cert, "application/x-pem-file", source=SRC)
    assert pkcs12.thumbprint(bundle.leaf) == leaf.thumbprint
