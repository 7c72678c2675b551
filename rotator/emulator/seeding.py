"""Seeding: certificates for the control surface without base64 by hand (import a PEM certificate
and key as Key Vault's ``az keyvault certificate import`` would, or generate one), and the demo's
B2C policy keys (:func:`seed_demo_keysets`, used by ``rotator demo`` and ``rotator emulator
--seed demo``)."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from rotator.emulator import pki
from rotator.emulator.api import ApiStore
from rotator.emulator.keysets import KeySetStore, x5t
from rotator.emulator.keyvault import PEM, PKCS12, VaultStore

PEM_MARKER = "-----BEGIN"
DEFAULT_DAYS = 365

# The demo's B2C policy keys: a certificate key set (RESTful technical profile AuthenticationType
# ClientCertificate) and a password key set (Basic), each behind a Key Vault object, and the API
# endpoints (``{api_url}/{name}``) a probe of each would call.
DEMO_CERTIFICATE_KEYSET = "B2C_1A_RestApiClientCertificate"
DEMO_PASSWORD_KEYSET = "B2C_1A_RestApiPassword"  # noqa: S105 - a key set's name
DEMO_KEYSET_CERTIFICATE = "b2c-restapi-client-cert"  # the Key Vault certificate
DEMO_KEYSET_PASSWORD_SECRET = "b2c-restapi-password"  # noqa: S105 - the Key Vault secret's name
DEMO_KEYSET_USERNAME = "b2c-restapi"  # what B2C sends beside the password (its own key set)
DEMO_KEYSET_CERT_ENDPOINT = "restapi-cert"
DEMO_KEYSET_BASIC_ENDPOINT = "restapi-basic"
_DAY = dt.timedelta(days=1)


def content_type_for(secret_value: str, given: str | None) -> str:
    """The backing secret's content type: the one given, else PEM when the value is PEM text
    (Key Vault would store it as such), else PKCS#12."""
    if given:
        return given
    return PEM if secret_value.lstrip().startswith(PEM_MARKER) else PKCS12


def parse_pem(certificate_pem: str, key_pem: str) -> tuple[pki.Issued, list[x509.Certificate]]:
    """The leaf (the first certificate) with its key, and the rest of the chain.

    Raises:
        ValueError: no certificate, an unreadable or encrypted key, or a key that is not the
            leaf's.
    """
    try:
        certificates = x509.load_pem_x509_certificates(certificate_pem.encode())
    except ValueError as exc:
        raise ValueError("certificate holds no PEM certificate") from exc
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("key is not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("key must be RSA or EC")  # noqa: TRY004 - the control surface answers 400
    leaf, chain = certificates[0], certificates[1:]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, public
    ) != leaf.public_key().public_bytes(serialization.Encoding.DER, public):
        raise ValueError("key does not belong to the first certificate")
    return pki.Issued(leaf, key), chain


class CertificateSeeder:
    """Imports PEM pairs and generated certificates into a vault; generated ones are issued
    by one CA of its own (``issuer``), so an API can be told to trust them all at once."""

    def __init__(self, vault: VaultStore) -> None:
        """Seed into ``vault``."""
        self._vault = vault
        self._lock = threading.Lock()
        self._issuer: pki.Issued | None = None

    @property
    def issuer(self) -> pki.Issued:
        """The CA of generated certificates (made on first use)."""
        with self._lock:
            if self._issuer is None:
                self._issuer = pki.make_ca("rotator emulator seeding CA")
            return self._issuer

    def import_pem(
        self, name: str, certificate_pem: str, key_pem: str, **options: Any
    ) -> dict[str, Any]:
        """Import a PEM certificate (+ chain) and key; answer name, version and thumbprint.

        Raises:
            ValueError: see :func:`parse_pem`, or a bad name or content type.
        """
        issued, chain = parse_pem(certificate_pem, key_pem)
        version = self._vault.import_certificate(name, issued, chain=chain, **options)
        return {"name": name, "version": version, "thumbprint": issued.thumbprint}

    def generate(
        self,
        name: str,
        *,
        subject: str = "api.contoso.test",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key_size: int = 2048,
        **options: Any,
    ) -> dict[str, Any]:
        """Generate an RSA certificate issued by :attr:`issuer` and import it; answer name,
        version, thumbprint and the certificate and its issuer (PEM, public only).

        Raises:
            ValueError: a bad name, dates in the wrong order or a key size below 1024.
        """
        if key_size < 1024:
            raise ValueError("keySize must be at least 1024")
        start = not_before or pki.utcnow() - dt.timedelta(minutes=5)
        end = not_after or start + dt.timedelta(days=DEFAULT_DAYS)
        if end <= start:
            raise ValueError("notAfter must be after notBefore")
        issuer = self.issuer
        leaf = pki.make_leaf(
            subject, issuer=issuer, not_before=start, not_after=end, key=pki.new_rsa_key(key_size)
        )
        version = self._vault.import_certificate(name, leaf, chain=[issuer.certificate], **options)
        return {
            "name": name,
            "version": version,
            "thumbprint": leaf.thumbprint,
            "certificate": _pem(leaf.certificate),
            "issuer": _pem(issuer.certificate),
        }


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def import_options(
    body: Mapping[str, Any], enabled: bool, created: dt.datetime | None
) -> dict[str, Any]:
    """The ``import_certificate`` keywords a seeding body may set."""
    options: dict[str, Any] = {"enabled": enabled, "created": created}
    if body.get("contentType") is not None:
        options["content_type"] = body["contentType"]
    return options


