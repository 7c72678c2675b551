"""The rough edges a new operator hit (issue 12): a seeded emulator in one command, errors that
name their fix, usage errors with the command's usage, history JSON, the Function importable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from rotator.emulator import Emulator, pki

from .conftest import FOREIGN_AZURE_VARIABLES
from .support import environment, graph_writes, run_cli, seed_certificate

REPO = Path(__file__).resolve().parents[2]
VENV_PYTHON = Path(sys.executable)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Azure identity or rotator setting, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in FOREIGN_AZURE_VARIABLES
        and not k.startswith(("ROTATOR_", "IDENTITY_", "AZURE_"))
    }
    env.update(extra)
    return env


def rotator(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(env if env is not None else clean_env(), *args)


class Served:
    """A `rotator emulator` process and the lines it printed before it started waiting."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rotator", "emulator", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        assert self.process.stdout is not None
        self.lines: list[str] = []
        for line in self.process.stdout:
            self.lines.append(line)
            if "Ctrl-C" in line:
                break

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """`rotator emulator --seed demo --env-file` running, and its env file."""
    env_file = tmp_path / "emulator.env"
    served = Served("--seed", "demo", "--env-file", str(env_file), "--workdir", str(tmp_path))
    yield served, env_file
    assert served.stop() == 0


def sourced(env_file: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a shell that sourced ``env_file`` (as an operator would)."""
    script = f". {env_file} && exec {sys.executable} -m rotator " + " ".join(command)
    return subprocess.run(
        ["/bin/sh", "-c", script], env=clean_env(), capture_output=True, text=True, timeout=120
    )


def test_seeded_emulator_gets_an_operator_to_a_first_rotation(
    seeded: tuple[Served, Path],
) -> None:
    """`emulator --seed demo --env-file F`, `source F`, `rotator rotate`: a rotation, then the
    certificate once the API is told to trust it (the curl line the emulator prints)."""
    served, env_file = seeded
    assert "export ROTATOR_CONFIG=" in served.text
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    first = sourced(env_file, "rotate", "--json")
    outcomes = {
        o["kind"]: o["outcome"]
        for o in json.loads(first.stdout)["outcomes"]
        if o["targetKind"] == "connector"  # the seeded policy keys rotate too
    }
    assert outcomes == {"certificate": "refused", "basic": "rotated"}, first.stderr
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines()
    )
    ca = exports["ROTATOR_CA_BUNDLE"]
    trust = next(line for line in served.lines if "$EMULATOR_CONTROL_URL/" in line)
    path = trust.split("$EMULATOR_CONTROL_URL", 1)[1].strip().strip('"')
    body = next(line for line in served.lines if "thumbprint" in line)
    thumbprint = json.loads(body.split("-d ", 1)[1].split(" \\")[0].strip("'"))["thumbprint"]
    answer = httpx.post(
        exports["EMULATOR_CONTROL_URL"] + path,
        json={"thumbprint": thumbprint},
        verify=ssl.create_default_context(cafile=ca),
    )
    assert answer.status_code == 204
    second = sourced(env_file, "rotate", "--json")
    assert [o["outcome"] for o in json.loads(second.stdout)["outcomes"]] == [
        "rotated",
        "up-to-date",
        "up-to-date",
        "up-to-date",
    ]


def test_env_file_replaces_a_readable_file_with_an_owner_only_one(tmp_path: Path) -> None:
    """An existing env file readable by others is rewritten with mode 0600."""
    env_file = tmp_path / "old.env"
    env_file.write_text("stale")
    env_file.chmod(0o644)
    served = Served("--env-file", str(env_file), "--workdir", str(tmp_path))
    try:
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert "export ROTATOR_GRAPH_ENDPOINT=" in env_file.read_text()
        assert "stale" not in env_file.read_text()
    finally:
        assert served.stop() == 0


def test_a_taken_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`emulator --port N` with N taken says so in one line, no traceback, exit 2."""
    with socket.socket() as taken:  # a port the kernel picked, held while the emulator tries
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # the six ports from --port N are N..N+5 (N at most 65530): the taken one among them
        port = max(1, min(int(taken.getsockname()[1]) - 3, 65530))
        result = rotator("emulator", "--port", str(port), "--workdir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Address already in use" in lines[0]
    assert "--port" in lines[0]


@pytest.mark.parametrize("port", ["70000", "65531", "-1"])
def test_a_port_out_of_range_is_one_line_and_exit_2(port: str) -> None:
    """Six consecutive ports must fit below 65536: one line naming the range, exit 2."""
    result = rotator("emulator", "--port", port)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "between 1 and 65530" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rotate", "--force"], "--force needs --reason"),
        (["rotate", "--version", "abc"], "--version needs exactly one --connector"),
        (["rotate", "--skip-probe"], "--skip-probe needs --force and --reason"),
        (["rotate", "--forse"], "unrecognized arguments: --forse"),
        (["status", "--dry-run"], "unrecognized arguments: --dry-run"),
    ],
)
def test_usage_mistakes_are_labelled_with_the_commands_own_usage(
    args: list[str], message: str
) -> None:
    """A usage mistake is a "usage error" under that command's usage line, exit 2."""
    result = rotator(*args, env=clean_env(ROTATOR_CONFIG='{"connectors": []}'))
    assert result.returncode == 2
    assert f"rotator {args[0]}: usage error: {message}" in result.stderr
    assert result.stderr.startswith(f"usage: rotator {args[0]} ")
    assert "configuration error" not in result.stderr


