"""Token claims: a ``TokenCredential`` wrapper that keeps only the decoded claims of the tokens it
passed through (never a token), so ``check`` can say which identity each service saw."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rotator.text import load_json, printable

MAX_TOKEN_CHARS = 16_384  # Entra's access tokens are a few kB; a larger one is not read
MAX_CALLER_CHARS = 120

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential


class ClaimsRecorder:
    """A TokenCredential that passes tokens through and keeps only their decoded claims."""

    def __init__(self, inner: TokenCredential) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._claims: dict[str, dict[str, Any]] = {}

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = self._inner.get_token(*scopes, **kwargs)
        with self._lock:
            self._claims[" ".join(scopes)] = decode_claims(token.token)
        return token

    def claims(self, scope: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._claims.get(scope, {}))

    def all_claims(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(scope, dict(claims)) for scope, claims in self._claims.items()]

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without verification ({} when it is not a JWT, or one
    larger than ``MAX_TOKEN_CHARS``: Microsoft's tokens may be opaque, so nothing depends on it)."""
    parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 3:
        return {}
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        payload = load_json(raw, max_bytes=MAX_TOKEN_CHARS, max_depth=8)
    except (ValueError, binascii.Error):  # JsonLimitError is a ValueError
        return {}
    return payload if isinstance(payload, dict) else {}


def caller_of(claims: Mapping[str, Any]) -> str | None:
    """Who a token says its caller is, for display only (``requestedBy``): a user's ``upn``,
    else an app's ``app_displayname``, else the ``oid`` of its principal; one printable line of
    at most ``MAX_CALLER_CHARS`` (None when the token names nobody)."""
    for claim in ("upn", "app_displayname", "oid"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            shown = printable(value.strip())
            return shown if len(shown) <= MAX_CALLER_CHARS else shown[: MAX_CALLER_CHARS - 1] + "…"
    return None
