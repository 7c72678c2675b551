"""Key Vault secret in (PFX or PEM), validated key + chain, PKCS#12 for Graph out. Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from rotator.errors import CredentialError
from rotator.model import Pkcs12Profile

CONTENT_TYPE_PKCS12 = "application/x-pkcs12"
CONTENT_TYPE_PEM = "application/x-pem-file"
MIN_RSA_BITS = 2048  # B2C's documented requirement
_LEGACY_KDF_ROUNDS = 2048
_AES_KDF_ROUNDS = 20_000
_PEM_KEY = re.compile(rb"-----BEGIN ((?:RSA |EC )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class CertificateBundle:
    """A validated RSA private key with its leaf certificate and the chain above it, leaf first."""

    leaf: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def thumbprint(self) -> str:
        """Upper-case hex SHA-1 of the DER leaf: what Graph shows as the thumbprint."""
        return thumbprint(self.leaf)

    @property
    def not_before(self) -> dt.datetime:
        """Start of the leaf's validity (UTC)."""
        return self.leaf.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        """End of the leaf's validity (UTC)."""
        return self.leaf.not_valid_after_utc


def thumbprint(cert: x509.Certificate) -> str:
    """Upper-case hex SHA-1 of the DER encoding of ``cert``."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def load_secret(value: str, content_type: str | None, *, source: str) -> CertificateBundle:
    """Parse a certificate's backing secret (PFX as base64, or PEM text) into a checked bundle.

    ``source`` names the Key Vault object and version in error messages.

    Raises:
        CredentialError: unknown content type, corrupt data, no private key, a key that matches
            no certificate, or a key B2C does not accept (not RSA, or RSA below 2048 bits).
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == CONTENT_TYPE_PKCS12:
        key, certs = _read_pfx(value, source)
    elif kind == CONTENT_TYPE_PEM:
        key, certs = _read_pem(value, source)
    else:
        raise CredentialError(
            f"{source}: content type {content_type!r} is neither {CONTENT_TYPE_PKCS12} nor "
            f"{CONTENT_TYPE_PEM}; import the certificate into Key Vault as PFX or PEM"
        )
    if key is None:
        raise CredentialError(
            f"{source} holds no private key: the certificate policy must mark the key exportable "
            "(key_props.exportable = true) and the certificate must be imported with its key"
        )
    if not certs:
        raise CredentialError(f"{source} holds a private key but no certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError(
            f"{source}: the key is {_key_kind(key)}; B2C API connectors need an RSA key "
            f"of at least {MIN_RSA_BITS} bits"
        )
    if key.key_size < MIN_RSA_BITS:
        raise CredentialError(
            f"{source}: the RSA key has {key.key_size} bits; B2C API connectors need at least "
            f"{MIN_RSA_BITS}"
        )
    leaf = _leaf_for_key(key, certs, source)
    chain = _chain_above(leaf, [c for c in certs if c is not leaf])
    return CertificateBundle(leaf=leaf, private_key=key, chain=tuple(chain))


def validate(
    bundle: CertificateBundle,
    *,
    now: dt.datetime,
    source: str,
    expected_thumbprint: str | None = None,
    allow_future: bool = False,
) -> None:
    """Refuse a leaf that is not valid at ``now`` or is not the certificate Key Vault listed.

    ``allow_future`` accepts a leaf whose validity starts later (pre-staged in overlap mode).

    Raises:
        CredentialError: expired, not yet valid, or a thumbprint other than ``expected_thumbprint``.
    """
    if expected_thumbprint and bundle.thumbprint != expected_thumbprint.upper():
        raise CredentialError(
            f"{source}: the backing secret holds certificate {bundle.thumbprint}, but Key Vault "
            f"lists {expected_thumbprint.upper()} for this version; re-import the certificate"
        )
    if now < bundle.not_before and not allow_future:
        raise CredentialError(
            f"{source}: the certificate is not valid before {bundle.not_before:%Y-%m-%d %H:%M} UTC"
        )
    if now >= bundle.not_after:
        raise CredentialError(
            f"{source}: the certificate expired on {bundle.not_after:%Y-%m-%d %H:%M} UTC"
        )


