"""Entra ID through azure-identity: the options every credential rotator builds gets (authority,
instance discovery, CA bundle), and a certificate credential made from a bundle in memory.

Instance discovery: for an authority host it does not know, MSAL first asks the public cloud
whether the host is a genuine Entra authority; that fails in an isolated or private cloud (and the
local emulator), so rotator turns it off exactly for hosts that are not azure-identity's
``AzureAuthorityHosts``. The host is the operator's own setting, reached over TLS.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.exceptions import ClientAuthenticationError
from cryptography.hazmat.primitives import serialization

from rotator.errors import KeepAliveError
from rotator.steps import pkcs12
from rotator.text import truncate

if TYPE_CHECKING:
    from azure.identity import CertificateCredential

    from rotator.config.settings import Settings

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
        # a token request is bounded like every other call (azure-core's default is minutes)
        connection_timeout=min(10.0, settings.http_timeout),
        read_timeout=settings.http_timeout,
        retry_total=1,
        **authority_options(settings),
    )


# Entra's answer to an assertion signed with a key the application does not have (yet):
# AADSTS700027 "Client assertion contains an invalid signature ... key was not found".
NOT_REGISTERED = "AADSTS700027"

Accepts = Callable[[pkcs12.CertificateBundle], bool]
"""Whether Entra issues a token for an assertion signed with this certificate (False: refused
as not registered); raises for anything else."""


def entra_accepts(settings: Settings) -> Accepts:
    """Ask Entra for a Graph token with a certificate: True when issued, False when refused as
    not registered (``AADSTS700027``).

    The returned function raises ``KeepAliveError`` for any other refusal or no answer.
    """

    def accepts(bundle: pkcs12.CertificateBundle) -> bool:
        credential = certificate_credential(settings, bundle)
        token = _EXPECTED_REFUSAL.set(True)  # a refusal here is an answer, not a warning
        try:
            credential.get_token(settings.graph_scope)
        except ClientAuthenticationError as exc:
            if NOT_REGISTERED in str(exc.message):
                return False
            raise KeepAliveError(
                f"Entra refused certificate {bundle.thumbprint} of app {settings.graph_client_id} "
                f"for a reason other than an unregistered key: {truncate(str(exc.message))}"
            ) from exc
        finally:
            _EXPECTED_REFUSAL.reset(token)
            credential.close()
        return True

    return accepts


_EXPECTED_REFUSAL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "rotator_expected_refusal", default=False
)


class _QuietExpectedRefusals(logging.Filter):
    """Drops azure-identity's WARNING for a token refusal keep-alive asked for on purpose (it
    probes certificates Entra may not know yet); every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _EXPECTED_REFUSAL.get()


logging.getLogger("azure.identity._internal.get_token_mixin").addFilter(_QuietExpectedRefusals())
