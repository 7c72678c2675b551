"""The ``rotator`` command as an operator runs it: a separate process, real sockets, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rotator.emulator import Emulator, pki

from .conftest import FOREIGN_AZURE_VARIABLES as _CLEARED
from .support import environment, graph_writes, run_cli, seed_certificate


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {
        k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith("ROTATOR_")
    }
    full.update(env)
    return run_cli(full, *args)


@pytest.fixture
def cert_env(emu: Emulator, tmp_path: Path) -> tuple[dict[str, str], str]:
    ca = pki.make_ca()
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    return environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"}), connector


def test_help_explains_every_command() -> None:
    """--help lists the commands and the exit codes."""
    result = run({}, "--help")
    assert result.returncode == 0
    for word in ("rotate", "status", "demo", "emulator", "exit codes"):
        assert word in result.stdout
    rotate_help = run({}, "rotate", "--help")
    assert "--dry-run" in rotate_help.stdout
    assert "--version" in rotate_help.stdout


def test_rotate_json_then_up_to_date(emu: Emulator, cert_env: tuple[dict[str, str], str]) -> None:
    """rotate --json prints one document with the contract keys; a second run is up-to-date."""
    env, connector = cert_env
    first = run(env, "rotate", "--json")
    assert first.returncode == 0, first.stderr
    outcome: dict[str, Any] = json.loads(first.stdout)["outcomes"][0]
    assert outcome["connectorId"] == connector
    assert outcome["kind"] == "certificate"
    assert outcome["outcome"] == "rotated"
    assert len(outcome["keyVaultVersion"]) == 32
    assert len(outcome["thumbprint"]) == 40
    assert outcome["notAfter"].endswith("Z")
    second = run(env, "rotate", "--json")
    assert json.loads(second.stdout)["outcomes"][0]["outcome"] == "up-to-date"
    assert "reason" in json.loads(second.stdout)["outcomes"][0]


def test_human_output_has_a_summary(cert_env: tuple[dict[str, str], str]) -> None:
    """Without --json the output is readable and ends with a summary line."""
    env, connector = cert_env
    result = run(env, "rotate", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert connector in result.stdout
    assert "1 connector(s): 1 dry-run" in result.stdout.splitlines()[-1]


def test_refused_target_exits_1(emu: Emulator, tmp_path: Path) -> None:
    """A refused credential makes the run exit 1 and nothing is written."""
    emu.vault.import_certificate("weak", pki.make_leaf("weak", key=pki.new_rsa_key(1024)))
    connector = emu.graph.add_connector("API", "https://api.test")
    result = run(
        environment(emu, tmp_path, {"id": connector, "certificate": "weak"}), "rotate", "--json"
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["outcomes"][0]["outcome"] == "refused"
    assert graph_writes(emu) == []


def test_configuration_error_exits_2_without_traceback(emu: Emulator, tmp_path: Path) -> None:
    """A bad configuration is one clear line on stderr and exit code 2, before any network call."""
    emu.clear_journal()
    env = environment(
        emu, tmp_path, {"id": "c1", "basic": {"username": "a:b", "passwordSecret": "pw"}}
    )
    result = run(env, "rotate")
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "'c1'" in result.stderr
    assert "Traceback" not in result.stderr
    assert emu.journal() == []


def test_unknown_connector_argument_exits_2(cert_env: tuple[dict[str, str], str]) -> None:
    """--connector with an id that is not configured is a configuration error."""
    env, _ = cert_env
    result = run(env, "rotate", "--connector", "nope")
    assert result.returncode == 2
    assert "'nope' is not configured" in result.stderr


def test_version_needs_one_connector(cert_env: tuple[dict[str, str], str]) -> None:
    """--version without exactly one --connector is refused."""
    env, _ = cert_env
    result = run(env, "rotate", "--version", "abc")
    assert result.returncode == 2
    assert "--version needs exactly one --connector" in result.stderr


def test_missing_config_exits_2() -> None:
    """Without ROTATOR_CONFIG the command says what to set."""
    result = run({}, "status")
    assert result.returncode == 2
    assert "ROTATOR_CONFIG is not set" in result.stderr


def test_status_json(cert_env: tuple[dict[str, str], str]) -> None:
    """status --json reports behind (exit 1) before a rotation and in sync (exit 0) after."""
    env, connector = cert_env
    before = run(env, "status", "--json")
    assert before.returncode == 1
    assert json.loads(before.stdout)["targets"][0]["inSync"] is False
    run(env, "rotate")
    after = run(env, "status", "--json")
    assert after.returncode == 0
    target = json.loads(after.stdout)["targets"][0]
    assert target["connectorId"] == connector
    assert target["inSync"] is True
    assert target["daysToExpiry"] in (364, 365)


def test_emulator_command_prints_settings_and_stops_on_interrupt(tmp_path: Path) -> None:
    """`rotator emulator` serves, prints export lines pointing at itself, and stops on Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rotator", "emulator", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    text = "".join(lines)
    assert "export ROTATOR_GRAPH_ENDPOINT=https://127.0.0.1:" in text  # quoted only if needed
    assert f"export ROTATOR_CA_BUNDLE={tmp_path}" in text
    assert "export IDENTITY_ENDPOINT=http://127.0.0.1:" in text
    assert f"export ROTATOR_STATE_DIR={tmp_path}/state" in text


def test_demo_runs_a_real_rotation_and_checks_it() -> None:
    """`rotator demo` shows a probe refusing a certificate the API does not trust yet, the
    rotation going through once it does, then up-to-date; and exits 0."""
    result = run({}, "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 connector(s): 1 rotated, 1 refused" in result.stdout
    assert "probe      rejected (HTTP 403)" in result.stdout
    assert "2 connector(s): 1 rotated, 1 up-to-date" in result.stdout
    assert "2 connector(s): 2 up-to-date" in result.stdout
    assert "every connector holds what Key Vault's newest usable version says" in result.stdout


def test_verbose_is_accepted_after_the_command(cert_env: tuple[dict[str, str], str]) -> None:
    """`rotator rotate -v --dry-run` logs events like `rotator -v rotate --dry-run`."""
    env, _ = cert_env
    result = run(env, "rotate", "-v", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "rotation.run_completed" in result.stderr


def test_force_needs_a_reason(cert_env: tuple[dict[str, str], str]) -> None:
    """An emergency rotation from the CLI records why, as the HTTP trigger does."""
    env, connector = cert_env
    result = run(env, "rotate", "--connector", connector, "--force")
    assert result.returncode == 2
    assert "--force needs --reason" in result.stderr


def test_history_shows_what_the_state_store_keeps(cert_env: tuple[dict[str, str], str]) -> None:
    """`rotator history` lists rotations with reason and version, newest first."""
    env, connector = cert_env
    run(env, "rotate", "--connector", connector, "--force", "--reason", "INC-7 rollover")
    human = run(env, "history", "--connector", connector)
    assert human.returncode == 0, human.stderr
    assert "rotated" in human.stdout
    assert "INC-7 rollover" in human.stdout
    document = json.loads(run(env, "history", "--connector", connector, "--json").stdout)
    assert document["history"][0]["reason"] == "INC-7 rollover"  # newest first, as the text
    assert document["applied"]["keyVaultVersion"]
