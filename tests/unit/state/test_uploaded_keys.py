"""A policy key's record keeps version → kid: written only when present, read back strictly."""

from __future__ import annotations

import json

import pytest

from rotator.errors import StateError
from rotator.state.codec import record_from_bytes
from rotator.state.records import ConnectorRecord, UploadedKey, record_to_json

KEY = UploadedKey("https://kv.vault.azure.net", "pw", "a" * 32, "kid-1", "2026-12-03T12:00:00Z")


def test_uploaded_keys_round_trip() -> None:
    """What rotator writes it reads back unchanged."""
    record = ConnectorRecord("keyset.B2C_1A_Pw", uploaded_keys=(KEY,))
    text = record_to_json(record).encode()
    assert record_from_bytes("keyset.B2C_1A_Pw", text, source="t").uploaded_keys == (KEY,)


def test_a_connector_record_is_written_exactly_as_before() -> None:
    """No uploaded_keys field at all without policy keys (older readers keep working)."""
    assert "uploaded_keys" not in json.loads(record_to_json(ConnectorRecord("c1")))


def test_a_record_written_before_policy_keys_reads_with_none() -> None:
    """Backward compatible: a record without the field has no uploaded keys."""
    old = json.dumps({"connectorId": "c1", "applied": None, "pin": None, "history": []})
    assert record_from_bytes("c1", old.encode(), source="t").uploaded_keys == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"kid": "k"}, "uploaded_keys is not a list"),
        ([{"kid": "k"}], "uploaded_keys[0].key_vault_url is missing"),
        ([{**KEY.__dict__, "kid": 7}], "uploaded_keys[0].kid is not a string"),
        ([{**KEY.__dict__, "uploaded_at": "yesterday"}], "uploaded_keys[0].uploaded_at is not"),
        ([{**KEY.__dict__, "k": "secret"}], "uploaded_keys[0].k is not one rotator writes"),
    ],
)
def test_a_damaged_uploaded_key_names_its_field(value: object, message: str) -> None:
    """Strict reading: the record and the field are named, never believed."""
    raw = json.dumps({"connectorId": "c", "uploaded_keys": value}).encode()
    with pytest.raises(StateError, match=message.replace("[", r"\[").replace("]", r"\]")):
        record_from_bytes("keyset.B2C_1A_Pw", raw, source="t")
