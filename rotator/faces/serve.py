"""``rotator emulator``: serve the local emulator (optionally seeded like the demo) and print,
or write to an env file, the ``export`` lines that point rotator at it."""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rotator.faces.cli_parser import UsageError

if TYPE_CHECKING:
    from rotator.emulator import Emulator

SERVICES = ("graph", "vault", "identity", "control", "entra", "api")
HIGHEST_PORT = 65535


class PortError(Exception):
    """The emulator cannot listen where it was asked to (out of range, or taken)."""


def ports_from(port: int) -> dict[str, int]:
    """The six emulator ports from ``port`` on (none: any free ones).

    Raises:
        PortError: the six ports do not fit in 1-65535.
    """
    if not port:
        return {}
    if not 1 <= port <= HIGHEST_PORT - len(SERVICES) + 1:
        raise PortError(
            f"--port {port}: the emulator needs six consecutive ports, so N must be between 1 "
            f"and {HIGHEST_PORT - len(SERVICES) + 1} (or leave --port out for any free ones)",
        )
    return {f"{name}_port": port + i for i, name in enumerate(SERVICES)}


def export_lines(values: Mapping[str, str]) -> str:
    """``export KEY=value`` lines, each value quoted for a POSIX shell."""
    return "".join(f"export {key}={shlex.quote(values[key])}\n" for key in sorted(values))


def write_env_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (mode 0600, also when it existed).

    Raises:
        UsageError: the file cannot be written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError("emulator", f"--env-file {path}: {exc.strerror or exc}") from exc


def serve_emulator(
    *,
    workdir: str | None,
    port: int,
    out: TextIO,
    seed: str | None = None,
    env_file: Path | None = None,
) -> int:
    """Serve the emulator until interrupted, after printing the settings that point rotator at
    it (with ``seed="demo"``: the demo's data and its ``ROTATOR_CONFIG``).

    Raises:
        PortError: the ports are out of range or taken.
        UsageError: the env file cannot be written.
    """
    from rotator.emulator import Emulator

    emu = Emulator(workdir=Path(workdir) if workdir else None, **ports_from(port))
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
        _serve(emu, workdir=workdir, out=out, seed=seed, env_file=env_file)
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
    emu: Emulator, *, workdir: str | None, out: TextIO, seed: str | None, env_file: Path | None
) -> None:
    # the CLI's state (pins, history) stays beside the emulator, away from real use
    state_dir = (Path(workdir) if workdir else emu.ca_path.parent) / "state"
    exports = {
        **emu.env(),
        "ROTATOR_STATE_DIR": str(state_dir),
        # not settings of rotator: where to seed and inspect (curl, tests), and the vault
        "EMULATOR_CONTROL_URL": emu.control_url,
        "EMULATOR_VAULT_URL": emu.vault_url,
    }
    notes = ""
    if seed == "demo":
        exports["ROTATOR_CONFIG"], notes = _seed_demo(emu)
    text = export_lines(exports)
    if env_file is not None:
        write_env_file(env_file, text)
    out.write("# rotator emulator is serving; paste these lines into a shell")
    out.write(f" (or: . {shlex.quote(_sourceable(env_file))}):\n" if env_file else ":\n")
    out.write(text)
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
    from rotator.faces.demo import API_CERT_ENDPOINT, seed_demo

    said = io.StringIO()
    config, expected = seed_demo(emu, said)
    lines = [f"# {line}".rstrip() for line in said.getvalue().strip().splitlines()]
    trust = json.dumps({"thumbprint": expected["thumbprint"]})
    lines += [
        "#",
        "# then: rotator status; rotator rotate",
        "# the probe refuses the renewed certificate until the connector's API trusts it:",
        f'#   curl -sS --cacert "$ROTATOR_CA_BUNDLE" -X POST -d {shlex.quote(trust)} \\',
        f'#     "$EMULATOR_CONTROL_URL/api/endpoints/{API_CERT_ENDPOINT}/certificates"',
        "# and the next `rotator rotate` installs it",
        "# the B2C key sets (every key, which one is active; never a secret):",
        '#   curl -sS --cacert "$ROTATOR_CA_BUNDLE" "$EMULATOR_CONTROL_URL/graph/keysets"',
    ]
    return json.dumps(config, separators=(",", ":")), "\n".join(lines) + "\n"
