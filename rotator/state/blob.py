"""The state store on Azure Blob Storage: the Function App's own storage account, no new resource.

Records are blobs ``connectors/<id>.json`` written with ETag conditions (``If-Match`` /
``If-None-Match: *``), so two writers never lose an update. A connector's lease is a blob lease
on ``leases/<id>`` with a bounded duration, renewed by a background thread while the rotation
runs and released at the end; a crashed holder's lease simply expires.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import (
    BlobLeaseClient,
    BlobServiceClient,
    ContainerClient,
    ExponentialRetry,
)

from rotator.errors import (
    ConfigurationError,
    RotationInProgressError,
    StateError,
    one_line,
)
from rotator.events import emit
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

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger("rotator.state")

DEFAULT_CONTAINER = "rotator-state"
_HOLDER = f"{socket.gethostname()[:60]} pid {os.getpid()}"
LEASE_SECONDS = 60  # Azure allows 15-60 s (or infinite); a crashed holder blocks at most this long
_UPDATE_ATTEMPTS = 10
# Bounded like the Graph and Key Vault calls: a few quick retries, never minutes per call.
_CLIENT_OPTIONS: dict[str, Any] = {
    # storage's default waits 15 s, then 18 s, 24 s...; these waits are about 1 s, 3 s, 5 s
    "retry_policy": ExponentialRetry(
        initial_backoff=1, increment_base=2, retry_total=3, random_jitter_range=1
    ),
    "connection_timeout": 10,
    "read_timeout": 30,
}


class StateStoreError(StateError):
    """The blob state store could not be read or written."""


class BlobStateStore:
    """Connector records and leases in one blob container."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        lease_seconds: int = LEASE_SECONDS,
        renew_every: float | None = None,
    ) -> None:
        self._container = container
        self._lease_seconds = lease_seconds
        self._renew_every = renew_every or lease_seconds / 3
        self._ready = False
        self._ready_lock = threading.Lock()

    @classmethod
    def from_connection_string(
        cls, connection_string: str, container: str = DEFAULT_CONTAINER, **kwargs: Any
    ) -> BlobStateStore:
        """A store on the account of ``AzureWebJobsStorage`` given as a connection string.

        Raises:
            ConfigurationError: the connection string cannot be parsed (its text is not shown).
        """
        try:
            service = BlobServiceClient.from_connection_string(
                connection_string, **{**_CLIENT_OPTIONS, **kwargs}
            )
        except ValueError:
            raise ConfigurationError(
                "AzureWebJobsStorage is not a valid storage connection string"
            ) from None
        return cls(service.get_container_client(container))

    @classmethod
    def from_service_uri(
        cls,
        uri: str,
        credential: TokenCredential,
        container: str = DEFAULT_CONTAINER,
        **kwargs: Any,
    ) -> BlobStateStore:
        """A store on an account reached with an identity (``AzureWebJobsStorage__…`` settings)."""
        service = BlobServiceClient(uri, credential=credential, **{**_CLIENT_OPTIONS, **kwargs})
        return cls(service.get_container_client(container))

    def close(self) -> None:
        """Close the connection pool."""
        self._container.close()

    def read(self, connector_id: str) -> ConnectorRecord:
        """The record of ``connector_id`` (empty when never rotated).

        Raises:
            StateStoreError: the storage account answered with an error.
        """
        return self._read(connector_id)[0]

    def update(self, connector_id: str, change: Change) -> ConnectorRecord:
        """Read, change, and write back only if nobody wrote in between (else start over).

        Raises:
            StateStoreError: still conflicting after several attempts, or the account failed.
        """
        blob = self._container.get_blob_client(f"connectors/{blob_stem(connector_id)}.json")
        for _ in range(_UPDATE_ATTEMPTS):
            record, etag = self._read(connector_id)
            new = change(record)
            data = record_to_json(new).encode("utf-8")
            try:
                with self._translate(connector_id, "write"):
                    if etag is None:
                        blob.upload_blob(data, overwrite=False)
                    else:
                        blob.upload_blob(
                            data,
                            overwrite=True,
                            etag=etag,
                            match_condition=MatchConditions.IfNotModified,
                        )
            except _Conflict:
                continue
            return new
        raise StateStoreError(
            f"connector {connector_id}: the state record kept changing under us "
            f"({_UPDATE_ATTEMPTS} attempts); try again"
        )

    @contextlib.contextmanager
    def lease(self, connector_id: str) -> Iterator[Lease]:
        """Hold a renewed blob lease on ``leases/<id>`` for the duration of the block.

        Raises:
            RotationInProgressError: another caller holds the lease.
            StateStoreError: the storage account failed.
        """
        blob = self._container.get_blob_client(f"leases/{blob_stem(connector_id)}")
        self._ensure_container()
        with contextlib.suppress(ResourceExistsError), self._translate(connector_id, "lease"):
            blob.upload_blob(b"", overwrite=False)
        lease = BlobLeaseClient(blob)
        asked = time.monotonic()
        try:
            lease.acquire(lease_duration=self._lease_seconds)
        except HttpResponseError as exc:
            if exc.status_code == 409:
                raise self._taken(connector_id, blob) from None
            raise StateStoreError(
                f"connector {connector_id}: cannot take the lease: {one_line(exc.message)}"
            ) from exc
        except AzureError as exc:
            raise StateStoreError(
                f"connector {connector_id}: cannot take the lease: {one_line(exc.message)}"
            ) from exc
        with contextlib.suppress(AzureError):  # who holds it, since when: for a stuck lease
            blob.set_blob_metadata(
                {"since": now_iso(dt.datetime.now(dt.UTC)), "holder": _HOLDER}, lease=lease
            )
        held = _BlobLease(connector_id, self._lease_seconds, asked)
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(lease, stop, held), daemon=True, name="lease-renew"
        )
        renewer.start()
        try:
            yield held
        finally:
            stop.set()
            renewer.join(timeout=10)
            with contextlib.suppress(AzureError):
                lease.release()
            # logged here, on the rotation's thread: the Functions worker drops the logs of
            # threads it does not know, such as the renewer
            for error in held.renew_failures:
                emit(
                    log,
                    logging.WARNING,
                    "state.lease_renew_failed",
                    connectorId=connector_id,
                    error=error,
                    lost=held.lost,
                )

    def _taken(self, connector_id: str, blob: Any) -> RotationInProgressError:
        """The error for a lease another caller holds, with when and by whom it was taken."""
        since: dt.datetime | None = None
        holder, infinite = None, False
        with contextlib.suppress(AzureError, ValueError, TypeError, AttributeError, KeyError):
            properties = blob.get_blob_properties()
            infinite = properties.lease.duration == "infinite"
            metadata = properties.metadata or {}
            holder = truncate(str(metadata["holder"]), 80) if "holder" in metadata else None
            # only what a holder wrote: the blob's own time may be that of an older holder
            since = dt.datetime.fromisoformat(metadata["since"].replace("Z", "+00:00"))
        name = f"{self._container.container_name}/{blob.blob_name}"
        return RotationInProgressError(
            f"connector {connector_id}: rotation in progress (another caller holds it)",
            held_since=since if since and since.tzinfo else None,
            holder=holder,
            release=(
                f"break the lease of blob {name} (Azure portal, or az storage blob lease break "
                f"--container-name {self._container.container_name} --blob-name {blob.blob_name} "
                "--auth-mode login) once you know its holder is gone"
            ),
            infinite=infinite,
        )

    def _renew(self, lease: BlobLeaseClient, stop: threading.Event, held: _BlobLease) -> None:
        while not stop.wait(self._renew_every):
            asked = time.monotonic()  # the lease runs from the request, not from the answer
            try:
                lease.renew()
            except AzureError as exc:
                lost = isinstance(exc, HttpResponseError) and exc.status_code in (409, 412)
                held.lost = held.lost or lost
                held.renew_failures.append(type(exc).__name__)
            else:
                held.renewed_at = asked

    def _read(self, connector_id: str) -> tuple[ConnectorRecord, str | None]:
        self._ensure_container()
        name = f"connectors/{blob_stem(connector_id)}.json"
        blob = self._container.get_blob_client(name)
        try:
            with self._translate(connector_id, "read"):
                download = blob.download_blob()
                data = download.readall()
        except ResourceNotFoundError:
            return ConnectorRecord(connector_id), None
        source = f"blob {self._container.container_name}/{name}"
        return record_from_bytes(connector_id, data, source=source), download.properties.etag

    def _ensure_container(self) -> None:
        with self._ready_lock:
            if self._ready:
                return
            with contextlib.suppress(ResourceExistsError), self._translate("-", "create"):
                self._container.create_container()
            self._ready = True

    @contextlib.contextmanager
    def _translate(self, connector_id: str, action: str) -> Iterator[None]:
        try:
            yield
        except (ResourceExistsError, ResourceModifiedError) as exc:
            if action == "write":
                raise _Conflict from exc
            raise
        except ResourceNotFoundError:
            raise
        except HttpResponseError as exc:
            if action == "write" and exc.status_code in (409, 412):
                raise _Conflict from exc
            hint = (
                "; the identity needs 'Storage Blob Data Owner' (or Contributor) on the account"
                if exc.status_code == 403
                else ""
            )
            raise StateStoreError(
                f"state store: cannot {action} the record of connector {connector_id} "
                f"({exc.status_code}: {one_line(exc.reason or exc.message)}){hint}"
            ) from exc
        except AzureError as exc:
            raise StateStoreError(
                f"state store: cannot {action} the record of connector {connector_id}: "
                f"{one_line(exc.message)}"
            ) from exc


class _BlobLease:
    """A held blob lease; lost when another caller took it or renewals stopped for too long."""

    def __init__(self, connector_id: str, seconds: int, acquired_at: float) -> None:
        self.connector_id = connector_id
        self.seconds = seconds
        self.renewed_at = acquired_at
        self.lost = False
        self.renew_failures: list[str] = []

    def ensure_held(self) -> None:
        """Raise before a write if the lease may be someone else's by now.

        Raises:
            RotationInProgressError: the lease was lost or may have expired.
        """
        if self.lost or time.monotonic() - self.renewed_at > self.seconds - 5:
            raise RotationInProgressError(
                f"connector {self.connector_id}: the lease was lost before a write "
                "(storage unreachable?); this write was not sent, the next run retries"
            )


class _Conflict(Exception):
    """Someone wrote the record between our read and our write."""
