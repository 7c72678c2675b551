"""The credentials rotator's clients use: azure-identity's default chain for Key Vault (and for
Graph in ``default`` mode), Key Vault clients by vault URL, and the Graph credential the settings
choose (``app_credential.py`` explains the client-certificate and client-secret modes)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rotator.azure.app_credential import KeyVaultAppCredential
from rotator.azure.entra import authority_options
from rotator.azure.refused import RefusedIsFinal
from rotator.config.settings import GraphCredentialMode, Settings
from rotator.hints import (
    MANAGED_IDENTITY_VARIABLES,
    managed_identity_gap,
    no_credential,
    not_listening,
    refused_url,
)
from rotator.steps.package import VaultReader

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.azure.keyvault import KeyVaultClient


def default_credential(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> TokenCredential:
    """azure-identity's default chain with the configured authority and CA bundle; when no
    credential of the chain is set up, its error is one line that says how to provide one, and
    a token endpoint where nothing listens fails at once, named (``refused.py``)."""
    from azure.identity import DefaultAzureCredential

    options = authority_options(settings)
    del options["disable_instance_discovery"]  # not a DefaultAzureCredential option
    connection = {k: v for k, v in options.items() if k.startswith("connection_")}
    chain = DefaultAzureCredential(transport=RefusedIsFinal(**connection), **options)
    return _ExplainedChain(chain, os.environ if environ is None else environ)


# azure-identity's words when the managed identity's environment names no endpoint it can use
_NO_MANAGED_IDENTITY = "No managed identity endpoint found"


class _ExplainedChain:
    """``DefaultAzureCredential`` whose "nothing is set up here" error is one line, not the
    1,500 characters of the chain's report (kept as the cause, and logged by azure-identity);
    so is a managed identity with half its settings, and a token endpoint that is not there."""

    def __init__(self, chain: Any, environ: Mapping[str, str]) -> None:
        self._chain = chain
        self._gap = managed_identity_gap(environ)
        endpoint = environ.get(MANAGED_IDENTITY_VARIABLES[0], "")
        self._identity_origin = _origin(endpoint) if endpoint else None

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """A token from the chain (``TokenCredential``).

        Raises:
            ClientAuthenticationError: no credential of the chain could get a token.
        """
        return self._explained(self._chain.get_token, scopes, kwargs)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        """A token from the chain (``SupportsTokenInfo``).

        Raises:
            ClientAuthenticationError: no credential of the chain could get a token.
        """
        return self._explained(self._chain.get_token_info, scopes, kwargs)

    def _explained(self, call: Callable[..., Any], scopes: tuple[str, ...], kwargs: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import CredentialUnavailableError

        try:
            return call(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            message = exc.message or ""
            if url := refused_url(message):
                managed = _origin(url) == self._identity_origin
                setting = (
                    f"{MANAGED_IDENTITY_VARIABLES[0]}, the managed identity" if managed else None
                )
                short: str | None = not_listening(url, setting)
            else:
                short = no_credential(message)
                # half a managed identity: said only when no credential of the chain got further
                if self._gap and (short is not None or _NO_MANAGED_IDENTITY in message):
                    short = self._gap
            if short is None:
                raise
            raise CredentialUnavailableError(message=short) from exc

    def close(self) -> None:
        """Close the chain's credentials."""
        self._chain.close()


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def keyvault_factory(
    settings: Settings, credential: TokenCredential, **options: Any
) -> Callable[[str], KeyVaultClient]:
    """Opens a ``KeyVaultClient`` for a vault URL with ``credential`` and the settings' CA bundle,
    challenge check and timeout; ``options`` go to the SDK clients (retries...)."""
    from rotator.azure.keyvault import KeyVaultClient

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
