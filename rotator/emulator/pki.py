"""Throwaway certificates for the emulator, the demo and the tests: CAs, leaves, server certs, PFX/PEM.

Everything here is generated at run time; nothing in the repository holds a private key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key (the key is never shown by ``repr``)."""

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the DER certificate, upper-case hex: what Graph calls the thumbprint."""
        return sha1_thumbprint(self.certificate)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA key (bits may be below 2048 to build bad inputs)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key (B2C does not accept EC keys: used to build bad inputs)."""
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(
    common_name: str = "rotator test CA",
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | None = None,
    issuer: Issued | None = None,
) -> Issued:
    """A CA certificate, self-signed or (an intermediate) signed by ``issuer``; ten years by default."""
    now = utcnow()
    key = key or new_rsa_key()
    subject = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer.key if issuer else key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_leaf(
    common_name: str,
    *,
    issuer: Issued | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | None = None,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    server: bool = False,
) -> Issued:
    """A client (or, with ``server=True``, TLS server) certificate signed by ``issuer`` or itself.

    Validity defaults to one hour ago until 365 days from now.
    """
    now = utcnow()
    key = key or new_rsa_key()
    subject = _name(common_name)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(hours=1))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


def make_server_certificate(ca: Issued, hosts: Sequence[str] = ("localhost",)) -> Issued:
    """A TLS server certificate for ``localhost`` and ``127.0.0.1`` (plus ``hosts``) signed by ``ca``."""
    dns = sorted({"localhost", *(h for h in hosts if not _is_ip(h))})
    ips = sorted({"127.0.0.1", *(h for h in hosts if _is_ip(h))})
    return make_leaf("rotator emulator", issuer=ca, dns_names=dns, ip_addresses=ips, server=True)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def keyvault_pfx(
    key: PrivateKey | None, leaf: x509.Certificate, chain: Sequence[x509.Certificate] = ()
) -> bytes:
    """A PFX shaped like the one Key Vault keeps in a certificate's backing secret: no password.

    (Key Vault's own file is 3DES with an empty password, which ``cryptography`` cannot write;
    an unencrypted file loads the same way, with ``password=None``.)
    """
    return pkcs12.serialize_key_and_certificates(
        b"kv", key, leaf, list(chain) or None, serialization.NoEncryption()
    )


def pem_bundle(
    key: PrivateKey | None, leaf: x509.Certificate, chain: Sequence[x509.Certificate] = ()
) -> str:
    """Key Vault's ``application/x-pem-file`` shape: unencrypted PKCS#8 key, then leaf, then chain."""
    parts: list[bytes] = []
    if key is not None:
        parts.append(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    parts += [cert.public_bytes(serialization.Encoding.PEM) for cert in (leaf, *chain)]
    return b"".join(parts).decode("ascii")


def sha1_thumbprint(cert: x509.Certificate) -> str:
    """Upper-case hex SHA-1 of the DER certificate (computed independently of ``rotator.steps.pkcs12``)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
