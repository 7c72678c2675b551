"""Entra's refusals of an app credential, cut to the AADSTS line, each with the fix that names the
setting or the app registration to change; and whether a token request simply got no answer."""

from __future__ import annotations

import re
from typing import Protocol

from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from rotator.config.settings import ENV_AUTHORITY_HOST, ENV_GRAPH_CLIENT_ID, ENV_GRAPH_TENANT_ID
from rotator.errors import one_line

_AADSTS = re.compile(r"AADSTS(\d+)[^\r\n]*")
_PORTAL_HINT = re.compile(r", Please visit the Azure Portal.*\]")


class _Source(Protocol):
    """The Key Vault version an app credential came from (``AppCredentialSource``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def thumbprint(self) -> str | None: ...
    def describe(self) -> str: ...


def explain_refusal(
    exc: Exception,
    source: _Source,
    *,
    setting: str,
    authority_host: str,
    client_id: str,
    tenant_id: str,
) -> tuple[str, str]:
    """The message for a token request Entra refused (or never answered), and its fix alone."""
    text = str(getattr(exc, "message", None) or exc)
    found = _AADSTS.search(text)
    detail = found.group(0).strip() if found else one_line(text)
    detail = _PORTAL_HINT.sub("]", detail).rstrip(".")
    code = found.group(1) if found else None
    app = f"app {client_id} in tenant {tenant_id}"
    if code == "700027":
        fix = (
            f"upload the certificate {source.thumbprint} ({setting} '{source.name}' "
            f"version {source.version}) to {app} (Certificates & secrets)"
        )
    elif code in ("7000215", "7000222"):
        fix = (
            f"store the current value (not the id) of a valid client secret of {app} as a new "
            f"version of {setting} '{source.name}'"
        )
    elif code == "700016":
        fix = (
            f"check {ENV_GRAPH_CLIENT_ID} and {ENV_GRAPH_TENANT_ID}: the app is not registered "
            f"in tenant {tenant_id}"
        )
    elif code == "90002" or "authority configuration" in text:
        fix = (
            f"check {ENV_GRAPH_TENANT_ID} and {ENV_AUTHORITY_HOST} "
            f"({authority_host}): tenant {tenant_id} is not found there"
        )
    elif not found and unreachable(exc):
        fix = f"check that {authority_host} ({ENV_AUTHORITY_HOST}) is reachable"
        return (
            f"cannot reach Entra at {authority_host} for the {source.describe()}: {detail}; {fix}",
            fix,
        )
    elif not found:
        fix = f"check that {authority_host} ({ENV_AUTHORITY_HOST}) is reachable"
    else:
        fix = f"check the registration of {app}"
    return f"Entra refused the {source.describe()}: {detail}; {fix}", fix


_UNREACHABLE = re.compile(
    r"(?i)(failed to establish|connection (refused|reset|aborted)|name or service not known|"
    r"temporary failure in name resolution|timed out|cannot connect|max retries exceeded)"
)


def unreachable(exc: BaseException) -> bool:
    """True when a token request failed for want of an answer, not because Entra refused it."""
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, ServiceRequestError | ServiceResponseError):
            return True
        if _UNREACHABLE.search(str(getattr(chain, "message", None) or chain)):
            return True
        chain = chain.__cause__ or chain.__context__
    return False
