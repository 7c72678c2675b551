"""Status: what one connector or policy key holds in Graph against what a rotation would install
now, read only (no secret value, no write), planned exactly as ``rotate`` plans."""

from __future__ import annotations

from typing import Any

from rotator.azure.keysets import KeySetClient
from rotator.errors import CredentialError, RotatorError
from rotator.model import (
    AnyTarget,
    CertificateTarget,
    PolicyKeyTarget,
    RotationRequest,
    Target,
    VersionInfo,
)
from rotator.standing import DEFAULT_WARNING_DAYS, LastOutcome, TargetStatus
from rotator.state.records import ConnectorRecord, state_key
from rotator.steps import keyset_plan, plan, policy
from rotator.steps.context import Steps
from rotator.steps.progress import unexpected


def connector_status(
    steps: Steps, target: Target, warning_days: int = DEFAULT_WARNING_DAYS
) -> TargetStatus:
    """Where ``target`` stands; a failure to read is the entry's ``error``, never raised."""
    base: dict[str, Any] = {
        "connector_id": target.connector_id,
        "kind": target.kind,
        "key_vault_object": target.key_vault_object,
        "identity": target.identity,
        "warning_days": warning_days,
    }
    try:
        return _status(steps, target, base)
    except Exception as exc:  # status always answers: this entry carries the error
        return TargetStatus(**base, in_sync=None, error=unexpected(exc))


def last_outcome(record: ConnectorRecord) -> LastOutcome | None:
    """The newest line of a target's history (None when it has none)."""
    if not record.history:
        return None
    newest = record.history[-1]
    return LastOutcome(newest.outcome, newest.at, newest.reason, newest.trigger)


def _status(steps: Steps, target: Target, base: dict[str, Any]) -> TargetStatus:
    now = steps.clock()
    base["tenant_id"] = steps.tenant(target)
    wanted: VersionInfo | None = None
    wanted_error = None
    deferred: VersionInfo | None = None
    request = RotationRequest()
    try:
        vault = steps.vault(target.key_vault_url)
        record = steps.state.read(target.connector_id)
        base["last_outcome"] = last_outcome(record)
        connector = steps.graph(target).get_connector(target.connector_id)
        base["display_name"] = connector.display_name
        versions = (
            vault.list_certificate_versions(target.certificate)
            if isinstance(target, CertificateTarget)
            else vault.list_secret_versions(target.password_secret)
        )
        # status has always named a basic target's secret by kind only
        source = (
            None if isinstance(target, CertificateTarget) else f"basic '{target.key_vault_object}'"
        )
        try:
            choice = plan.choose(target, versions, request, record, now, source=source)
            planned = plan.make(target, choice, versions, record, connector, request, now)
            wanted, in_sync = planned.chosen, planned.in_sync  # the one active now
            deferred = planned.deferred
        except CredentialError as exc:
            wanted_error, in_sync = str(exc), False
    except RotatorError as exc:
        return TargetStatus(**base, in_sync=None, error=str(exc))
    applied_version = record.applied.version if record.applied else None
    # Key Vault's own newest, whatever a pin says
    newest = next(iter(policy.usable_newest_first(versions, now)), None)
    if isinstance(target, CertificateTarget):
        active = connector.active_certificate
        expires_on = active.not_after if active else None
    else:
        current = next((v for v in versions if v.version == applied_version), None)
        expires_on = current.expires_on if current else None
    return TargetStatus(
        **base,
        in_sync=in_sync,
        graph=connector.describe(),
        graph_thumbprints=connector.thumbprints,
        target_version=wanted.version if wanted else None,
        target_thumbprint=wanted.thumbprint if wanted else None,
        newest_version=newest.version if newest else None,
        applied_version=applied_version,
        pinned_version=record.pin.version if record.pin else None,
        expires_on=expires_on,
        days_to_expiry=policy.days_until(expires_on, now),
        error=wanted_error,
        deferred_until=deferred.not_before if deferred else None,
    )


def target_status(
    steps: Steps, target: AnyTarget, warning_days: int = DEFAULT_WARNING_DAYS
) -> TargetStatus:
    """Where a connector or a policy key stands; never raises."""
    if isinstance(target, PolicyKeyTarget):
        return key_set_status(steps, target, warning_days)
    return connector_status(steps, target, warning_days)


def key_set_status(
    steps: Steps, target: PolicyKeyTarget, warning_days: int = DEFAULT_WARNING_DAYS
) -> TargetStatus:
    """Where a policy key stands: the set's size (it only grows), its active key against the
    version a rotation would upload; a failure to read is the entry's ``error``."""
    base: dict[str, Any] = {
        "connector_id": target.key_set,
        "kind": target.kind,
        "key_vault_object": target.key_vault_object,
        "identity": target.identity,
        "target_kind": target.target_kind,
        "display_name": target.key_set,  # a key set has no display name: its id is its name
        "warning_days": warning_days,
    }
    try:
        return _key_set_status(steps, target, base)
    except Exception as exc:  # status always answers: this entry carries the error
        return TargetStatus(**base, in_sync=None, error=unexpected(exc))


def _key_set_status(steps: Steps, target: PolicyKeyTarget, base: dict[str, Any]) -> TargetStatus:
    now = steps.clock()
    base["tenant_id"] = steps.tenant(target)
    wanted: VersionInfo | None = None
    wanted_error = None
    try:
        vault = steps.vault(target.key_vault_url)
        record = steps.state.read(state_key(target.target_kind, target.key_set))
        base["last_outcome"] = last_outcome(record)
        client = KeySetClient(steps.graph(target))
        key_set, active = client.get_key_set(target.key_set), client.get_active_key(target.key_set)
        versions = plan.versions_of(vault, target)
        try:
            wanted = plan.choose(target, versions, RotationRequest(), record, now).version
            in_sync = keyset_plan.in_sync(target, wanted, active, record)
        except CredentialError as exc:
            wanted_error, in_sync = str(exc), False
    except RotatorError as exc:
        return TargetStatus(**base, in_sync=None, error=str(exc))
    newest = next(iter(policy.usable_newest_first(versions, now)), None)
    size = len(key_set.keys)
    held = f"{size} key{'s' * (size != 1)}; active: " + (
        active.describe() if active else "none (no key is valid)"
    )
    expires_on = active.exp if active else None
    return TargetStatus(
        **base,
        in_sync=in_sync,
        graph=held,
        graph_thumbprints=tuple(k.x5t for k in key_set.keys if k.x5t),
        target_version=wanted.version if wanted else None,
        target_thumbprint=wanted.thumbprint if wanted else None,
        newest_version=newest.version if newest else None,
        applied_version=record.applied.version if record.applied else None,
        pinned_version=record.pin.version if record.pin else None,
        expires_on=expires_on,
        days_to_expiry=policy.days_until(expires_on, now),
        error=wanted_error,
        key_count=size,
        active_kid=active.kid if active else None,
        active_x5t=active.x5t if active else None,
    )
