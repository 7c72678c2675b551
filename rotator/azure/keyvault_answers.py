"""Key Vault's JSON answers read strictly: version-list pages and secret bundles. Pure.

The Azure SDK's models pass a wrong type through (``"enabled": "false"`` stays a true-ish
string, a ``value`` of ``12345`` becomes the text ``"12345"``), so ``rotator.azure.keyvault`` reads
the raw body of every successful answer here first. Each field must have the type, format and
range of Key Vault's REST schema; anything else is a ``KeyVaultError`` naming the object and
the field. Fields rotator does not use are not checked, so new ones do not break it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from rotator.errors import KeyVaultError
from rotator.model import VersionInfo
from rotator.text import (
    MAX_EPOCH_SECONDS,
    JsonLimitError,
    is_key_vault_version,
    load_json,
    shown,
    truncate,
)

MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""The largest Key Vault answer read (a page of 25 versions is a few KB; a PFX some KB)."""


@dataclass(frozen=True)
class SecretValue:
    """A secret's value and content type; ``repr`` never shows the value."""

    value: str
    content_type: str | None

    def __repr__(self) -> str:
        return f"SecretValue(value=<{len(self.value)} chars>, content_type={self.content_type!r})"


@dataclass(frozen=True)
class VersionPage:
    """One page of a version list: its versions and the link to the next page, if any."""

    versions: tuple[VersionInfo, ...]
    next_link: str | None


def parse_version_page(
    body: bytes, *, what: str, kind: str, name: str, vault_url: str
) -> VersionPage:
    """One page of ``GET /{kind}/{name}/versions``: ``{"value": [...], "nextLink": ...}``.

    ``what`` names the object in errors (``Key Vault secret 'x'``); ``kind`` is ``secrets`` or
    ``certificates``. A ``nextLink`` must stay on the vault's host: the SDK sends the next
    request, with its token, wherever it points.

    Raises:
        KeyVaultError: the body is not such a page, or a field is wrong; the message names it.
    """
    where = f"{what}: Key Vault's version list"
    page = _object(body, where)
    items = page.get("value")
    if not isinstance(items, list):
        raise KeyVaultError(f"{where} has 'value' {shown(items)}, expected an array", status=200)
    versions = tuple(
        _version_item(item, what=what, kind=kind, name=name, where=f"{where}: value[{index}]")
        for index, item in enumerate(items)
    )
    return VersionPage(versions, _next_link(page.get("nextLink"), where, vault_url))


def parse_secret_bundle(body: bytes, *, what: str, name: str, version: str) -> SecretValue:
    """The answer of ``GET /secrets/{name}/{version}``: ``value`` must be text.

    Raises:
        KeyVaultError: the body is not a secret bundle of that version, or a field is wrong.
    """
    where = f"{what}: Key Vault's answer"
    bundle = _object(body, where)
    _check_id(bundle.get("id"), where, kind="secrets", name=name, version=version)
    value = bundle.get("value")
    if not isinstance(value, str):
        raise KeyVaultError(
            f"{where} has 'value' {shown(value, secret=True)}, expected a string; nothing was sent",
            status=200,
        )
    content_type = bundle.get("contentType")
    if content_type is not None and not isinstance(content_type, str):
        raise KeyVaultError(
            f"{where} has 'contentType' {shown(content_type)}, expected a string", status=200
        )
    _attributes(bundle.get("attributes"), f"{where}: attributes")
    return SecretValue(value, content_type)


def _object(body: bytes, where: str) -> dict[str, Any]:
    try:
        document = load_json(body, max_bytes=MAX_ANSWER_BYTES)
    except JsonLimitError as exc:
        raise KeyVaultError(f"{where} is not usable JSON ({exc})", status=200) from None
    if not isinstance(document, dict):
        raise KeyVaultError(f"{where} is {shown(document)}, expected a JSON object", status=200)
    return document


