"""Fixtures for the integration tests: one emulator per session, reset before each test."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotator.emulator import Emulator

from .real_servers import Certificates, RealServers

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


# -- Azurite (the Azure Storage emulator) for the blob state store ----------------------------

REPO = Path(__file__).resolve().parents[2]
AZURITE = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account: a public, well-known key, not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service on a free loopback port; yields its connection string."""
    if not AZURITE.exists():
        pytest.fail(f"{AZURITE} is missing: `./dev test` installs azurite (npm) before the tests")
    port = _free_port()
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(tmp_path_factory.mktemp("azurite")),
            "--skipApiVersionCheck",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("azurite did not start")
            time.sleep(0.1)
    try:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# -- real HTTPS servers (nginx, Apache, uvicorn, hypercorn, gunicorn) for the probe --------------


@pytest.fixture(scope="session")
def real_servers() -> Iterator[RealServers]:
    """Every real server of tests/integration/real_servers.py, started once on loopback (about
    3 s) and stopped at the end; a family that cannot start is recorded, and its tests fail on CI
    and skip elsewhere (``real_servers.url_of``)."""
    with RealServers(Certificates.make()) as servers:
        yield servers
