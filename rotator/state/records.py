"""The state a connector keeps beside Graph (basic-auth version applied, pins, history) as plain
records, and the ``StateStore`` protocol with its leases; no I/O here.

Two implementations of the protocol, held to the same contract tests: ``LocalStateStore``
(``state_local.py``, a directory, for the CLI) and ``BlobStateStore`` (``state_blob.py``, a
container on the Function App's own storage account). Records change only through ``update``,
which never loses a concurrent writer's change (a file lock here, ETag conditions on blobs).
Nothing secret is ever written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from rotator.model import TargetKind

HISTORY_LIMIT = 50
KEY_SET_PREFIX = "keyset."
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True)
class AppliedCredential:
    """The Key Vault version last written to a connector and verified."""

    key_vault_url: str
    key_vault_object: str
    version: str
    thumbprint: str | None = None
    applied_at: str = ""


@dataclass(frozen=True)
class Pin:
    """A rollback an operator pinned: the connector stays on ``version`` until unpinned or until a
    version newer than the pin appears in Key Vault."""

    version: str
    pinned_at: str
    reason: str | None = None
    requested_by: str | None = None
    newest_created: str | None = None  # the newest version's creation time when pinned


@dataclass(frozen=True)
class HistoryEntry:
    """One rotation attempt as the history keeps it (no secret)."""

    at: str
    trigger: str
    outcome: str
    key_vault_version: str | None = None
    thumbprint: str | None = None
    reason: str | None = None
    requested_by: str | None = None


@dataclass(frozen=True)
class AddedKey:
    """A certificate rotator registered on its own Graph application (keep-alive), by keyId."""

    key_id: str
    thumbprint: str
    version: str  # the Key Vault version of the identity's certificate
    added_at: str
    not_after: str
    worked_at: str | None = None  # when a token was first had with it


@dataclass(frozen=True)
class UploadedKey:
    """A policy key rotator uploaded: the Key Vault version and the ``kid`` B2C gave it (a secret
    cannot be read back, so this is how a run knows which key holds which version)."""

    key_vault_url: str
    key_vault_object: str
    version: str
    kid: str
    uploaded_at: str


@dataclass(frozen=True)
class ConnectorRecord:
    """Everything the store knows about one connector (or, keep-alive, one Graph identity)."""

    connector_id: str
    applied: AppliedCredential | None = None
    history: tuple[HistoryEntry, ...] = field(default_factory=tuple)
    pin: Pin | None = None
    added_keys: tuple[AddedKey, ...] = ()
    uploaded_keys: tuple[UploadedKey, ...] = ()  # policy keys only (the newest HISTORY_LIMIT)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON (what the state store writes; no secret is in it)."""
        data: dict[str, Any] = json.loads(record_to_json(self))
        return data

    def with_entry(self, entry: HistoryEntry) -> ConnectorRecord:
        """This record plus ``entry`` (the newest ``HISTORY_LIMIT`` kept)."""
        return replace(self, history=(*self.history, entry)[-HISTORY_LIMIT:])


Change = Callable[[ConnectorRecord], ConnectorRecord]


class Lease(Protocol):
    """A held connector lease."""

    def ensure_held(self) -> None:
        """Raise ``RotationInProgressError`` if the lease was lost (checked before every write)."""
        ...


class StateStore(Protocol):
    """Where rotator keeps what Graph cannot tell it, and the per-connector lease."""

    def read(self, connector_id: str) -> ConnectorRecord:
        """The record of ``connector_id`` (empty when never rotated)."""
        ...

    def update(self, connector_id: str, change: Change) -> ConnectorRecord:
        """Apply ``change`` to the current record and store it without losing a concurrent write."""
        ...

    def lease(self, connector_id: str) -> contextlib.AbstractContextManager[Lease]:
        """Hold ``connector_id`` exclusively; raises ``RotationInProgressError`` when taken."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...


def append(store: StateStore, connector_id: str, entry: HistoryEntry) -> None:
    """Add ``entry`` to the connector's history."""
    store.update(connector_id, lambda record: record.with_entry(entry))


def set_pin(store: StateStore, connector_id: str, pin: Pin | None) -> ConnectorRecord:
    """Pin ``connector_id`` to a version, or clear its pin with ``None``."""
    return store.update(connector_id, lambda record: replace(record, pin=pin))


def state_key(kind: TargetKind, name: str) -> str:
    """The record (and lease) name of target ``name`` of ``kind``: a connector's id, or
    ``keyset.<id>`` for a policy key (config refuses a connector id that would be its twin)."""
    return KEY_SET_PREFIX + name if kind is TargetKind.POLICY_KEY else name


def blob_stem(connector_id: str) -> str:
    """A file or blob name for ``connector_id`` that cannot escape its folder."""
    if _SAFE_NAME.fullmatch(connector_id) and connector_id not in (".", ".."):
        return connector_id
    return "id-" + hashlib.sha256(connector_id.encode()).hexdigest()[:32]


def now_iso(now: dt.datetime) -> str:
    """``now`` as ISO 8601 UTC with a ``Z``."""
    return now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def record_to_json(record: ConnectorRecord) -> str:
    """The stored form of a record (JSON text)."""
    data: dict[str, Any] = {
        "connectorId": record.connector_id,
        "applied": asdict(record.applied) if record.applied else None,
        "pin": asdict(record.pin) if record.pin else None,
        "history": [asdict(entry) for entry in record.history],
    }
    if record.added_keys:
        data["added_keys"] = [asdict(key) for key in record.added_keys]
    if record.uploaded_keys:
        data["uploaded_keys"] = [asdict(key) for key in record.uploaded_keys]
    return json.dumps(data, indent=2, sort_keys=True)
