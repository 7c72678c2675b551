"""The fix for errors whose cause is this host rather than Azure: no Azure credential set up, a
TLS certificate this host does not trust, an endpoint where nothing listens, or the settings of a
local emulator that is no longer running (pure: text in, text out)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import PurePath
from urllib.parse import urlsplit

ENV_CA_BUNDLE = "ROTATOR_CA_BUNDLE"
ENV_PROBE_CA_BUNDLE = "ROTATOR_PROBE_CA_BUNDLE"
PROBE_TLS = "the API's own TLS certificate is not trusted"  # said by the probe (probe_wire.py)
_CHAIN_FAILED = "failed to retrieve a token from the included credentials"
_UNAVAILABLE = re.compile(
    r"unavailable|not found on path|not installed|could not be found|requires the|"
    r"no accounts were found|not fully configured|please run 'az login'",
    re.IGNORECASE,
)
_TRIED = re.compile(r"^\s*(\w+Credential): (.*)$", re.MULTILINE)
_TLS = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "self-signed certificate")

TLS_FIX = (
    f"this host does not trust the server's TLS certificate: set {ENV_CA_BUNDLE} to a PEM file "
    "holding the CA that issued it (behind a TLS-inspecting proxy: the proxy's CA)"
)
PROBE_TLS_FIX = (
    f"set {ENV_PROBE_CA_BUNDLE} to a PEM file holding the CA that issued the API's certificate: "
    f"the probe trusts it besides the system's (or {ENV_CA_BUNDLE}'s); {ENV_CA_BUNDLE} would "
    "replace the trust of Graph and Key Vault too"
)
# The file name of `rotator emulator`'s CA (rotator/emulator/app.py writes it; a test pins both).
EMULATOR_CA_FILE = "emulator-ca.pem"
START_EMULATOR = (
    "start it (`./dev emulator`, or `.venv/bin/rotator emulator --env-file .emulator.env`) and "
    "source the env file it writes"
)
NOT_LISTENING = "nothing is listening at "
# scheme://host[:port], the host a name, an IPv4 or a bracketed IPv6 address
_NOT_LISTENING = re.compile(
    re.escape(NOT_LISTENING) + r"(\w+://(?:\[[^\]\s]*\]|[^\s/:\[]+)(?::\d+)?)"
)
# The managed identity of App Service and Functions: azure-identity needs both, or ignores both.
MANAGED_IDENTITY_VARIABLES = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")
NO_CREDENTIAL_FIX = (
    "sign in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
    "(a service principal), or run where a managed identity is available"
)


def no_credential(message: str) -> str | None:
    """One line in place of ``DefaultAzureCredential``'s chain report when no credential of the
    chain is set up on this host; None when one of them did try and fail (its text matters)."""
    if _CHAIN_FAILED not in message:
        return None
    tried = _TRIED.findall(message)
    if not tried or any(not _UNAVAILABLE.search(text) for _, text in tried):
        return None
    names = ", ".join(name.removesuffix("Credential") for name, _ in tried)
    return f"no Azure credential is available on this host (tried {names}); {NO_CREDENTIAL_FIX}"


def is_tls_trust(message: str) -> bool:
    """True when ``message`` says a server's certificate could not be verified."""
    return any(marker in message for marker in _TLS)


def fix_for(error: str) -> str | None:
    """The fix for an error that comes from this host's setup, or None (also when the error
    already says it)."""
    if PROBE_TLS in error:
        return PROBE_TLS_FIX if ENV_PROBE_CA_BUNDLE not in error else None
    if NOT_LISTENING in error:
        return _listening_fix(error)
    if is_tls_trust(error) and TLS_FIX not in error:
        return TLS_FIX
    return None


def stale_emulator(ca_bundle: str) -> str | None:
    """Why a CA bundle that is gone was named: the CA of a `rotator emulator` that stopped (its
    temporary directory went with it), and what to do; None for any other file."""
    if PurePath(ca_bundle).name != EMULATOR_CA_FILE:
        return None
    return f"the emulator that wrote these settings is not running any more: {START_EMULATOR}"


def not_listening(url: str, setting: str | None = None) -> str:
    """The error for a refused connection: ``nothing is listening at <scheme://host:port>``, with
    the setting the address came from (the fix is :func:`fix_for`'s)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else url
    return (
        f"{NOT_LISTENING}{origin}" + (f" ({setting})" if setting else "") + ": connection refused"
    )


def refused_url(message: str) -> str | None:
    """The address a :func:`not_listening` message names, or None."""
    found = _NOT_LISTENING.search(message)
    return found.group(1) if found else None


def managed_identity_gap(env: Mapping[str, str]) -> str | None:
    """What is missing when only one of ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` is set
    (azure-identity then reports no managed identity without naming either); else None."""
    given = [name for name in MANAGED_IDENTITY_VARIABLES if env.get(name, "").strip()]
    if len(given) != 1:
        return None
    missing = next(name for name in MANAGED_IDENTITY_VARIABLES if name not in given)
    return (
        f"{given[0]} is set but {missing} is not: the managed identity endpoint (App Service, "
        f"Functions, `rotator emulator`) needs both; set {missing} too, or unset {given[0]}"
    )


def _listening_fix(error: str) -> str | None:
    if (url := refused_url(error)) is None:
        return None
    host = urlsplit(url).hostname or ""
    if _is_loopback(host):
        fix = f"is the emulator (or the local service) running? {START_EMULATOR}"
    else:
        fix = "check that URL setting and that the service is up and reachable from this host"
    return None if fix in error else fix  # already said (inline in the message)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
