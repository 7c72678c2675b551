"""Token claims: a ``TokenCredential`` wrapper that keeps only the decoded claims of the tokens it
passed through (never a token), so ``check`` can say which identity each service saw."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from typing import TYPE_CHECKING, Any

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
    """The payload of a JWT, decoded without verification ({} when it is not a JWT)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return payload if isinstance(payload, dict) else {}