def test_history_json_is_camel_case_newest_first_with_who_asked(
    emu: Emulator, tmp_path: Path
) -> None:
    """history --json: camelCase keys, newest entry first, requestedBy the identity Graph saw
    for the CLI (the managed identity's app_displayname in its token)."""
    seed_certificate(emu, "api-cert", pki.make_ca(), [{"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    env = clean_env(**environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"}))
    rotator("rotate", env=env)
    rotator("rotate", "--connector", connector, "--force", "--reason", "INC-9", env=env)
    document: dict[str, Any] = json.loads(
        rotator("history", "--connector", connector, "--json", env=env).stdout
    )
    assert [h["outcome"] for h in document["history"]] == ["rotated", "rotated"]
    newest, oldest = document["history"]
    assert newest["reason"] == "INC-9"
    assert newest["at"] > oldest["at"]
    assert set(newest) == {
        "at", "trigger", "outcome", "keyVaultVersion", "thumbprint", "reason", "requestedBy"
    }  # fmt: skip
    assert newest["requestedBy"] == oldest["requestedBy"] == "func-rotator-emulator"
    assert document["applied"]["keyVaultVersion"] == newest["keyVaultVersion"]
    assert document["connectorId"] == connector


def test_without_an_azure_credential_status_says_so_in_one_line(tmp_path: Path) -> None:
    """No credential anywhere: one short line per connector with the fix, no SDK warning unless
    -v, and no claim about Key Vault's versions (Key Vault was never read)."""
    config = {
        "keyVaultUrl": "https://contoso-kv.vault.azure.net",
        "connectors": [{"id": "c1", "certificate": "cert"}],
    }
    env = clean_env(ROTATOR_CONFIG=json.dumps(config), ROTATOR_STATE_DIR=str(tmp_path))
    env["PATH"] = "/usr/bin:/bin"  # no `az` on the path
    result = rotator("status", env=env)
    assert result.returncode == 1
    assert result.stderr == ""
    error = next(line for line in result.stdout.splitlines() if "error" in line)
    assert "no Azure credential is available on this host" in error
    assert "az login" in error
    assert len(error) < 500
    assert "none usable" not in result.stdout
    assert "not read" in result.stdout
    verbose = rotator("-v", "status", env=env)
    assert "WARNING azure.identity" in verbose.stderr  # the SDK's own report, only on request


def test_an_untrusted_tls_certificate_names_rotator_ca_bundle(
    emu: Emulator, tmp_path: Path
) -> None:
    """Without the emulator's CA the error is CERTIFICATE_VERIFY_FAILED and it names the fix,
    ROTATOR_CA_BUNDLE and a proxy's CA, once, in status (and so in JSON and logs) and check."""
    seed_certificate(emu, "api-cert", pki.make_ca(), [{"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    env = clean_env(**environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"}))
    del env["ROTATOR_CA_BUNDLE"]
    env["SSL_CERT_FILE"] = str(tmp_path / "none.pem")  # only the system's (empty) trust
    status = rotator("status", env=env)
    assert "CERTIFICATE_VERIFY_FAILED" in status.stdout
    fix = "this host does not trust the server's TLS certificate: set ROTATOR_CA_BUNDLE"
    assert status.stdout.count(fix) == 1
    assert "proxy's CA" in status.stdout
    check = rotator("check", env=env)
    assert "ROTATOR_CA_BUNDLE" in check.stdout
    assert graph_writes(emu) == []


def test_function_app_imports_from_the_projects_environment(tmp_path: Path) -> None:
    """`import function_app` works with the venv's python from anywhere, no PYTHONPATH."""
    env = clean_env()
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(VENV_PYTHON), "-c", "import function_app; print(function_app.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(REPO / "function_app.py")


def test_local_settings_example_names_every_setting_the_function_needs() -> None:
    """local.settings.json.example is valid JSON for `func start` with Azurite and the emulator."""
    example = json.loads((REPO / "local.settings.json.example").read_text())
    values = example["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    for key in (
        "ROTATOR_CONFIG",
        "ROTATOR_CA_BUNDLE",
        "ROTATOR_GRAPH_ENDPOINT",
        "IDENTITY_ENDPOINT",
    ):
        assert key in values
    assert "local.settings.json" in (REPO / ".gitignore").read_text().splitlines()


