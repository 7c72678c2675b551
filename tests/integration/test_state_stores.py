"""Both state stores pass one contract: records, no lost updates, exclusive leases, crash recovery."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rotator.errors import RotationInProgressError
from rotator.state.blob import BlobStateStore, _BlobLease
from rotator.state.local import LocalStateStore
from rotator.state.records import (
    HISTORY_LIMIT,
    AppliedCredential,
    HistoryEntry,
    Pin,
    StateStore,
    append,
    set_pin,
)

from .conftest import start_azurite, stop_group
from .lease_holder import hold_when_ready

StoreFactory = Callable[[], StateStore]


@pytest.fixture(params=["local", "blob"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of stores sharing one backing location (a directory, or an Azurite container)."""
    if request.param == "local":
        yield lambda: LocalStateStore(tmp_path)
    else:
        connection = request.getfixturevalue("azurite")
        container = f"state-{uuid.uuid4().hex[:12]}"
        yield lambda: BlobStateStore.from_connection_string(connection, container)


def entry(n: int) -> HistoryEntry:
    return HistoryEntry(
        at="2026-11-27T00:00:00Z", trigger="cli", outcome="rotated", key_vault_version=str(n)
    )


def test_an_unknown_connector_reads_empty(make_store: StoreFactory) -> None:
    """A connector never rotated has no applied version, no pin, no history."""
    record = make_store().read("c1")
    assert (record.applied, record.pin, record.history) == (None, None, ())


def test_records_round_trip(make_store: StoreFactory) -> None:
    """What one store instance writes, another reads back identically."""
    applied = AppliedCredential("https://kv", "pw", "v1", None, "2026-11-27T00:00:00Z")
    pin = Pin("v0", "2026-11-27T00:00:00Z", "roll back", "alice")
    make_store().update("c1", lambda r: replace(r.with_entry(entry(1)), applied=applied))
    set_pin(make_store(), "c1", pin)
    record = make_store().read("c1")
    assert (record.applied, record.pin) == (applied, pin)
    assert [h.key_vault_version for h in record.history] == ["1"]


def test_history_is_bounded(make_store: StoreFactory) -> None:
    """Only the newest HISTORY_LIMIT entries are kept."""
    store = make_store()
    store.update("c1", lambda r: replace(r, history=tuple(entry(n) for n in range(HISTORY_LIMIT))))
    append(store, "c1", entry(999))
    history = store.read("c1").history
    assert len(history) == HISTORY_LIMIT
    assert history[-1].key_vault_version == "999"


def test_concurrent_writers_lose_no_update(make_store: StoreFactory) -> None:
    """Eight writers appending at once: every entry is kept (file lock / ETag conditions)."""
    threads = [
        threading.Thread(target=lambda n=n: append(make_store(), "c1", entry(n))) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(h.key_vault_version or 0) for h in make_store().read("c1").history) == list(
        range(8)
    )


def test_lease_is_exclusive_and_released(make_store: StoreFactory) -> None:
    """A second caller is refused while the lease is held, and can take it after release."""
    holder, other = make_store(), make_store()
    with holder.lease("c1"):
        with (
            pytest.raises(RotationInProgressError, match="rotation in progress"),
            other.lease("c1"),
        ):
            pass
        with other.lease("c2"):
            pass
    with other.lease("c1"):
        pass


@pytest.mark.parametrize("kind", ["local", "blob"])
def test_two_processes_race_for_one_lease(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two processes asking at the same instant: exactly one gets the lease."""
    location = (
        str(tmp_path)
        if kind == "local"
        else f"{request.getfixturevalue('azurite')}|race-{uuid.uuid4().hex[:8]}"
    )
    context = multiprocessing.get_context("spawn")
    waiting, results = context.Queue(), context.Queue()
    ready, release = context.Event(), context.Event()
    processes = [
        context.Process(
            target=hold_when_ready, args=(kind, location, waiting, ready, release, results)
        )
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:  # each has its store and waits on the event
            assert waiting.get(timeout=60) == "waiting"
        ready.set()
        outcomes = sorted(results.get(timeout=30) for _ in processes)
    finally:
        release.set()
        for process in processes:
            process.join(30)
    assert outcomes == ["acquired", "busy"]


HOLDER = """
import sys, time
from pathlib import Path
from rotator.state.local import LocalStateStore
from rotator.state.blob import BlobStateStore
kind, location = sys.argv[1], sys.argv[2]
store = LocalStateStore(Path(location)) if kind == "local" else BlobStateStore(
    BlobStateStore.from_connection_string(*location.split("|"))._container, lease_seconds=15)
with store.lease("c1"):
    print("holding", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("kind", ["local", "blob"])
def test_a_killed_holder_does_not_block_forever(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A holder killed mid-rotation: the local lock frees at once, a blob lease when it expires (15 s)."""
    location = (
        str(tmp_path)
        if kind == "local"
        else f"{request.getfixturevalue('azurite')}|killed-{uuid.uuid4().hex[:8]}"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, location], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    store: StateStore = (
        LocalStateStore(Path(location))
        if kind == "local"
        else BlobStateStore.from_connection_string(*location.split("|"))
    )
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    if kind == "local":  # the kernel releases the lock of a process that died: free at once
        with store.lease("c1"):
            return
    with pytest.raises(RotationInProgressError), store.lease("c1"):  # it runs its 15 s
        pass
    deadline = time.monotonic() + 30
    while True:
        try:
            with store.lease("c1"):
                break
        except RotationInProgressError:
            assert time.monotonic() < deadline, "the blob lease should have expired"
            time.sleep(0.25)


def test_a_broken_blob_lease_stops_the_next_write(
    azurite: str, caplog: pytest.LogCaptureFixture
) -> None:
    """When another caller breaks the lease, the holder learns it at the next renewal and
    refuses to write (ensure_held), and the renewal failure is logged on the holder's thread."""
    from azure.storage.blob import BlobLeaseClient

    container = f"broken-{uuid.uuid4().hex[:8]}"
    base = BlobStateStore.from_connection_string(azurite, container)
    store = BlobStateStore(base._container, lease_seconds=15, renew_every=0.2)
    with store.lease("c1") as held:
        assert isinstance(held, _BlobLease)  # its `lost` is what the renewal thread sets
        held.ensure_held()
        BlobLeaseClient(base._container.get_blob_client("leases/c1")).break_lease(
            lease_break_period=0
        )
        deadline = time.monotonic() + 10  # the next renewal (every 0.2 s) finds it broken
        while not held.lost and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(RotationInProgressError, match="lease was lost"):
            held.ensure_held()
    assert any(r.getMessage().startswith("state.lease_renew_failed") for r in caplog.records)


def test_azurite_as_the_tests_start_it_stops_on_sigterm(tmp_path: Path) -> None:
    """The Azurite the fixture starts exits on SIGTERM alone, after it has run a while and with
    a keep-alive connection open: no SIGKILL, no 10 s wait at the end of every run. (With its
    telemetry on, a report it starts sending about a second after startup keeps it alive on a
    machine without Internet; the 2.5 s below let that begin, they are not a readiness wait.)"""
    process, port = start_azurite(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"GET /devstoreaccount1?comp=list HTTP/1.1\r\nHost: a\r\n\r\n")
            assert connection.recv(12).startswith(b"HTTP/1.1")
            time.sleep(2.5)
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
    finally:
        stop_group(process)
