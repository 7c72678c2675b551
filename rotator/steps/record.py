"""Record: write what a run did into the state store (history, the version applied, pins).

Graph is the truth for what a connector holds; the store keeps what Graph cannot say. A store that
fails while recording is logged (``rotation.history_not_written``) and never turns a verified
rotation into a failure, nor hides the outcome it was recording.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import Any

from rotator.errors import RotatorError
from rotator.events import emit
from rotator.model import (
    AnyTarget,
    Outcome,
    PolicyKeyTarget,
    RotationRequest,
    TargetKind,
    TargetOutcome,
    target_name,
)
from rotator.state import records as state
from rotator.state.records import (
    AppliedCredential,
    ConnectorRecord,
    HistoryEntry,
    Pin,
    StateStore,
    UploadedKey,
    now_iso,
    state_key,
)
from rotator.steps.plan import Choice
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
    identity: str,
) -> HistoryEntry:
    """One history line; the operator's reason wins over the outcome's; who asked as the
    request names it for the target's Graph ``identity``."""
    return HistoryEntry(
        at=now_iso(now),
        trigger=request.trigger,
        outcome=outcome.value,
        key_vault_version=version,
        thumbprint=thumbprint,
        reason=request.reason or reason,
        requested_by=request.asking(identity),
    )


def rotation(
    store: StateStore,
    request: RotationRequest,
    run: Progress[Any],
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
        Outcome.ROTATED,
        request,
        now,
        version=version,
        thumbprint=run.thumbprint,
        reason=summary,
        identity=target.identity,
    )
    applied = AppliedCredential(
        target.key_vault_url, target.key_vault_object, version, run.thumbprint, now_iso(now)
    )
    try:
        store.update(
            _key(target),
            lambda record: replace(
                record.with_entry(line),
                applied=applied,
                pin=_attributed(pin, record.pin, line.requested_by),
            ),
        )
    except Exception as exc:  # Graph holds it already: never turn that into a failure
        error = _described(exc)
        emit(
            log,
            logging.WARNING,
            "rotation.history_not_written",
            **_named(target),
            error=error,
        )
        run.notes.append(f"the state store was not updated: {error}")


def uploaded(
    store: StateStore, run: Progress[PolicyKeyTarget], kid: str | None, now: dt.datetime
) -> None:
    """Keep version → ``kid`` as soon as B2C took a policy key (before verification: a run that
    fails to verify must not upload the same secret again next time). A failing store is noted
    on the run; the next run then cannot tell the secret is there."""
    target = run.target
    if kid is None:
        return
    key = UploadedKey(
        target.key_vault_url, target.key_vault_object, run.version or "", kid, now_iso(now)
    )
    try:
        store.update(
            _key(target),
            lambda record: replace(
                record, uploaded_keys=(*record.uploaded_keys, key)[-state.HISTORY_LIMIT :]
            ),
        )
    except Exception as exc:  # B2C holds the key already: never turn that into a failure
        error = _described(exc)
        emit(log, logging.WARNING, "rotation.history_not_written", **_named(target), error=error)
        run.notes.append(f"the state store did not keep the key's kid: {error}")


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
        identity=outcome.identity,
    )
    try:
        state.append(store, state_key(outcome.target_kind, outcome.connector_id), line)
    except (OSError, RotatorError):
        name = {
            "keySet"
            if outcome.target_kind is TargetKind.POLICY_KEY
            else "connectorId": outcome.connector_id
        }
        emit(log, logging.WARNING, "rotation.history_not_written", **name)


def keep_pin(
    store: StateStore,
    target: AnyTarget,
    pin: Pin | None,
    record: ConnectorRecord,
    request: RotationRequest,
) -> None:
    """An up-to-date run still records a new pin, or the end of an outlived one (a dry run
    writes nothing, pins included)."""
    if pin != record.pin and not request.dry_run:
        who = request.asking(target.identity)
        state.set_pin(store, _key(target), _attributed(pin, record.pin, who))


def _attributed(pin: Pin | None, stored: Pin | None, who: str | None) -> Pin | None:
    """A pin this run made names who asked as its history line does (the plan made it before
    Graph was called, so before the run knew the caller Graph sees); a kept pin is left as is."""
    if pin is None or pin == stored or not who:
        return pin
    return replace(pin, requested_by=who)


def pin_cleared(target: AnyTarget, choice: Choice) -> None:
    """Say why an existing pin gave way to a newer version (``rotation.pin_cleared``)."""
    if choice.cleared is not None:
        emit(
            log,
            logging.WARNING,
            "rotation.pin_cleared",
            **_named(target),
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
            **_named_record(connector_id),
            version=old.version,
            by=requested_by,
            why="unpinned by an operator",
        )
    return old


def _named_record(name: str) -> dict[str, str]:
    """How a log event names the target of state record ``name``."""
    prefix = state_key(TargetKind.POLICY_KEY, "")
    if name.startswith(prefix):
        return {"targetKind": TargetKind.POLICY_KEY.value, "keySet": name.removeprefix(prefix)}
    return {"connectorId": name}


def _key(target: AnyTarget) -> str:
    """The target's record in the state store."""
    return state_key(target.target_kind, target_name(target))


def _named(target: AnyTarget) -> dict[str, str]:
    """How a log event names the target: ``connectorId``, or ``keySet`` (with ``targetKind``)."""
    if isinstance(target, PolicyKeyTarget):
        return {"targetKind": target.target_kind.value, "keySet": target.key_set}
    return {"connectorId": target.connector_id}


def _described(exc: Exception) -> str:
    """A store's error as a log line may carry it: rotator's own message, else the type and a
    short message (``UnicodeDecodeError``'s would repeat the damaged bytes)."""
    if isinstance(exc, RotatorError):
        return truncate(str(exc))
    return f"{type(exc).__name__}: {truncate(str(exc), 120)}"
