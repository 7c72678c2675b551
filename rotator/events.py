"""Stable log events: the message starts with the event name, the data follows as ``key=value``.

The same data is attached as ``extra={"rotator": {...}}`` for handlers that keep structure
(OpenTelemetry, tests). The Azure Functions worker ships only the message text, so the data is in
the message too, and an alert rule can match ``message startswith "rotation.run_completed"``.
Never pass a secret here.
"""

from __future__ import annotations

import json
import logging
from typing import Any


def emit(logger: logging.Logger, level: int, event: str, **data: Any) -> None:
    """Log ``event`` with ``data`` (JSON-encoded values, in insertion order)."""
    if not logger.isEnabledFor(level):
        return
    text = " ".join(f"{key}={json.dumps(value, default=str)}" for key, value in data.items())
    logger.log(level, "%s %s", event, text, extra={"rotator": {"event": event, **data}})
