"""A Storage queue message that Event Grid wrote → the event's id, type and data. Pure.

The Key Vault system topic can deliver to the queue ``keyvault-events`` instead of the
function's webhook (issue 22: a private function cannot be reached by Event Grid). Whoever can
write to that queue can put anything in it, so the message is hostile input: bounded, decoded
strictly, and refused with a one-line ``QueueMessageError`` that names what is wrong.

What a message holds (sources, checked 2026-12-03):

- One event per message, the whole event as JSON: the Event Grid schema
  (``id``, ``eventType``, ``data``, ...) or CloudEvents 1.0 (``specversion``, ``id``, ``type``,
  ``data``), whichever the subscription's ``eventDeliverySchema`` says
  (learn.microsoft.com/azure/event-grid/handler-storage-queues). An array holding exactly one
  event is taken too, as the webhook bodies are arrays.
- Base64 or not: Microsoft's quickstart says Event Grid writes plain text
  (MicrosoftDocs/azure-docs articles/event-grid/custom-event-to-queue-storage.md, "Note"),
  while a captured message (dapr/components-contrib#232) and a report against that page
  (MicrosoftDocs/azure-docs#102923) show base64. host.json sets ``messageEncoding: none`` so
  the host hands the message over as written, and this module takes both forms: JSON text, or
  base64 of JSON text.
- At most 64 KiB: the Storage queue limit for one message
  (learn.microsoft.com/azure/storage/queues/storage-queues-introduction); a Key Vault event
  is under 1 KiB.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rotator.functions.triggers import EventError
from rotator.text import JsonLimitError, json_type, load_json, truncate

MAX_MESSAGE_BYTES = 64 * 1024
MAX_FIELD_LENGTH = 256
"""Longest event id or type taken (Event Grid ids are GUIDs, types under 100 characters)."""
CLOUDEVENTS_VERSION = "1.0"


class QueueMessageError(EventError):
    """A queue message that holds no readable event; retrying it would not help, so the host
    moves it to the poison queue after ``maxDequeueCount`` attempts."""


@dataclass(frozen=True)
class QueuedEvent:
    """The fields of one event read from a queue message, before the Key Vault data is parsed."""

    event_id: str
    event_type: str
    data: Any
    schema: str  # "EventGridSchema" or "CloudEventSchemaV1_0", as Event Grid names them


def parse_queue_message(body: bytes | str) -> QueuedEvent:
    """Read one event from the text of a queue message (JSON, or base64 of JSON).

    Raises:
        QueueMessageError: too large, neither JSON nor base64 of JSON, not one event object,
            or an event without a usable id, type or data; the message says which.
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > MAX_MESSAGE_BYTES:
        raise QueueMessageError(
            f"queue message is larger than {MAX_MESSAGE_BYTES} bytes ({len(raw)} bytes)"
        )
    document = _load(raw)
    if isinstance(document, list):
        if len(document) != 1:
            raise QueueMessageError(
                f"queue message holds an array of {len(document)} events; expected one event"
            )
        document = document[0]
    if not isinstance(document, Mapping):
        raise QueueMessageError(
            f"queue message holds {json_type(document)}; expected one event object"
        )
    if "specversion" in document:
        return _cloud_event(document)
    return _grid_event(document)


def _load(raw: bytes) -> Any:
    """JSON text, or base64 of JSON text (the first character tells: base64 has no ``{``)."""
    text = raw.strip()
    if not text:
        raise QueueMessageError("queue message is empty")
    if text[:1] not in (b"{", b"["):
        try:
            text = base64.b64decode(text, validate=True).strip()
        except (binascii.Error, ValueError):
            raise QueueMessageError(
                "queue message is neither JSON nor base64-encoded JSON"
            ) from None
        if text[:1] not in (b"{", b"["):
            raise QueueMessageError("queue message is base64 of something other than JSON")
    try:
        return load_json(text, max_bytes=MAX_MESSAGE_BYTES)
    except JsonLimitError as exc:
        raise QueueMessageError(f"queue message is not an event: {exc}") from None


def _grid_event(document: Mapping[str, Any]) -> QueuedEvent:
    event_id = _text(document, "id", "event")
    event_type = _text(document, "eventType", f"event {event_id!r}")
    return QueuedEvent(event_id, event_type, _data(document, event_id), "EventGridSchema")


def _cloud_event(document: Mapping[str, Any]) -> QueuedEvent:
    version = document.get("specversion")
    if version != CLOUDEVENTS_VERSION:
        shown = truncate(repr(version), 40)
        raise QueueMessageError(
            f"queue message is a CloudEvent with specversion {shown}; expected "
            f"{CLOUDEVENTS_VERSION!r}"
        )
    event_id = _text(document, "id", "CloudEvent")
    event_type = _text(document, "type", f"CloudEvent {event_id!r}")
    if "data_base64" in document and "data" not in document:
        raise QueueMessageError(
            f"CloudEvent {event_id!r} carries binary data (data_base64); a Key Vault event "
            "carries JSON data"
        )
    return QueuedEvent(event_id, event_type, _data(document, event_id), "CloudEventSchemaV1_0")


def _text(document: Mapping[str, Any], key: str, where: str) -> str:
    """A required short string of printable characters (it reaches logs and terminals)."""
    value = document.get(key)
    if not isinstance(value, str) or not value.strip():
        raise QueueMessageError(f"{where}: {key} is {_shown(value)}; expected a non-empty string")
    if len(value) > MAX_FIELD_LENGTH or not value.isprintable():
        raise QueueMessageError(
            f"{where}: {key} {truncate(repr(value), 60)} is not a printable string of at most "
            f"{MAX_FIELD_LENGTH} characters"
        )
    return value


def _data(document: Mapping[str, Any], event_id: str) -> Any:
    if "data" not in document:
        raise QueueMessageError(f"event {event_id!r}: data is missing")
    return document["data"]


def _shown(value: Any) -> str:
    return "missing" if value is None else json_type(value)
