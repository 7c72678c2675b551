"""Preflight for an operator after deployment (``rotator check``): can every target rotate?

Reads only: no PATCH or POST to Graph, no state written, no secret value or token printed.
Reports which identity (tenant, object, app, token type) Graph and Key Vault saw, decoded from
the access tokens rotator obtained (unverified: they are only described, never trusted); then
per target whether the Key Vault object's versions can be listed and the version a rotation
would install can be read and passes validation; whether the connector can be read, how it
authenticates and when its certificate expires; and what a rotation would do now. Every failure
names the fix: the role on the vault, the Graph permission, or the setting.

:func:`run_check` returns a frozen :class:`CheckReport` (``to_json()`` for ``--json`` and the
HTTP status function); :func:`render_check` is the human form.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from rotator import policy
from rotator.credentials import (
    KeyVaultAppCredential,
    VaultReader,
    default_credential,
    graph_credential,
    keyvault_factory,
    read_certificate,
    read_secret,
)
from rotator.errors import (
    ConfigurationError,
    CredentialError,
    GraphError,
    KeyVaultError,
    RotatorError,
    one_line,
)
from rotator.graph import PERMISSION
from rotator.model import (
    CertificateTarget,
    ConnectorState,
    InstallMode,
    StatusReport,
    Target,
    TargetStatus,
    VersionInfo,
)
from rotator.settings import (
    ENV_AUTHORITY_HOST,
    ENV_CONFIG,
    ENV_GRAPH_CREDENTIAL,
    ENV_GRAPH_ENDPOINT,
    GraphCredentialMode,
    Settings,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.graph import GraphConnectorClient
    from rotator.keyvault import KeyVaultClient, SecretValue

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's well-known app id
_ROLE = {"certificates": "Key Vault Certificate User", "secrets": "Key Vault Secrets User"}


def utcnow() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


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

    @property
    def ok(self) -> bool:
        """True when every finding passed and a rotation would go through (or is not needed)."""
        return self.plan.ok and all(f.ok for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON."""
        return {
            "connectorId": self.connector_id,
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
class CheckReport:
    """The preflight of every requested target; ``ok`` only when all of them would rotate cleanly."""

    graph_identity: Identity | None
    keyvault_identity: Identity | None
    graph_findings: tuple[Finding, ...]
    targets: tuple[TargetCheck, ...]
    checked_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """True when the Graph identity is usable and every target is ready."""
        return all(f.ok for f in self.graph_findings) and all(t.ok for t in self.targets)

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
            "targets": [t.to_json() for t in self.targets],
        }


# -- running the check ---------------------------------------------------------------------


