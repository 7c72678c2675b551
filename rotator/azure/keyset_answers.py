"""Graph's answers about B2C policy key sets (pure): a key set and its keys (JWKs), each field
checked as hostile and turned into ``PolicyKey`` values; an error answer turned into a
``GraphError`` that says what to do (the permission, the B2C error codes).

Lenient where Microsoft's own examples are: ``nbf`` / ``exp`` as numbers or strings of digits (or
ISO 8601), ``kty`` in any case (``"OCT"``). Strict on everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rotator.azure.graph_answers import RETRY_STATUSES, _epoch, graph_error, response_detail
from rotator.errors import GraphError
from rotator.steps.keyset_plan import KeySet, PolicyKey
from rotator.text import json_type, scrub, shown

if TYPE_CHECKING:
    import httpx

PERMISSION = "TrustFrameworkKeySet.ReadWrite.All"
MAX_KEYS = 10_000  # no documented limit; far beyond any real set, bounds the work on a hostile one
_X5T = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
_B2C_CODES = {
    "AADB2C90213": "B2C could not open the PKCS#12 (wrong password, or not 3DES/SHA-1)",
    "AADB2C90214": "B2C refused an expired certificate",
    "AADB2C90215": "B2C could not read the key (badly formatted)",
    "AADB2C90063": "B2C reported an intermittent problem; the next run tries again",
}


def parse_key_set(body: Mapping[str, Any], key_set: str) -> KeySet:
    """A ``trustFrameworkKeySet``: its ``keys`` (missing or null: none), each checked.

    Raises:
        GraphError: ``keys`` is not a list, a key is not a valid JWK as Graph shows it, or the
            set is larger than any real one; the message names the key set and the field.
    """
    where = f"key set {key_set}: Microsoft Graph sent"
    keys = body.get("keys")
    if keys is None:
        keys = []
    if not isinstance(keys, list):
        raise GraphError(f"{where} keys as {json_type(keys)}, expected an array")
    if len(keys) > MAX_KEYS:
        raise GraphError(f"{where} {len(keys)} keys, more than {MAX_KEYS}")
    return KeySet(
        key_set, tuple(parse_key(item, f"{where} keys[{i}]") for i, item in enumerate(keys))
    )


def parse_key(item: Any, where: str) -> PolicyKey:
    """One ``trustFrameworkKey`` (a JWK without its private parts).

    Raises:
        GraphError: not an object, no ``kid``, or a field of the wrong type or format.
    """
    if not isinstance(item, Mapping):
        raise GraphError(f"{where} as {json_type(item)}, expected an object")
    kid = item.get("kid")
    if not isinstance(kid, str) or not kid.strip() or len(kid) > 512:
        raise GraphError(f"{where}.kid {shown(kid)}, expected a key id")
    x5t = _text(item, "x5t", where, 128)
    if x5t is not None and not set(x5t) <= _X5T:
        raise GraphError(f"{where}.x5t {shown(x5t)}, expected base64url")
    nbf, exp = item.get("nbf"), item.get("exp")
    return PolicyKey(
        kid=kid,
        use=(_text(item, "use", where, 16) or "").lower() or None,
        kty=(_text(item, "kty", where, 16) or "").lower() or None,
        nbf=None if nbf is None else _epoch(nbf, f"{where}.nbf"),
        exp=None if exp is None else _epoch(exp, f"{where}.exp"),
        x5t=x5t.rstrip("=") if x5t else None,
        status=_text(item, "status", where, 32),
    )


def _text(item: Mapping[str, Any], key: str, where: str, limit: int) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise GraphError(f"{where}.{key} {shown(value)}, expected text of at most {limit}")
    return value


def keyset_error(
    response: httpx.Response,
    subject: str,
    *,
    attempts: int,
    secrets: Sequence[str] = (),
) -> GraphError:
    """Graph's error answer about a key set as a ``GraphError`` that says what to do: the
    permission on 403, the key set's id on 404, what B2C's own codes mean."""
    base = graph_error(response, "-", attempts=attempts, secrets=secrets)  # code, request-id
    detail = scrub(response_detail(response), secrets) if secrets else response_detail(response)
    status, code = base.status, base.code
    if status == 403:
        text = (
            f"{subject}: Graph denied access ({detail}); the identity needs the Microsoft Graph "
            f"application permission {PERMISSION} with admin consent, as an app registered in "
            "the B2C tenant"
        )
    elif status == 404:
        text = (
            f"{subject} was not found in the tenant ({detail}); check keySet in ROTATOR_CONFIG "
            "(rotator never creates a key set: create it in the portal first)"
        )
    elif status == 401:
        text = (
            f"{subject}: Graph rejected the token ({detail}); check that the credential gets "
            "tokens for this Graph endpoint and tenant"
        )
    elif code in _B2C_CODES:
        text = f"{subject}: {_B2C_CODES[code]} ({detail})"
    elif status in RETRY_STATUSES:
        text = f"{subject}: Graph still answered {detail} after {attempts} attempt(s)"
    else:
        text = f"{subject}: Graph answered {detail}"
    return GraphError(text, status=status, code=code, request_id=base.request_id)
