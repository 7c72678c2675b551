"""Reads what the status page shows: the status report, each connector's Key Vault versions
and its last rotations (read only, no secret value: the same reads as ``status`` plus the
history)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rotator.errors import RotatorError
from rotator.faces.page_parts import PageTarget, StatusPage
from rotator.model import AnyTarget, CredentialKind, VersionInfo, target_name
from rotator.state.records import state_key

if TYPE_CHECKING:
    from rotator.rotation import Rotator, WorkerInit

HISTORY_SHOWN = 5


def gather(
    rotator: Rotator,
    connector_ids: Sequence[str] = (),
    *,
    worker_init: WorkerInit | None = None,
    key_sets: Sequence[str] = (),
) -> StatusPage:
    """Everything the page needs for the named connectors and key sets (all when none are named).

    Raises:
        ConfigurationError: a named connector or key set is not configured.
    """
    steps = rotator.steps  # the clients and clock the status report was read with
    targets = rotator.select_all(connector_ids, key_sets)
    report = rotator.status(connector_ids, worker_init=worker_init, key_sets=key_sets)
    pages = []
    for target, status in zip(targets, report.targets, strict=True):
        versions: tuple[VersionInfo, ...] = ()
        if status.in_sync is not None:  # Key Vault was readable a moment ago
            versions = _versions(rotator, target)
        try:
            record = steps.state.read(state_key(target.target_kind, target_name(target)))
            history = tuple(reversed(record.history))
        except RotatorError:  # the state store is unreadable: the page shows no history
            history = ()
        pages.append(PageTarget(status, versions, history[:HISTORY_SHOWN]))
    return StatusPage(report=report, targets=tuple(pages), now=steps.clock())


def _versions(rotator: Rotator, target: AnyTarget) -> tuple[VersionInfo, ...]:
    vault = rotator.steps.vault(target.key_vault_url)
    try:
        if target.kind is CredentialKind.CERTIFICATE:
            return tuple(vault.list_certificate_versions(target.key_vault_object))
        return tuple(vault.list_secret_versions(target.key_vault_object))
    except RotatorError:  # changed since the status read: the page shows the status's error
        return ()
