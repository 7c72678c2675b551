"""Certificate seeding for the control surface without base64 by hand: import a PEM certificate
and key as Key Vault's ``az keyvault certificate import`` would, or generate one."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from rotator.emulator import pki
from rotator.emulator.keyvault import PEM, PKCS12, VaultStore

PEM_MARKER = "-----BEGIN"
DEFAULT_DAYS = 365


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
