"""The vocabulary of rotator as plain frozen dataclasses: targets, versions, outcomes, reports."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

# A minimal payload shaped like B2C's sign-up call (learn: "Add an API connector to a sign-up
# user flow", request examples); the probe reads only the answer's status.
DEFAULT_BODY: Mapping[str, Any] = {
    "step": "PostAttributeCollection",
    "client_id": "00000000-0000-0000-0000-000000000000",
    "ui_locales": "en-US",
    "email": "rotator-probe@example.invalid",
}
DEFAULT_REJECT_STATUS = (401, 403)

_CONNECTOR_ID = re.compile(r"[A-Za-z0-9._-]{1,256}")
# Key Vault's rule for object names: 1-127 characters, only 0-9, a-z, A-Z and "-"
# (learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates, "object-name").
_KEY_VAULT_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
# "a system-generated, 32 character string identifier" (same page, "object-version").
_KEY_VAULT_VERSION = re.compile(r"[0-9A-Za-z]{32}")


@dataclass(frozen=True)
class ProbeConfig:
    """How to probe one connector's API before a write to Graph (parsed by ``config.probe``)."""

    url: str | None = None  # None: the connector's targetUrl as Graph returns it
    method: str = "POST"
    body: str = field(default_factory=lambda: compact_json(DEFAULT_BODY), repr=False)  # JSON text
    headers: tuple[tuple[str, str], ...] = ()
    reject_status: frozenset[int] = frozenset(DEFAULT_REJECT_STATUS)
    wait_seconds: float = 0.0
    required: bool = True


def compact_json(document: Any) -> str:
    """``document`` as JSON without spaces (a mapping of any kind as an object)."""
    return json.dumps(
        dict(document) if isinstance(document, Mapping) else document, separators=(",", ":")
    )


def is_connector_id(value: object) -> bool:
    """A connector id: 1-256 letters, digits, ``-``, ``_`` and ``.``, and not ``.`` or ``..``."""
    return (
        isinstance(value, str)
        and _CONNECTOR_ID.fullmatch(value) is not None
        and value not in (".", "..")
    )


def is_key_vault_name(value: object) -> bool:
    """A Key Vault object name: 1-127 letters, digits and ``-``."""
    return isinstance(value, str) and _KEY_VAULT_NAME.fullmatch(value) is not None


def is_key_vault_version(value: object) -> bool:
    """A Key Vault version id: 32 letters and digits."""
    return isinstance(value, str) and _KEY_VAULT_VERSION.fullmatch(value) is not None


class CredentialKind(StrEnum):
    """What a connector authenticates with."""

    CERTIFICATE = "certificate"
    BASIC = "basic"


class InstallMode(StrEnum):
    """How a certificate is installed: replace the list (PATCH) or add beside it (upload)."""

    REPLACE = "replace"
    OVERLAP = "overlap"


class Pkcs12Profile(StrEnum):
    """How the PKCS#12 sent to Graph is encrypted. B2C accepts only ``legacy-3des``."""

    LEGACY_3DES = "legacy-3des"
    AES256 = "aes256"


class Outcome(StrEnum):
    """What happened to one target in one run."""

    ROTATED = "rotated"
    UP_TO_DATE = "up-to-date"
    DRY_RUN = "dry-run"
    REFUSED = "refused"
    FAILED = "failed"
    SKIPPED = "skipped"  # another caller holds the connector's lease; it does the work
    DEFERRED = "deferred"  # a probed certificate not valid yet waits for its notBefore

    @property
    def ok(self) -> bool:
        """True for the outcomes that leave a run successful."""
        return self in (
            Outcome.ROTATED,
            Outcome.UP_TO_DATE,
            Outcome.DRY_RUN,
            Outcome.SKIPPED,
            Outcome.DEFERRED,
        )


@dataclass(frozen=True)
class CertificateTarget:
    """A connector kept on the newest version of a Key Vault certificate."""

    connector_id: str
    key_vault_url: str
    certificate: str
    mode: InstallMode = InstallMode.REPLACE
    probe: ProbeConfig | None = None  # call the connector's API with the new credential first
    identity: str = "default"  # the Graph identity (tenant) the connector is reached with

    kind: ClassVar[CredentialKind] = CredentialKind.CERTIFICATE

    @property
    def key_vault_object(self) -> str:
        """The name of the Key Vault object this target follows."""
        return self.certificate


