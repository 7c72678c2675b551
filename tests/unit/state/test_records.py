"""The local state store: atomic JSON records, bounded history, exclusive leases."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from pathlib import Path

import pytest

from rotator.errors import RotationInProgressError, StateError
from rotator.state.local import LocalStateStore
from rotator.state.records import (
    HISTORY_LIMIT,
    AppliedCredential,
    HistoryEntry,
    append,
    blob_stem,
)


def entry(n: int) -> HistoryEntry:
    return HistoryEntry(
        at=f"2026-11-27T00:00:{n:02d}Z", trigger="cli", outcome="rotated", key_vault_version=str(n)
    )


def test_unknown_connector_has_an_empty_record(tmp_path: Path) -> None:
    """A connector never rotated has no applied version and no history."""
    record = LocalStateStore(tmp_path).read("c1")
    assert record.applied is None
    assert record.history == ()


def test_append_keeps_applied_and_history(tmp_path: Path) -> None:
    """The applied version survives later appends that do not change it."""
    store = LocalStateStore(tmp_path)
    applied = AppliedCredential("https://kv", "pw", "v1", None, "2026-11-27T00:00:00Z")
    store.update("c1", lambda r: replace(r.with_entry(entry(1)), applied=applied))
    append(store, "c1", entry(2))
    record = LocalStateStore(tmp_path).read("c1")
    assert record.applied == applied
    assert [h.key_vault_version for h in record.history] == ["1", "2"]


def test_history_is_bounded(tmp_path: Path) -> None:
    """Only the newest HISTORY_LIMIT entries are kept."""
    store = LocalStateStore(tmp_path)
    for n in range(HISTORY_LIMIT + 5):
        append(store, "c1", entry(n % 60))
    assert len(store.read("c1").history) == HISTORY_LIMIT


def test_odd_connector_ids_get_safe_file_names(tmp_path: Path) -> None:
    """An id with path characters cannot escape the store directory."""
    store = LocalStateStore(tmp_path)
    append(store, "../../etc/passwd", entry(1))
    files = list((tmp_path / "connectors").iterdir())
    assert files
    assert all(f.name.startswith("id-") and f.parent == tmp_path / "connectors" for f in files)
    assert store.read("../../etc/passwd").history[0].key_vault_version == "1"


@pytest.mark.parametrize("connector_id", ["c1\n", "..", ".", "a/b", "c" * 101])
def test_ids_that_are_not_plain_names_are_hashed(connector_id: str) -> None:
    """A trailing newline, a dot segment, a slash or an over-long id never becomes a file name."""
    assert blob_stem(connector_id).startswith("id-")


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    """A damaged file is reported with its path, not a traceback."""
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "c1.json").write_text("{broken")
    with pytest.raises(
        StateError, match=r"state record of connector c1 \(.*c1\.json\) is unreadable"
    ):
        LocalStateStore(tmp_path).read("c1")


def test_lease_is_exclusive_within_a_process(tmp_path: Path) -> None:
    """A second holder of the same connector is refused; another connector is not."""
    store = LocalStateStore(tmp_path)
    with store.lease("c1"):
        with pytest.raises(RotationInProgressError, match="c1"), store.lease("c1"):
            pass
        with store.lease("c2"):
            pass
    with store.lease("c1"):
        pass


def _try_lease(directory: str, queue: multiprocessing.Queue[str]) -> None:
    try:
        with LocalStateStore(Path(directory)).lease("c1"):
            queue.put("acquired")
    except RotationInProgressError:
        queue.put("busy")


def test_lease_is_exclusive_across_processes(tmp_path: Path) -> None:
    """Another process cannot take a lease this one holds."""
    store = LocalStateStore(tmp_path)
    # spawn, not fork: a pytest-xdist worker has threads, and forking a threaded process may
    # deadlock the child (Python 3.12 warns)
    spawn = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[str] = spawn.Queue()
    with store.lease("c1"):
        process = spawn.Process(target=_try_lease, args=(str(tmp_path), queue))
        process.start()
        process.join(10)
    assert queue.get(timeout=5) == "busy"
