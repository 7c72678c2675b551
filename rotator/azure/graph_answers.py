"""Graph's answers (pure): a connector, each field checked for the type and range of Graph's
schema and turned into a ``ConnectorState`` (a wrong one is a ``GraphError`` naming it), an
application's key credentials by thumbprint, and an error answer turned into a ``GraphError``
that says what to do."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import email.utils
import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rotator.errors import GraphError, one_line
from rotator.model import ConnectorState, GraphCertificate
from rotator.text import (
    MAX_EPOCH_SECONDS,
    JsonLimitError,
    json_type,
    load_json,
    scrub,
    shown,
    truncate,
)

if TYPE_CHECKING:
    import httpx

PERMISSION = "APIConnectors.ReadWrite.All"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})  # idempotent calls; uploads: 429 only
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a connector with hundreds of certificates is under 100 KB
_CERT_TYPE = "microsoft.graph.clientcertificateauthentication"
_BASIC_TYPE = "microsoft.graph.basicauthentication"


def parse_connector(body: Mapping[str, Any], connector_id: str) -> ConnectorState:
    """Turn Graph's JSON for a connector into a ``ConnectorState``.

    Lenient where Graph's documentation is (``@odata.type`` with or without ``#``, dates as
    epoch seconds or ISO 8601), strict on everything else: each field has the type and range of
    Graph's schema, so a wrong one is an error, never believed.

    Raises:
        GraphError: a field is missing or has the wrong type, format or range; the message
            names the connector and the field.
    """
    where = f"connector {connector_id}: Microsoft Graph sent"
    name = _optional(body, "displayName", str, where)
    auth = _optional(body, "authenticationConfiguration", dict, where) or {}
    raw_type = _optional(auth, "@odata.type", str, f"{where} authenticationConfiguration") or "none"
    kind = raw_type.lstrip("#").lower()
    target_url = _optional(body, "targetUrl", str, where)  # checked again before a probe
    if kind == _CERT_TYPE:
        items = _optional(auth, "certificateList", list, f"{where} authenticationConfiguration")
        certificates = tuple(
            _certificate(item, f"{where} authenticationConfiguration.certificateList[{index}]")
            for index, item in enumerate(items or [])
        )
        return ConnectorState(
            connector_id, name, "certificate", certificates=certificates, target_url=target_url
        )
    if kind == _BASIC_TYPE:
        username = _optional(auth, "username", str, f"{where} authenticationConfiguration")
        return ConnectorState(connector_id, name, "basic", username=username, target_url=target_url)
    return ConnectorState(connector_id, name, truncate(raw_type), target_url=target_url)


def _optional(obj: Mapping[str, Any], key: str, kind: type[Any], where: str) -> Any:
    """``obj[key]`` when it is a ``kind``; None when absent or null.

    Raises:
        GraphError: present with another type.
    """
    value = obj.get(key)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise GraphError(f"{where} {key} as {json_type(value)}, expected {json_type(kind())}")


def _certificate(item: Any, where: str) -> GraphCertificate:
    if not isinstance(item, dict):
        raise GraphError(f"{where} as {json_type(item)}, expected an object")
    thumbprint = item.get("thumbprint")
    if not isinstance(thumbprint, str) or not _is_thumbprint(thumbprint):
        raise GraphError(
            f"{where}.thumbprint {shown(thumbprint)}, expected 40 hexadecimal digits (SHA-1)"
        )
    active = item.get("isActive")
    if not isinstance(active, bool):
        raise GraphError(f"{where}.isActive {shown(active)}, expected true or false")
    return GraphCertificate(
        thumbprint=thumbprint.upper(),
        not_before=_epoch(item.get("notBefore"), f"{where}.notBefore"),
        not_after=_epoch(item.get("notAfter"), f"{where}.notAfter"),
        is_active=active,
    )


def _is_thumbprint(value: str) -> bool:
    return len(value) == 40 and all(c in "0123456789abcdefABCDEF" for c in value)


def _epoch(value: Any, where: str) -> dt.datetime:
    """Graph sends epoch seconds (one doc page says DateTime): accept an integer, a string of
    digits or an ISO 8601 date-time, between 1970 and 9999.

    Raises:
        GraphError: anything else (a float, a boolean, text that is neither, out of range).
    """
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        seconds = int(value)
    elif isinstance(value, str) and 0 < len(value) <= 40:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and 1970 <= parsed.year < 9999:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if seconds is None or not 0 <= seconds <= MAX_EPOCH_SECONDS:
        raise GraphError(
            f"{where} {shown(value)}, expected epoch seconds (1970-9999) or an ISO 8601 date-time"
        )
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def header(response: httpx.Response, name: str) -> str | None:
    value = response.headers.get(name)
    return truncate(value) if value is not None else None


def response_detail(response: httpx.Response) -> str:
    """``403 Authorization_RequestDenied: message`` from an error answer (cut short)."""
    code = message = None
    try:
        error = load_json(response.content, max_bytes=MAX_ANSWER_BYTES).get("error", {})
        code, message = _text(error.get("code")), _text(error.get("message"))
    except (ValueError, AttributeError):
        pass
    return f"{response.status_code} {code or truncate(response.reason_phrase)}" + (
        f": {message}" if message else ""
    )


def response_json(response: httpx.Response, subject: str) -> dict[str, Any]:
    try:
        data = load_json(response.content, max_bytes=MAX_ANSWER_BYTES)
    except JsonLimitError as exc:
        raise GraphError(
            f"{subject}: Microsoft Graph answered {response.status_code} with a "
            f"body that is not usable JSON ({exc})",
            status=response.status_code,
            request_id=header(response, "request-id"),
        ) from exc
    if not isinstance(data, dict):
        raise GraphError(
            f"{subject}: Microsoft Graph answered with a JSON "
            f"{type(data).__name__}, expected an object",
            status=response.status_code,
            request_id=header(response, "request-id"),
        )
    return data


def graph_error(
    response: httpx.Response,
    connector_id: str,
    *,
    attempts: int,
    note: str = "",
    may_have_landed: bool = False,
    secrets: Sequence[str] = (),
) -> GraphError:
    """Graph's error answer as a ``GraphError`` that says what to do; any of ``secrets`` (what
    the request carried) that Graph echoes is redacted before the text is cut short."""
    status = response.status_code
    code = message = None
    request_id = header(response, "request-id")
    try:
        error = load_json(response.content, max_bytes=MAX_ANSWER_BYTES).get("error", {})
        code = _text(error.get("code"))
        raw = error.get("message")
        message = _text(scrub(raw, secrets) if isinstance(raw, str) and secrets else raw)
        inner = error.get("innerError") or error.get("innererror") or {}
        request_id = request_id or _text(inner.get("request-id"))
    except (ValueError, AttributeError):
        pass
    detail = f"{status} {code or truncate(response.reason_phrase)}" + (
        f": {message}" if message else ""
    )
    subject = f"connector {connector_id}"
    if status == 403:
        text = (
            f"{subject}: Graph denied access ({detail}); the identity needs the Microsoft Graph "
            f"application permission {PERMISSION} with admin consent"
        )
    elif status == 404:
        text = f"{subject} was not found in the tenant ({detail}); check the id in ROTATOR_CONFIG"
    elif status == 401:
        text = (
            f"{subject}: Graph rejected the token ({detail}); check that the credential gets "
            "tokens for this Graph endpoint and tenant"
        )
    elif status in RETRY_STATUSES:
        text = f"{subject}: Graph still answered {detail} after {attempts} attempt(s)"
    elif code == "AADB2C90213":
        text = (
            f"{subject}: Graph refused the PKCS#12 ({detail}); B2C reads only 3DES files, "
            "keep ROTATOR_PKCS12_PROFILE=legacy-3des"
        )
    else:
        text = f"{subject}: Graph answered {detail}"
    return GraphError(
        text + note,
        status=status,
        code=code,
        request_id=request_id,
        may_have_landed=may_have_landed,
    )


def _text(value: Any) -> str | None:
    """A text field of a Graph error, on one line and cut short; None when it is not text."""
    return truncate(one_line(value)) if isinstance(value, str) and value.strip() else None


def registered_key_ids(application: dict[str, Any]) -> dict[str, str]:
    """Thumbprint (SHA-1, upper-case hex) → keyId of an application's certificate keys, from
    Graph's ``keyCredentials``; ``customKeyIdentifier`` holds the thumbprint (hex, or base64 of
    its 20 bytes). Entries of another shape are skipped."""
    found: dict[str, str] = {}
    credentials = application.get("keyCredentials")
    for credential in credentials if isinstance(credentials, list) else []:
        if not isinstance(credential, dict):
            continue
        key_id, custom = credential.get("keyId"), credential.get("customKeyIdentifier")
        if not (isinstance(key_id, str) and key_id and isinstance(custom, str)):
            continue
        if thumbprint := _thumbprint(custom):
            found[thumbprint] = truncate(key_id, 64)
    return found


def _thumbprint(custom: str) -> str | None:
    if len(custom) == 40 and all(c in string.hexdigits for c in custom):
        return custom.upper()
    with contextlib.suppress(binascii.Error, ValueError):
        raw = base64.b64decode(custom, validate=True)
        if len(raw) == 20:
            return raw.hex().upper()
    return None


def parse_retry_after(value: str, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds, or an HTTP date
    (counted from ``now``); None when it is neither."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - now).total_seconds()


def request_secrets(body: Mapping[str, Any] | None) -> list[str]:
    """The secrets a request body carries (a password, a PKCS#12 and its password)."""
    if not body:
        return []
    inner = body.get("authenticationConfiguration", body)
    found = (
        [inner.get(key) for key in ("password", "pkcs12Value", "key", "k")]
        if isinstance(inner, Mapping)
        else []
    )
    return [value for value in found if isinstance(value, str) and value]
