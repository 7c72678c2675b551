"""Access tokens for the emulator: HS256 JWTs shaped like Entra ID app-only tokens (stdlib only)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_LIFETIME_SECONDS = 24 * 3600
CLOCK_SKEW_SECONDS = 300


class InvalidToken(Exception):
    """A bearer token was malformed, badly signed, expired or not yet valid."""


@dataclass(frozen=True)
class Claims:
    """The verified claims of a token the emulator minted."""

    audience: str
    roles: frozenset[str]
    tenant_id: str
    app_id: str
    object_id: str
    expires_on: int
    raw: Mapping[str, Any] = field(repr=False)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


class TokenMinter:
    """Mints and verifies the emulator's JWTs with a random per-emulator HMAC key."""

    def __init__(self, *, tenant_id: str, client_id: str, object_id: str) -> None:
        """Create a minter for one tenant and one (system-assigned) managed identity."""
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.object_id = object_id
        self._key = secrets.token_bytes(32)

    @property
    def issuer(self) -> str:
        """The ``iss`` claim: the v1 Entra ID issuer of the emulator's tenant."""
        return f"https://sts.windows.net/{self.tenant_id}/"

    def mint(
        self,
        *,
        audience: str,
        roles: Iterable[str] = (),
        client_id: str | None = None,
        tenant_id: str | None = None,
        object_id: str | None = None,
        display_name: str | None = None,
        now: float | None = None,
    ) -> tuple[str, int]:
        """Return ``(token, expires_on)`` for ``audience`` carrying ``roles`` (if any).

        ``tenant_id`` and ``object_id`` default to the managed identity's; the Entra token
        endpoint passes an app's tenant and service principal. ``display_name`` becomes the
        ``app_displayname`` claim, as Microsoft Graph's app-only tokens carry it (it is not in
        the access-token claims reference, so a client must not depend on it).
        """
        issued = int(now if now is not None else time.time())
        expires_on = issued + TOKEN_LIFETIME_SECONDS
        tenant = tenant_id or self.tenant_id
        principal = object_id or self.object_id
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": issued,
            "nbf": issued,
            "exp": expires_on,
            "tid": tenant,
            "oid": principal,
            "sub": principal,
            "appid": client_id or self.client_id,
            "appidacr": "2",
            "idtyp": "app",
            "ver": "1.0",
            "uti": _b64url(uuid.uuid4().bytes),
        }
        if display_name is not None:
            claims["app_displayname"] = display_name
        role_list = sorted(roles)
        if role_list:
            claims["roles"] = role_list
        header = {"alg": "HS256", "typ": "JWT"}
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}", expires_on

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        """Check signature and lifetime and return the claims.

        Raises:
            InvalidToken: the token is malformed, not signed by this emulator, expired or not
                yet valid.
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("the token is not a compact JWT")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = hmac.new(self._key, signing_input, hashlib.sha256).digest()
        try:
            signature = _b64url_decode(parts[2])
            payload = json.loads(_b64url_decode(parts[1]))
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise InvalidToken("the token cannot be decoded") from exc
        if not hmac.compare_digest(signature, expected):
            raise InvalidToken("the token signature is invalid")
        if not isinstance(payload, dict):
            raise InvalidToken("the token payload is not an object")
        current = now if now is not None else time.time()
        exp = payload.get("exp")
        nbf = payload.get("nbf")
        if not isinstance(exp, int) or exp <= current - CLOCK_SKEW_SECONDS:
            raise InvalidToken("the token is expired")
        if isinstance(nbf, int) and nbf > current + CLOCK_SKEW_SECONDS:
            raise InvalidToken("the token is not yet valid")
        roles = payload.get("roles") or []
        return Claims(
            audience=str(payload.get("aud", "")),
            roles=frozenset(str(role) for role in roles),
            tenant_id=str(payload.get("tid", "")),
            app_id=str(payload.get("appid", "")),
            object_id=str(payload.get("oid", "")),
            expires_on=exp,
            raw=payload,
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
