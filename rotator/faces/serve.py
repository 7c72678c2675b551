"""``rotator emulator``: serve the local emulator (optionally seeded like the demo) and print,
or write to an env file and a ``local.settings.json``, the settings that point rotator (the CLI
and the local Function, sharing one state directory) at it."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rotator.faces.emulator_files import (
    CONTROL_URL,
    claim,
    export_lines,
    local_settings,
    write_private,
)

if TYPE_CHECKING:
    from rotator.emulator import Emulator

SERVICES = ("graph", "vault", "identity", "control", "entra", "api")
HIGHEST_PORT = 65535


class PortError(Exception):
    """The emulator cannot listen where it was asked to (out of range, or taken)."""


def ports_from(port: int) -> dict[str, int]:
    """The six emulator ports from ``port`` on (0: any free ones, as when it is left out).

    Raises:
        PortError: the six ports do not fit in 1-65535.
    """
    if not port:
        return {}
    if not 1 <= port <= HIGHEST_PORT - len(SERVICES) + 1:
        raise PortError(
            f"--port {port}: the emulator needs six consecutive ports, so N must be between 1 "
            f"and {HIGHEST_PORT - len(SERVICES) + 1}, or 0 for any free ones (the default)",
        )
    return {f"{name}_port": port + i for i, name in enumerate(SERVICES)}


def serve_emulator(
    *,
    workdir: str | None,
    port: int,
    out: TextIO,
    seed: str | None = None,
    env_file: Path | None = None,
    local_settings_file: Path | None = None,
) -> int:
    """Serve the emulator until interrupted, after printing the settings that point rotator at
    it (with ``seed="demo"``: the demo's data and its ``ROTATOR_CONFIG``), also written to
    ``env_file`` and, for the Functions host, ``local_settings_file``.

    Raises:
        PortError: the ports are out of range or taken.
        SettingsFileError: a file belongs to an emulator still running (or, for the local
            settings, to somebody else).
        UsageError: a file cannot be written.
    """
    from rotator.emulator import Emulator

    files = {"--env-file": env_file, "--local-settings": local_settings_file}
    notes = "".join(
        note for flag, path in files.items() if path and (note := claim(path, flag)) is not None
    )
    emu = Emulator(workdir=Path(workdir).resolve() if workdir else None, **ports_from(port))
    try:
        emu.start()
    except (OSError, OverflowError) as exc:
        where = f"ports {port}-{port + len(SERVICES) - 1}" if port else "a free port"
        reason = getattr(exc, "strerror", None) or str(exc)
        raise PortError(
            f"cannot listen on 127.0.0.1 {where}: {reason}; choose another --port or leave it out",
        ) from exc
    try:
        _stop_on_signals()
        out.write(notes)
        _serve(emu, out=out, seed=seed, env_file=env_file, local_settings_file=local_settings_file)
    except KeyboardInterrupt:  # anywhere, even before the wait: stopping is the normal exit
        out.write("# stopped\n")
    finally:
        emu.stop()
    return 0


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and SIGTERM stop the emulator cleanly, also when it was started from a
    shell that ignores SIGINT for background jobs (``rotator emulator &``, CI runners)."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


def _serve(
    emu: Emulator,
    *,
    out: TextIO,
    seed: str | None,
    env_file: Path | None,
    local_settings_file: Path | None,
) -> None:
    # the state (pins, history) stays beside the emulator, away from real use; the CLI and the
    # local Function share it (ROTATOR_STATE_DIR wins over the host's AzureWebJobsStorage)
    exports = {
        **emu.env(),
        "ROTATOR_STATE_DIR": str(emu.ca_path.parent.resolve() / "state"),
        # not settings of rotator: where to seed and inspect (curl, tests), and the vault
        CONTROL_URL: emu.control_url,
        "EMULATOR_VAULT_URL": emu.vault_url,
    }
    notes = ""
    if seed == "demo":
        exports["ROTATOR_CONFIG"], notes = _seed_demo(emu)
    text = export_lines(exports)
    if env_file is not None:
        write_private(env_file, text, "--env-file")
    if local_settings_file is not None:
        write_private(local_settings_file, local_settings(exports), "--local-settings")
    out.write("# rotator emulator is serving; paste these lines into a shell")
    out.write(f" (or: . {shlex.quote(_sourceable(env_file))}):\n" if env_file else ":\n")
    out.write(text)
    if local_settings_file is not None:
        out.write(f"# the same for the Functions host (func start): {local_settings_file}\n")
    out.write(
        f"# key vault: {emu.vault_url}\n# control surface: {emu.control_url}\n"
        f"# Entra authority (ROTATOR_AUTHORITY_HOST for the client-certificate and "
        f"client-secret Graph modes): {emu.authority_url}\n"
        f"# connectors' API side (a connector's targetUrl, for the probe): {emu.api_url}/NAME\n"
        f"#   the same endpoints behind nginx (a refused certificate: HTTP 400 page): "
        f"{emu.api_front_url('nginx')}/NAME\n"
        f"#   behind uvicorn (a refused certificate: closed after the handshake): "
        f"{emu.api_front_url('close')}/NAME\n"
    )
    out.write(notes)
    out.write("# press Ctrl-C to stop\n")
    out.flush()
    threading.Event().wait()


def _sourceable(path: Path) -> str:
    """``path`` as `.` finds it: a bare name would be looked up on PATH by a POSIX shell."""
    text = str(path)
    return text if "/" in text else f"./{text}"


def _seed_demo(emu: Emulator) -> tuple[str, str]:
    """The demo's data in ``emu``; returns ``ROTATOR_CONFIG`` and what to try, as comments."""
    from rotator.faces.demo import API_CERT_ENDPOINT, seed_demo, with_policy_keys

    said = io.StringIO()
    config, expected = seed_demo(emu, said)
    config = with_policy_keys(emu, config, expected)
    lines = [f"# {line}".rstrip() for line in said.getvalue().strip().splitlines()]
    trust = json.dumps({"thumbprint": expected["thumbprint"]})
    command = rotator_command()
    lines += [
        "#",
        f"# then: {command} status; {command} rotate",
        "# the probe refuses the renewed certificate until the connector's API trusts it:",
        f'#   curl -sS --cacert "$ROTATOR_CA_BUNDLE" -X POST -d {shlex.quote(trust)} \\',
        f'#     "$EMULATOR_CONTROL_URL/api/endpoints/{API_CERT_ENDPOINT}/certificates"',
        f"# and the next `{command} rotate` installs it",
        "# the B2C key sets (every key, which one is active; never a secret):",
        '#   curl -sS --cacert "$ROTATOR_CA_BUNDLE" "$EMULATOR_CONTROL_URL/graph/keysets"',
    ]
    return json.dumps(config, separators=(",", ":")), "\n".join(lines) + "\n"


def rotator_command() -> str:
    """How this shell runs this rotator: ``rotator`` when PATH finds this very one, else its
    script beside this Python (relative below the current directory: ``.venv/bin/rotator``),
    else ``python -m rotator``."""
    script = Path(sys.executable).parent / "rotator"
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m rotator"
    found = shutil.which("rotator")
    if found and Path(found).resolve() == script.resolve():
        return "rotator"
    try:
        return shlex.quote(_sourceable(script.absolute().relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(script))
