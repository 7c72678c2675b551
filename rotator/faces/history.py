"""``rotator history`` for every target: the state store's lines of each configured connector and
key set merged newest first, cut by ``--since`` and ``--limit``, named by Graph's display name
when Graph answers within a few seconds (the history itself never waits for Graph)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rotator.errors import ConfigurationError, RotatorError
from rotator.events import emit
from rotator.model import NAME_KEY, AnyTarget, PolicyKeyTarget, TargetKind, target_name
from rotator.state.records import HistoryEntry, state_key
from rotator.text import truncate

if TYPE_CHECKING:
    from rotator.rotation import Rotator

log = logging.getLogger("rotator")

DEFAULT_LIMIT = 50
NAME_WAIT_SECONDS = 5.0  # how long history waits for Graph's display names, all together
MAX_LISTED_IDS = 20  # an unknown id's error lists at most this many known ones per kind


def parse_since(text: str) -> dt.datetime:
    """``--since``: an ISO date (midnight UTC) or datetime (UTC when it names no zone).

    Raises:
        argparse.ArgumentTypeError: not an ISO date or datetime.
    """
    try:
        when = (
            dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
            if len(text) == 10
            else dt.datetime.fromisoformat(text)
        )
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{truncate(text, 40)!r} is not an ISO date or datetime "
            "(e.g. 2026-12-01 or 2026-12-01T08:00:00Z)"
        ) from None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def parse_limit(text: str) -> int:
    """``--limit``: a whole number of at least 1.

    Raises:
        argparse.ArgumentTypeError: not a whole number of at least 1.
    """
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{truncate(text, 40)!r} is not a whole number >= 1")
    return int(text)


def entry_time(entry: HistoryEntry) -> dt.datetime | None:
    """When a history line happened (None when the store holds something unreadable there)."""
    try:
        at = dt.datetime.fromisoformat(entry.at)
    except (TypeError, ValueError):
        return None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


def newest_first(
    entries: Sequence[HistoryEntry], *, since: dt.datetime | None, limit: int | None
) -> list[HistoryEntry]:
    """``entries`` (oldest first, as stored) newest first, from ``since`` on, at most ``limit``."""
    kept = [e for e in reversed(entries) if since is None or _at_or_after(e, since)]
    return kept[:limit] if limit is not None else kept


def _at_or_after(entry: HistoryEntry, since: dt.datetime) -> bool:
    at = entry_time(entry)
    return at is not None and at >= since  # an unreadable time cannot be shown to be recent


@dataclass(frozen=True)
class HistoryLine:
    """One line of the merged history: which target, what its history says."""

    target_kind: TargetKind
    name: str  # the connector id, or the key set id
    entry: HistoryEntry
    display_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The target (``targetKind``, ``connectorId`` or ``keySet``, ``displayName``), then the
        history line's fields as ``history --json`` writes them."""
        return {
            "targetKind": self.target_kind.value,
            NAME_KEY[self.target_kind]: self.name,
            "displayName": self.display_name,
            **entry_json(self.entry),
        }


def entry_json(entry: HistoryEntry) -> dict[str, Any]:
    """One history line in camelCase."""
    return {
        "at": entry.at,
        "trigger": entry.trigger,
        "outcome": entry.outcome,
        "keyVaultVersion": entry.key_vault_version,
        "thumbprint": entry.thumbprint,
        "reason": entry.reason,
        "requestedBy": entry.requested_by,
    }


@dataclass(frozen=True)
class FleetHistory:
    """Every target's history merged, newest first, and what could not be read."""

    lines: tuple[HistoryLine, ...]
    targets: int
    limit: int
    since: dt.datetime | None = None
    truncated: bool = False  # more lines matched than ``limit``
    errors: tuple[tuple[AnyTarget, str], ...] = ()  # a record the store could not read

    def to_json(self) -> dict[str, Any]:
        """``history --json`` without a target: ``{"entries": [...], "limit", "since", ...}``."""
        return {
            "entries": [line.to_json() for line in self.lines],
            "targets": self.targets,
            "limit": self.limit,
            "since": self.since.isoformat().replace("+00:00", "Z") if self.since else None,
            "truncated": self.truncated,
            "errors": [
                {"targetKind": t.target_kind.value, NAME_KEY[t.target_kind]: target_name(t)}
                | {"error": error}
                for t, error in self.errors
            ],
        }


