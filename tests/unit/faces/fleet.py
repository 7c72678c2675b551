"""A status page of 200 connectors, built from ``TargetStatus`` objects directly: three failing,
five behind, ten expiring, the rest ok, shuffled; each with Key Vault versions and a last
rotation. Used by the unit tests, the browser tests and ``benchmarks/status_page.py``."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from rotator.faces.render_html import PageTarget, StatusPage
from rotator.model import CredentialKind, VersionInfo
from rotator.standing import LastOutcome, StatusReport, TargetStatus
from rotator.state.records import HistoryEntry

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SIZES = {"failing": 3, "behind": 5, "expiring": 10}
FLEET = 200


def _versions(index: int, kind: CredentialKind) -> tuple[VersionInfo, ...]:
    """An expired version, the one Graph holds, and (for some) a newer one."""
    spans = [(-500, -130), (-140, 60 + index % 300), (-2, 400)][: 2 + index % 2]
    return tuple(
        VersionInfo(
            name=f"api-{index}",
            version=f"{index:04d}{n:02d}" + "ab" * 13,
            enabled=True,
            created_on=NOW + start * DAY,
            not_before=NOW + start * DAY,
            expires_on=NOW + end * DAY,
            thumbprint=f"{index:04X}{n:02X}".ljust(40, "A")
            if kind is CredentialKind.CERTIFICATE
            else None,
        )
        for n, (start, end) in enumerate(spans)
    )


def _status(index: int, attention: str, rng: random.Random) -> TargetStatus:
    kind = CredentialKind.CERTIFICATE if index % 3 else CredentialKind.BASIC
    versions = _versions(index, kind)
    held = versions[1]
    days = {"expiring": 3 + index % 20}.get(attention, 45 + rng.randrange(300))
    last = LastOutcome("rotated", f"2026-1{1 + index % 2}-0{1 + index % 9}T0{index % 10}:15:00Z")
    if attention == "failing":
        last = LastOutcome("failed", "2026-12-03T11:00:00Z", "Graph answered 503", "timer")
    return TargetStatus(
        connector_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        display_name=f"Profile enrichment API {index:03d}",
        kind=kind,
        key_vault_object=f"api-{index}",
        in_sync=attention not in ("behind", "failing"),
        graph=f"certificate {held.thumbprint}" if held.thumbprint else "basic (svc)",
        graph_thumbprints=(held.thumbprint,) if held.thumbprint else (),
        target_version=versions[-1].version if attention == "behind" else held.version,
        applied_version=held.version,
        expires_on=NOW + days * DAY,
        days_to_expiry=days,
        identity=f"tenant-{index % 4}",
        tenant_id=str(uuid.UUID(int=index % 4 + 1)),
        last_outcome=last,
    )


def fleet_page(size: int = FLEET, seed: int = 21) -> tuple[StatusPage, dict[str, list[str]]]:
    """The page, and the connector ids of each attention (failing, behind, expiring, ok)."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable shuffle, not a secret
    plan = [word for word, n in SIZES.items() for _ in range(n)]
    plan += ["ok"] * (size - len(plan))
    rng.shuffle(plan)
    targets: list[PageTarget] = []
    ids: dict[str, list[str]] = {word: [] for word in (*SIZES, "ok")}
    for index, attention in enumerate(plan):
        status = _status(index, attention, rng)
        ids[attention].append(status.connector_id)
        last = status.last_outcome
        assert last is not None
        history = (
            HistoryEntry(last.at, last.trigger or "timer", last.outcome, reason=last.reason),
        )
        targets.append(PageTarget(status, _versions(index, status.kind), history))
    page = StatusPage(StatusReport(tuple(t.status for t in targets)), tuple(targets), NOW)
    return page, ids
