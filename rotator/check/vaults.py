"""Key Vault as the preflight reads it: one client per vault URL (shared with the rotator's
status), and a vault narrowed to the one version a rotation would install."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rotator.model import VersionInfo
from rotator.steps.package import VaultReader

if TYPE_CHECKING:
    from rotator.azure.keyvault import KeyVaultClient, SecretValue


class Vaults:
    """One KeyVaultClient per vault URL, shared by the checks and the Rotator's status."""

    def __init__(self, factory: Callable[[str], KeyVaultClient]) -> None:
        self._factory = factory
        self._clients: dict[str, KeyVaultClient] = {}

    def __call__(self, url: str) -> KeyVaultClient:
        if url not in self._clients:  # the check runs its targets one after the other
            self._clients[url] = self._factory(url)
        return self._clients[url]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


@dataclass
class OneVersion:
    """A vault seen through the version a rotation would install (it may be a pin, not the
    newest), with the versions already listed, so the value is read without listing again."""

    vault: VaultReader
    versions: list[VersionInfo]
    vault_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.vault_url = self.vault.vault_url

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        return self.versions

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        return self.versions

    def get_secret(self, name: str, version: str) -> SecretValue:
        return self.vault.get_secret(name, version)
