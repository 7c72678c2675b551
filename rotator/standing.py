"""Where a target stands: the status of one connector or policy key, its last outcome and the
one word of attention it asks for, computed here once for the CLI, the JSON, HTTP and the page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rotator.model import NAME_KEY, CredentialKind, TargetKind, iso

DEFAULT_WARNING_DAYS = 30  # ROTATOR_EXPIRY_WARNING_DAYS's default


class Attention(StrEnum):
    """What a target asks of an operator, most urgent first (the declaration order is the
    order of urgency)."""

    FAILING = "failing"  # unreadable, or the last rotation failed and Graph is still not right
    REFUSED = "refused"  # the last rotation was refused, or Key Vault holds nothing usable
    BEHIND = "behind"  # Graph does not hold what a rotation would install now
    EXPIRING = "expiring"  # what Graph holds expires within the warning days
    DEFERRED = "deferred"  # a certificate waits for its notBefore; nothing to do
    OK = "ok"

    @property
    def urgency(self) -> int:
        """0 for ``failing`` … 5 for ``ok``."""
        return list(Attention).index(self)

    @property
    def needs_action(self) -> bool:
        """``failing``, ``refused``, ``behind`` and ``expiring`` need someone."""
        return self.urgency <= Attention.EXPIRING.urgency


@dataclass(frozen=True)
class LastOutcome:
    """The newest line of a target's history (rotations that changed, or tried to change,
    something: ``rotated``, ``refused``, ``failed``; up-to-date runs leave no line)."""

    outcome: str
    at: str  # ISO 8601 UTC, as the history keeps it
    reason: str | None = None
    trigger: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"outcome", "at", "reason", "trigger"}``."""
        return {
            "outcome": self.outcome,
            "at": self.at,
            "reason": self.reason,
            "trigger": self.trigger,
        }


def attention_of(status: TargetStatus, warning_days: int = DEFAULT_WARNING_DAYS) -> Attention:
    """The most urgent thing that holds for ``status``.

    A failed or refused last rotation counts while Graph is not in sync: once a later run found
    Graph holding what it would install (an up-to-date run leaves no history line), the old
    failure is history, still shown as ``lastOutcome`` but asking nothing.
    """
    last = status.last_outcome.outcome if status.last_outcome else None
    if status.in_sync is None:
        return Attention.FAILING
    if not status.in_sync:
        if last == "failed":
            return Attention.FAILING
        if last == "refused" or status.error is not None:  # nothing usable to install
            return Attention.REFUSED
        return Attention.BEHIND
    if status.days_to_expiry is not None and status.days_to_expiry < warning_days:
        return Attention.EXPIRING
    if status.deferred_until is not None or last == "deferred":
        return Attention.DEFERRED
    return Attention.OK


@dataclass(frozen=True)
class TargetStatus:
    """Where one target stands: what Graph holds against what Key Vault offers."""

    connector_id: str
    kind: CredentialKind
    key_vault_object: str
    in_sync: bool | None  # None when it could not be determined
    graph: str | None = None  # human description of what Graph holds
    graph_thumbprints: tuple[str, ...] = ()
    target_version: str | None = None  # what a rotation installs now (the pinned one, if pinned)
    target_thumbprint: str | None = None
    newest_version: str | None = None  # Key Vault's newest usable version
    applied_version: str | None = None  # basic auth: the version the state store says was applied
    pinned_version: str | None = None  # a rollback an operator pinned (``rotator unpin`` clears it)
    expires_on: dt.datetime | None = None  # of the credential the connector uses now (or newest)
    days_to_expiry: int | None = None
    error: str | None = None
    identity: str = "default"  # the Graph identity the connector is read with
    tenant_id: str | None = None
    deferred_until: dt.datetime | None = None  # a certificate waiting to be probed at notBefore
    target_kind: TargetKind = TargetKind.CONNECTOR  # policyKey: connector_id is the key set id
    key_count: int | None = None  # policy keys: how many keys the set holds (it only grows)
    active_kid: str | None = None  # policy keys: the key B2C uses now (``expires_on``: its exp)
    active_x5t: str | None = None
    display_name: str | None = None  # Graph's displayName of a connector; a key set's id
    last_outcome: LastOutcome | None = None  # the newest line of the target's history
    warning_days: int = DEFAULT_WARNING_DAYS  # ROTATOR_EXPIRY_WARNING_DAYS: when ``expiring``

    @property
    def attention(self) -> Attention:
        """The one word of attention (see ``attention_of``)."""
        return attention_of(self, self.warning_days)

    def to_json(self) -> dict[str, Any]:
        """``status --json``'s object (``deferredUntil`` when a certificate waits; a key set's)."""
        data: dict[str, Any] = {
            "targetKind": self.target_kind.value,
            NAME_KEY[self.target_kind]: self.connector_id,
            "kind": self.kind.value,
            "keyVaultObject": self.key_vault_object,
            "inSync": self.in_sync,
            "graph": self.graph,
            "graphThumbprints": list(self.graph_thumbprints),
            "targetKeyVaultVersion": self.target_version,
            "targetThumbprint": self.target_thumbprint,
            "newestKeyVaultVersion": self.newest_version,
            "appliedKeyVaultVersion": self.applied_version,
            "pinnedKeyVaultVersion": self.pinned_version,
            "expiresOn": iso(self.expires_on),
            "daysToExpiry": self.days_to_expiry,
            "error": self.error,
            "identity": self.identity,
            "tenantId": self.tenant_id,
            "displayName": self.display_name,
            "lastOutcome": self.last_outcome.to_json() if self.last_outcome else None,
            "attention": self.attention.value,
        }
        if self.deferred_until is not None:
            data["deferredUntil"] = iso(self.deferred_until)
        if self.target_kind is TargetKind.POLICY_KEY:
            data.update(keyCount=self.key_count, activeKid=self.active_kid)
            data["activeX5t"] = self.active_x5t
        return data


@dataclass(frozen=True)
class StatusReport:
    """The status of every requested target."""

    targets: tuple[TargetStatus, ...] = field(default_factory=tuple)

    @property
    def needs_action(self) -> bool:
        """True when any target is ``failing``, ``refused``, ``behind`` or ``expiring``
        (``status`` then exits 1; ``deferred`` and ``ok`` need nobody)."""
        return any(t.attention.needs_action for t in self.targets)

    def by_attention(self) -> tuple[TargetStatus, ...]:
        """The targets most urgent first, then by next expiry (soonest first, none last),
        then by name: the order of the status page's overview and cards."""
        return tuple(sorted(self.targets, key=_urgency))

    @property
    def ok(self) -> bool:
        """True when every target is in sync and could be read."""
        return all(t.in_sync and t.error is None for t in self.targets)

    def to_json(self) -> dict[str, Any]:
        """``{"targets": [...]}``."""
        return {"targets": [t.to_json() for t in self.targets]}


def _urgency(status: TargetStatus) -> tuple[int, int, dt.datetime, str]:
    expiry = status.expires_on
    return (
        status.attention.urgency,
        expiry is None,
        expiry or dt.datetime.max.replace(tzinfo=dt.UTC),
        (status.display_name or status.connector_id).casefold(),
    )
