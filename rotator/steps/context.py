"""What every step of a run is given: the settings, a Graph client per identity, Key Vault
clients by vault URL, the state store and the clock (all from outside, so tests can hand in
their own)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rotator.azure.graph import GraphConnectorClient
    from rotator.azure.keyvault import KeyVaultClient
    from rotator.config.settings import Settings
    from rotator.model import AnyTarget
    from rotator.state.records import StateStore


def utcnow() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Steps:
    """The clients and clock of one rotator, shared by its runs."""

    settings: Settings
    graphs: Mapping[str, GraphConnectorClient]  # one client (tenant, token, pool) per identity
    vault: Callable[[str], KeyVaultClient]
    state: StateStore
    clock: Callable[[], dt.datetime]
    sleep: Callable[[float], None]

    def graph(self, target: AnyTarget) -> GraphConnectorClient:
        """The Graph client of ``target``'s identity."""
        return self.graphs[target.identity]

    def tenant(self, target: AnyTarget) -> str | None:
        """The tenant of ``target``'s identity, when configured (None: the default chain's)."""
        return self.settings.for_identity(target.identity).graph_tenant_id
