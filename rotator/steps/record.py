"""Record: write what a run did into the state store (history, the version applied, pins).

Graph is the truth for what a connector holds; the store keeps what Graph cannot say. A store that
fails while recording is logged (``rotation.history_not_written``) and never turns a verified
rotation into a failure, nor hides the outcome it was recording.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from rotator.errors import RotatorError
from rotator.events import emit
from rotator.model import Outcome, RotationRequest, Target, TargetOutcome
from rotator.state import records as state
from rotator.state.records import (
    AppliedCredential,
    ConnectorRecord,
    HistoryEntry,
    Pin,
    StateStore,
    now_iso,
)
from rotator.steps.plan import Choice, ConnectorPlan
from rotator.steps.progress import Progress
from rotator.text import truncate

log = logging.getLogger("rotator")


def entry(
    outcome: Outcome,
    request: RotationRequest,
    now: dt.datetime,
    *,
    version: str | None,
    thumbprint: str | None,
    reason: str | None,
) -> HistoryEntry:
    """One history line; the operator's reason wins over the outcome's."""
    return HistoryEntry(
        at=now_iso(now),
        trigger=request.trigger,
        outcome=outcome.value,
        key_vault_version=version,
        thumbprint=thumbprint,
        reason=request.reason or reason,
        requested_by=request.requested_by,
    )


def rotation(
    store: StateStore,
    request: RotationRequest,
    run: Progress,
    pin: Pin | None,
    now: dt.datetime,
    *,
    summary: str,
) -> None:
    """Record a verified write: history, the version applied, the pin in force. Graph already
    holds it, so a failing store is a warning noted on the run (the outcome stays ``rotated``; a
    basic-auth connector is then rotated again next run)."""
    target = run.target
    version = run.version or ""
    line = entry(
        Outcome.ROTATED, request, now, version=version, thumbprint=run.thumbprint, reason=summary
    )
    applied = AppliedCredential(
        target.key_vault_url, target.key_vault_object, version, run.thumbprint, now_iso(now)
    )
    try:
        store.update(
            target.connector_id,
            lambda record: replace(record.with_entry(line), applied=applied, pin=pin),
        )
    except Exception as exc:  # Graph holds it already: never turn that into a failure
        error = _described(exc)
        emit(
            log,
            logging.WARNING,
            "rotation.history_not_written",
            connectorId=target.connector_id,
            error=error,
        )
        run.notes.append(f"the state store was not updated: {error}")


def failure(
    store: StateStore, outcome: TargetOutcome, request: RotationRequest, now: dt.datetime
) -> None:
    """Record a refusal or failure in the history (a failing store must not hide it)."""
    line = entry(
        outcome.outcome,
        request,
        now,
        version=outcome.key_vault_version,
        thumbprint=outcome.thumbprint,
        reason=outcome.reason,
    )
    try:
        state.append(store, outcome.connector_id, line)
    except (OSError, RotatorError):
        emit(log, logging.WARNING, "rotation.history_not_written", connectorId=outcome.connector_id)


def keep_pin(
    store: StateStore, plan: ConnectorPlan, record: ConnectorRecord, request: RotationRequest
) -> None:
    """An up-to-date run still records a new pin, or the end of an outlived one (a dry run
    writes nothing, pins included)."""
    if plan.pin != record.pin and not request.dry_run:
        state.set_pin(store, plan.target.connector_id, plan.pin)


def pin_cleared(target: Target, choice: Choice) -> None:
    """Say why an existing pin gave way to a newer version (``rotation.pin_cleared``)."""
    if choice.cleared is not None:
        emit(
            log,
            logging.WARNING,
            "rotation.pin_cleared",
            connectorId=target.connector_id,
            version=choice.cleared.version,
            why=choice.cleared.why,
        )


def unpin(store: StateStore, connector_id: str, *, requested_by: str | None) -> Pin | None:
    """Clear a rollback pin under the connector's lease; the old pin, or None if there was none.

    Raises:
        RotationInProgressError: a rotation of the connector is running; try again.
    """
    with store.lease(connector_id):
        old = store.read(connector_id).pin
        if old is not None:
            state.set_pin(store, connector_id, None)
    if old is not None:
        emit(
            log,
            logging.WARNING,
            "rotation.pin_cleared",
            connectorId=connector_id,
            version=old.version,
            by=requested_by,
            why="unpinned by an operator",
        )
    return old


def _described(exc: Exception) -> str:
    """A store's error as a log line may carry it: rotator's own message, else the type and a
    short message (``UnicodeDecodeError``'s would repeat the damaged bytes)."""
    if isinstance(exc, RotatorError):
        return truncate(str(exc))
    return f"{type(exc).__name__}: {truncate(str(exc), 120)}"
