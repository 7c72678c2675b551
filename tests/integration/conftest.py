"""Fixtures for the integration tests: one emulator per session, reset before each test."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

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
AZURITE_BIN = REPO / ".tools" / "node_modules" / ".bin"
AZURITE = AZURITE_BIN / "azurite-blob"
# Azurite's documented development account: a public, well-known key, not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


AZURITE_LISTENS = re.compile(r"listens on https?://[^\s]+:(\d+)")
AZURITE_START_SECONDS = 30
AZURITE_STOP_GRACE_SECONDS = 3


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service on a loopback port it picked; yields its connection string."""
    process, port = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
    finally:
        stop_group(process)


def start_azurite(location: Path, service: str = "blob") -> tuple[subprocess.Popen[str], int]:
    """Azurite's ``service`` (blob or queue) on a port the kernel picks (port 0: no free-port
    race), ready once it prints the port it listens on. Telemetry off: with it on, Azurite phones
    home and its SIGTERM handler waits on that, so it never exits on SIGTERM."""
    binary = AZURITE_BIN / f"azurite-{service}"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: `./dev test` installs azurite (npm) before the tests")
    process = subprocess.Popen(
        [
            str(binary),
            f"--{service}Host",
            "127.0.0.1",
            f"--{service}Port",
            "0",
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the teardown stops all of it
    )
    try:
        return process, _azurite_port(process)
    except BaseException:
        stop_group(process)
        raise


def _azurite_port(process: subprocess.Popen[str]) -> int:
    """The port Azurite says it listens on; its later output is drained on a thread (a full
    pipe would stall it)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="azurite-output", daemon=True).start()
    deadline = time.monotonic() + AZURITE_START_SECONDS
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line.strip())
        if match := AZURITE_LISTENS.search(line):
            return int(match.group(1))
    pytest.fail(f"azurite did not start: {' | '.join(seen[-5:]) or 'no output'}")


def stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the process group, SIGKILL after a short grace; never raises."""
    for sig, wait in ((signal.SIGTERM, AZURITE_STOP_GRACE_SECONDS), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# The status page's browser tests (test_status_page.py) need Chromium. On CI a run without it
# must fail, not go green with the page unchecked; elsewhere they skip, and the run says so last.
SKIP_BROWSER_TESTS = "ROTATOR_SKIP_BROWSER_TESTS"
_BROWSER_SKIPPED = pytest.StashKey[str]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the ``chromium`` fixture ``browser``."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def on_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as GitHub Actions, Azure Pipelines and GitLab set)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def browser_tests_opted_out() -> bool:
    """Whether the developer asked to skip the browser tests (``ROTATOR_SKIP_BROWSER_TESTS=1``);
    never on CI."""
    return not on_ci() and os.environ.get(SKIP_BROWSER_TESTS, "").strip().lower() in {"1", "true"}


def without_browser(config: pytest.Config, why: str) -> NoReturn:
    """Fail the browser test on CI with one line; elsewhere skip it and remember to say so."""
    if on_ci():
        pytest.fail(
            f"{why}; on CI (CI=true) the status page's browser tests must run, not skip "
            f"({SKIP_BROWSER_TESTS} does not apply on CI)",
            pytrace=False,
        )
    config.stash[_BROWSER_SKIPPED] = why
    pytest.skip(f"{why}: the status page was NOT checked in a browser")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> Iterator[None]:
    """Say last (after the short summary), loudly, that the browser tests were skipped."""
    yield
    why = config.stash.get(_BROWSER_SKIPPED, None)
    if why:
        terminalreporter.write_sep(
            "!",
            f"BROWSER TESTS SKIPPED: {why}: the status page was NOT checked in a browser",
            red=True,
            bold=True,
        )


# -- real HTTPS servers (nginx, Apache, uvicorn, hypercorn, gunicorn) for the probe --------------


@pytest.fixture(scope="session")
def real_servers() -> Iterator[RealServers]:
    """Every real server of tests/integration/real_servers.py, started once on loopback (about
    3 s) and stopped at the end; a family that cannot start is recorded, and its tests fail on CI
    and skip elsewhere (``real_servers.url_of``)."""
    with RealServers(Certificates.make()) as servers:
        yield servers
