"""The state store: what Graph cannot tell us (basic-auth version applied, history) and per-connector leases.

``LocalStateStore`` keeps one JSON file per connector in a directory (the CLI's store); the Azure
Function's blob store implements the same ``StateStore`` protocol. Nothing secret is ever written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from rotator.errors import ConfigurationError, RotationInProgressError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

HISTORY_LIMIT = 50
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class AppliedCredential:
    """The Key Vault version last written to a connector and verified."""

    key_vault_url: str
    key_vault_object: str
    version: str
    thumbprint: str | None = None
    applied_at: str = ""


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
class ConnectorRecord:
    """Everything the store knows about one connector."""

    connector_id: str
    applied: AppliedCredential | None = None
    history: tuple[HistoryEntry, ...] = field(default_factory=tuple)


class StateStore(Protocol):
    """Where rotator keeps what Graph cannot tell it, and the per-connector lease."""

    def read(self, connector_id: str) -> ConnectorRecord:
        """The record of ``connector_id`` (empty when never rotated)."""
        ...

    def append(
        self, connector_id: str, entry: HistoryEntry, *, applied: AppliedCredential | None = None
    ) -> None:
        """Add ``entry`` to the history; with ``applied``, also record it as the applied version."""
        ...

    def lease(self, connector_id: str) -> contextlib.AbstractContextManager[None]:
        """Hold ``connector_id`` exclusively; raises ``RotationInProgressError`` when taken."""
        ...


class LocalStateStore:
    """A directory of JSON files, one per connector, and ``flock`` leases beside them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def read(self, connector_id: str) -> ConnectorRecord:
        """The record of ``connector_id`` (empty when never rotated).

        Raises:
            ConfigurationError: the file exists but is not a record rotator wrote.
        """
        path = self._path(connector_id, ".json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return ConnectorRecord(connector_id)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"state file {path} cannot be read: {exc}") from exc
        return _record_from_json(connector_id, data)

    def append(
        self, connector_id: str, entry: HistoryEntry, *, applied: AppliedCredential | None = None
    ) -> None:
        """Add ``entry`` (keeping the newest ``HISTORY_LIMIT``) and, optionally, the applied version."""
        record = self.read(connector_id)
        history = (*record.history, entry)[-HISTORY_LIMIT:]
        record = replace(record, history=history, applied=applied or record.applied)
        self._write_atomically(self._path(connector_id, ".json"), _record_to_json(record))

    @contextlib.contextmanager
    def lease(self, connector_id: str) -> Iterator[None]:
        """Hold an exclusive ``flock`` on the connector's lock file; released on exit or crash.

        Raises:
            RotationInProgressError: another process holds it.
        """
        path = self._path(connector_id, ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+") as handle:
            if fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise RotationInProgressError(
                        f"connector {connector_id}: another rotation is in progress"
                    ) from None
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _path(self, connector_id: str, suffix: str) -> Path:
        if _SAFE_NAME.match(connector_id):
            stem = connector_id
        else:
            stem = "id-" + hashlib.sha256(connector_id.encode()).hexdigest()[:32]
        return self.directory / "connectors" / f"{stem}{suffix}"

    @staticmethod
    def _write_atomically(path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def now_iso(now: dt.datetime) -> str:
    """``now`` as ISO 8601 UTC with a ``Z``."""
    return now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _record_to_json(record: ConnectorRecord) -> dict[str, Any]:
    return {
        "connectorId": record.connector_id,
        "applied": asdict(record.applied) if record.applied else None,
        "history": [asdict(entry) for entry in record.history],
    }


def _record_from_json(connector_id: str, data: Any) -> ConnectorRecord:
    if not isinstance(data, dict):
        raise ConfigurationError(f"state of connector {connector_id} is not a JSON object")
    applied = data.get("applied")
    return ConnectorRecord(
        connector_id=connector_id,
        applied=AppliedCredential(**applied) if isinstance(applied, dict) else None,
        history=tuple(HistoryEntry(**h) for h in data.get("history") or [] if isinstance(h, dict)),
    )
