"""Fixtures for the integration tests: one emulator per session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rotator.emulator import Emulator

# Variables that would send azure-identity somewhere other than the emulator's token endpoint.
FOREIGN_AZURE_VARIABLES = (
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "MSI_ENDPOINT",
    "MSI_SECRET",
)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The emulator, started once for the whole session and stopped at its end."""
    with Emulator(workdir=tmp_path_factory.mktemp("emulator")) as started:
        yield started


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The session's emulator, emptied (vault, graph, faults, journal, identity) for this test."""
    emulator.reset()
    return emulator


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> Emulator:
    """Point azure-identity and rotator at the emulator, with no other Azure identity around."""
    for name in FOREIGN_AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    return emu
