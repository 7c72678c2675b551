"""Raw trigger input (Key Vault events via Event Grid, HTTP bodies) → small typed objects. Pure.

Nothing here talks to a service. Malformed input raises ``EventError`` / ``RequestError`` with the
field that is wrong, so a binding can answer or log it without a traceback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from rotator.errors import RotatorError
from rotator.model import AnyTarget, CredentialKind, RotationRequest
from rotator.text import (
    JsonLimitError,
    is_connector_id,
    is_key_set_id,
    is_key_vault_version,
    load_json,
    truncate,
)

_PREFIX = "Microsoft.KeyVault."
NEW_VERSION_TYPES = frozenset(
    {f"{_PREFIX}CertificateNewVersionCreated", f"{_PREFIX}SecretNewVersionCreated"}
)
NEAR_EXPIRY_TYPES = frozenset({f"{_PREFIX}CertificateNearExpiry", f"{_PREFIX}SecretNearExpiry"})
EXPIRED_TYPES = frozenset({f"{_PREFIX}CertificateExpired", f"{_PREFIX}SecretExpired"})
HANDLED_EVENT_TYPES = NEW_VERSION_TYPES | NEAR_EXPIRY_TYPES | EXPIRED_TYPES
"""The event types the Event Grid subscription delivers and ``rotate_on_keyvault_event`` acts on."""

ROTATE_FIELDS = frozenset({"connectorId", "force", "dryRun", "version", "reason", "skipProbe"})
PRINCIPAL_HEADER = "x-ms-client-principal-name"
MAX_REASON_LENGTH = 500
MAX_BODY_BYTES = 64 * 1024
"""The largest ``POST /api/rotate`` body read (a real one is under 1 KB); larger ones get 413."""


class EventError(RotatorError):
    """An event that cannot be understood; retrying it would not help."""


class RequestError(RotatorError):
    """An HTTP request body that is wrong; ``field`` names what to fix, ``status`` is 400, 404
    or 413 (too large)."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class EventKind(StrEnum):
    """What an event asks rotator to do."""

    NEW_VERSION = "new-version"
    NEAR_EXPIRY = "near-expiry"
    EXPIRED = "expired"
    IGNORED = "ignored"


@dataclass(frozen=True)
class KeyVaultEvent:
    """A Key Vault event as rotator needs it, from either Event Grid schema or CloudEvents."""

    event_id: str
    event_type: str
    vault_url: str  # https://name.vault.azure.net, lower case, no trailing slash
    object_type: str  # Certificate, Secret or Key (from the Id URL)
    object_name: str
    version: str | None
    not_before: dt.datetime | None
    expires_on: dt.datetime | None

    @property
    def kind(self) -> EventKind:
        """What to do with it: rotate now, rotate if newer exists, or ignore."""
        if self.event_type in NEW_VERSION_TYPES:
            return EventKind.NEW_VERSION
        if self.event_type in NEAR_EXPIRY_TYPES:
            return EventKind.NEAR_EXPIRY
        if self.event_type in EXPIRED_TYPES:
            return EventKind.EXPIRED
        return EventKind.IGNORED

    @property
    def short_type(self) -> str:
        """``CertificateNewVersionCreated`` for ``Microsoft.KeyVault.CertificateNewVersionCreated``."""
        return self.event_type.removeprefix(_PREFIX)


def parse_keyvault_event(*, event_id: str, event_type: str, data: Any) -> KeyVaultEvent:
    """Parse a Key Vault event's ``data`` (keys in PascalCase or camelCase; NBF/EXP as numbers,
    numeric strings or null). The vault, object and version come from the ``Id`` URL.

    Raises:
        EventError: ``data`` is not an object, or ``Id`` / NBF / EXP cannot be read.
    """
    where = f"event {truncate(event_id or '<no id>')} ({truncate(event_type or '<no type>')})"
    if not event_type:
        raise EventError(f"{where}: no event type")
    if not isinstance(data, Mapping):
        raise EventError(f"{where}: data is {type(data).__name__}, expected an object")
    fields = {str(key).strip().lower(): value for key, value in data.items()}
    raw_id = fields.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise EventError(f"{where}: data.Id is missing")
    vault_url, collection, name, version = _parse_object_id(raw_id.strip(), where)
    object_type = collection.removesuffix("s").capitalize()  # the Id is the source of truth
    return KeyVaultEvent(
        event_id=event_id,
        event_type=event_type,
        vault_url=vault_url,
        object_type=object_type,
        object_name=name,
        version=version,
        not_before=_epoch(fields.get("nbf"), f"{where}: data.NBF"),
        expires_on=_epoch(fields.get("exp"), f"{where}: data.EXP"),
    )