@dataclass(frozen=True)
class BasicTarget:
    """A connector kept on the newest version of a Key Vault secret holding a basic-auth password."""

    connector_id: str
    key_vault_url: str
    username: str
    password_secret: str
    probe: ProbeConfig | None = None  # call the connector's API with the new password first
    identity: str = "default"  # the Graph identity (tenant) the connector is reached with

    kind: ClassVar[CredentialKind] = CredentialKind.BASIC

    @property
    def key_vault_object(self) -> str:
        """The name of the Key Vault object this target follows."""
        return self.password_secret


Target = CertificateTarget | BasicTarget


@dataclass(frozen=True)
class VersionInfo:
    """The public attributes of one version of a Key Vault certificate or secret (no value)."""

    name: str
    version: str
    enabled: bool
    created_on: dt.datetime | None
    not_before: dt.datetime | None = None
    expires_on: dt.datetime | None = None
    thumbprint: str | None = None  # certificates only: upper-case hex SHA-1 of the DER leaf


@dataclass(frozen=True)
class GraphCertificate:
    """One entry of a connector's ``certificateList`` as Graph shows it."""

    thumbprint: str
    not_before: dt.datetime
    not_after: dt.datetime
    is_active: bool


@dataclass(frozen=True)
class ConnectorState:
    """What Graph holds for a connector's authentication (never a password)."""

    connector_id: str
    display_name: str | None
    auth_type: str  # "certificate", "basic", or the raw @odata.type of anything else
    certificates: tuple[GraphCertificate, ...] = ()
    username: str | None = None
    target_url: str | None = None  # the API B2C calls (the probe's default URL)

    @property
    def thumbprints(self) -> tuple[str, ...]:
        """The thumbprints of the certificates Graph holds, in Graph's order."""
        return tuple(cert.thumbprint for cert in self.certificates)

    @property
    def active_certificate(self) -> GraphCertificate | None:
        """The certificate Graph marks active, if any."""
        return next((cert for cert in self.certificates if cert.is_active), None)

    def describe(self) -> str:
        """A short human description, e.g. ``certificate 0EB2…97AD (active, until 2027-01-01)``."""
        if self.auth_type == "basic":
            return f"basic auth as {self.username!r}"
        if self.auth_type == "certificate":
            if not self.certificates:
                return "certificate auth with an empty certificate list"
            parts = [
                f"{cert.thumbprint} ({'active' if cert.is_active else 'inactive'}, "
                f"until {cert.not_after:%Y-%m-%d})"
                for cert in self.certificates
            ]
            return "certificate " + ", ".join(parts)
        return f"authentication type {self.auth_type!r}"


@dataclass(frozen=True)
class RotationRequest:
    """What a trigger asks for: which connectors, and how."""

    connector_ids: tuple[str, ...] = ()  # empty: every configured target
    force: bool = False
    dry_run: bool = False
    version: str | None = None  # pin a Key Vault version (roll back); needs exactly one connector
    reason: str | None = None
    trigger: str = "cli"
    requested_by: str | None = None
    skip_probe: bool = False  # an emergency: switch without asking the API (needs force + reason)


class Verdict(StrEnum):
    """What the connector's API said about a credential."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ProbeResult:
    """The probe of one credential against the connector's API (only the status is kept)."""

    url: str | None  # without query or fragment (they may hold a key)
    verdict: Verdict
    status: int | None = None
    attempts: int = 0
    seconds: float = 0.0
    detail: str | None = None  # why, in words (a TLS alert, no answer, a redirect)
    evidence: str | None = None  # what decided the verdict (``probe_verdict.Evidence``)
    control: Mapping[str, Any] | None = None  # the control request's answer, when one was sent

    def to_json(self) -> dict[str, Any]:
        """``{"url", "verdict", "status", "attempts", "seconds", "evidence"}`` and, when a
        control request was sent, ``"control": {"answer", "status"}``."""
        data: dict[str, Any] = {
            "url": self.url,
            "verdict": self.verdict.value,
            "status": self.status,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "evidence": self.evidence,
        }
        if self.control is not None:
            data["control"] = dict(self.control)
        return data


