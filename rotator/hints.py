"""The fix for errors whose cause is this host rather than Azure: no Azure credential set up, or a
TLS certificate this host does not trust (pure: text in, text out)."""

from __future__ import annotations

import re

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
    if is_tls_trust(error) and TLS_FIX not in error:
        return TLS_FIX
    return None