def gather(
    rotator: Rotator, *, since: dt.datetime | None, limit: int, names: bool = True
) -> FleetHistory:
    """Every configured target's history from the state store, merged newest first; a record
    that cannot be read is an entry of ``errors``, never a reason to hide the others."""
    targets = rotator.settings.all_targets
    found: list[tuple[AnyTarget, HistoryEntry]] = []
    errors: list[tuple[AnyTarget, str]] = []
    for target in targets:
        try:
            record = rotator.steps.state.read(state_key(target.target_kind, target_name(target)))
        except (RotatorError, OSError, ValueError) as exc:
            errors.append((target, truncate(str(exc)) or type(exc).__name__))
            continue
        found.extend((target, e) for e in newest_first(record.history, since=since, limit=None))
    found.sort(key=lambda pair: _sort_key(pair[1]), reverse=True)
    shown = found[:limit]
    known = display_names(rotator, [t for t, _ in shown]) if names else {}
    return FleetHistory(
        tuple(HistoryLine(t.target_kind, target_name(t), e, known.get(_key(t))) for t, e in shown),
        len(targets),
        limit,
        since,
        truncated=len(found) > limit,
        errors=tuple(errors),
    )


def _sort_key(entry: HistoryEntry) -> dt.datetime:
    return entry_time(entry) or dt.datetime.min.replace(tzinfo=dt.UTC)


def _key(target: AnyTarget) -> tuple[TargetKind, str]:
    return target.target_kind, target_name(target)


def display_names(
    rotator: Rotator, targets: Sequence[AnyTarget], *, wait: float = NAME_WAIT_SECONDS
) -> dict[tuple[TargetKind, str], str]:
    """Graph's display name of each connector (a key set's is its id), read in parallel (at most
    ``maxParallel`` per identity); whatever has not answered within ``wait`` seconds in all, or
    failed, stays unnamed (logged at DEBUG): a history never waits longer for Graph."""
    names: dict[tuple[TargetKind, str], str] = {
        _key(t): t.key_set for t in targets if isinstance(t, PolicyKeyTarget)
    }
    connectors = {t.connector_id: t for t in targets if not isinstance(t, PolicyKeyTarget)}
    lock = threading.Lock()
    slots: dict[str, threading.Semaphore] = {}

    def read(target: AnyTarget) -> None:
        with slots[target.identity]:
            try:
                graph = rotator.steps.graph(target)
                state = graph.get_connector(target_name(target), within=wait)
            except Exception as exc:  # a name is a nicety: the history prints without it
                emit(log, logging.DEBUG, "history.name_unread", error=type(exc).__name__)
                return
        if state.display_name:
            with lock:
                names[_key(target)] = state.display_name

    threads = []
    for target in connectors.values():
        if target.identity not in slots:
            parallel = rotator.settings.for_identity(target.identity).max_parallel
            slots[target.identity] = threading.Semaphore(max(1, parallel))
        # daemon: a Graph that hangs (a token that never comes) must not hold the command
        thread = threading.Thread(target=read, args=(target,), daemon=True, name="rotator-name")
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + wait
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return dict(names)


def configured(rotator: Rotator, connector_id: str | None, key_set: str | None) -> AnyTarget:
    """The configured target of ``--connector`` (or ``--key-set``).

    Raises:
        ConfigurationError: no connector (or key set) has that id; the message lists the known
            ids of both kinds.
    """
    settings = rotator.settings
    for target in settings.all_targets:
        if target.target_kind is TargetKind.POLICY_KEY and target_name(target) == key_set:
            return target
        if target.target_kind is TargetKind.CONNECTOR and target_name(target) == connector_id:
            return target
    asked = (
        f"connector {truncate(connector_id, 80)!r}"
        if connector_id is not None
        else f"key set {truncate(key_set or '', 80)!r}"
    )
    known = [
        f"connectors: {_listed([t.connector_id for t in settings.targets])}",
        f"key sets: {_listed([t.key_set for t in settings.policy_keys])}",
    ]
    raise ConfigurationError(f"{asked} is not configured (known {'; '.join(known)})")


def display_name(rotator: Rotator, target: AnyTarget) -> str | None:
    """One target's display name (see ``display_names``)."""
    return display_names(rotator, [target]).get(_key(target))


def _listed(ids: Sequence[str]) -> str:
    if not ids:
        return "none"
    more = len(ids) - MAX_LISTED_IDS
    shown = ", ".join(truncate(i, 80) for i in ids[:MAX_LISTED_IDS])
    return shown + (f" and {more} more" if more > 0 else "")
