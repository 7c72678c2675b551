"""The local Function in one step (issue 21): `rotator emulator --local-settings` writes a
local.settings.json the Function's handlers run from alone, sharing the CLI's state; a second
emulator refuses the files of a running one and replaces those of a stopped one."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from azure.functions.timer import TimerRequest

from .test_function_app import call, http
from .test_operator import REPO, Served, clean_env, rotator, sourced


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, Path, Path]]:
    """`rotator emulator --seed demo --env-file E --local-settings F` running; E and F."""
    env_file, settings = tmp_path / "emulator.env", tmp_path / "local.settings.json"
    process = Served(
        "--seed",
        "demo",
        "--env-file",
        str(env_file),
        "--local-settings",
        str(settings),
        "--workdir",
        str(tmp_path / "work"),
    )
    yield process, env_file, settings
    assert process.stop() == 0


def function_app_copy() -> ModuleType:
    """A private copy of function_app.py (its own app and cached Rotator): get_functions() may be
    called once per app, and the settings read at import must be the ones under test."""
    spec = importlib.util.spec_from_file_location("_function_app_local", REPO / "function_app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def only(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment holds ``values`` and no other Azure, rotator or host setting."""
    for name in list(os.environ):
        if name.startswith(
            ("ROTATOR_", "AZURE_", "IDENTITY_", "MSI_", "AzureWebJobs", "EMULATOR_")
        ):
            monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_the_function_runs_from_the_generated_local_settings_alone(
    served: tuple[Served, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only local.settings.json's Values in the environment, the Function's status, rotate
    and timer handlers work against the emulator, and the CLI sees the Function's rotations."""
    _process, env_file, settings = served
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    document = json.loads(settings.read_text())
    assert document["IsEncrypted"] is False
    values: dict[str, str] = document["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"  # no Azurite running
    config = json.loads(values["ROTATOR_CONFIG"])  # JSON inside JSON, escaped by json itself
    assert [k["keySet"] for k in config["policyKeys"]] == [
        "B2C_1A_RestApiClientCertificate",
        "B2C_1A_RestApiPassword",
    ]
    only(values, monkeypatch)
    functions = {f.get_function_name(): f for f in function_app_copy().app.get_functions()}

    status = call(functions, "rotation_status", http("GET", "status"))
    assert status.status_code == 200
    assert len(json.loads(status.get_body())["targets"]) == 4

    rotated = call(functions, "rotate_now", http("POST", "rotate", {"connectorId": "all"}))
    outcomes = {(o["kind"], o["outcome"]) for o in json.loads(rotated.get_body())["outcomes"]}
    assert ("basic", "rotated") in outcomes
    assert ("certificate", "refused") in outcomes  # the probe: the API does not trust it yet
    call(functions, "rotate_on_schedule", TimerRequest(past_due=False))

    basic = next(c["id"] for c in config["connectors"] if "basic" in c)
    history = sourced(env_file, "history", "--connector", basic, "--json")
    assert history.returncode == 0, history.stderr
    triggers = [h["trigger"] for h in json.loads(history.stdout)["history"]]
    assert triggers == ["http"], "the CLI reads the state the local Function wrote"


def test_the_env_file_and_the_local_settings_hold_the_same_values(
    served: tuple[Served, Path, Path],
) -> None:
    """Every export line of the env file is in local.settings.json with the same value."""
    _process, env_file, settings = served
    exports = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in env_file.read_text().splitlines()
    )
    values = json.loads(settings.read_text())["Values"]
    assert {k: values[k] for k in exports} == exports
    assert Path(exports["ROTATOR_STATE_DIR"]).is_absolute()
    example = json.loads((REPO / "local.settings.json.example").read_text())
    assert set(example["Values"]) == set(values), "the example shows the generated file's keys"


def test_the_printed_hint_names_a_rotator_the_shell_can_run(
    served: tuple[Served, Path, Path],
) -> None:
    """The "then: … status" line names a command that runs (not a bare `rotator` off PATH)."""
    process, env_file, _settings = served
    line = next(line for line in process.lines if line.startswith("# then: "))
    command = line.removeprefix("# then: ").split(";")[0].strip()
    assert command != "rotator status"
    script = f". {shlex.quote(str(env_file))} && {command} --json"
    result = subprocess.run(
        ["/bin/sh", "-c", script], env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode in (0, 1), result.stderr  # 127 would be "command not found"
    assert json.loads(result.stdout)["targets"]


@pytest.mark.parametrize("flag", ["--env-file", "--local-settings"])
def test_a_second_emulator_refuses_the_files_of_a_running_one(
    served: tuple[Served, Path, Path], flag: str, tmp_path: Path
) -> None:
    """A second emulator given a file of the running one exits 2 with one line, file untouched."""
    _process, env_file, settings = served
    path = env_file if flag == "--env-file" else settings
    before = path.read_text()
    result = rotator("emulator", flag, str(path), "--workdir", str(tmp_path / "second"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "still running" in lines[0]
    assert f"another {flag} PATH" in lines[0]
    assert path.read_text() == before


def test_a_stale_env_file_is_replaced_with_a_note(tmp_path: Path) -> None:
    """An env file whose emulator no longer answers is replaced, and the output says so."""
    env_file = tmp_path / "emulator.env"
    env_file.write_text("export EMULATOR_CONTROL_URL=https://127.0.0.1:9\n")  # discard: closed
    process = Served("--env-file", str(env_file), "--workdir", str(tmp_path / "work"))
    try:
        assert f"# replacing {env_file}: the emulator that wrote it" in process.text
        assert "127.0.0.1:9\n" not in env_file.read_text()
    finally:
        assert process.stop() == 0


def test_local_settings_that_the_emulator_did_not_write_are_refused(tmp_path: Path) -> None:
    """A hand-made local.settings.json (no EMULATOR_CONTROL_URL) is never overwritten."""
    settings = tmp_path / "local.settings.json"
    mine = json.dumps({"IsEncrypted": False, "Values": {"ROTATOR_CONFIG": "mine.json"}})
    settings.write_text(mine)
    result = rotator("emulator", "--local-settings", str(settings), "--workdir", str(tmp_path))
    assert result.returncode == 2
    assert "was not written by rotator emulator" in result.stderr
    assert settings.read_text() == mine


def test_port_zero_is_any_free_port_and_the_message_says_so() -> None:
    """--port 0 means any free ports (the default), and an out-of-range N says 0 is allowed."""
    result = rotator("emulator", "--port", "65531")
    assert "or 0 for any free ones" in result.stderr
    shown = " ".join(rotator("emulator", "--help").stdout.split())
    assert "0 (the default): any free ones" in shown


def test_another_server_on_the_old_port_does_not_pass_for_the_emulator(tmp_path: Path) -> None:
    """A listener that is not the emulator (its /health over its CA) leaves the file stale."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env_file = tmp_path / "emulator.env"
        env_file.write_text(f"export EMULATOR_CONTROL_URL=https://127.0.0.1:{port}\n")
        process = Served("--env-file", str(env_file), "--workdir", str(tmp_path / "work"))
        try:
            assert f"# replacing {env_file}" in process.text
        finally:
            assert process.stop() == 0