def normalize_vault_url(url: str) -> str:
    """``https://NAME.vault.azure.net/`` → ``https://name.vault.azure.net`` (for comparisons)."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def targets_for_event(targets: Iterable[AnyTarget], event: KeyVaultEvent) -> tuple[AnyTarget, ...]:
    """The targets bound to the event's vault and object: certificate events → certificate
    targets (connectors and policy keys), secret events → basic-auth and secret policy-key
    targets. Names compare case-insensitively, like Key Vault."""
    name = event.object_name.lower()
    kind = event.object_type.lower()
    matched: list[AnyTarget] = []
    for target in targets:
        if normalize_vault_url(target.key_vault_url) != event.vault_url:
            continue
        if target.key_vault_object.lower() != name:
            continue
        certificate = target.kind is CredentialKind.CERTIFICATE
        if (kind == "certificate" and certificate) or (kind == "secret" and not certificate):
            matched.append(target)
    return tuple(matched)


def parse_rotate_request(
    body: bytes,
    headers: Mapping[str, str],
    known_connectors: Iterable[str],
    known_key_sets: Iterable[str] = (),
) -> RotationRequest:
    """The body of ``POST /api/rotate`` → a ``RotationRequest`` (trigger ``http``).

    Body: ``{"connectorId": "<id>" | "all", "force": bool, "dryRun": bool, "version": str,
    "reason": str, "skipProbe": bool}``, or ``"keySet": "<policy key set id>"`` in place of
    ``connectorId`` when policy keys are configured. ``force`` needs a ``reason``; ``version``
    needs one target; ``skipProbe`` (switch without asking the API) needs ``force``.

    Raises:
        RequestError: 400 naming the wrong field, 404 for an unknown connector, 413 for a body
            over ``MAX_BODY_BYTES``.
    """
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(
            f"the body is larger than {MAX_BODY_BYTES} bytes ({len(body)} bytes)", status=413
        )
    try:
        document = load_json(body, max_bytes=MAX_BODY_BYTES)
    except JsonLimitError as exc:
        raise RequestError(f"the body must be a JSON object ({exc})", field=None) from None
    if not isinstance(document, dict):
        raise RequestError("the body must be a JSON object", field=None)
    key_sets = frozenset(known_key_sets)
    allowed = ROTATE_FIELDS | ({"keySet"} if key_sets else set())  # listed where configured
    unknown = sorted(set(document) - allowed)
    if unknown:
        name = truncate(unknown[0])
        raise RequestError(
            f"unknown field {name!r} (allowed: {', '.join(sorted(allowed))})", field=name
        )
    key_set = _key_set(document, key_sets) if "keySet" in document else None
    connector = document.get("connectorId", "-" if key_set else None)
    if not isinstance(connector, str) or not connector.strip():
        raise RequestError('connectorId is required: a connector id or "all"', field="connectorId")
    if key_set is None and connector != "all" and not is_connector_id(connector):
        raise RequestError(
            f"connectorId {truncate(connector)!r} is not a connector id (letters, digits, '-', "
            "'_' and '.')",
            field="connectorId",
        )
    force = _flag(document, "force")
    dry_run = _flag(document, "dryRun")
    version = _text(document, "version")
    if version is not None and not is_key_vault_version(version):
        raise RequestError(
            f"version {truncate(version)!r} is not a Key Vault version id (32 letters and digits)",
            field="version",
        )
    reason = _text(document, "reason")
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise RequestError(f"reason is longer than {MAX_REASON_LENGTH} characters", field="reason")
    if force and not reason:
        raise RequestError("force needs a reason (it goes into the history)", field="reason")
    skip_probe = _flag(document, "skipProbe")
    if skip_probe and not force:
        raise RequestError(
            "skipProbe needs force and a reason (an emergency that accepts breaking the user "
            "flow if the API does not take the new credential)",
            field="skipProbe",
        )
    ids: tuple[str, ...] = ()
    if key_set is None and connector != "all":
        if connector not in set(known_connectors):
            raise RequestError(
                f"connector {truncate(connector)!r} is not configured",
                field="connectorId",
                status=404,
            )
        ids = (connector,)
    if version is not None and not ids and key_set is None:
        raise RequestError('version needs a single connectorId, not "all"', field="version")
    principal = next(
        (v for k, v in headers.items() if k.lower() == PRINCIPAL_HEADER and v.strip()), None
    )
    return RotationRequest(
        connector_ids=ids,
        force=force,
        dry_run=dry_run,
        version=version,
        reason=reason,
        trigger="http",
        requested_by=truncate(principal) if principal else None,
        skip_probe=skip_probe,
        key_sets=(key_set,) if key_set else (),
    )


def _key_set(document: Mapping[str, Any], known: frozenset[str]) -> str:
    """The ``keySet`` of a rotate body: one configured policy key set (never with connectorId)."""
    if "connectorId" in document:
        raise RequestError("give connectorId or keySet, not both", field="keySet")
    value = document["keySet"]
    if not is_key_set_id(value):
        shown = truncate(value) if isinstance(value, str) else type(value).__name__
        raise RequestError(
            f"keySet {shown!r} is not a key set id (B2C_1A_ followed by letters, digits, '_' "
            "and '-')",
            field="keySet",
        )
    if value not in known:
        raise RequestError(f"key set {value!r} is not configured", field="keySet", status=404)
    return str(value)


def _flag(document: Mapping[str, Any], name: str) -> bool:
    value = document.get(name, False)
    if not isinstance(value, bool):
        raise RequestError(f"{name} must be true or false", field=name)
    return value


def _text(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{name} must be a non-empty string", field=name)
    return value.strip()


def _parse_object_id(raw: str, where: str) -> tuple[str, str, str, str | None]:
    parts = urlsplit(raw)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme.lower() != "https" or not parts.netloc or len(segments) not in (2, 3):
        raise EventError(f"{where}: data.Id {truncate(raw)!r} is not a Key Vault object URL")
    collection = segments[0].lower()
    if collection not in ("certificates", "secrets", "keys"):
        raise EventError(f"{where}: data.Id {truncate(raw)!r} names no certificate, secret or key")
    version = segments[2] if len(segments) == 3 else None
    return f"https://{parts.netloc.lower()}", collection, segments[1], version


def _epoch(value: Any, where: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise EventError(f"{where} is a boolean, expected epoch seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            raise EventError(f"{where} {truncate(value)!r} is not epoch seconds") from None
    else:
        raise EventError(f"{where} is {type(value).__name__}, expected epoch seconds")
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise EventError(f"{where} {truncate(str(value))!r} is out of range") from None
