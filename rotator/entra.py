"""Entra ID through azure-identity: the options every credential rotator builds gets (authority,
instance discovery, CA bundle), and a certificate credential made from a bundle in memory.

Instance discovery: for an authority host it does not know, MSAL first asks the public cloud
whether the host is a genuine Entra authority; that fails in an isolated or private cloud (and the
local emulator), so rotator turns it off exactly for hosts that are not azure-identity's
``AzureAuthorityHosts``. The host is the operator's own setting, reached over TLS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from rotator import pkcs12

if TYPE_CHECKING:
    from azure.identity import CertificateCredential

    from rotator.settings import Settings

# The hosts MSAL knows without asking the public cloud (azure.identity.AzureAuthorityHosts).
KNOWN_AUTHORITY_HOSTS = frozenset(
    {"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn"}
)


def authority_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments every azure-identity credential rotator builds gets: the authority, the
    instance-discovery choice (module docstring) and the CA bundle."""
    host = (urlsplit(settings.authority_host).hostname or "").lower()
    options: dict[str, Any] = {
        "authority": settings.authority_host,
        "disable_instance_discovery": host not in KNOWN_AUTHORITY_HOSTS,
    }
    if settings.ca_bundle:
        options["connection_verify"] = str(settings.ca_bundle)
    return options


def pem_of(bundle: pkcs12.CertificateBundle) -> bytes:
    """Key and certificates as one PEM blob, in memory only (CertificateCredential's input)."""
    key = bundle.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certificates = [
        cert.public_bytes(serialization.Encoding.PEM) for cert in (bundle.leaf, *bundle.chain)
    ]
    return key + b"".join(certificates)


def certificate_credential(
    settings: Settings, bundle: pkcs12.CertificateBundle
) -> CertificateCredential:
    """An azure-identity credential of the settings' app signing with ``bundle`` (kept in memory)."""
    from azure.identity import CertificateCredential

    return CertificateCredential(
        settings.graph_tenant_id or "",
        settings.graph_client_id or "",
        certificate_data=pem_of(bundle),
        **authority_options(settings),
    )
