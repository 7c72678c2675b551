"""Status: what one connector holds in Graph against what a rotation would install now, read
only (no secret value, no write), planned exactly as ``rotate`` plans."""

from __future__ import annotations

from typing import Any

from rotator.errors import CredentialError, RotatorError
from rotator.model import (
    CertificateTarget,
    RotationRequest,
    Target,
    TargetStatus,
    VersionInfo,
)
from rotator.steps import plan, policy
from rotator.steps.context import Steps
from rotator.steps.progress import unexpected


def connector_status(steps: Steps, target: Target) -> TargetStatus:
    """Where ``target`` stands; a failure to read is the entry's ``error``, never raised."""
    try:
        return _status(steps, target)
    except Exception as exc:  # status always answers: this entry carries the error
        return TargetStatus(
            target.connector_id,
            target.kind,
            target.key_vault_object,
            in_sync=None,
            error=unexpected(exc),
            identity=target.identity,
        )


def _status(steps: Steps, target: Target) -> TargetStatus:
    now = steps.clock()
    base: dict[str, Any] = {
        "connector_id": target.connector_id,
        "kind": target.kind,
        "key_vault_object": target.key_vault_object,
        "identity": target.identity,
        "tenant_id": steps.tenant(target),
    }
    wanted: VersionInfo | None = None
    wanted_error = None
    deferred: VersionInfo | None = None
    request = RotationRequest()
    try:
        vault = steps.vault(target.key_vault_url)
        record = steps.state.read(target.connector_id)
        connector = steps.graph(target).get_connector(target.connector_id)
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