def run_check(
    settings: Settings,
    *,
    connector_ids: Sequence[str] = (),
    credential: TokenCredential | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> CheckReport:
    """Check the Graph identity, then every requested target (all by default). Writes nothing.

    ``credential`` replaces the default chain (Key Vault, and Graph in ``default`` mode).

    Raises:
        ConfigurationError: a named connector is not configured.
    """
    from rotator.graph import GraphConnectorClient
    from rotator.rotation import Rotator, state_store_from_settings

    ca = str(settings.ca_bundle) if settings.ca_bundle else None
    created = None if credential else default_credential(settings)
    default = _Recorder(credential or created)  # type: ignore[arg-type]
    vaults = _Vaults(keyvault_factory(settings, default, retry_total=1))
    app_or_default = graph_credential(settings, default, vaults)
    graph_tokens = _Recorder(app_or_default)
    graph = GraphConnectorClient(
        settings.graph_endpoint,
        graph_tokens,
        api_version=settings.graph_api_version,
        verify=ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context(),
        max_attempts=2,
    )
    store = state_store_from_settings(settings, default)
    try:
        checker = _Checker(
            settings,
            graph=graph,
            vaults=vaults,
            default=default,
            graph_tokens=graph_tokens,
            app=app_or_default if isinstance(app_or_default, KeyVaultAppCredential) else None,
            clock=clock,
        )
        rotator = Rotator(settings, graph=graph, keyvault=vaults, state_store=store, clock=clock)
        targets = rotator.select(connector_ids)
        graph_identity, graph_findings = checker.graph_identity()
        results = tuple(checker.target(t, rotator.status, graph_findings) for t in targets)
        return CheckReport(
            graph_identity=graph_identity,
            keyvault_identity=checker.keyvault_identity(),
            graph_findings=graph_findings,
            targets=results,
            checked_at=clock(),
        )
    finally:
        graph.close()
        vaults.close()
        if isinstance(app_or_default, KeyVaultAppCredential):
            app_or_default.close()
        store.close()
        if created is not None and hasattr(created, "close"):
            created.close()


class _Checker:
    """The checks themselves, over clients built by :func:`run_check`."""

    def __init__(
        self,
        settings: Settings,
        *,
        graph: GraphConnectorClient,
        vaults: _Vaults,
        default: _Recorder,
        graph_tokens: _Recorder,
        app: KeyVaultAppCredential | None,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.settings = settings
        self.graph = graph
        self.vaults = vaults
        self.default = default
        self.graph_tokens = graph_tokens
        self.app = app
        self.clock = clock
        self.mode = settings.graph_credential.value

    # -- identities ----------------------------------------------------------------------------

    def graph_identity(self) -> tuple[Identity | None, tuple[Finding, ...]]:
        scope = self.settings.graph_scope
        source = None
        if self.app is not None:
            try:
                source = self.app.resolve().describe()
            except RotatorError as exc:
                return None, (self._app_failure(exc),)
        try:
            self.graph_tokens.get_token(scope)
        except (ClientAuthenticationError, ValueError) as exc:
            if self.app is not None and self.app.last_fix:
                return None, (self._app_failure(exc),)
            detail = f"cannot get a token for {scope}: {one_line(getattr(exc, 'message', exc))}"
            return None, (Finding("graph.token", False, detail, self._token_fix()),)
        claims = self.graph_tokens.claims(scope)
        identity = Identity.from_token("graph", self.mode, scope, claims)
        identity = _with_source(identity, source)
        findings = [
            Finding("graph.token", True, f"a token for {scope}"),
            self._graph_audience(identity),
            self._graph_permission(identity),
        ]
        return identity, tuple(findings)

    def keyvault_identity(self) -> Identity | None:
        for scope, claims in self.default.all_claims():
            if scope != self.settings.graph_scope:
                return Identity.from_token("keyvault", "default", scope, claims)
        return None

    def _graph_audience(self, identity: Identity) -> Finding:
        endpoint = self.settings.graph_endpoint
        expected = {endpoint, f"{endpoint}/", GRAPH_APP_ID}
        if identity.audience in expected:
            return Finding("graph.audience", True, f"audience {identity.audience}")
        return Finding(
            "graph.audience",
            False,
            f"the token asked for {identity.scope} came back for audience "
            f"{identity.audience!r}, which Graph at {endpoint} refuses",
            f"set {ENV_GRAPH_ENDPOINT} to the Graph root of the identity's cloud "
            "(https://graph.microsoft.com, https://graph.microsoft.us, "
            "https://microsoftgraph.chinacloudapi.cn) and check that the token service "
            f"({ENV_AUTHORITY_HOST} or the managed identity endpoint) belongs to that cloud",
        )

    def _graph_permission(self, identity: Identity) -> Finding:
        if PERMISSION in identity.roles:
            return Finding("graph.permission", True, f"{PERMISSION} (application permission)")
        if PERMISSION in identity.scopes:
            return Finding(
                "graph.permission",
                True,
                f"{PERMISSION} (delegated: the signed-in user also needs the External ID User "
                "Flow Administrator role)",
            )
        held = ", ".join(identity.roles or identity.scopes) or "none"
        return Finding(
            "graph.permission",
            False,
            f"the Graph token carries no {PERMISSION} (permissions: {held})",
            f"grant {identity.describe()} the Microsoft Graph application permission "
            f"{PERMISSION} and give admin consent",
        )

    def _app_failure(self, exc: Exception) -> Finding:
        """The app credential could not be read or was refused; its own fix, split off."""
        assert self.app is not None
        message = str(getattr(exc, "message", None) or exc)
        fix = self.app.last_fix or "see the message"
        detail = message.removesuffix(f"; {fix}")
        if isinstance(exc, KeyVaultError) and exc.status == 403:
            kind = "certificates" if _ROLE["certificates"] in message else "secrets"
            fix = self._role_fix(kind, self.settings.graph_key_vault_url or "")
        return Finding("graph.token", False, detail, fix)

    def _token_fix(self) -> str:
        if self.settings.graph_credential is GraphCredentialMode.DEFAULT:
            return (
                f"the default chain found no working identity: in Azure enable the Function's "
                f"managed identity; for a B2C tenant set {ENV_GRAPH_CREDENTIAL}=client-certificate"
            )
        return "the message says what Entra refused and what to change"

    def _role_fix(self, kind: str, vault_url: str, *, backing_secret: bool = False) -> str:
        identity = self.keyvault_identity()
        who = identity.describe() if identity else "the identity rotator runs as"
        why = " (a certificate's private key is read from its backing secret)"
        return f"grant {who} the '{_ROLE[kind]}' role on the vault {vault_url}" + (
            why if backing_secret else ""
        )

    # -- targets ------------------------------------------------------------------------------

    def target(
        self,
        target: Target,
        status: Callable[[Sequence[str]], StatusReport],
        graph_findings: Sequence[Finding],
    ) -> TargetCheck:
        findings: list[Finding] = []
        is_cert = isinstance(target, CertificateTarget)
        kind = "certificates" if is_cert else "secrets"
        base: dict[str, Any] = {
            "connector_id": target.connector_id,
            "kind": target.kind.value,
            "key_vault_url": target.key_vault_url,
            "key_vault_object": target.key_vault_object,
        }
        vault = self.vaults(target.key_vault_url)
        listed = self._list(vault, target, kind, findings)
        connector = self._connector(target, findings, graph_findings)
        if listed is None or connector is None:
            return TargetCheck(
                **base, findings=tuple(findings), plan=Plan.FAIL, plan_detail=_failed(findings)
            )
        report: TargetStatus = status([target.connector_id]).targets[0]
        version = report.target_version
        expires = connector.active_certificate.not_after if connector.active_certificate else None
        described: dict[str, Any] = {
            "connector_auth": connector.auth_type,
            "connector": connector.describe(),
            "connector_expires_on": expires,
            "version": version,
            "thumbprint": report.target_thumbprint,
        }
        if report.in_sync is None:  # the state store or Graph failed, not Key Vault's content
            why = report.error or "the status could not be determined"
            fix = "fix the cause in this message (state store access, Graph) and run check again"
            findings.append(Finding("rotation.status", False, why, fix))
            return TargetCheck(
                **base,
                **described,
                findings=tuple(findings),
                plan=Plan.FAIL,
                plan_detail=_failed(findings),
            )
        if version is None:
            why = report.error or "no usable version"
            findings.append(Finding("keyvault.version", False, why, self._version_fix(target)))
            return TargetCheck(
                **base,
                **described,
                findings=tuple(findings),
                plan=Plan.REFUSE,
                plan_detail=f"would refuse: {why}",
            )
        pinned = f" (pinned: {report.pinned_version})" if report.pinned_version else ""
        findings.append(Finding("keyvault.version", True, f"a rotation installs {version}{pinned}"))
        single = _OneVersion(vault, [v for v in listed if v.version == version])
        plan, detail = self._read_value(single, target, version, connector, findings, report)
        return TargetCheck(
            **base, **described, findings=tuple(findings), plan=plan, plan_detail=detail
        )

    def _list(
        self, vault: KeyVaultClient, target: Target, kind: str, findings: list[Finding]
    ) -> list[VersionInfo] | None:
        name = target.key_vault_object
        try:
            if isinstance(target, CertificateTarget):
                versions = vault.list_certificate_versions(name)
            else:
                versions = vault.list_secret_versions(name)
        except KeyVaultError as exc:
            findings.append(
                Finding("keyvault.versions", False, str(exc), self._vault_fix(exc, target, kind))
            )
            return None
        except ConfigurationError as exc:
            findings.append(Finding("keyvault.versions", False, str(exc), "see the message"))
            return None
        if not versions:
            findings.append(
                Finding(
                    "keyvault.versions",
                    False,
                    f"Key Vault {kind[:-1]} '{name}' was not found in {target.key_vault_url}",
                    f"create it, or correct its name or keyVaultUrl in {ENV_CONFIG}",
                )
            )
            return None
        usable = sum(policy.unusable_reason(v, self.clock()) is None for v in versions)
        findings.append(
            Finding("keyvault.versions", True, f"{len(versions)} version(s), {usable} usable")
        )
        return versions

    def _connector(
        self, target: Target, findings: list[Finding], graph_findings: Sequence[Finding]
    ) -> ConnectorState | None:
        try:
            connector = self.graph.get_connector(target.connector_id)
        except GraphError as exc:
            token = next((f for f in graph_findings if f.check == "graph.token"), None)
            if exc.status is None and token is not None and not token.ok:
                findings.append(
                    Finding("graph.connector", False, "no Microsoft Graph token", "see graph.token")
                )
            else:
                findings.append(
                    Finding(
                        "graph.connector", False, str(exc), self._graph_fix(exc, graph_findings)
                    )
                )
            return None
        expiry = ""
        if connector.active_certificate:
            expiry = (
                f"; active certificate expires {connector.active_certificate.not_after:%Y-%m-%d}"
            )
        findings.append(
            Finding(
                "graph.connector",
                True,
                f"{connector.display_name or target.connector_id}: {connector.describe()}{expiry}",
            )
        )
        return connector

    def _read_value(
        self,
        single: _OneVersion,
        target: Target,
        version: str,
        connector: ConnectorState,
        findings: list[Finding],
        report: TargetStatus,
    ) -> tuple[Plan, str]:
        """Read and validate the value a rotation would install; then say what it would do."""
        now = self.clock()
        source = f"{target.kind.value} '{target.key_vault_object}' in {target.key_vault_url}"
        try:
            if isinstance(target, CertificateTarget):
                _, bundle = read_certificate(single, target.certificate, now=now, source=source)
                key_bits = bundle.private_key.key_size
                findings.append(
                    Finding(
                        "keyvault.value",
                        True,
                        f"backing secret readable: exportable RSA {key_bits}-bit key, certificate "
                        f"{bundle.thumbprint} valid until {bundle.not_after:%Y-%m-%d}",
                    )
                )
            else:
                read_secret(single, target.password_secret, now=now, source=source)
                findings.append(Finding("keyvault.value", True, "secret readable and not empty"))
        except KeyVaultError as exc:
            findings.append(
                Finding("keyvault.value", False, str(exc), self._vault_fix(exc, target, "secrets"))
            )
            return Plan.FAIL, _failed(findings)
        except CredentialError as exc:
            findings.append(Finding("keyvault.value", False, str(exc), self._version_fix(target)))
            return Plan.REFUSE, f"would refuse: {exc}"
        if report.in_sync:
            return Plan.UP_TO_DATE, f"up-to-date: the connector holds version {version}"
        if isinstance(target, CertificateTarget):
            try:
                policy.check_not_shorter(
                    connector, bundle.not_after, source=f"{source} version {version}"
                )
            except CredentialError as exc:
                fix = "add a version that expires later, or install this one with rotate --force"
                findings.append(Finding("rotation.policy", False, str(exc), fix))
                return Plan.REFUSE, f"would refuse: {exc}"
        if isinstance(target, CertificateTarget):
            verb = "add it beside" if target.mode is InstallMode.OVERLAP else "replace"
            what = f"{verb} {connector.describe()}"
        else:
            what = f"set basic auth for {target.username!r} (Graph holds {connector.describe()})"
        thumbprint = f" ({report.target_thumbprint})" if report.target_thumbprint else ""
        return Plan.ROTATE, f"would rotate to version {version}{thumbprint}: {what}"

    # -- fixes --------------------------------------------------------------------------------

    def _vault_fix(self, exc: KeyVaultError, target: Target, kind: str) -> str:
        url, name = target.key_vault_url, target.key_vault_object
        if exc.status == 403 and exc.code in ("SecretDisabled", "CertificateDisabled"):
            return f"enable the version in Key Vault, or add a new one to {kind[:-1]} '{name}'"
        if exc.status == 403:
            backing = kind == "secrets" and isinstance(target, CertificateTarget)
            return self._role_fix(kind, url, backing_secret=backing)
        if exc.status == 404:
            return f"create {kind[:-1]} '{name}' in {url}, or correct its name in {ENV_CONFIG}"
        if exc.status == 401:
            return (
                f"the vault refused the token: the identity must be in the vault's tenant and get "
                f"tokens for Key Vault ({', '.join(self._kv_audiences())})"
            )
        return f"check the vault URL {url} and this host's network access to it"

    def _graph_fix(self, exc: GraphError, graph_findings: Sequence[Finding]) -> str:
        failed = next((f for f in graph_findings if not f.ok and f.fix), None)
        if exc.status is None and failed is not None:
            return failed.fix or ""
        scope = self.settings.graph_scope
        claims = self.graph_tokens.claims(scope)
        tenant = claims.get("tid", "?")
        if exc.status == 403:
            who = Identity.from_token("graph", self.mode, scope, claims).describe()
            return (
                f"grant {who} the Microsoft Graph application permission {PERMISSION} and give "
                "admin consent"
            )
        if exc.status == 404:
            return (
                f"check the connector id in {ENV_CONFIG}: tenant {tenant} has no such connector "
                f"(for a B2C tenant, {ENV_GRAPH_CREDENTIAL} must use an app registered there)"
            )
        if exc.status == 401:
            return (
                failed.fix
                if failed and failed.fix
                else (
                    f"Graph refused the token: check {ENV_GRAPH_ENDPOINT} and {ENV_GRAPH_CREDENTIAL}"
                )
            )
        return failed.fix if failed and failed.fix else "check network access to Graph"

    def _version_fix(self, target: Target) -> str:
        what = "certificate" if isinstance(target, CertificateTarget) else "secret"
        return (
            f"add a valid version of {what} '{target.key_vault_object}' in "
            f"{target.key_vault_url} (enabled, within its dates"
            + (", exportable RSA key of 2048 bits or more" if what == "certificate" else "")
            + ")"
        )

    def _kv_audiences(self) -> list[str]:
        return sorted(
            {s.removesuffix("/.default") for s, _ in self.default.all_claims()}
            - {self.settings.graph_endpoint}
        ) or ["https://vault.azure.net"]


# -- plumbing ----------------------------------------------------------------------------------


class _Recorder:
    """A TokenCredential that passes tokens through and keeps only their decoded claims."""

    def __init__(self, inner: TokenCredential) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._claims: dict[str, dict[str, Any]] = {}

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = self._inner.get_token(*scopes, **kwargs)
        with self._lock:
            self._claims[" ".join(scopes)] = decode_claims(token.token)
        return token

    def claims(self, scope: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._claims.get(scope, {}))

    def all_claims(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(scope, dict(claims)) for scope, claims in self._claims.items()]

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class _Vaults:
    """One KeyVaultClient per vault URL, shared by the checks and the Rotator's status."""

    def __init__(self, factory: Callable[[str], KeyVaultClient]) -> None:
        self._factory = factory
        self._clients: dict[str, KeyVaultClient] = {}

    def __call__(self, url: str) -> KeyVaultClient:
        if url not in self._clients:  # the check runs its targets one after the other
            self._clients[url] = self._factory(url)
        return self._clients[url]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


@dataclass
class _OneVersion:
    """A vault seen through the version a rotation would install (it may be a pin, not the
    newest), with the versions already listed, so the value is read without listing again."""

    vault: VaultReader
    versions: list[VersionInfo]
    vault_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.vault_url = self.vault.vault_url

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        return self.versions

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        return self.versions

    def get_secret(self, name: str, version: str) -> SecretValue:
        return self.vault.get_secret(name, version)


def decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without verification ({} when it is not a JWT)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return payload if isinstance(payload, dict) else {}


def _failed(findings: Sequence[Finding]) -> str:
    first = next((f for f in findings if not f.ok), None)
    return f"would fail: {first.check} failed (fix above)" if first else "would fail"


def _with_source(identity: Identity, source: str | None) -> Identity:
    return replace(identity, source=source) if source else identity


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


# -- human output ------------------------------------------------------------------------------


def render_check(report: CheckReport) -> str:
    """The human form: identities, then one block per target, then a summary line."""
    lines: list[str] = []
    graph = report.graph_identity
    lines.append(
        f"graph identity     {graph.credential}: {graph.describe()}"
        if graph
        else "graph identity     UNKNOWN"
    )
    if graph and graph.source:
        lines.append(f"                   from {graph.source}")
    kv = report.keyvault_identity
    lines.append(
        f"key vault identity default: {kv.describe()}"
        if kv
        else "key vault identity (no token obtained)"
    )
    lines.extend(_finding_lines(report.graph_findings))
    for target in report.targets:
        lines.append("")
        mark = "ready" if target.ok else "NOT READY"
        lines.append(
            f"{mark:<10} {target.connector_id}  ({target.kind}: {target.key_vault_object} in "
            f"{target.key_vault_url})"
        )
        lines.extend(_finding_lines(target.findings))
        lines.append(f"  plan  {target.plan_detail}")
    ready = sum(t.ok for t in report.targets)
    lines.append("")
    lines.append(
        f"{len(report.targets)} target(s): {ready} ready, {len(report.targets) - ready} not ready"
        + ("" if all(f.ok for f in report.graph_findings) else "; the Graph identity is not usable")
    )
    return "\n".join(lines) + "\n"


def _finding_lines(findings: Sequence[Finding]) -> list[str]:
    lines: list[str] = []
    for finding in findings:
        lines.append(f"  {'ok' if finding.ok else 'FAIL':<4}  {finding.check:<18} {finding.detail}")
        if finding.fix:
            lines.append(f"        {'fix':<18} {finding.fix}")
    return lines
