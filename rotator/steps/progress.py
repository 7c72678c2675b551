"""What one connector's run knows so far, and how it becomes a ``TargetOutcome``, a failure
included (so a failure can still say which version it was at and whether a write may have landed).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Generic

from typing_extensions import TypeVar  # a default (PEP 696): a bare Progress is a connector's

from rotator.errors import (
    CredentialError,
    GraphError,
    RotationInProgressError,
    RotatorError,
    VerificationError,
)
from rotator.model import (
    AnyTarget,
    CredentialKind,
    Outcome,
    PolicyKeyTarget,
    ProbeResult,
    Target,
    TargetOutcome,
    VersionInfo,
    target_name,
)
from rotator.state.records import Lease
from rotator.steps.package import CertificateChange, Change
from rotator.text import scrub, truncate

log = logging.getLogger("rotator")

TargetT = TypeVar("TargetT", bound=AnyTarget, default=Target)
MAY_HAVE_LANDED = " (a write may have landed; the next run checks)"


@dataclass
class Progress(Generic[TargetT]):
    """One target's run: the version it is at, the lease it holds, whether a write reached Graph."""

    target: TargetT
    tenant_id: str | None = None  # of the target's identity, for the report
    lease: Lease | None = None
    version: str | None = None
    thumbprint: str | None = None
    not_after: dt.datetime | None = None
    expires_on: dt.datetime | None = None
    wrote: bool = False  # a write was accepted by Graph
    notes: list[str] = field(default_factory=list)
    probe: ProbeResult | None = None  # the probe of the credential this run is about
    secrets: list[str] = field(default_factory=list, repr=False)  # what this run will send
    deferred: VersionInfo | None = None  # a certificate not valid yet, left for a later run
    deferred_note: str = ""
    key_id: str | None = None  # a policy key: the kid written (or found active)
    display_name: str | None = None  # a connector's, once read from Graph (a key set: its id)

    def at(self, version: VersionInfo) -> None:
        """The run is now about ``version`` (as Key Vault lists it)."""
        self.version, self.thumbprint = version.version, version.thumbprint
        self.not_after = self.expires_on = version.expires_on

    def defer(self, version: VersionInfo | None, note: str) -> None:
        """A certificate waits for its notBefore (said in the outcome, after what was done)."""
        self.deferred, self.deferred_note = version, note

    def packaged(self, change: Change) -> None:
        """The run is now about what will be written: the last certificate, with the leaf's own
        thumbprint and ``notAfter``; and the change's notes (a later step may narrow the change)."""
        if isinstance(change, CertificateChange):
            self.secrets = [s for i in change.installs for s in (i.password, i.pfx)]
            last = change.installs[-1]
            self.version, self.thumbprint = last.version.version, last.thumbprint
            self.not_after = self.expires_on = last.not_after
        else:
            basic = f"{change.username}:{change.password}"
            self.secrets = [change.password, basic]
        self.notes = list(change.notes) + ([self.deferred_note] if self.deferred_note else [])

    def uploading(
        self,
        version: VersionInfo,
        secrets: list[str],
        *,
        thumbprint: str | None = None,
        not_after: dt.datetime | None = None,
    ) -> None:
        """A policy key's run is now about what it uploads (``secrets``: what the upload sends)."""
        self.version, self.secrets = version.version, secrets
        self.thumbprint = thumbprint or version.thumbprint
        self.not_after = self.expires_on = not_after or version.expires_on

    def ensure_lease(self) -> None:
        """Raise before a write when the connector's lease was lost.

        Raises:
            RotationInProgressError: the lease is no longer held.
        """
        if self.lease is not None:
            self.lease.ensure_held()

    def outcome(
        self,
        outcome: Outcome,
        reason: str | None,
        *,
        request_id: str | None = None,
        graph_status: int | None = None,
        unverified: bool = False,
        lease_stuck: bool = False,
    ) -> TargetOutcome:
        """The outcome of this run with what it knows; a secret this run holds (echoed by a service
        into an error, say) never reaches the reason."""
        target = self.target
        if reason and self.secrets:
            reason = scrub(reason, self.secrets)
        is_cert = target.kind is CredentialKind.CERTIFICATE
        return TargetOutcome(
            connector_id=target_name(target),
            kind=target.kind,
            outcome=outcome,
            key_vault_object=target.key_vault_object,
            key_vault_version=self.version,
            thumbprint=self.thumbprint if is_cert else None,
            not_after=self.not_after if is_cert else None,
            expires_on=self.expires_on,
            reason=reason,
            request_id=request_id,
            graph_status=graph_status,
            unverified=unverified,
            probe=self.probe,
            lease_stuck=lease_stuck,
            identity=target.identity,
            tenant_id=self.tenant_id,
            deferred_until=self.deferred.not_before if self.deferred else None,
            target_kind=target.target_kind,
            key_id=self.key_id,
            display_name=target.key_set
            if isinstance(target, PolicyKeyTarget)
            else self.display_name,
        )

    def failed(self, exc: Exception) -> TargetOutcome:
        """The outcome of a run that raised ``exc``: ``refused`` for a credential that fails
        validation, ``failed`` for everything else, ``unverified`` when a write may have landed."""
        if isinstance(exc, CredentialError):  # ApiRejectedError among them
            return self.outcome(Outcome.REFUSED, str(exc))
        if isinstance(exc, GraphError):
            unsure = exc.may_have_landed or self.wrote
            return self.outcome(
                Outcome.FAILED,
                str(exc) + (MAY_HAVE_LANDED if unsure else ""),
                request_id=exc.request_id,
                graph_status=exc.status,
                unverified=unsure,
            )
        if isinstance(exc, VerificationError):
            return self.outcome(Outcome.FAILED, str(exc), unverified=True)
        if isinstance(exc, (RotationInProgressError, RotatorError, OSError)):
            # RotationInProgressError here: the lease was lost before a write
            return self.outcome(Outcome.FAILED, str(exc), unverified=self.wrote)
        log.debug("rotation.unexpected_error", exc_info=exc)
        return self.outcome(Outcome.FAILED, unexpected(exc), unverified=self.wrote)


def unexpected(exc: BaseException) -> str:
    """How a reason names an error rotator did not expect: its type and a short message."""
    return f"unexpected {type(exc).__name__}: {truncate(str(exc))}"
