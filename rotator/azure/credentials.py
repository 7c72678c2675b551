"""The credentials rotator's clients use: azure-identity's default chain for Key Vault (and for
Graph in ``default`` mode), Key Vault clients by vault URL, and the Graph credential the settings
choose (``app_credential.py`` explains the client-certificate and client-secret modes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rotator.azure.app_credential import KeyVaultAppCredential
from rotator.azure.entra import authority_options
from rotator.config.settings import GraphCredentialMode, Settings
from rotator.hints import no_credential
from rotator.steps.package import VaultReader

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.azure.keyvault import KeyVaultClient


def default_credential(settings: Settings) -> TokenCredential:
    """azure-identity's default chain with the configured authority and CA bundle; when no
    credential of the chain is set up, its error is one line that says how to provide one."""
    from azure.identity import DefaultAzureCredential

    options = authority_options(settings)
    del options["disable_instance_discovery"]  # not a DefaultAzureCredential option
    return _ExplainedChain(DefaultAzureCredential(**options))


class _ExplainedChain:
    """``DefaultAzureCredential`` whose "nothing is set up here" error is one line, not the
    1,500 characters of the chain's report (kept as the cause, and logged by azure-identity)."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain

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

    @staticmethod
    def _explained(call: Callable[..., Any], scopes: tuple[str, ...], kwargs: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import CredentialUnavailableError

        try:
            return call(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            short = no_credential(exc.message or "")
            if short is None:
                raise
            raise CredentialUnavailableError(message=short) from exc

    def close(self) -> None:
        """Close the chain's credentials."""
        self._chain.close()


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