def new_password() -> str:
    """A fresh random PKCS#12 password (256 bits, URL-safe text), never empty."""
    return secrets.token_urlsafe(32)


def to_pkcs12(bundle: CertificateBundle, password: str, profile: Pkcs12Profile) -> bytes:
    """The PFX Graph receives: key, leaf and chain, encrypted with ``password``.

    ``legacy-3des`` (the default) is pbeWithSHAAnd3-KeyTripleDES-CBC with a SHA-1 MAC, the only
    encryption B2C accepts; ``aes256`` is PBES2 AES-256-CBC with a SHA-256 MAC.

    Raises:
        ValueError: ``password`` is empty (B2C needs a password; callers use ``new_password``).
    """
    if not password:
        raise ValueError("a PKCS#12 for Graph needs a non-empty password")
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if profile is Pkcs12Profile.LEGACY_3DES:
        builder = (
            builder.kdf_rounds(_LEGACY_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303 - B2C accepts nothing else
        )
    else:
        builder = (
            builder.kdf_rounds(_AES_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    return pkcs12.serialize_key_and_certificates(
        name=None,
        key=bundle.private_key,
        cert=bundle.leaf,
        cas=list(bundle.chain) or None,
        encryption_algorithm=builder.build(password.encode()),
    )


def _read_pfx(value: str, source: str) -> tuple[object | None, list[x509.Certificate]]:
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(
            f"{source}: the PKCS#12 secret is not valid base64; re-import the certificate"
        ) from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, None)
    except ValueError:
        raise CredentialError(
            f"{source}: the PKCS#12 file is corrupt or password-protected; Key Vault keeps "
            "certificates as PFX without a password, so re-import it"
        ) from None
    certs = ([cert] if cert else []) + list(extra)
    return key, certs


def _read_pem(value: str, source: str) -> tuple[object | None, list[x509.Certificate]]:
    data = value.encode(errors="replace")  # UTF-8; a lone surrogate becomes "?"
    try:
        certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN CERTIFICATE" in data else []
    except ValueError:
        raise CredentialError(f"{source}: a certificate in the PEM secret is corrupt") from None
    if b"PRIVATE KEY-----" not in data:
        return None, certs
    if b"ENCRYPTED PRIVATE KEY" in data:
        raise CredentialError(
            f"{source}: the PEM private key is encrypted; Key Vault keeps it unencrypted, re-import it"
        )
    match = _PEM_KEY.search(data)
    if match is None:
        raise CredentialError(f"{source}: the PEM private key block is incomplete")
    try:
        key = serialization.load_pem_private_key(match.group(0), password=None)
    except (ValueError, TypeError):
        raise CredentialError(f"{source}: the PEM private key is corrupt") from None
    return key, certs


def _key_kind(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "an elliptic-curve (EC) key"
    return f"a key of type {type(key).__name__}"


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _leaf_for_key(
    key: rsa.RSAPrivateKey, certs: Sequence[x509.Certificate], source: str
) -> x509.Certificate:
    wanted = _spki(key.public_key())
    for cert in certs:
        if _spki(cert.public_key()) == wanted:
            return cert
    subjects = ", ".join(c.subject.rfc4514_string() for c in certs)
    raise CredentialError(
        f"{source}: the private key does not match the certificate ({subjects}); "
        "the key and the leaf certificate must belong together"
    )


def _chain_above(leaf: x509.Certificate, others: list[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``leaf`` among ``others``, nearest first; certificates off the path are dropped."""
    chain: list[x509.Certificate] = []
    current = leaf
    remaining = list(others)
    while current.issuer != current.subject:  # a self-signed certificate ends the path
        issuer = next((c for c in remaining if _issued_by(current, c)), None)
        if issuer is None:
            break
        chain.append(issuer)
        remaining.remove(issuer)
        current = issuer
    return chain


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
