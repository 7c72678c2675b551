"""Preflight for an operator after deployment (``rotator check``): can every target rotate?

Reads only: no PATCH or POST to Graph, no state written, no secret value or token printed.
Reports which identity (tenant, object, app, token type) Graph and Key Vault saw, decoded from
the access tokens rotator obtained (unverified: they are only described, never trusted); then
per target whether the Key Vault object's versions can be listed and the version a rotation
would install can be read and passes validation; whether the connector can be read, how it
authenticates and when its certificate expires; and what a rotation would do now. Every failure
names the fix: the role on the vault, the Graph permission, or the setting.

:func:`run_check` returns a frozen :class:`CheckReport` (``check_report.py``; ``to_json()`` for
``--json`` and the HTTP status function); ``render.render_check`` is the human form. The fixes
are in ``check_fixes.py``, the identities in ``check_identity.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rotator.azure.credentials import default_credential, keyvault_factory
from rotator.azure.token_claims import ClaimsRecorder
from rotator.azure.wiring import state_store_from_settings
from rotator.check.fixes import Fixes
from rotator.check.identity import IdentityPass
from rotator.check.policy_keys import check_policy_key
from rotator.check.report import CheckReport, Finding, Plan, TargetCheck
from rotator.check.vaults import OneVersion, Vaults
from rotator.config.settings import ENV_CONFIG, Settings
from rotator.errors import (
    ConfigurationError,
    CredentialError,
    GraphError,
    KeyVaultError,
    ProbeError,
)
from rotator.hints import fix_for
from rotator.model import (
    CertificateTarget,
    ConnectorState,
    InstallMode,
    PolicyKeyTarget,
    Target,
    Verdict,
    VersionInfo,
)
from rotator.rotation import Rotator
from rotator.standing import StatusReport, TargetStatus
from rotator.steps import policy, probe
from rotator.steps.context import utcnow
from rotator.steps.package import read_certificate, read_secret
from rotator.steps.progress import unexpected

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.azure.graph import GraphConnectorClient
    from rotator.azure.keyvault import KeyVaultClient


def run_check(
    settings: Settings,
    *,
    connector_ids: Sequence[str] = (),
    credential: TokenCredential | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
    key_sets: Sequence[str] = (),
) -> CheckReport:
    """Check the Graph identity, then every requested target (all by default). Writes nothing.

    ``credential`` replaces the default chain (Key Vault, and Graph in ``default`` mode).

    Raises:
        ConfigurationError: a named connector is not configured.
    """
    created = None if credential else default_credential(settings)
    default = ClaimsRecorder(credential or created)  # type: ignore[arg-type]
    vaults = Vaults(keyvault_factory(settings, default, retry_total=1))
    store = state_store_from_settings(settings, default)
    passes: dict[str, IdentityPass] = {}
    try:
        names = settings.identity_names or (settings.identity_name,)
        passes = {
            name: IdentityPass(settings.for_identity(name), default, vaults) for name in names
        }
        rotator = Rotator(
            settings,
            graph={name: one.graph for name, one in passes.items()},
            keyvault=vaults,
            state_store=store,
            clock=clock,
        )
        targets = rotator.select(connector_ids) if connector_ids or not key_sets else ()
        keys = [
            t for t in rotator.select_all(connector_ids, key_sets) if isinstance(t, PolicyKeyTarget)
        ]
        checks = {
            name: one.check(
                connectors=any(t.identity == name for t in targets) or not keys,
                policy_keys=any(t.identity == name for t in keys),
            )
            for name, one in passes.items()
        }
        results = tuple(
            _Checker(
                graph=passes[t.identity].graph,
                vaults=vaults,
                fixes=passes[t.identity].fixes,
                clock=clock,
            ).guarded(t, rotator.status, checks[t.identity].findings)
            for t in targets
        ) + tuple(
            check_policy_key(
                t,
                graph=passes[t.identity].graph,
                vaults=vaults,
                fixes=passes[t.identity].fixes,
                clock=clock,
                status=lambda k: rotator.status(key_sets=[k.key_set]),
                own=lambda k: frozenset(
                    u.kid for u in rotator.history(key_set=k.key_set).uploaded_keys
                ),
            )
            for t in keys
        )
        first = checks[names[0]]
        return CheckReport(
            graph_identity=first.identity,
            keyvault_identity=passes[names[0]].fixes.keyvault_identity(),
            graph_findings=first.findings,
            targets=results,
            checked_at=clock(),
            identities=tuple(checks.values()),
        )
    finally:
        for one in passes.values():
            one.close()
        vaults.close()
        store.close()
        if created is not None and hasattr(created, "close"):
            created.close()


class _Checker:
    """The checks of one target, over clients built by :func:`run_check`."""

    def __init__(
        self,
        *,
        graph: GraphConnectorClient,
        vaults: Vaults,
        fixes: Fixes,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.graph = graph
        self.vaults = vaults
        self.fixes = fixes
        self.clock = clock

    def guarded(
        self,
        target: Target,
        status: Callable[[Sequence[str]], StatusReport],
        graph_findings: Sequence[Finding],
    ) -> TargetCheck:
        """:meth:`target`, with an error no check expected reported as this target's finding."""
        try:
            return self.target(target, status, graph_findings)
        except Exception as exc:  # the preflight always answers, one entry per target
            finding = Finding("check.unexpected", False, unexpected(exc), "see the message")
            return TargetCheck(
                connector_id=target.connector_id,
                kind=target.kind.value,
                key_vault_url=target.key_vault_url,
                key_vault_object=target.key_vault_object,
                findings=(finding,),
                plan=Plan.FAIL,
                plan_detail=_failed((finding,)),
            )

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
            findings.append(Finding("keyvault.version", False, why, self.fixes.version(target)))
            return TargetCheck(
                **base,
                **described,
                findings=tuple(findings),
                plan=Plan.REFUSE,
                plan_detail=f"would refuse: {why}",
            )
        pinned = f" (pinned: {report.pinned_version})" if report.pinned_version else ""
        findings.append(Finding("keyvault.version", True, f"a rotation installs {version}{pinned}"))
        single = OneVersion(vault, [v for v in listed if v.version == version])
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
                Finding("keyvault.versions", False, str(exc), self.fixes.vault(exc, target, kind))
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
                        "graph.connector", False, str(exc), self.fixes.graph(exc, graph_findings)
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
        single: OneVersion,
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
                credential = probe.Credential(bundle=bundle)
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
                _, password = read_secret(single, target.password_secret, now=now, source=source)
                credential = probe.Credential(username=target.username, password=password)
                del password
                findings.append(Finding("keyvault.value", True, "secret readable and not empty"))
        except KeyVaultError as exc:
            findings.append(
                Finding("keyvault.value", False, str(exc), self.fixes.vault(exc, target, "secrets"))
            )
            return Plan.FAIL, _failed(findings)
        except CredentialError as exc:
            findings.append(Finding("keyvault.value", False, str(exc), self.fixes.version(target)))
            return Plan.REFUSE, f"would refuse: {exc}"
        if (verdict := self._probe(target, connector, credential, version, findings)) is not None:
            return verdict
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

    def _probe(
        self,
        target: Target,
        connector: ConnectorState,
        credential: probe.Credential,
        version: str,
        findings: list[Finding],
    ) -> tuple[Plan, str] | None:
        """Ask the connector's API whether it accepts the credential a rotation would install
        (when a probe is configured); a plan when it would stop the rotation, else None."""
        config = target.probe
        if config is None:
            return None
        settings = self.fixes.settings
        network = probe.network_of(settings)
        what = credential.describe(version)
        try:
            url = probe.checked_url(config.url or connector.target_url, target.connector_id)
            result = probe.run_probe(replace(config, wait_seconds=0), url, credential, network)
        except ProbeError as exc:
            findings.append(Finding("api.probe", False, str(exc), "see the message"))
            return Plan.FAIL, _failed(findings)
        said = f"{result.detail}" + (f" at {result.url}" if result.url else "")
        if result.verdict is Verdict.ACCEPTED:
            findings.append(Finding("api.probe", True, f"the API accepts the {what} ({said})"))
            return None
        if result.verdict is Verdict.REJECTED:
            fix = "make the API trust the new credential (beside the old one) before rotating"
            findings.append(
                Finding("api.probe", False, f"the API rejects the {what} ({said})", fix)
            )
            return Plan.REFUSE, f"would refuse: the API at {result.url} rejects the {what}"
        detail = f"cannot tell whether the API accepts the {what}: {said}"
        fix = fix_for(said) or (
            "check the connector's targetUrl (or probe.url) and this host's network access to it"
        )
        tolerated = not config.required and result.evidence == "unreachable"
        findings.append(Finding("api.probe", tolerated, detail, fix))
        return None if tolerated else (Plan.FAIL, _failed(findings))


# -- plumbing ----------------------------------------------------------------------------------


def _failed(findings: Sequence[Finding]) -> str:
    first = next((f for f in findings if not f.ok), None)
    return f"would fail: {first.check} failed (fix above)" if first else "would fail"
