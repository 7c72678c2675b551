"""The probe's configuration (pure): how to call a connector's API the way B2C will, parsed from
``ROTATOR_CONFIG``'s ``"probe"`` (top level: the default of every connector; per connector: its
keys override the default's, ``false`` turns the probe off).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from rotator.errors import ConfigurationError
from rotator.model import DEFAULT_BODY, DEFAULT_REJECT_STATUS, ProbeConfig
from rotator.text import compact_json

MAX_WAIT_SECONDS = 900
METHODS = ("POST", "GET", "PUT", "PATCH")
KEYS = ("url", "method", "body", "headers", "rejectStatus", "waitSeconds", "required")
_MAX_BODY_BYTES = 64 * 1024
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_probe(
    value: Any, *, where: str, default: Mapping[str, Any] | None = None
) -> ProbeConfig | None:
    """The probe of one connector from its ``"probe"`` value merged over the top-level default
    (``None`` when neither is given, or the connector says ``false``).

    Raises:
        ConfigurationError: a key is unknown, of the wrong type or out of range.
    """
    if value is False:
        return None
    if value is None and default is None:
        return None
    if value is not None and not isinstance(value, dict):
        raise ConfigurationError(f"{where}: 'probe' must be an object or false")
    merged = {**(default or {}), **(value or {})}
    unknown = sorted(set(merged) - set(KEYS))
    if unknown:
        raise ConfigurationError(
            f"{where}: probe: unknown key {unknown[0][:60]!r} (allowed: {', '.join(KEYS)})"
        )
    url = merged.get("url")
    if url is not None:
        url = probe_url(url, where=f"{where}: probe.url")
    method = merged.get("method", "POST")
    if method not in METHODS:
        raise ConfigurationError(f"{where}: probe.method must be one of {', '.join(METHODS)}")
    body = compact_json(merged.get("body", DEFAULT_BODY))
    if len(body) > _MAX_BODY_BYTES:
        raise ConfigurationError(f"{where}: probe.body is larger than 64 KiB")
    return ProbeConfig(
        url=url,
        method=method,
        body=body,
        headers=_headers(merged.get("headers", {}), where),
        reject_status=_statuses(merged.get("rejectStatus", list(DEFAULT_REJECT_STATUS)), where),
        wait_seconds=_wait(merged.get("waitSeconds", 0), where),
        required=_required(merged.get("required", True), where),
    )


def top_level_probe(value: Any) -> Mapping[str, Any] | None:
    """The top-level ``"probe"`` default, checked once (each connector's merge checks it again).

    Raises:
        ConfigurationError: it is not an object.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigurationError(
            "ROTATOR_CONFIG: the top level: 'probe' must be an object (the default probe)"
        )
    parse_probe(value, where="ROTATOR_CONFIG: the top level")
    return value


def probe_url(value: Any, *, where: str) -> str:
    """An https URL the probe may call: no userinfo, no control characters or spaces, a host.

    Raises:
        ConfigurationError: anything else (the URL itself is not echoed: it may hold a key).
    """
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise ConfigurationError(f"{where}: expected an https URL of at most 2048 characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in value):
        raise ConfigurationError(
            f"{where}: the URL contains a space, backslash or control character"
        )
    if not value.isascii():
        raise ConfigurationError(f"{where}: percent-encode the URL's non-ASCII characters")
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc or port == 0:
        raise ConfigurationError(
            f"{where}: must be an https URL with a host, without user info, port 1-65535"
        )
    if port == -1:
        raise ConfigurationError(f"{where}: the port is not a number from 1 to 65535")
    return value


def _headers(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: probe.headers must be an object of strings")
    headers: list[tuple[str, str]] = []
    for name, text in value.items():
        if not name or not set(name) <= _TOKEN or not isinstance(text, str):
            raise ConfigurationError(
                f"{where}: probe.headers: {name[:60]!r} is not a header name with a string value"
            )
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in text):
            raise ConfigurationError(f"{where}: probe.headers: {name!r} has a control character")
        if any(ord(c) > 0xFF for c in text):
            raise ConfigurationError(
                f"{where}: probe.headers: {name!r} has a character HTTP headers cannot carry"
            )
        if name.lower() in ("authorization", "host", "content-length", "transfer-encoding"):
            raise ConfigurationError(
                f"{where}: probe.headers may not set {name!r} (rotator sets it)"
            )
        headers.append((name, text))
    return tuple(headers)


def _statuses(value: Any, where: str) -> frozenset[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(type(s) is int and 400 <= s <= 599 for s in value)
    ):
        raise ConfigurationError(
            f"{where}: probe.rejectStatus must be a non-empty list of HTTP statuses 400-599"
        )
    return frozenset(value)


def _wait(value: Any, where: str) -> float:
    if type(value) not in (int, float) or not 0 <= value <= MAX_WAIT_SECONDS:
        raise ConfigurationError(
            f"{where}: probe.waitSeconds must be a number from 0 to {MAX_WAIT_SECONDS}"
        )
    return float(value)


def _required(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise ConfigurationError(f"{where}: probe.required must be true or false")
    return value
