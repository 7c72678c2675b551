"""The credentials rotator's clients use: azure-identity's default chain for Key Vault (and for
Graph in ``default`` mode), Key Vault clients by vault URL, and the Graph credential the settings
choose (``app_credential.py`` explains the client-certificate and client-secret modes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rotator.app_credential import KeyVaultAppCredential
from rotator.entra import authority_options
from rotator.package import VaultReader
from rotator.settings import GraphCredentialMode, Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.keyvault import KeyVaultClient


def default_credential(settings: Settings) -> TokenCredential:
    """azure-identity's default chain with the configured authority and CA bundle."""
    from azure.identity import DefaultAzureCredential

    options = authority_options(settings)
    del options["disable_instance_discovery"]  # not a DefaultAzureCredential option
    return DefaultAzureCredential(**options)


def keyvault_factory(
    settings: Settings, credential: TokenCredential, **options: Any
) -> Callable[[str], KeyVaultClient]:
    """Opens a ``KeyVaultClient`` for a vault URL with ``credential`` and the settings' CA bundle,
    challenge check and timeout; ``options`` go to the SDK clients (retries...)."""
    from rotator.keyvault import KeyVaultClient

    ca = str(settings.ca_bundle) if settings.ca_bundle else None

    def open_vault(url: str) -> KeyVaultClient:
        return KeyVaultClient(
            url,
            credential,
            verify_challenge_resource=settings.keyvault_verify_challenge_resource,
            connection_verify=ca or True,
            read_timeout=settings.http_timeout,
            **options,
        )

    return open_vault


def graph_credential(
    settings: Settings,
    default_credential: TokenCredential,
    keyvault_factory: Callable[[str], VaultReader],
) -> TokenCredential:
    """The credential Graph calls use: ``default_credential`` itself, or an app credential whose
    certificate or secret is read from Key Vault (with ``default_credential``) on first use.

    Nothing is read here; errors surface from ``get_token`` (as ``ClientAuthenticationError``,
    the TokenCredential contract) or, typed, from :meth:`KeyVaultAppCredential.resolve`.
    """
    if settings.graph_credential is GraphCredentialMode.DEFAULT:
        return default_credential
    return KeyVaultAppCredential(settings, keyvault_factory)