@dataclass(frozen=True)
class TargetOutcome:
    """The result of one target in one run; safe to log and to show (holds no secret)."""

    connector_id: str
    kind: CredentialKind
    outcome: Outcome
    key_vault_object: str
    key_vault_version: str | None = None
    thumbprint: str | None = None
    not_after: dt.datetime | None = None
    expires_on: dt.datetime | None = None  # of the Key Vault version chosen (both kinds)
    reason: str | None = None
    request_id: str | None = None
    graph_status: int | None = None
    unverified: bool = False  # failed after a write that may have landed; the next run repairs
    probe: ProbeResult | None = None  # where a probe ran or was skipped
    lease_stuck: bool = False  # another caller's lease outlived any run: nothing can rotate
    identity: str = "default"  # the Graph identity the connector was reached with
    tenant_id: str | None = None  # that identity's tenant, when configured
    deferred_until: dt.datetime | None = None  # a probed certificate waits for this notBefore

    def to_json(self) -> dict[str, Any]:
        """The camelCase JSON object of ``--json`` and the HTTP trigger."""
        data: dict[str, Any] = {
            "connectorId": self.connector_id,
            "kind": self.kind.value,
            "outcome": self.outcome.value,
            "keyVaultObject": self.key_vault_object,
            "keyVaultVersion": self.key_vault_version,
            "identity": self.identity,
            "tenantId": self.tenant_id,
        }
        if self.kind is CredentialKind.CERTIFICATE:
            data["thumbprint"] = self.thumbprint
            data["notAfter"] = _iso(self.not_after)
        data["expiresOn"] = _iso(self.expires_on)
        if self.reason is not None:
            data["reason"] = self.reason
        if self.request_id is not None:
            data["requestId"] = self.request_id
        if self.graph_status is not None:
            data["graphStatus"] = self.graph_status
        if self.unverified:
            data["unverified"] = True
        if self.probe is not None:
            data["probe"] = self.probe.to_json()
        if self.lease_stuck:
            data["leaseStuck"] = True
        if self.deferred_until is not None:
            data["deferredUntil"] = _iso(self.deferred_until)
        return data


@dataclass(frozen=True)
class RotationReport:
    """One outcome per target of a run, plus what triggered it."""

    outcomes: tuple[TargetOutcome, ...]
    trigger: str = "cli"
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """True when every target was rotated, up to date or a dry run."""
        return all(o.outcome.ok for o in self.outcomes)

    @property
    def counts(self) -> dict[str, int]:
        """How many targets ended in each outcome (every outcome listed, zeros included)."""
        seen = Counter(o.outcome for o in self.outcomes)
        return {outcome.value: seen.get(outcome, 0) for outcome in Outcome}

    def to_json(self) -> dict[str, Any]:
        """The JSON document of ``rotate --json``: ``{"outcomes": [...], ...}``."""
        return {
            "outcomes": [o.to_json() for o in self.outcomes],
            "counts": self.counts,
            "trigger": self.trigger,
            "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at),
        }


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

    def to_json(self) -> dict[str, Any]:
        """The camelCase JSON object of ``status --json`` and the status function
        (``deferredUntil`` only when a certificate waits)."""
        data = {
            "connectorId": self.connector_id,
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
            "expiresOn": _iso(self.expires_on),
            "daysToExpiry": self.days_to_expiry,
            "error": self.error,
            "identity": self.identity,
            "tenantId": self.tenant_id,
        }
        if self.deferred_until is not None:
            data["deferredUntil"] = _iso(self.deferred_until)
        return data


@dataclass(frozen=True)
class StatusReport:
    """The status of every requested target."""

    targets: tuple[TargetStatus, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when every target is in sync and could be read."""
        return all(t.in_sync and t.error is None for t in self.targets)

    def to_json(self) -> dict[str, Any]:
        """``{"targets": [...]}``."""
        return {"targets": [t.to_json() for t in self.targets]}


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
