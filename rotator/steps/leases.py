"""A connector's lease found taken: a normal wait (``skipped``: the holder rotates it), or a stuck
lease whose holder outlived any run (``failed``, ``rotation.lease_stuck`` at ERROR with how to
free it). Either way the outcome carries the expiry of Key Vault's newest usable version, read
without the lease, so expiry warnings never depend on getting it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from rotator.errors import RotationInProgressError
from rotator.events import emit
from rotator.model import (
    AnyTarget,
    Outcome,
    PolicyKeyTarget,
    TargetOutcome,
    VersionInfo,
    target_name,
)
from rotator.steps import plan, policy
from rotator.steps.context import Steps
from rotator.steps.progress import Progress

log = logging.getLogger("rotator")

FUNCTION_TIMEOUT = dt.timedelta(minutes=10)  # host.json's functionTimeout
LEASE_STUCK_AFTER = 2 * FUNCTION_TIMEOUT
"""A lease held longer than any run can last: its holder is hung or gone."""


def blocked(
    steps: Steps, target: AnyTarget, exc: RotationInProgressError, run: Progress[Any]
) -> TargetOutcome:
    """The outcome of a run that found the connector's lease taken."""
    newest = _newest_usable(steps, target)
    if newest is not None:
        run.at(newest)
    held_for = steps.clock() - exc.held_since if exc.held_since else None
    if not exc.infinite and (held_for is None or held_for <= LEASE_STUCK_AFTER):
        return run.outcome(Outcome.SKIPPED, str(exc))
    how_long = (
        f"since {exc.held_since:%Y-%m-%d %H:%M} UTC ({int(held_for.total_seconds() // 60)} minutes)"
        if exc.held_since and held_for is not None
        else "for an unknown time"
    )
    kind = "with a lease that never ends, which rotator never takes" if exc.infinite else ""
    reason = (
        f"{_what(target)}: its lease is held {how_long}"
        + (f" by {exc.holder}" if exc.holder else "")
        + (f" {kind}" if kind else "")
        + f", longer than any run lasts ({int(LEASE_STUCK_AFTER.total_seconds() // 60)} minutes)"
        + f": nothing is rotated until it is freed; {exc.release or 'free the lease'}"
    )
    emit(
        log,
        logging.ERROR,
        "rotation.lease_stuck",
        **_named(target),
        heldSince=exc.held_since,
        heldMinutes=int(held_for.total_seconds() // 60) if held_for is not None else None,
        holder=exc.holder,
        infinite=exc.infinite,
        fix=exc.release,
    )
    return run.outcome(Outcome.FAILED, reason, lease_stuck=True)


def _what(target: AnyTarget) -> str:
    kind = "key set" if isinstance(target, PolicyKeyTarget) else "connector"
    return f"{kind} {target_name(target)}"


def _named(target: AnyTarget) -> dict[str, str]:
    if isinstance(target, PolicyKeyTarget):
        return {"targetKind": target.target_kind.value, "keySet": target.key_set}
    return {"connectorId": target.connector_id}


def _newest_usable(steps: Steps, target: AnyTarget) -> VersionInfo | None:
    """Key Vault's newest usable version, read without the lease (None when it cannot be read:
    the holder's run reports that)."""
    try:
        vault = steps.vault(target.key_vault_url)
        versions = plan.versions_of(vault, target)
        usable = policy.usable_newest_first(versions, steps.clock())
    except Exception:
        log.debug("rotation.expiry_read_failed", exc_info=True)
        return None
    return usable[0] if usable else None
