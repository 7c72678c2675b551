"""A stored state record is read strictly: a damaged one names its record and field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rotator.errors import StateError
from rotator.state.codec import MAX_RECORD_BYTES, record_from_bytes
from rotator.state.records import (
    AppliedCredential,
    ConnectorRecord,
    HistoryEntry,
    Pin,
    record_to_json,
)

GOOD: dict[str, Any] = {
    "connectorId": "c1",
    "applied": {
        "key_vault_url": "https://kv.vault.azure.net",
        "key_vault_object": "pw",
        "version": "v1",
        "thumbprint": None,
        "applied_at": "2026-11-27T00:00:00Z",
    },
    "pin": {
        "version": "v1",
        "pinned_at": "2026-11-27T00:00:00Z",
        "reason": "incident",
        "requested_by": None,
        "newest_created": "2026-11-26T00:00:00+00:00",
    },
    "history": [
        {
            "at": "2026-11-27T00:00:00Z",
            "trigger": "cli",
            "outcome": "rotated",
            "key_vault_version": "v1",
            "thumbprint": None,
            "reason": None,
            "requested_by": "ops",
        }
    ],
}


def error_of(data: bytes) -> str:
    with pytest.raises(StateError) as raised:
        record_from_bytes("c1", data, source="state/c1.json")
    return str(raised.value)


def damaged(**changes: Any) -> bytes:
    document = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        target = document
        *parents, last = path.split("__")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value
    return json.dumps(document).encode()


def test_a_record_rotator_wrote_reads_back_the_same() -> None:
    """What the store writes, it reads back unchanged."""
    record = ConnectorRecord(
        "c1",
        applied=AppliedCredential("https://kv", "pw", "v1", None, "2026-11-27T00:00:00Z"),
        history=(HistoryEntry("2026-11-27T00:00:00Z", "cli", "rotated", "v1"),),
        pin=Pin("v1", "2026-11-27T00:00:00Z"),
    )
    data = record_to_json(record).encode()
    assert record_from_bytes("c1", data, source="x") == record
    assert record_from_bytes("c1", json.dumps(GOOD).encode(), source="x").pin == Pin(
        "v1", "2026-11-27T00:00:00Z", "incident", None, "2026-11-26T00:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xff\xfe{}", "it is not UTF-8 text (byte 0)"),
        (b"{broken", "it is not JSON"),
        (b"[]", "it is not a JSON object"),
        (b"[" * 5000 + b"]" * 5000, "it is not"),
        (b" " * (MAX_RECORD_BYTES + 1), "more than a record can be"),
        (damaged(pin__pinned_at="garbage"), "field pin.pinned_at is not an ISO 8601 time"),
        (damaged(pin__pinned_at="2026-11-27T00:00:00"), "field pin.pinned_at is not an ISO"),
        (damaged(pin__newest_created="yesterday"), "field pin.newest_created is not an ISO"),
        (damaged(applied__applied_at="x"), "field applied.applied_at is not an ISO 8601 time"),
        (damaged(applied__version=5), "field applied.version is not a string"),
        (damaged(applied="v1"), "field applied is not an object"),
        (damaged(pin__extra="x"), "field pin.extra is not one rotator writes"),
        (damaged(history="x"), "field history is not a list"),
        (damaged(history__0__at=None), "field history[0].at is not a string"),
        (damaged(history__0__reason="x" * 10000), "field history[0].reason is not a string"),
    ],
)
def test_a_damaged_record_names_its_record_and_field(data: bytes, says: str) -> None:
    """Bytes that are not UTF-8 JSON, or a field of the wrong type or format, are a StateError
    naming the connector, where the record is, the field, and what to do."""
    text = error_of(data)
    assert text.startswith("state record of connector c1 (state/c1.json) is unreadable: ")
    assert says in text
    assert text.endswith("delete or repair it (the next run starts afresh without it)")


def test_a_missing_required_field_is_named() -> None:
    """A pin without its version is damaged, not silently pinned to nothing."""
    document = json.loads(json.dumps(GOOD))
    del document["pin"]["version"]
    assert "field pin.version is missing" in error_of(json.dumps(document).encode())