def _version_item(item: Any, *, what: str, kind: str, name: str, where: str) -> VersionInfo:
    if not isinstance(item, dict):
        raise KeyVaultError(f"{where} is {shown(item)}, expected an object", status=200)
    version = _check_id(item.get("id"), where, kind=kind, name=name, version=None)
    attributes = _attributes(item.get("attributes"), f"{where} (version {version}): attributes")
    thumbprint = None
    if kind == "certificates":
        thumbprint = _thumbprint(item.get("x5t"), f"{where} (version {version}): x5t")
    return VersionInfo(
        name=name,
        version=version,
        enabled=attributes.enabled,
        created_on=attributes.created,
        not_before=attributes.not_before,
        expires_on=attributes.expires,
        thumbprint=thumbprint,
    )


def _check_id(value: Any, where: str, *, kind: str, name: str, version: str | None) -> str:
    """The version named by an object ``id`` ``https://host/{kind}/{name}/{version}``.

    Raises:
        KeyVaultError: not such a URL, another object, or (when given) another version.
    """
    if not isinstance(value, str):
        raise KeyVaultError(f"{where} has 'id' {shown(value)}, expected a URL", status=200)
    parts = urlsplit(value)
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    if (
        parts.scheme != "https"
        or len(segments) != 3
        or segments[0] != kind
        or segments[1].lower() != name.lower()
        or not is_key_vault_version(segments[2])
    ):
        raise KeyVaultError(
            f"{where} has 'id' {truncate(value)!r}, expected https://…/{kind}/{name}/<32-character "
            "version>",
            status=200,
        )
    if version is not None and segments[2].lower() != version.lower():
        raise KeyVaultError(
            f"{where} is for version {segments[2]}, not the version {version} asked for",
            status=200,
        )
    return segments[2]


@dataclass(frozen=True)
class _Attributes:
    enabled: bool
    created: dt.datetime | None
    not_before: dt.datetime | None
    expires: dt.datetime | None


def _attributes(value: Any, where: str) -> _Attributes:
    if not isinstance(value, dict):
        raise KeyVaultError(f"{where} is {shown(value)}, expected an object", status=200)
    enabled = value.get("enabled")
    if not isinstance(enabled, bool):
        raise KeyVaultError(
            f"{where}.enabled is {shown(enabled)}, expected true or false", status=200
        )
    return _Attributes(
        enabled=enabled,
        created=_epoch(value.get("created"), f"{where}.created"),
        not_before=_epoch(value.get("nbf"), f"{where}.nbf"),
        expires=_epoch(value.get("exp"), f"{where}.exp"),
    )


def _epoch(value: Any, where: str) -> dt.datetime | None:
    """Key Vault's times: integer Unix seconds (absent or null when unset)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EPOCH_SECONDS:
        raise KeyVaultError(
            f"{where} is {shown(value)}, expected Unix seconds (an integer, 1970-9999)", status=200
        )
    return dt.datetime.fromtimestamp(value, dt.UTC)


def _thumbprint(value: Any, where: str) -> str | None:
    """``x5t``: base64url without padding of the 20-byte SHA-1 → upper-case hex."""
    if value is None:
        return None
    digest = None
    if isinstance(value, str) and len(value) == 27 and value.isascii():
        try:
            digest = base64.urlsafe_b64decode(value + "=")
        except (binascii.Error, ValueError):
            digest = None
    if digest is None or len(digest) != 20:
        raise KeyVaultError(
            f"{where} is {shown(value)}, expected a SHA-1 thumbprint in base64url (27 characters)",
            status=200,
        )
    return digest.hex().upper()


def _next_link(value: Any, where: str, vault_url: str) -> str | None:
    if value is None or value == "":
        return None
    vault = urlsplit(vault_url)
    link = urlsplit(value) if isinstance(value, str) else None
    if (
        link is None
        or link.scheme != "https"
        or (link.hostname or "").lower() != (vault.hostname or "").lower()
        or _port(link) != _port(vault)
    ):
        raise KeyVaultError(
            f"{where} has 'nextLink' {shown(value)}, expected a link on {vault_url}", status=200
        )
    return str(value)


def _port(parts: Any) -> int | None:
    try:
        return int(parts.port or 443)
    except ValueError:
        return None