# -- seeding the emulator's vault without base64 by hand --------------------------------------


@pytest.fixture
def control(emu: Emulator) -> Iterator[httpx.Client]:
    """An HTTPS client of the emulator's control surface (a real socket)."""
    trust = ssl.create_default_context(cafile=str(emu.ca_path))
    with httpx.Client(base_url=emu.control_url, verify=trust) as client:
        yield client


def test_a_pem_certificate_and_key_seed_a_rotatable_version(
    emu: Emulator, control: httpx.Client, tmp_path: Path
) -> None:
    """POST /vault/certificates/{name}/pem with PEM text imports it; rotator installs it."""
    ca = pki.make_ca()
    leaf = pki.make_leaf("api.contoso.test", issuer=ca)
    pem = leaf.certificate.public_bytes(serialization.Encoding.PEM).decode()
    pem += ca.certificate.public_bytes(serialization.Encoding.PEM).decode()
    key = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    answer = control.post("/vault/certificates/api-cert/pem", json={"certificate": pem, "key": key})
    assert answer.status_code == 201, answer.text
    assert answer.json()["thumbprint"] == leaf.thumbprint
    assert "PRIVATE" not in answer.text
    connector = emu.graph.add_connector("API", "https://api.test")
    env = clean_env(**environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"}))
    result = rotator("rotate", "--json", env=env)
    assert json.loads(result.stdout)["outcomes"][0]["thumbprint"] == leaf.thumbprint
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [leaf.thumbprint]


def test_a_key_that_is_not_the_certificates_is_refused_at_seeding(control: httpx.Client) -> None:
    """A mismatched PEM pair is a 400 at once, not a refusal at rotation time."""
    leaf = pki.make_leaf("a")
    other = pki.new_rsa_key()
    answer = control.post(
        "/vault/certificates/api-cert/pem",
        json={
            "certificate": leaf.certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "key": other.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
        },
    )
    assert answer.status_code == 400
    assert "does not belong" in answer.json()["error"]["message"]


def test_generate_seeds_a_certificate_with_its_public_parts_only(
    emu: Emulator, control: httpx.Client
) -> None:
    """POST .../generate makes an RSA certificate of the given dates; only public PEM comes back."""
    answer = control.post(
        "/vault/certificates/gen/generate",
        json={"subject": "api.example.test", "notAfter": "2030-01-01T00:00:00Z"},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert "PRIVATE" not in answer.text
    assert body["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    versions = emu.vault.certificate_versions("gen")
    assert [v.version for v in versions] == [body["version"]]
    assert versions[0].expires_on is not None
    assert versions[0].expires_on.year == 2030


def test_a_pem_secret_value_without_content_type_is_stored_as_pem(
    emu: Emulator, control: httpx.Client
) -> None:
    """A PEM ``secretValue`` seeded without contentType is stored as PEM, not as PKCS#12."""
    leaf = pki.make_leaf("a")
    bundle = pki.pem_bundle(leaf.key, leaf.certificate)
    answer = control.post(
        "/vault/certificates/pem-cert",
        json={
            "cer": __import__("base64")
            .b64encode(leaf.certificate.public_bytes(serialization.Encoding.DER))
            .decode(),
            "secretValue": bundle,
        },
    )
    assert answer.status_code == 201
    assert emu.vault.secret_versions("pem-cert")[0].content_type == "application/x-pem-file"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_emulator_stops_on_a_signal_even_as_a_background_job(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Started with SIGINT ignored (what a shell does to `rotator emulator &`), Ctrl-C and
    SIGTERM still stop it cleanly: exit 0 and "# stopped"."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rotator", "emulator", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Ctrl-C" in line:
            break
    process.send_signal(signum)
    assert process.wait(timeout=20) == 0
    assert process.stdout.read().strip() == "# stopped"


def test_dev_finds_the_uv_it_installed_in_the_user_bin(tmp_path: Path) -> None:
    """`./dev setup` with uv only in ~/.local/bin (not on PATH) uses it instead of installing
    uv again through pip."""
    user_bin = tmp_path / ".local" / "bin"
    user_bin.mkdir(parents=True)
    calls = tmp_path / "uv-calls"
    fake_uv = user_bin / "uv"
    fake_uv.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nmkdir -p .venv\n')
    fake_uv.chmod(0o755)
    clone = tmp_path / "clone"  # a copy: the repository's own .venv may be up to date (no uv)
    clone.mkdir()
    for name in ("dev", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy2(REPO / name, clone / name)
    result = subprocess.run(
        [str(clone / "dev"), "setup"],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "installing uv" not in result.stderr
    assert "pip sync" in calls.read_text()
