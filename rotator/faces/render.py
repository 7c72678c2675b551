"""Human-readable forms of rotator's reports (rotate, status, check, history) for the terminal;
the CLI and the demo both print through here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rotator.check.report import CheckReport, Finding, Identity
from rotator.faces.history import FleetHistory, entry_json
from rotator.hints import fix_for
from rotator.model import Outcome, RotationReport, TargetKind, TargetOutcome, target_name
from rotator.standing import Attention, LastOutcome, StatusReport
from rotator.state.records import ConnectorRecord
from rotator.text import printable

_MARK = {
    Outcome.ROTATED: "rotated",
    Outcome.UP_TO_DATE: "up-to-date",
    Outcome.DRY_RUN: "dry-run",
    Outcome.REFUSED: "REFUSED",
    Outcome.FAILED: "FAILED",
    Outcome.SKIPPED: "skipped",
    Outcome.DEFERRED: "deferred",
}


def render_report(report: RotationReport) -> str:
    """The human form of a rotation report: one block per connector, then a summary line."""
    lines: list[str] = []
    for o in report.outcomes:
        via = f", identity {o.identity}" if o.identity != "default" else ""
        name = _named(o.target_kind, o.connector_id, o.display_name)
        lines.append(f"{_MARK[o.outcome]:<11} {name}  ({o.kind.value}{via})")
        version = (
            f"{o.key_vault_object}/{o.key_vault_version}"
            if o.key_vault_version
            else o.key_vault_object
        )
        lines.append(f"            key vault  {version}")
        if o.thumbprint:
            until = f", until {o.not_after:%Y-%m-%d}" if o.not_after else ""
            lines.append(f"            thumbprint {o.thumbprint}{until}")
        if o.probe:
            said = f"HTTP {o.probe.status}" if o.probe.status else o.probe.detail or "no answer"
            tries = f", {o.probe.attempts} attempts" if o.probe.attempts > 1 else ""
            where = f" at {o.probe.url}" if o.probe.url else ""
            lines.append(f"            probe      {o.probe.verdict.value} ({said}{tries}){where}")
        if o.reason:
            lines.append(f"            {'why' if o.outcome.ok else 'error':<10} {o.reason}")
            if not o.outcome.ok and (fix := fix_for(o.reason)):
                lines.append(f"            fix        {fix}")
        if o.key_id:
            lines.append(f"            kid        {o.key_id}")
        if o.request_id:
            lines.append(f"            request-id {o.request_id}")
        if o.deferred_until:
            lines.append(f"            deferred   until {o.deferred_until:%Y-%m-%d %H:%M} UTC")
        if o.unverified:
            lines.append("            unverified the write may have landed; the next run checks")
    seconds = ""
    if report.started_at and report.finished_at:
        seconds = f" in {(report.finished_at - report.started_at).total_seconds():.2f} s"
    keys = [o for o in report.outcomes if o.target_kind is TargetKind.POLICY_KEY]
    connectors = [o for o in report.outcomes if o.target_kind is not TargetKind.POLICY_KEY]
    if connectors or not keys:  # one summary line per kind of target that ran
        lines.append(f"{len(connectors)} connector(s): {_counts(connectors)}{seconds}")
        seconds = ""
    if keys:
        lines.append(f"{len(keys)} key set(s): {_counts(keys)}{seconds}")
    return _joined(lines)


def _counts(outcomes: Sequence[TargetOutcome]) -> str:
    """E.g. ``1 rotated, 1 refused`` (``nothing to do`` for none), in the order of ``Outcome``."""
    seen = RotationReport(tuple(outcomes)).counts
    return ", ".join(f"{n} {name}" for name, n in seen.items() if n) or "nothing to do"


def _named(kind: TargetKind, name: str, display_name: str | None = None) -> str:
    """A target as the text names it: a connector by its id and, once Graph named it, its
    display name in quotes; a policy key as ``key set ID`` (its id is its name)."""
    if kind is TargetKind.POLICY_KEY:
        return f"key set {name}"
    return f'{name}  "{display_name}"' if display_name and display_name != name else name


def attention_word(attention: Attention) -> str:
    """The first column of ``status``: upper case when the target needs someone."""
    return attention.value.upper() if attention.needs_action else attention.value


def last_outcome_line(last: LastOutcome) -> str:
    """``failed 2026-12-03T10:00:00Z (timer): why``: the newest history line in a few words."""
    trigger = f" ({last.trigger})" if last.trigger else ""
    reason = f": {last.reason}" if last.reason else ""
    return f"{last.outcome} {last.at}{trigger}{reason}"


def render_status(report: StatusReport) -> str:
    """The human form of a status report: most urgent first, one block per target (its word of
    attention, its id and display name, its last outcome), then a counted summary line."""
    lines: list[str] = []
    for t in report.by_attention():
        via = f", identity {t.identity}" if t.identity != "default" else ""
        name = _named(t.target_kind, t.connector_id, t.display_name)
        word = attention_word(t.attention)
        lines.append(f"{word:<11} {name}  ({t.kind.value}: {t.key_vault_object}{via})")
        if t.last_outcome:
            lines.append(f"            last       {last_outcome_line(t.last_outcome)}")
        if t.graph:
            lines.append(f"            graph      {t.graph}")
        newest = t.target_version or ("none usable" if t.in_sync is not None else "not read")
        if t.target_thumbprint:
            newest += f" ({t.target_thumbprint})"
        if t.pinned_version and t.newest_version and t.newest_version != t.target_version:
            newest += f"; Key Vault's newest is {t.newest_version}"
        lines.append(f"            {'target' if t.pinned_version else 'newest':<10} {newest}")
        if t.applied_version:
            lines.append(f"            applied    {t.applied_version}")
        if t.pinned_version:
            lines.append(f"            pinned     {t.pinned_version} (rotator unpin to release)")
        if t.deferred_until:
            lines.append(
                f"            deferred   a certificate waits for {t.deferred_until:%Y-%m-%d %H:%M} UTC (probed then)"
            )
        if t.days_to_expiry is not None:
            lines.append(
                f"            expires    in {t.days_to_expiry} day(s), {t.expires_on:%Y-%m-%d}"
            )
        if t.error:
            lines.append(f"            error      {t.error}")
            if fix := fix_for(t.error):
                lines.append(f"            fix        {fix}")
    if report.targets:
        lines.append(f"{len(report.targets)} target(s): {_attention_counts(report)}")
    return _joined(lines)


def _attention_counts(report: StatusReport) -> str:
    """E.g. ``1 failing, 2 ok``, most urgent first."""
    seen = Counter(t.attention for t in report.targets)
    return ", ".join(f"{seen[a]} {a.value}" for a in Attention if seen[a])


def render_check(report: CheckReport) -> str:
    """The human form: identities, then one block per target, then a summary line."""
    lines: list[str] = []
    several = len(report.identities) > 1
    checks = report.identities if several else ()
    if not several:
        lines.extend(_graph_identity_lines(report.graph_identity, report.graph_findings))
    kv = report.keyvault_identity
    lines.append(
        f"key vault identity default: {kv.describe()}"
        if kv
        else "key vault identity (no token obtained)"
    )
    for check in checks:  # several tenants: one block per Graph identity
        lines.append("")
        tenant = f" (tenant {check.tenant_id})" if check.tenant_id else ""
        lines.append(f"identity {check.name}{tenant}: {'ok' if check.ok else 'NOT USABLE'}")
        lines.extend(_graph_identity_lines(check.identity, check.findings))
        if check.credential_expires_on:
            lines.append(f"  credential expires {check.credential_expires_on:%Y-%m-%d}")
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
    unusable = [i.name for i in report.identities if not i.ok]
    if not report.identities and not all(f.ok for f in report.graph_findings):
        unusable = ["graph"]
    lines.append("")
    lines.append(
        f"{len(report.targets)} target(s): {ready} ready, {len(report.targets) - ready} not ready"
        + (
            ""
            if not unusable
            else "; the Graph identity is not usable"
            if not several
            else f"; Graph identities not usable: {', '.join(unusable)}"
        )
    )
    return _joined(lines)


def _graph_identity_lines(graph: Identity | None, findings: Sequence[Finding]) -> list[str]:
    lines = [
        f"graph identity     {graph.credential}: {graph.describe()}"
        if graph
        else "graph identity     UNKNOWN"
    ]
    if graph and graph.source:
        lines.append(f"                   from {graph.source}")
    return lines + _finding_lines(findings)


def _finding_lines(findings: Sequence[Finding]) -> list[str]:
    lines: list[str] = []
    for finding in findings:
        lines.append(f"  {'ok' if finding.ok else 'FAIL':<4}  {finding.check:<18} {finding.detail}")
        if finding.fix:
            lines.append(f"        {'fix':<18} {finding.fix}")
    return lines


def render_history(
    connector_id: str, record: ConnectorRecord, display_name: str | None = None
) -> str:
    """The human form of a connector's state record: applied version, pin, history newest first
    (``record.history`` as stored, oldest first; the caller may have cut it)."""
    lines = [f'{connector_id}  "{display_name}"' if display_name else connector_id]
    applied = record.applied
    if applied:
        lines.append(
            f"  applied  {applied.key_vault_object}/{applied.version} at {applied.applied_at}"
        )
    if record.pin:
        pin = record.pin
        lines.append(f"  pinned   {pin.version} since {pin.pinned_at} ({pin.reason})")
    for entry in reversed(record.history):
        who = f" by {entry.requested_by}" if entry.requested_by else ""
        version = entry.key_vault_version or "-"
        lines.append(f"  {entry.at}  {entry.outcome:<10} {entry.trigger:<32} {version}{who}")
        if entry.reason:
            lines.append(f"             {entry.reason}")
    if not record.history:
        lines.append("  no rotation recorded")
    return _joined(lines)


def render_fleet_history(history: FleetHistory) -> str:
    """Every target's history in one list, newest first: time, outcome, target (and its display
    name), trigger, version, who asked; the reason under it; then what was left out."""
    lines: list[str] = []
    for line in history.lines:
        e = line.entry
        who = f" by {e.requested_by}" if e.requested_by else ""
        name = _named(line.target_kind, line.name, line.display_name)
        lines.append(
            f"{e.at}  {e.outcome:<10} {name}  {e.trigger}  {e.key_vault_version or '-'}{who}"
        )
        if e.reason:
            lines.append(f"{'':<22}{e.reason}")
    for target, error in history.errors:
        lines.append(
            f"{_named(target.target_kind, target_name(target))}: history unreadable: {error}"
        )
    since = f" since {history.since:%Y-%m-%d %H:%M} UTC" if history.since else ""
    if not history.lines:
        lines.append(f"no rotation recorded{since} for {history.targets} target(s)")
    elif history.truncated:
        lines.append(
            f"the newest {len(history.lines)} line(s){since} of {history.targets} target(s); "
            "--limit N shows more"
        )
    else:
        lines.append(f"{len(history.lines)} line(s){since} of {history.targets} target(s)")
    return _joined(lines)


def _joined(lines: list[str]) -> str:
    """One text line per entry of ``lines``: nothing from outside may start another line or
    reach the terminal as a control sequence."""
    return "".join(printable(line) + "\n" for line in lines)


def history_to_json(
    connector_id: str,
    record: ConnectorRecord,
    *,
    key_set: str | None = None,
    display_name: str | None = None,
) -> dict[str, Any]:
    """``history --json``: camelCase like every other JSON output, the history newest first
    (as the text shows it); ``targetKind``, and ``keySet`` in place of ``connectorId`` for a
    policy key; ``displayName`` (a key set's is its id; null when Graph did not answer)."""
    applied, pin = record.applied, record.pin
    kind = TargetKind.POLICY_KEY if key_set else TargetKind.CONNECTOR
    return {
        "targetKind": kind.value,
        **({"keySet": key_set} if key_set else {"connectorId": connector_id}),
        "displayName": key_set or display_name,
        "applied": {
            "keyVaultUrl": applied.key_vault_url,
            "keyVaultObject": applied.key_vault_object,
            "keyVaultVersion": applied.version,
            "thumbprint": applied.thumbprint,
            "appliedAt": applied.applied_at,
        }
        if applied
        else None,
        "pin": {
            "keyVaultVersion": pin.version,
            "pinnedAt": pin.pinned_at,
            "reason": pin.reason,
            "requestedBy": pin.requested_by,
        }
        if pin
        else None,
        "history": [entry_json(entry) for entry in reversed(record.history)],
    }
