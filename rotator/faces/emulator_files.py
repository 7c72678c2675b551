"""The files ``rotator emulator`` writes for others to read, both owner-only (mode 0600): the env
file (``export`` lines for a shell) and ``local.settings.json`` (the same values for the Azure
Functions host); and the check that an existing one does not belong to an emulator still running.

Both hold only the emulator's own test values (its URLs, CA path and managed-identity header):
no credential of a real service.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import shlex
import ssl
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from rotator.faces.cli_parser import UsageError
from rotator.text import JsonLimitError, load_json, printable

CONTROL_URL = "EMULATOR_CONTROL_URL"  # in both files: whose emulator wrote them, and for curl
CA_BUNDLE = "ROTATOR_CA_BUNDLE"  # the emulator's CA: the liveness check trusts only it
# What the Functions host itself needs besides rotator's settings: the worker, its storage (the
# timer's leases, in Azurite: ROTATOR_STATE_DIR keeps rotator's own state beside the CLI's) and
# a schedule short enough to watch.
FUNCTIONS_HOST_VALUES = {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "ROTATOR_SCHEDULE": "0 */5 * * * *",
}
MAX_SETTINGS_BYTES = 1024 * 1024
_ANSWER_SECONDS = 0.5


class SettingsFileError(Exception):
    """A settings file cannot be written: it belongs to a running emulator, or to somebody else."""


def export_lines(values: Mapping[str, str]) -> str:
    """``export KEY=value`` lines, each value quoted for a POSIX shell."""
    return "".join(f"export {key}={shlex.quote(values[key])}\n" for key in sorted(values))


def local_settings(values: Mapping[str, str]) -> str:
    """``local.settings.json`` for the Functions host: the host's values, then ``values`` (every
    value a JSON string, escaped by ``json``: ``ROTATOR_CONFIG`` is JSON inside JSON)."""
    document = {"IsEncrypted": False, "Values": {**FUNCTIONS_HOST_VALUES, **values}}
    return json.dumps(document, indent=2) + "\n"


def write_private(path: Path, text: str, flag: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (mode 0600, also when it existed).

    Raises:
        UsageError: the file cannot be written (``flag`` names the option that gave the path).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError("emulator", f"{flag} {path}: {exc.strerror or exc}") from exc


def claim(path: Path, flag: str) -> str | None:
    """Check that ``path`` may be (over)written; a note to print when it replaces the file of an
    emulator that has stopped, else None.

    Raises:
        SettingsFileError: the file belongs to an emulator that still answers, or it is a
            ``local.settings.json`` that ``rotator emulator`` did not write.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None  # absent (or unreadable: writing it will say why)
    local = flag == "--local-settings"
    values = _values_of_settings(text) if local else _values_of_env_file(text)
    url = values.get(CONTROL_URL) or None
    shown = printable(str(path))
    if url is None:
        if local:
            raise SettingsFileError(
                f"{shown} exists and was not written by rotator emulator (no {CONTROL_URL} in "
                f"its Values): move it away, or give another {flag} PATH"
            )
        return None  # an env file of anything else: replaced, as before
    if _emulator_answers(url, values.get(CA_BUNDLE, "")):
        raise SettingsFileError(
            f"{shown} belongs to the emulator still running at {printable(url)}: stop that one "
            f"first (Ctrl-C in its terminal), or give another {flag} PATH"
        )
    return f"# replacing {shown}: the emulator that wrote it ({printable(url)}) is not running\n"


def _values_of_env_file(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            try:
                words = shlex.split(line.removeprefix("export "))
            except ValueError:
                continue
            if words and "=" in words[0]:
                key, value = words[0].split("=", 1)
                values[key] = value
    return values


def _values_of_settings(text: str) -> dict[str, str]:
    try:
        document = load_json(text, max_bytes=MAX_SETTINGS_BYTES)
    except JsonLimitError:
        return {}
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if isinstance(v, str)}


def _emulator_answers(url: str, ca_bundle: str) -> bool:
    """Whether the emulator that wrote the file still answers: ``GET /health`` on its control
    surface, over TLS verified with its own CA. Asked only of a loopback address (the emulator
    binds 127.0.0.1); a missing CA, a refused connection or another server there: it stopped."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname or "", parts.port
        if port is None or not ipaddress.ip_address(host).is_loopback:
            return False
        context = ssl.create_default_context(cafile=ca_bundle)
    except (ValueError, OSError, ssl.SSLError):
        return False
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=_ANSWER_SECONDS)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == HTTPStatus.OK
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
