"""Reading a stored state record (pure): the bytes a store holds → a ``ConnectorRecord``, every field
checked for its type, size and format, so a damaged record is named with its field and never
believed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from rotator.errors import StateError
from rotator.state.records import (
    HISTORY_LIMIT,
    AddedKey,
    AppliedCredential,
    ConnectorRecord,
    HistoryEntry,
    Pin,
    UploadedKey,
)

MAX_RECORD_BYTES = 1024 * 1024
MAX_TEXT = 8192  # any one string field; rotator writes far less
_TIMES = frozenset(
    {
        "applied_at",
        "pinned_at",
        "newest_created",
        "at",
        "added_at",
        "not_after",
        "worked_at",
        "uploaded_at",
    }
)


class _Damaged(ValueError):
    """A field that is not what rotator writes."""


def record_from_bytes(connector_id: str, data: bytes, *, source: str) -> ConnectorRecord:
    """Parse the stored record of ``connector_id`` (``source`` names the file or blob).

    Raises:
        StateError: the record is not one rotator wrote (not UTF-8 JSON, a field of the wrong
            type, an unreadable time); the message names the record and the field.
    """
    try:
        return _record(connector_id, data)
    except _Damaged as exc:
        raise StateError(
            f"state record of connector {connector_id} ({source}) is unreadable: {exc}; "
            "delete or repair it (the next run starts afresh without it)"
        ) from None


def _record(connector_id: str, data: bytes) -> ConnectorRecord:
    if len(data) > MAX_RECORD_BYTES:
        raise _Damaged(f"it is {len(data)} bytes, more than a record can be")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _Damaged(f"it is not UTF-8 text (byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise _Damaged(f"it is not JSON ({str(exc)[:120]})") from None
    if not isinstance(document, dict):
        raise _Damaged("it is not a JSON object")
    history = document.get("history") or []
    if not isinstance(history, list):
        raise _Damaged("field history is not a list")
    keys = document.get("added_keys") or []
    if not isinstance(keys, list):
        raise _Damaged("field added_keys is not a list")
    uploaded = document.get("uploaded_keys") or []
    if not isinstance(uploaded, list):
        raise _Damaged("field uploaded_keys is not a list")
    return ConnectorRecord(
        connector_id=connector_id,
        applied=_object(document.get("applied"), "applied", AppliedCredential, optional=True),
        pin=_object(document.get("pin"), "pin", Pin, optional=True),
        history=tuple(
            _object(item, f"history[{index}]", HistoryEntry, optional=False)
            for index, item in enumerate(history)
        )[-HISTORY_LIMIT:],
        added_keys=tuple(
            _object(item, f"added_keys[{index}]", AddedKey, optional=False)
            for index, item in enumerate(keys)
        ),
        uploaded_keys=tuple(
            _object(item, f"uploaded_keys[{index}]", UploadedKey, optional=False)
            for index, item in enumerate(uploaded)
        )[-HISTORY_LIMIT:],
    )


def _object(value: Any, where: str, kind: type[Any], *, optional: bool) -> Any:
    """``kind(**value)`` with each field checked: required strings, optional strings, times."""
    if value is None and optional:
        return None
    if not isinstance(value, Mapping):
        raise _Damaged(f"field {where} is not an object")
    fields = kind.__dataclass_fields__
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise _Damaged(f"field {where}.{str(unknown[0])[:40]} is not one rotator writes")
    checked: dict[str, Any] = {}
    for name, spec in fields.items():
        required = spec.default is spec.default_factory  # both MISSING: no default
        if name not in value:
            if required:
                raise _Damaged(f"field {where}.{name} is missing")
            continue
        item = value[name]
        if item is None and not required:
            checked[name] = None
            continue
        if not isinstance(item, str) or len(item) > MAX_TEXT:
            raise _Damaged(f"field {where}.{name} is not a string of at most {MAX_TEXT} characters")
        if name in _TIMES and (item or required) and not _is_time(item):
            raise _Damaged(f"field {where}.{name} is not an ISO 8601 time with a time zone")
        checked[name] = item
    return kind(**checked)


def _is_time(text: str) -> bool:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None
