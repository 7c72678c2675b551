"""A process that races for a lease (spawned by test_state_stores): it imports only the state
stores, so it starts in half the time the test module would take."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

from rotator.errors import RotationInProgressError
from rotator.state.blob import BlobStateStore
from rotator.state.local import LocalStateStore
from rotator.state.records import StateStore


def hold_when_ready(
    kind: str,
    location: str,
    waiting: multiprocessing.Queue[str],
    ready: multiprocessing.synchronize.Event,
    release: multiprocessing.synchronize.Event,
    results: multiprocessing.Queue[str],
) -> None:
    """Build a store and say so, wait for the start, then take the lease and hold it until
    released (``acquired``), or find it taken (``busy``)."""
    store: StateStore = (
        LocalStateStore(Path(location))
        if kind == "local"
        else BlobStateStore.from_connection_string(*location.split("|"))
    )
    waiting.put("waiting")  # its store is built: it only waits for the start
    ready.wait()
    try:
        with store.lease("c1"):
            results.put("acquired")
            release.wait(60)  # held until the other process has had its answer
    except RotationInProgressError:
        results.put("busy")
