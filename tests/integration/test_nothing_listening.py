"""With nothing listening (the emulator stopped), rotate, status and check end at once and name
the endpoint that is not answering, not the managed identity's setup (issue 21); half a managed
identity names the missing variable."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from rotator.config.settings import Settings
from rotator.emulator import Emulator
from rotator.model import RotationRequest
from rotator.rotation import Rotator

from .support import environment, run_cli
from .test_operator import clean_env

CONNECTOR = "00000000-0000-0000-0000-0000000000c1"


def closed_port() -> int:
    """A loopback port nothing listens on (the kernel picked it, then it was closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def nothing_listening(tmp_path: Path) -> dict[str, str]:
    """The settings of an emulator that has stopped: every endpoint refuses connections."""
    port = closed_port()
    return clean_env(
        ROTATOR_GRAPH_ENDPOINT=f"https://127.0.0.1:{port}",
        ROTATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE="false",
        IDENTITY_ENDPOINT=f"http://127.0.0.1:{port}/msi/token",
        IDENTITY_HEADER="emulator-header",
        AZURE_TOKEN_CREDENTIALS="managedidentitycredential",
        ROTATOR_STATE_DIR=str(tmp_path / "state"),
        ROTATOR_CONFIG=json.dumps(
            {
                "keyVaultUrl": f"https://127.0.0.1:{port}",
                "connectors": [{"id": CONNECTOR, "certificate": "api-cert"}],
            }
        ),
    )


def test_check_names_the_silent_endpoint_not_the_managed_identity(
    nothing_listening: dict[str, str],
) -> None:
    """check: the token endpoint is named with its setting, and the fix asks for the emulator."""
    result = run_cli(nothing_listening, "check")
    assert result.returncode == 1
    port = nothing_listening["IDENTITY_ENDPOINT"].split(":")[2].split("/")[0]
    assert f"nothing is listening at http://127.0.0.1:{port} (IDENTITY_ENDPOINT" in result.stdout
    assert "is the emulator (or the local service) running?" in result.stdout
    assert "enable the Function's managed identity" not in result.stdout


def test_rotate_names_the_vault_that_is_not_answering(nothing_listening: dict[str, str]) -> None:
    """rotate: the vault's address and where it was configured, and the fix."""
    result = run_cli(nothing_listening, "rotate")
    assert result.returncode == 1
    vault = json.loads(nothing_listening["ROTATOR_CONFIG"])["keyVaultUrl"]
    assert f"nothing is listening at {vault} (the keyVaultUrl of ROTATOR_CONFIG)" in result.stdout
    assert "fix        is the emulator (or the local service) running?" in result.stdout


def test_a_refused_endpoint_costs_no_backoff(
    nothing_listening: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the Key Vault SDK nor azure-identity waits out a backoff after a refusal."""
    for name, value in nothing_listening.items():
        monkeypatch.setenv(name, value)
    waits: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        real_sleep(min(seconds, 0.01))

    monkeypatch.setattr(time, "sleep", sleep)
    with Rotator.from_settings(Settings.from_env(nothing_listening)) as rotator:
        report = rotator.rotate(RotationRequest(trigger="cli"))
        status = rotator.status()
    assert [o.outcome.value for o in report.outcomes] == ["failed"]
    assert status.targets[0].error is not None
    assert [w for w in waits if w >= 0.1] == []


def test_half_a_managed_identity_names_the_missing_variable(emu: Emulator, tmp_path: Path) -> None:
    """IDENTITY_ENDPOINT without IDENTITY_HEADER: the error names IDENTITY_HEADER."""
    env = clean_env(**environment(emu, tmp_path, {"id": CONNECTOR, "certificate": "api-cert"}))
    del env["IDENTITY_HEADER"]
    result = run_cli(env, "status")
    assert result.returncode == 1
    assert "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not" in result.stdout
    checked = run_cli(env, "check")
    assert "set both IDENTITY_ENDPOINT and IDENTITY_HEADER, or neither" in checked.stdout
