"""Reading a Storage queue message that Event Grid wrote: both schemas, both encodings, and every
way a hostile message can be wrong (each refused with one line that names the problem)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from rotator.functions.queue_message import (
    MAX_FIELD_LENGTH,
    MAX_MESSAGE_BYTES,
    QueuedEvent,
    QueueMessageError,
    parse_queue_message,
)
from rotator.functions.triggers import EventError

TYPE = "Microsoft.KeyVault.SecretNewVersionCreated"
DATA = {"Id": "https://kv.vault.azure.net/secrets/pw/0123456789abcdef0123456789abcdef"}


def grid(**overrides: Any) -> dict[str, Any]:
    event = {
        "id": "e-1",
        "topic": "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv",
        "subject": "pw",
        "eventType": TYPE,
        "eventTime": "2026-12-03T10:00:00Z",
        "data": DATA,
        "dataVersion": "1",
        "metadataVersion": "1",
    }
    event.update(overrides)
    return event


def cloud(**overrides: Any) -> dict[str, Any]:
    event = {"id": "c-1", "source": "/x", "specversion": "1.0", "type": TYPE, "data": DATA}
    event.update(overrides)
    return event


def b64(document: Any) -> bytes:
    return base64.b64encode(json.dumps(document).encode())


def refused(body: bytes | str) -> str:
    with pytest.raises(QueueMessageError) as caught:
        parse_queue_message(body)
    return str(caught.value)


def test_event_grid_schema_as_plain_json() -> None:
    """Plain JSON text (what Microsoft's quickstart says Event Grid writes) gives id, type, data."""
    assert parse_queue_message(json.dumps(grid()).encode()) == QueuedEvent(
        "e-1", TYPE, DATA, "EventGridSchema"
    )


def test_event_grid_schema_as_base64() -> None:
    """Base64 of the JSON (what captured messages show) reads the same."""
    assert parse_queue_message(b64(grid())).event_id == "e-1"


def test_cloud_event_schema() -> None:
    """A CloudEvents 1.0 message is told apart by specversion and read from id, type, data."""
    assert parse_queue_message(b64(cloud())) == QueuedEvent(
        "c-1", TYPE, DATA, "CloudEventSchemaV1_0"
    )


def test_an_array_of_one_event_is_taken() -> None:
    """An array holding one event (the webhook body's shape) is that event."""
    assert parse_queue_message(json.dumps([grid()])).event_type == TYPE


def test_surrounding_whitespace_is_ignored() -> None:
    """A trailing newline around base64 or JSON does not matter."""
    assert parse_queue_message(b"\n" + b64(grid()) + b"\n").event_id == "e-1"


def test_a_queue_message_error_is_an_event_error() -> None:
    """Callers that catch EventError (malformed events) catch this too."""
    assert issubclass(QueueMessageError, EventError)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "is empty"),
        (b"   ", "is empty"),
        (b"not base64 at all!", "neither JSON nor base64"),
        (base64.b64encode(b"<xml/>"), "base64 of something other than JSON"),
        (b"{not json", "not an event: not valid JSON"),
        (b'{"id": "a", "id": "b"}', "duplicate"),
        (b"[]", "array of 0 events"),
        (json.dumps([grid(), grid()]).encode(), "array of 2 events"),
        (b'["a string"]', "holds a string; expected one event object"),
        (b'"a string"', "neither JSON nor base64"),
        (b"[42]", "holds a number"),
    ],
)
def test_unreadable_messages_are_refused(body: bytes, says: str) -> None:
    """Every unreadable message is refused with a message that says what is wrong."""
    assert says in refused(body)


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (grid(id=None), "event: id is missing"),
        (grid(id=""), "event: id is a string; expected a non-empty string"),
        (grid(id=7), "id is a number"),
        (grid(eventType=None), "event 'e-1': eventType is missing"),
        ({k: v for k, v in grid().items() if k != "data"}, "event 'e-1': data is missing"),
        (cloud(specversion="0.3"), "specversion '0.3'; expected '1.0'"),
        (cloud(type=["x"]), "type is an array"),
        (
            {k: v for k, v in cloud(data_base64="AAAA").items() if k != "data"},
            "binary data (data_base64)",
        ),
    ],
)
def test_events_without_id_type_or_data_are_refused(event: dict[str, Any], says: str) -> None:
    """An event needs a string id, a string type and data, in either schema."""
    assert says in refused(b64(event))


def test_control_characters_in_the_id_are_refused_and_escaped() -> None:
    """An id that could rewrite a terminal line is refused, and shown escaped."""
    message = refused(json.dumps(grid(id="ok\x1b[2Kspoofed")))
    assert "\x1b" not in message
    assert "\\x1b" in message


def test_an_overlong_type_is_refused() -> None:
    """Ids and types are bounded: a 10 000-character type is refused, shown truncated."""
    message = refused(json.dumps(grid(eventType="T" * 10_000)))
    assert f"at most {MAX_FIELD_LENGTH} characters" in message
    assert len(message) < 400


def test_a_message_over_64_kib_is_refused_before_parsing() -> None:
    """The Storage limit bounds what is read: a larger body is refused by its size alone."""
    assert f"larger than {MAX_MESSAGE_BYTES} bytes" in refused(b"{" + b" " * MAX_MESSAGE_BYTES)


