"""The local state store: a directory of JSON records with ``flock`` leases (the CLI's default)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from rotator.errors import ConfigurationError, RotationInProgressError, StateError
from rotator.state.codec import record_from_bytes
from rotator.state.records import (
    Change,
    ConnectorRecord,
    Lease,
    blob_stem,
    now_iso,
    record_to_json,
)
from rotator.text import truncate

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class _HeldLock:
    """A ``flock`` cannot be lost while its process lives."""

    def ensure_held(self) -> None:
        """Always held."""


class LocalStateStore:
    """A directory of JSON files, one per connector, with ``flock`` locks beside them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def close(self) -> None:
        """Nothing to release: files are opened per call."""

    def read(self, connector_id: str) -> ConnectorRecord:
        """The record of ``connector_id`` (empty when never rotated).

        Raises:
            StateError: the file cannot be read, or is not a record rotator wrote.
        """
        path = self._path(connector_id, ".json")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return ConnectorRecord(connector_id)
        except OSError as exc:
            raise StateError(
                f"state record of connector {connector_id} ({path}) cannot be read: "
                f"{exc.strerror or exc}"
            ) from exc
        return record_from_bytes(connector_id, data, source=str(path))

    def update(self, connector_id: str, change: Change) -> ConnectorRecord:
        """Read, change and atomically rewrite the record under an exclusive file lock."""
        with self._flock(connector_id, ".write", blocking=True):
            record = change(self.read(connector_id))
            self._write_atomically(self._path(connector_id, ".json"), record_to_json(record))
            return record

    @contextlib.contextmanager
    def lease(self, connector_id: str) -> Iterator[Lease]:
        """Hold an exclusive ``flock`` on the connector's lease file; a crashed holder's lock is
        released by the kernel.

        Raises:
            RotationInProgressError: another process or thread holds it.
        """
        with self._flock(connector_id, ".lease", blocking=False) as handle:
            # who holds it and since when, for a caller that finds it taken (a stuck holder)
            handle.seek(0)
            handle.truncate()
            holder = {"since": now_iso(dt.datetime.now(dt.UTC)), "pid": os.getpid()}
            handle.write(json.dumps({**holder, "host": socket.gethostname()}))
            handle.flush()
            yield _HeldLock()

    @contextlib.contextmanager
    def _flock(self, connector_id: str, suffix: str, *, blocking: bool) -> Iterator[IO[str]]:
        path = self._path(connector_id, suffix)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a+")
        except OSError as exc:
            raise ConfigurationError(
                f"state directory {self.directory} is not usable ({exc.strerror or exc}); "
                "set ROTATOR_STATE_DIR to a writable directory"
            ) from exc
        with handle:
            if fcntl is not None:
                flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
                try:
                    fcntl.flock(handle.fileno(), flags)
                except BlockingIOError:
                    raise self._taken(connector_id, path, handle) from None
            try:
                yield handle
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _taken(connector_id: str, path: Path, handle: IO[str]) -> RotationInProgressError:
        """The error for a lease another caller holds, with what its holder wrote in the file."""
        since, holder = None, None
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, KeyError):
            handle.seek(0)
            written = json.loads(handle.read(4096))
            since = dt.datetime.fromisoformat(str(written["since"]).replace("Z", "+00:00"))
            holder = f"process {int(written['pid'])} on {truncate(str(written['host']), 64)}"
        return RotationInProgressError(
            f"connector {connector_id}: rotation in progress (another caller holds it)",
            held_since=since if since and since.tzinfo else None,
            holder=holder,
            release=(
                f"the kernel frees the lock on {path} when its process ends, so that process is "
                "alive but hung: stop it"
            ),
        )

    def _path(self, connector_id: str, suffix: str) -> Path:
        return self.directory / "connectors" / f"{blob_stem(connector_id)}{suffix}"

    @staticmethod
    def _write_atomically(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
