"""Service URLs as rotator accepts them (pure): https, a host and an optional port, nothing a
parser could read two ways, and never the user info of a URL repeated in an error."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from rotator.errors import ConfigurationError
from rotator.text import truncate

_AUTHORITY = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:(?P<port>[0-9]{1,5}))?")


def https_url(value: Any, where: str) -> str:
    """An https URL of a service: host and optional port (1-65535), nothing a parser could read
    two ways (user info, backslash, space, control character, ``%``, query or fragment).

    Raises:
        ConfigurationError: naming ``where``; the URL is shown cut short, never its user info.
    """
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: expected an https URL, got {type(value).__name__}")
    url = value.strip().rstrip("/")
    if "@" in url:
        raise ConfigurationError(
            f"{where}: the URL carries a user name or password ('user:password@'); remove it "
            "(the value is not shown)"
        )
    shown = shown_url(url)
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in url):
        raise ConfigurationError(
            f"{where}: {shown!r} contains a backslash, a space or a control character"
        )
    if "%" in url:
        raise ConfigurationError(f"{where}: {shown!r} contains a percent-encoded character")
    if "?" in url or "#" in url:
        raise ConfigurationError(f"{where}: {shown!r} has a query or fragment; give only the URL")
    parts = urlsplit(url)
    authority = _AUTHORITY.fullmatch(parts.netloc)
    if parts.scheme.lower() != "https" or authority is None:
        raise ConfigurationError(f"{where}: {shown!r} is not an https URL")
    port = authority.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ConfigurationError(f"{where}: {shown!r} has an invalid port (1-65535)")
    return url


def shown_url(url: str) -> str:
    """A URL as an error may repeat it: cut short, and only when it holds no user info."""
    return "<not shown>" if "@" in url else truncate(url)