@dataclass(frozen=True)
class DemoKeySets:
    """What :func:`seed_demo_keysets` made: the names, the Key Vault versions (oldest first),
    the newest usable certificate's thumbprints and password, and lines that say it all."""

    certificate_versions: tuple[str, ...]
    password_versions: tuple[str, ...]
    renewed_thumbprint: str  # upper-case hex SHA-1, as Key Vault and connectors show it
    renewed_x5t: str  # base64url SHA-1, as the key set will show it
    newest_password: str = field(repr=False)
    lines: tuple[str, ...] = ()
    certificate_keyset: str = DEMO_CERTIFICATE_KEYSET
    password_keyset: str = DEMO_PASSWORD_KEYSET
    certificate: str = DEMO_KEYSET_CERTIFICATE
    password_secret: str = DEMO_KEYSET_PASSWORD_SECRET
    username: str = DEMO_KEYSET_USERNAME


def seed_demo_keysets(
    vault: VaultStore, keysets: KeySetStore, api: ApiStore, *, issuer: pki.Issued
) -> DemoKeySets:
    """Seed the demo's two policy keys, each one version behind Key Vault.

    ``B2C_1A_RestApiClientCertificate`` holds the key of the certificate's old version; Key Vault's
    ``b2c-restapi-client-cert`` also has a renewed one (issued by ``issuer``), the newest usable.
    ``B2C_1A_RestApiPassword`` holds the old value of ``b2c-restapi-password``, whose newest
    version is another. The API endpoints accept both old and new credentials (they were told
    about the renewal first), so a probe passes. Readable with the default managed-identity token.
    """
    now = pki.utcnow()
    lines: list[str] = []
    certificate_versions: list[str] = []
    leaves: list[pki.Issued] = []
    for label, age, days_left in (
        ("in the key set", 300, 30),
        ("renewed: the newest usable", 1, 365),
    ):
        start = now - age * _DAY
        leaf = pki.make_leaf(
            "restapi.contoso-demo.onmicrosoft.com",
            issuer=issuer,
            not_before=start,
            not_after=now + days_left * _DAY,
        )
        version = vault.import_certificate(
            DEMO_KEYSET_CERTIFICATE, leaf, chain=[issuer.certificate], created=start
        )
        certificate_versions.append(version)
        leaves.append(leaf)
        api.trust_certificate(DEMO_KEYSET_CERT_ENDPOINT, leaf.thumbprint)
        lines.append(f"{DEMO_KEYSET_CERTIFICATE} {version}  {leaf.thumbprint}  {label}")
    api.trust_issuer(issuer.certificate)
    keysets.create_keyset(DEMO_CERTIFICATE_KEYSET)
    kid = keysets.add_certificate(DEMO_CERTIFICATE_KEYSET, leaves[0].certificate)
    lines.append(
        f"{DEMO_CERTIFICATE_KEYSET}: 1 key, active {kid} (x5t {x5t(leaves[0].certificate)})"
    )

    values = [secrets.token_urlsafe(24), secrets.token_urlsafe(24)]
    password_versions: list[str] = []
    for label, age, value in (
        ("in the key set", 90, values[0]),
        ("the newest usable", 10, values[1]),
    ):
        version = vault.add_secret_version(
            DEMO_KEYSET_PASSWORD_SECRET, value, created=now - age * _DAY
        )
        password_versions.append(version)
        api.accept_basic(DEMO_KEYSET_BASIC_ENDPOINT, DEMO_KEYSET_USERNAME, value)
        lines.append(f"{DEMO_KEYSET_PASSWORD_SECRET} {version}  {label}")
    keysets.create_keyset(DEMO_PASSWORD_KEYSET)
    nbf = int((now - 90 * _DAY).timestamp())
    kid = keysets.add_secret(DEMO_PASSWORD_KEYSET, values[0], use="enc", nbf=nbf)
    lines.append(f"{DEMO_PASSWORD_KEYSET}: 1 key, active {kid} (values are never printed)")
    return DemoKeySets(
        certificate_versions=tuple(certificate_versions),
        password_versions=tuple(password_versions),
        renewed_thumbprint=leaves[1].thumbprint,
        renewed_x5t=x5t(leaves[1].certificate),
        newest_password=values[1],
        lines=tuple(lines),
    )
