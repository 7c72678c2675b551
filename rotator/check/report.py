"""The preflight's report (``rotator check``): identities seen, findings with their fixes, and
per target what a rotation would do; camelCase ``to_json()`` for ``--json`` and HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Plan(StrEnum):
    """What a rotation would do with a target right now."""

    UP_TO_DATE = "up-to-date"
    ROTATE = "rotate"
    REFUSE = "refuse"  # the credential in Key Vault fails validation: a rotation would refuse it
    FAIL = "fail"  # a call failed (access, not found, token): a rotation would fail

    @property
    def ok(self) -> bool:
        """True when a rotation would go through cleanly (or has nothing to do)."""
        return self in (Plan.UP_TO_DATE, Plan.ROTATE)


@dataclass(frozen=True)
class Identity:
    """Who a service saw: claims of the access token rotator got for it (the token is not kept)."""

    service: str  # "graph" or "keyvault"
    credential: str  # the ROTATOR_GRAPH_CREDENTIAL mode; Key Vault always uses "default"
    scope: str
    tenant_id: str | None = None
    object_id: str | None = None
    app_id: str | None = None
    identity_type: str | None = None  # the idtyp claim: "app" or "user"
    user: str | None = None  # delegated tokens (az login): upn / unique_name
    audience: str | None = None
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    source: str | None = None  # client modes: the Key Vault version of the app's credential

    @classmethod
    def from_token(
        cls, service: str, credential: str, scope: str, claims: dict[str, Any]
    ) -> Identity:
        """Describe the token's claims."""
        return cls(
            service=service,
            credential=credential,
            scope=scope,
            tenant_id=_text(claims.get("tid")),
            object_id=_text(claims.get("oid")),
            app_id=_text(claims.get("appid") or claims.get("azp")),
            identity_type=_text(claims.get("idtyp")) or ("user" if claims.get("scp") else None),
            user=_text(claims.get("upn") or claims.get("unique_name")),
            audience=_text(claims.get("aud")),
            roles=tuple(str(r) for r in claims.get("roles") or ()),
            scopes=tuple(str(claims.get("scp") or "").split()),
        )

    def describe(self) -> str:
        """E.g. ``app 1b2c… (object 9f8e…) in tenant 72f9…``."""
        who = f"user {self.user}" if self.user else f"{self.identity_type or 'app'} {self.app_id}"
        return f"{who} (object {self.object_id}) in tenant {self.tenant_id}"

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON, no token."""
        return {
            "service": self.service,
            "credential": self.credential,
            "scope": self.scope,
            "tenantId": self.tenant_id,
            "objectId": self.object_id,
            "appId": self.app_id,
            "identityType": self.identity_type,
            "user": self.user,
            "audience": self.audience,
            "roles": list(self.roles),
            "scopes": list(self.scopes),
            "source": self.source,
        }


@dataclass(frozen=True)
class Finding:
    """One thing checked: it passed, or it failed and ``fix`` says what to do."""

    check: str  # a stable name, e.g. "graph.permission", "keyvault.value"
    ok: bool
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON."""
        return {"check": self.check, "ok": self.ok, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class TargetCheck:
    """Everything checked for one target, and what a rotation would do with it."""

    connector_id: str
    kind: str
    key_vault_url: str
    key_vault_object: str
    findings: tuple[Finding, ...]
    plan: Plan
    plan_detail: str
    version: str | None = None  # the Key Vault version a rotation would install (or holds)
    thumbprint: str | None = None
    connector_auth: str | None = None  # "certificate", "basic" or Graph's raw type
    connector: str | None = None  # what Graph holds, described
    connector_expires_on: dt.datetime | None = None  # the active certificate's notAfter
    target_kind: str = "connector"  # "policyKey": connector_id is the key set id

    @property
    def ok(self) -> bool:
        """True when every finding passed and a rotation would go through (or is not needed)."""
        return self.plan.ok and all(f.ok for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON (a policy key: ``targetKind`` and ``keySet`` for ``connectorId``)."""
        named = (
            {"targetKind": self.target_kind, "keySet": self.connector_id}
            if self.target_kind == "policyKey"
            else {"connectorId": self.connector_id}
        )
        return {
            **named,
            "kind": self.kind,
            "keyVaultUrl": self.key_vault_url,
            "keyVaultObject": self.key_vault_object,
            "ok": self.ok,
            "plan": self.plan.value,
            "planDetail": self.plan_detail,
            "keyVaultVersion": self.version,
            "thumbprint": self.thumbprint,
            "connectorAuthentication": self.connector_auth,
            "connector": self.connector,
            "connectorExpiresOn": _iso(self.connector_expires_on),
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class IdentityCheck:
    """One configured Graph identity as Graph saw it: tenant, app, permission, credential expiry."""

    name: str
    tenant_id: str | None
    credential: str
    identity: Identity | None
    findings: tuple[Finding, ...]
    credential_expires_on: dt.datetime | None = None  # client modes: the app's credential

    @property
    def ok(self) -> bool:
        """True when a token was had and carries the permission."""
        return all(f.ok for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON."""
        return {
            "name": self.name,
            "tenantId": self.tenant_id,
            "credential": self.credential,
            "identity": self.identity.to_json() if self.identity else None,
            "credentialExpiresOn": _iso(self.credential_expires_on),
            "findings": [f.to_json() for f in self.findings],
            "ok": self.ok,
        }


@dataclass(frozen=True)
class CheckReport:
    """The preflight of every requested target; ``ok`` only when all of them would rotate cleanly.

    ``graph_identity`` / ``graph_findings`` are the first identity's (the only one unless
    ``identities`` is configured); ``identities`` has every identity the targets use.
    """

    graph_identity: Identity | None
    keyvault_identity: Identity | None
    graph_findings: tuple[Finding, ...]
    targets: tuple[TargetCheck, ...]
    checked_at: dt.datetime | None = None
    identities: tuple[IdentityCheck, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every Graph identity is usable and every target is ready."""
        return (
            all(f.ok for f in self.graph_findings)
            and all(i.ok for i in self.identities)
            and all(t.ok for t in self.targets)
        )

    def to_json(self) -> dict[str, Any]:
        """The document of ``check --json``."""
        return {
            "ok": self.ok,
            "checkedAt": _iso(self.checked_at),
            "graph": {
                "identity": self.graph_identity.to_json() if self.graph_identity else None,
                "findings": [f.to_json() for f in self.graph_findings],
            },
            "keyVault": {
                "identity": self.keyvault_identity.to_json() if self.keyvault_identity else None
            },
            "identities": [i.to_json() for i in self.identities],
            "targets": [t.to_json() for t in self.targets],
        }


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