def test_deep_nesting_is_refused() -> None:
    """A message nested thousands of levels deep is refused without a RecursionError."""
    assert "deeper than" in refused(b"[" * 5000 + b"]" * 5000)


def test_data_is_passed_on_unparsed() -> None:
    """The Key Vault data is checked later (parse_keyvault_event): any JSON value passes here."""
    assert parse_queue_message(json.dumps(grid(data=None))).data is None


# -- boundaries and messages pinned by mutation testing (./dev mutate) ---------------------


def sized(size: int) -> bytes:
    """An Event Grid message of exactly ``size`` bytes, padded inside its subject."""
    bare = json.dumps(grid(subject="")).encode()
    return json.dumps(grid(subject="s" * (size - len(bare)))).encode()


def test_a_message_of_exactly_64_kib_is_taken_and_one_byte_more_is_not() -> None:
    """The size bound is inclusive: the Storage limit itself is a valid message."""
    assert len(sized(MAX_MESSAGE_BYTES)) == MAX_MESSAGE_BYTES
    assert parse_queue_message(sized(MAX_MESSAGE_BYTES)).event_id == "e-1"
    assert refused(sized(MAX_MESSAGE_BYTES + 1)) == (
        f"queue message is larger than {MAX_MESSAGE_BYTES} bytes ({MAX_MESSAGE_BYTES + 1} bytes)"
    )


def test_a_str_message_is_measured_in_utf8_bytes() -> None:
    """A str body counts its UTF-8 bytes, not its characters: "é" is two bytes."""
    body = json.dumps(grid(subject="é" * (MAX_MESSAGE_BYTES // 2)), ensure_ascii=False)
    assert len(body) < MAX_MESSAGE_BYTES
    assert "larger than" in refused(body)


def test_a_lone_surrogate_in_a_str_message_is_refused_as_not_utf8() -> None:
    """A str body holding a lone surrogate (no valid UTF-8 exists for it) is measured without
    raising, then refused as a QueueMessageError like any other unreadable message."""
    body = '{"id": "e-1", "eventType": "T", "data": "\ud800"}'
    assert refused(body) == "queue message is not an event: not UTF-8 text"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b" \n", "queue message is empty"),
        (b"not base64 at all!", "queue message is neither JSON nor base64-encoded JSON"),
        (base64.b64encode(b"<xml/>"), "queue message is base64 of something other than JSON"),
    ],
)
def test_unreadable_messages_are_refused_with_these_exact_words(body: bytes, message: str) -> None:
    """The one-line refusals, word for word."""
    assert refused(body) == message


def test_base64_is_decoded_strictly() -> None:
    """A character outside the base64 alphabet is refused, not silently skipped."""
    encoded = b64(grid())
    assert refused(encoded[:8] + b"!" + encoded[8:]) == (
        "queue message is neither JSON nor base64-encoded JSON"
    )


def test_base64_of_an_array_of_one_event_is_taken() -> None:
    """Base64 of ``[event]`` reads as the event, as plain ``[event]`` does."""
    assert parse_queue_message(b64([grid()])).event_id == "e-1"


def test_a_field_of_exactly_the_longest_length_is_taken() -> None:
    """MAX_FIELD_LENGTH characters are allowed; one more is refused."""
    longest = "T" * MAX_FIELD_LENGTH
    assert parse_queue_message(json.dumps(grid(eventType=longest))).event_type == longest
    assert "at most" in refused(json.dumps(grid(eventType=longest + "T")))


def test_an_overlong_field_is_shown_as_60_characters_of_its_repr() -> None:
    """The refusal repeats the first 60 characters of the value's repr and its full length."""
    value = "T" * (MAX_FIELD_LENGTH + 1)
    shown = f"{repr(value)[:60]}… ({MAX_FIELD_LENGTH + 3} characters)"
    assert refused(json.dumps(grid(eventType=value))) == (
        f"event 'e-1': eventType {shown} is not a printable string of at most "
        f"{MAX_FIELD_LENGTH} characters"
    )


def test_an_unknown_specversion_is_shown_as_40_characters_of_its_repr() -> None:
    """A long specversion is repeated cut to 40 characters of its repr."""
    version = "9" * 100
    assert refused(b64(cloud(specversion=version))) == (
        f"queue message is a CloudEvent with specversion {repr(version)[:40]}… (102 characters); "
        "expected '1.0'"
    )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (cloud(id=None), "CloudEvent: id is missing; expected a non-empty string"),
        (cloud(type=None), "CloudEvent 'c-1': type is missing; expected a non-empty string"),
        ({k: v for k, v in cloud().items() if k != "data"}, "event 'c-1': data is missing"),
        (
            {k: v for k, v in cloud(data_base64="AAAA").items() if k != "data"},
            "CloudEvent 'c-1' carries binary data (data_base64); a Key Vault event carries JSON "
            "data",
        ),
    ],
)
def test_cloud_events_are_refused_with_these_exact_words(
    event: dict[str, Any], message: str
) -> None:
    """A CloudEvent's refusals name it (and its id once known), word for word."""
    assert refused(b64(event)) == message


def test_a_cloud_event_with_both_data_and_data_base64_is_read_from_data() -> None:
    """Only data_base64 *instead of* data is refused: JSON data alongside it is taken."""
    event = parse_queue_message(b64(cloud(data_base64="AAAA")))
    assert event.data == DATA
