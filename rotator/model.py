"""The vocabulary of rotator as plain frozen dataclasses: targets, versions, outcomes, reports."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from rotator.text import compact_json

# B2C's sign-up call, minimal (learn: "Add an API connector to a sign-up user flow", examples).
DEFAULT_BODY: Mapping[str, Any] = {
    "step": "PostAttributeCollection",
    "client_id": "00000000-0000-0000-0000-000000000000",
    "ui_locales": "en-US",
    "email": "rotator-probe@example.invalid",
}
DEFAULT_REJECT_STATUS = (401, 403)


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


class CredentialKind(StrEnum):
    """What a target authenticates with (``secret``: a policy key's password or API key)."""

    CERTIFICATE = "certificate"
    BASIC = "basic"
    SECRET = "secret"  # noqa: S105 - a kind of credential, not one


class TargetKind(StrEnum):
    """The two kinds of rotation target: an API connector, or a B2C policy key set."""

    CONNECTOR = "connector"
    POLICY_KEY = "policyKey"


NAME_KEY = {TargetKind.CONNECTOR: "connectorId", TargetKind.POLICY_KEY: "keySet"}  # in JSON


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
        return self not in (Outcome.REFUSED, Outcome.FAILED)  # deferred and skipped are ok


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
    target_kind: ClassVar[TargetKind] = TargetKind.CONNECTOR

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
    target_kind: ClassVar[TargetKind] = TargetKind.CONNECTOR

    @property
    def key_vault_object(self) -> str:
        """The name of the Key Vault object this target follows."""
        return self.password_secret


Target = CertificateTarget | BasicTarget


@dataclass(frozen=True)
class PolicyKeyTarget:
    """A B2C policy key set kept on the newest Key Vault certificate or secret (append-only)."""

    key_set: str
    key_vault_url: str
    key_vault_object: str
    kind: CredentialKind  # CERTIFICATE (uploadPkcs12) or SECRET (uploadSecret)
    probe: ProbeConfig | None = None
    identity: str = "default"
    username: str | None = None  # a password secret: the probe sends it beside the new one
    api_key_header: str | None = None  # an API-key secret: the probe sends it in this header
    target_kind: ClassVar[TargetKind] = TargetKind.POLICY_KEY


AnyTarget = Target | PolicyKeyTarget


def target_name(target: AnyTarget) -> str:
    """How reports name a target: its connector id, or its key set id."""
    return target.key_set if isinstance(target, PolicyKeyTarget) else target.connector_id


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
        if self.auth_type != "certificate":
            return f"authentication type {self.auth_type!r}"
        if not self.certificates:
            return "certificate auth with an empty certificate list"
        return "certificate " + ", ".join(
            f"{c.thumbprint} ({'active' if c.is_active else 'inactive'}, until {c.not_after:%Y-%m-%d})"
            for c in self.certificates
        )


@dataclass(frozen=True)
class RotationRequest:
    """What a trigger asks for: which connectors, and how."""

    connector_ids: tuple[str, ...] = ()  # empty (and no key_sets): every configured target
    force: bool = False
    dry_run: bool = False
    version: str | None = None  # pin a Key Vault version (roll back); needs exactly one connector
    reason: str | None = None
    trigger: str = "cli"
    requested_by: str | None = None
    skip_probe: bool = False  # an emergency: switch without asking the API (needs force + reason)
    key_sets: tuple[str, ...] = ()  # policy keys named (with connector_ids: both kinds named)
    # who Graph sees asking, per Graph identity (the CLI: from the token it holds); None: nobody
    requester: Callable[[str], str | None] | None = field(default=None, compare=False, repr=False)

    def asking(self, identity: str) -> str | None:
        """Who asked, as a history line of a target of Graph identity ``identity`` records it:
        the ``requester``'s name for it, else ``requested_by``."""
        return (self.requester(identity) if self.requester else None) or self.requested_by


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
    target_kind: TargetKind = TargetKind.CONNECTOR  # policyKey: connector_id is the key set id
    key_id: str | None = None  # policy keys: the kid of the key written or found active
    display_name: str | None = None  # Graph's displayName, once the run read it; a key set's id

    def to_json(self) -> dict[str, Any]:
        """The camelCase JSON object of ``--json`` and the HTTP trigger."""
        data: dict[str, Any] = {
            "targetKind": self.target_kind.value,
            NAME_KEY[self.target_kind]: self.connector_id,
            "displayName": self.display_name,
            "kind": self.kind.value,
            "outcome": self.outcome.value,
            "keyVaultObject": self.key_vault_object,
            "keyVaultVersion": self.key_vault_version,
            "identity": self.identity,
            "tenantId": self.tenant_id,
        }
        if self.kind is CredentialKind.CERTIFICATE:
            data["thumbprint"] = self.thumbprint
            data["notAfter"] = iso(self.not_after)
        data["expiresOn"] = iso(self.expires_on)
        optional = {
            "reason": self.reason,
            "requestId": self.request_id,
            "graphStatus": self.graph_status,
            "unverified": self.unverified or None,
            "probe": self.probe.to_json() if self.probe is not None else None,
            "leaseStuck": self.lease_stuck or None,
            "deferredUntil": iso(self.deferred_until),
            "kid": self.key_id,
        }
        data.update((key, value) for key, value in optional.items() if value is not None)
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
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
        }


def iso(value: dt.datetime | None) -> str | None:
    """``value`` as ISO 8601 UTC with a ``Z`` (None stays None), as every JSON form writes it."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
