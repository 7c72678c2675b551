"""The preflight of one policy key (``rotator check``): the Key Vault object can be listed and the
version a rotation would upload read and validated; the key set exists and can be read with the
identity's token; the probe's API accepts the credential; and what a rotation would do now.
Reads only: no upload, no state written, no secret value printed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rotator.azure.keyset_answers import PERMISSION
from rotator.azure.keysets import KeySetClient
from rotator.check.fixes import Fixes
from rotator.check.report import Finding, Plan, TargetCheck
from rotator.check.vaults import OneVersion, Vaults
from rotator.errors import CredentialError, GraphError, KeyVaultError, ProbeError, RotatorError
from rotator.model import CredentialKind, PolicyKeyTarget, RotationRequest, Verdict
from rotator.standing import StatusReport
from rotator.steps import keyset_plan, probe
from rotator.steps.package import read_certificate, read_secret
from rotator.steps.progress import unexpected

if TYPE_CHECKING:
    from rotator.azure.graph import GraphConnectorClient
    from rotator.check.report import Identity

Status = Callable[[PolicyKeyTarget], StatusReport]
Own = Callable[[PolicyKeyTarget], frozenset[str]]


def keyset_permission(identity: Identity) -> Finding:
    """Whether the Graph token carries ``TrustFrameworkKeySet.ReadWrite.All``."""
    if PERMISSION in identity.roles or PERMISSION in identity.scopes:
        return Finding("graph.keyset_permission", True, f"{PERMISSION}")
    held = ", ".join(identity.roles or identity.scopes) or "none"
    return Finding(
        "graph.keyset_permission",
        False,
        f"the Graph token carries no {PERMISSION} (permissions: {held}); policy keys cannot "
        "be uploaded",
        f"grant {identity.describe()} the Microsoft Graph application permission {PERMISSION} "
        "and give admin consent (the app must be registered in the B2C tenant)",
    )


def check_policy_key(
    target: PolicyKeyTarget,
    *,
    graph: GraphConnectorClient,
    vaults: Vaults,
    fixes: Fixes,
    clock: Callable[[], dt.datetime],
    status: Status,
    own: Own = lambda target: frozenset(),
) -> TargetCheck:
    """Every check of ``target``; an error no check expected is its finding, never raised.
    ``own``: the kids rotator uploaded to the set (from the state store)."""
    base: dict[str, Any] = {
        "connector_id": target.key_set,
        "kind": target.kind.value,
        "key_vault_url": target.key_vault_url,
        "key_vault_object": target.key_vault_object,
        "target_kind": target.target_kind.value,
    }
    findings: list[Finding] = []
    try:
        plan, detail, described = _check(target, graph, vaults, fixes, clock, status, own, findings)
    except Exception as exc:  # the preflight always answers, one entry per target
        findings.append(Finding("check.unexpected", False, unexpected(exc), "see the message"))
        return TargetCheck(
            **base, findings=tuple(findings), plan=Plan.FAIL, plan_detail=_failed(findings)
        )
    return TargetCheck(**base, **described, findings=tuple(findings), plan=plan, plan_detail=detail)


def _check(
    target: PolicyKeyTarget,
    graph: GraphConnectorClient,
    vaults: Vaults,
    fixes: Fixes,
    clock: Callable[[], dt.datetime],
    status: Status,
    own: Own,
    findings: list[Finding],
) -> tuple[Plan, str, dict[str, Any]]:
    kind = "certificates" if target.kind is CredentialKind.CERTIFICATE else "secrets"
    vault = vaults(target.key_vault_url)
    try:
        versions = (
            vault.list_certificate_versions(target.key_vault_object)
            if kind == "certificates"
            else vault.list_secret_versions(target.key_vault_object)
        )
        findings.append(Finding("keyvault.versions", True, f"{len(versions)} version(s)"))
    except KeyVaultError as exc:
        findings.append(
            Finding("keyvault.versions", False, str(exc), fixes.vault(exc, target, kind))
        )
        return Plan.FAIL, _failed(findings), {}
    client = KeySetClient(graph)
    try:
        key_set = client.get_key_set(target.key_set)
    except GraphError as exc:
        findings.append(Finding("graph.keyset", False, str(exc), "see the message"))
        return Plan.FAIL, _failed(findings), {}
    active = client.get_active_key(target.key_set)
    held = f"{len(key_set.keys)} key(s); active: " + (active.describe() if active else "none")
    findings.append(Finding("graph.keyset", True, f"key set {target.key_set}: {held}"))
    report = status(target).targets[0]
    described: dict[str, Any] = {
        "version": report.target_version,
        "thumbprint": report.target_thumbprint,
        "connector": held,
        "connector_expires_on": active.exp if active else None,
    }
    version = report.target_version
    if report.in_sync is None or version is None:
        why = report.error or "no usable version"
        findings.append(Finding("keyvault.version", False, why, fixes.version(target)))
        return (
            Plan.REFUSE if report.in_sync is not None else Plan.FAIL,
            f"would refuse: {why}",
            described,
        )
    chosen = next(v for v in versions if v.version == version)
    single = OneVersion(vault, [chosen])
    now = clock()
    source = f"{target.kind.value} '{target.key_vault_object}' in {target.key_vault_url}"
    try:
        if target.kind is CredentialKind.CERTIFICATE:
            _, bundle = read_certificate(single, target.key_vault_object, now=now, source=source)
            credential = probe.Credential(bundle=bundle)
        else:
            _, value = read_secret(single, target.key_vault_object, now=now, source=source)
            credential = probe.Credential(
                username=target.username, password=value, header=target.api_key_header
            )
        findings.append(Finding("keyvault.value", True, f"version {version} readable and valid"))
    except KeyVaultError as exc:
        findings.append(
            Finding("keyvault.value", False, str(exc), fixes.vault(exc, target, "secrets"))
        )
        return Plan.FAIL, _failed(findings), described
    except CredentialError as exc:
        findings.append(Finding("keyvault.value", False, str(exc), fixes.version(target)))
        return Plan.REFUSE, f"would refuse: {exc}", described
    if report.in_sync:
        return Plan.UP_TO_DATE, f"up-to-date: the active key is version {version}", described
    try:
        keyset_plan.make(target, chosen, None, key_set, RotationRequest(), now, own(target))
    except RotatorError as exc:
        findings.append(Finding("rotation.policy", False, str(exc), "see the message"))
        return Plan.REFUSE, f"would refuse: {exc}", described
    if target.probe is not None and (
        refused := _probe(target, credential, version, fixes, findings)
    ):
        return refused, _failed(findings), described
    size = len(key_set.keys)
    return Plan.ROTATE, f"would upload version {version} beside the set's {size} key(s)", described


def _probe(
    target: PolicyKeyTarget,
    credential: probe.Credential,
    version: str,
    fixes: Fixes,
    findings: list[Finding],
) -> Plan | None:
    """Ask the API once whether it accepts the credential; a plan when that stops a rotation."""
    config = target.probe
    assert config is not None  # checked by the caller
    network = probe.network_of(fixes.settings)
    what = credential.describe(version)
    try:
        url = probe.checked_url(config.url, f"key set {target.key_set}")
        result = probe.run_probe(replace(config, wait_seconds=0), url, credential, network)
    except ProbeError as exc:
        findings.append(Finding("api.probe", False, str(exc), "see the message"))
        return Plan.FAIL
    said = f"{result.detail} at {result.url}"
    if result.verdict is Verdict.ACCEPTED:
        findings.append(Finding("api.probe", True, f"the API accepts the {what} ({said})"))
        return None
    ok = result.verdict is not Verdict.REJECTED and not config.required
    fix = "make the API accept the new credential (beside the old one) before rotating"
    findings.append(Finding("api.probe", ok, f"the API does not accept the {what} ({said})", fix))
    if ok:
        return None
    return Plan.REFUSE if result.verdict is Verdict.REJECTED else Plan.FAIL


def _failed(findings: list[Finding]) -> str:
    first = next((f for f in findings if not f.ok), None)
    return f"would fail: {first.check} failed (fix above)" if first else "would fail"
