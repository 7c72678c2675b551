"""Wiring: the real clients a run uses, built from settings (credential chain, Graph on httpx,
Key Vault SDK clients, the blob or local state store)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.azure.graph import GraphConnectorClient
    from rotator.azure.keyvault import KeyVaultClient
    from rotator.config.settings import Settings
    from rotator.state.records import StateStore


@runtime_checkable
class Closeable(Protocol):
    """Anything a rotator opened and must close."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Wired:
    """The clients of a rotator, and what it must close besides them."""

    graphs: dict[str, GraphConnectorClient]  # one per identity the targets use
    keyvault: Callable[[str], KeyVaultClient]
    state_store: StateStore
    owned: tuple[Closeable, ...]


def from_settings(
    settings: Settings,
    *,
    credential: TokenCredential | None = None,
    graph_options: dict[str, Any] | None = None,
    keyvault_options: dict[str, Any] | None = None,
) -> Wired:
    """The default credential chain for Key Vault (and, unless configured otherwise, Graph), a
    Graph client per identity the targets use, a Key Vault client factory and the state store.

    ``graph_options`` / ``keyvault_options`` tune the clients (retries, timeouts).
    """
    from rotator.azure import credentials
    from rotator.azure.graph import GraphConnectorClient

    owned: list[Closeable] = []
    if credential is None:
        credential = credentials.default_credential(settings)
        if isinstance(credential, Closeable):
            owned.append(credential)
    keyvault = credentials.keyvault_factory(settings, credential, **(keyvault_options or {}))
    graphs: dict[str, GraphConnectorClient] = {}
    for name in settings.identity_names or (settings.identity_name,):
        # each identity: its own credential, token cache, connection pool and Retry-After state
        identity = settings.for_identity(name)
        graph_credential = credentials.graph_credential(identity, credential, keyvault)
        graphs[name] = GraphConnectorClient(
            identity.graph_endpoint,
            graph_credential,
            api_version=identity.graph_api_version,
            verify=tls_context(settings),
            timeout=http_timeout(settings.http_timeout),
            **(graph_options or {}),
        )
        if graph_credential is not credential and isinstance(graph_credential, Closeable):
            owned.append(graph_credential)
    store = state_store_from_settings(settings, credential)
    owned.append(store)
    return Wired(graphs, keyvault, store, tuple(owned))


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Server verification with ``ROTATOR_CA_BUNDLE`` when set, else the system's trust."""
    ca = str(settings.ca_bundle) if settings.ca_bundle else None
    return ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()


def state_store_from_settings(settings: Settings, credential: TokenCredential) -> StateStore:
    """The blob store on the Function's storage account when configured, else the local directory."""
    if settings.state_connection_string:
        from rotator.state.blob import BlobStateStore

        return BlobStateStore.from_connection_string(
            settings.state_connection_string, settings.state_container
        )
    if settings.state_blob_uri:
        from rotator.state.blob import BlobStateStore

        return BlobStateStore.from_service_uri(
            settings.state_blob_uri, credential, settings.state_container
        )
    from rotator.state.local import LocalStateStore

    return LocalStateStore(settings.state_dir)


def http_timeout(seconds: float) -> Any:
    """httpx's timeout: ``seconds`` per read, connect within at most 10 s."""
    import httpx

    return httpx.Timeout(seconds, connect=min(10.0, seconds))
