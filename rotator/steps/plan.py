"""Plan (pure): which Key Vault version(s) a connector should hold, under which pin, and whether it
already holds them.

``rotate``, dry runs, ``status`` and ``check`` all decide through :func:`choose` and :func:`make`,
so they can never disagree about what a rotation would do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rotator.errors import KeyVaultError
from rotator.model import (
    BasicTarget,
    CertificateTarget,
    ConnectorState,
    InstallMode,
    RotationRequest,
    Target,
    VersionInfo,
)
from rotator.state.records import ConnectorRecord, Pin, now_iso
from rotator.steps import policy


@dataclass(frozen=True)
class ClearedPin:
    """A pin that gave way in this run: the version it held and why (``rotation.pin_cleared``)."""

    version: str
    why: str


@dataclass(frozen=True)
class Choice:
    """The version a connector should be on now, the pin in force after this run, and the pin
    that gave way, if one did."""

    version: VersionInfo
    pin: Pin | None
    cleared: ClearedPin | None = None


@dataclass(frozen=True)
class ConnectorPlan:
    """What a connector should hold and how a rotation gets it there."""

    target: Target
    chosen: VersionInfo  # the version that should be active now
    pending: VersionInfo | None  # overlap: a future-dated version to pre-stage
    pin: Pin | None  # the pin in force after this run
    replace: bool  # install with PATCH (the list ends as exactly the plan)
    compact: bool  # overlap list holds expired certificates: replace it
    in_sync: bool
    missing: tuple[VersionInfo, ...] = ()  # certificates: the versions the connector lacks
    # overlap with a probe: a certificate not valid yet is not pre-staged (no API would accept
    # it before its notBefore, so it cannot be probed truthfully); it waits for that date
    deferred: VersionInfo | None = None

    @property
    def versions(self) -> list[VersionInfo]:
        """The versions the connector should hold, the one active now first."""
        return [self.chosen, *([self.pending] if self.pending else [])]

    def in_sync_reason(self) -> str:
        """The sentence of an up-to-date outcome."""
        return in_sync_reason(self.versions, self.pin)

    def deferred_reason(self) -> str:
        """Why the deferred certificate is not uploaded yet (empty when none is deferred)."""
        if self.deferred is None or self.deferred.not_before is None:
            return ""
        return (
            f"certificate {self.deferred.thumbprint} (version {self.deferred.version}) is not valid "
            f"until {self.deferred.not_before:%Y-%m-%d %H:%M} UTC: not pre-staged, since the API "
            "cannot be probed with it before then; the first run after that date probes it"
        )


def source_of(target: Target) -> str:
    """How messages name the Key Vault object a target follows."""
    kind = "certificate" if isinstance(target, CertificateTarget) else "secret"
    return f"{kind} '{target.key_vault_object}' in {target.key_vault_url}"


def choose(
    target: Target,
    versions: Sequence[VersionInfo],
    request: RotationRequest,
    record: ConnectorRecord,
    now: dt.datetime,
    *,
    source: str | None = None,
) -> Choice:
    """The version to install and the pin in force after this run (if any).

    An explicit ``version`` pins it (a rollback). An existing pin holds until a version
    created after it is usable, or until the pinned version itself stops being usable
    (disabled, expired); then it gives way to the newest usable version.

    Raises:
        KeyVaultError: the object has no versions (it does not exist).
        CredentialError: no version is usable, or the requested one is not.
    """
    source = source or source_of(target)
    if not versions:
        raise KeyVaultError(
            f"{source} was not found (it has no versions); check the name in ROTATOR_CONFIG",
            status=404,
        )
    if request.version:
        chosen = policy.pinned_version(versions, request.version, now, source=source)
        newest = policy.newest_created(versions)
        rollback = Pin(
            chosen.version,
            now_iso(now),
            request.reason,
            request.requested_by,
            now_iso(newest) if newest else None,
        )
        return Choice(chosen, rollback)
    pin = record.pin
    cleared = None
    if pin is not None:
        since = dt.datetime.fromisoformat(pin.newest_created or pin.pinned_at)  # "Z" since 3.11
        newer = policy.pin_outlived(versions, since, now)
        pinned = next((v for v in versions if v.version.lower() == pin.version.lower()), None)
        unusable = (
            "is gone from Key Vault" if pinned is None else policy.unusable_reason(pinned, now)
        )
        if newer is None and pinned is not None and unusable is None:
            return Choice(pinned, pin)
        why = (
            f"version {newer.version} was added to Key Vault after the pin"
            if newer
            else f"the pinned version {pin.version} {unusable}"
        )
        cleared = ClearedPin(pin.version, why)
    return Choice(policy.newest_usable(versions, now, source=source), None, cleared)


def make(
    target: Target,
    choice: Choice,
    versions: Sequence[VersionInfo],
    record: ConnectorRecord,
    connector: ConnectorState,
    request: RotationRequest,
    now: dt.datetime,
) -> ConnectorPlan:
    """Which versions the connector should hold, how to install them, and whether it already does.

    Raises:
        KeyVaultError: a certificate version Key Vault lists has no thumbprint.
    """
    if isinstance(target, BasicTarget):
        in_sync = basic_in_sync(target, connector, choice.version.version, record)
        return ConnectorPlan(target, choice.version, None, choice.pin, True, False, in_sync)
    chosen, pin = choice.version, choice.pin
    # A rollback (a pin) and an emergency (force) must leave the connector on exactly that
    # certificate: overlap would keep a newer one active, or pre-stage one.
    replace = request.force or pin is not None or target.mode is InstallMode.REPLACE
    pending = None if replace else policy.pending_version(versions, chosen, now)
    deferred = pending if target.probe is not None else None
    pending = None if deferred is not None else pending
    held = {t.upper() for t in connector.thumbprints}
    compact = not replace and bool(policy.expired_entries(connector, now))
    wanted = [chosen, *([pending] if pending else [])]
    thumbprints = {v.version: v.thumbprint.upper() for v in wanted if v.thumbprint}
    if len(thumbprints) < len(wanted):
        raise KeyVaultError(f"{source_of(target)}: a version lists no thumbprint in Key Vault")
    missing = tuple(v for v in wanted if thumbprints[v.version] not in held)
    if replace:
        in_sync = policy.certificate_in_sync(
            connector, thumbprints[chosen.version], InstallMode.REPLACE
        )
    else:
        in_sync = not compact and not missing
    return ConnectorPlan(
        target, chosen, pending, pin, replace or compact, compact, in_sync, missing, deferred
    )


def basic_in_sync(
    target: BasicTarget, connector: ConnectorState, version: str, record: ConnectorRecord
) -> bool:
    """Whether a basic-auth connector holds ``version``: the state store says it was applied (the
    password is unreadable) and Graph still shows basic auth with the configured username."""
    applied = record.applied
    return (
        applied is not None
        and applied.key_vault_object == target.password_secret
        and applied.key_vault_url.lower() == target.key_vault_url.lower()
        and applied.version == version
        and policy.basic_mismatch(connector, username=target.username) is None
    )


def in_sync_reason(versions: Sequence[VersionInfo], pin: Pin | None) -> str:
    """E.g. ``connector already holds 0EB2… (version 3f…); pinned since … (why)``."""
    held = ", ".join(
        f"{v.thumbprint} (version {v.version})" if v.thumbprint else f"version {v.version}"
        for v in versions
    )
    text = f"connector already holds {held}"
    if pin is not None:
        text += f"; pinned since {pin.pinned_at}" + (f" ({pin.reason})" if pin.reason else "")
    return text
