"""The status page: one self-contained HTML document (inline CSS and SVG, no script, nothing
fetched) showing per connector the Key Vault versions' validity on a timeline, what Graph holds,
today, the next expiry and the last rotations. Pure: every value is escaped here, and nothing
that reaches it holds a secret."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from rotator.hints import fix_for
from rotator.model import CredentialKind, TargetKind, VersionInfo
from rotator.standing import StatusReport, TargetStatus
from rotator.state.records import HistoryEntry
from rotator.text import printable

DAY = dt.timedelta(days=1)
SOON_DAYS = 30  # an expiry closer than this is shown as a warning
STATES = ("failing", "behind", "pinned", "in-sync")
# the timeline shows at most this far around today (a ten-year CA would flatten everything)
PAST, FUTURE = 400 * DAY, 800 * DAY
WIDTH, ROW, TOP = 720, 24, 26
# A page served over HTTP may load nothing, run nothing, and only style itself inline.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# The header adds what a <meta> policy cannot carry: no other site may frame the page.
CONTENT_SECURITY_POLICY_HEADER = f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"


@dataclass(frozen=True)
class PageTarget:
    """One connector on the page: its status, its Key Vault versions, its last rotations."""

    status: TargetStatus
    versions: tuple[VersionInfo, ...] = ()
    history: tuple[HistoryEntry, ...] = ()  # newest first


@dataclass(frozen=True)
class StatusPage:
    """Everything the page shows, read at ``now``."""

    report: StatusReport
    targets: tuple[PageTarget, ...]
    now: dt.datetime


def state_of(target: PageTarget) -> str:
    """``failing`` (unreadable, or the last rotation failed or was refused), ``behind``,
    ``pinned`` or ``in-sync``: the one word a glance needs."""
    status = target.status
    last = target.history[0].outcome if target.history else None
    if status.in_sync is None or last in ("failed", "refused"):
        return "failing"
    if not status.in_sync:
        return "behind"
    return "pinned" if status.pinned_version else "in-sync"


def _e(value: object) -> str:
    """``value`` as HTML text, written out as the CLI writes it: control characters and bidi
    overrides from a stored reason or a Graph message become visible escapes (``\\u202e``)."""
    return escape(printable(str(value)), quote=True)


def _day(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "-"


def _held(target: PageTarget, version: VersionInfo) -> bool:
    status = target.status
    if status.kind is CredentialKind.CERTIFICATE:
        return bool(version.thumbprint) and version.thumbprint in status.graph_thumbprints
    return version.version == status.applied_version


def version_label(target: PageTarget, version: VersionInfo, now: dt.datetime) -> str:
    """What a version is for this connector: in Graph, the target, disabled, not yet valid,
    expired or usable (several, comma-separated)."""
    words = []
    if _held(target, version):
        words.append("in Graph")
    if version.version == target.status.target_version:
        words.append("target")
    if not version.enabled:
        words.append("disabled")
    elif version.not_before and version.not_before > now:
        words.append("not yet valid")
    elif version.expires_on and version.expires_on <= now:
        words.append("expired")
    elif not words:
        words.append("usable")
    return ", ".join(words)


def _bar_class(target: PageTarget, version: VersionInfo, now: dt.datetime) -> str:
    label = version_label(target, version, now)
    for word, css in (
        ("in Graph", "held"),
        ("target", "target"),
        ("disabled", "disabled"),
        ("not yet valid", "future"),
        ("expired", "expired"),
    ):
        if word in label:
            return css
    return "usable"


def timeline(target: PageTarget, now: dt.datetime) -> str:
    """An inline SVG: one bar per Key Vault version from ``notBefore`` to ``expires``, today
    and the next expiry as vertical lines, months along the top."""
    versions = sorted(target.versions, key=lambda v: v.created_on or now)
    starts = [v.not_before or v.created_on or now for v in versions]
    start = max(min([now - 30 * DAY, *starts]), now - PAST)
    known_ends = [v.expires_on for v in versions if v.expires_on]
    end = min(max([now + 90 * DAY, *known_ends]), now + FUTURE)
    ends = [v.expires_on or end for v in versions]  # no expiry: open to the right
    span = (end - start).total_seconds()

    def x(moment: dt.datetime) -> float:
        offset = (min(max(moment, start), end) - start).total_seconds()
        return round(offset / span * WIDTH, 1)

    height = TOP + ROW * max(len(versions), 1) + 6
    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="Key Vault versions of {_e(target.status.key_vault_object)} over time" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    parts.extend(_months(start, end, x, height))
    for row, (version, begin, finish) in enumerate(zip(versions, starts, ends, strict=True)):
        y = TOP + row * ROW + 4
        left, right = x(begin), x(finish)
        css = _bar_class(target, version, now)
        label = f"{version.version[:8]} {version_label(target, version, now)}"
        parts.append(
            f'<g class="version {css}" data-version="{_e(version.version)}">'
            f"<title>{_e(version.version)}: {_day(begin)} to {_day(finish)} "
            f"({_e(version_label(target, version, now))})</title>"
            f'<rect x="{left}" y="{y}" width="{max(right - left, 2)}" height="16" rx="3"/>'
            f'<text x="{min(left, WIDTH - 170) + 5}" y="{y + 12}">{_e(label)}</text></g>'
        )
    if not versions:
        parts.append(f'<text class="empty" x="8" y="{TOP + 16}">no Key Vault version read</text>')
    expiry = target.status.expires_on
    if expiry and start <= expiry <= end:
        ex = x(expiry)
        parts.append(
            f'<g class="expiry"><line x1="{ex}" y1="12" x2="{ex}" y2="{height}"/>'
            f'<text x="{ex - 4}" y="{height - 2}" text-anchor="end">expires</text></g>'
        )
    today = x(now)
    parts.append(
        f'<g class="today"><line x1="{today}" y1="12" x2="{today}" y2="{height}"/>'
        f'<text x="{today + 4}" y="{TOP - 4}">today</text></g></svg>'
    )
    return "".join(parts)


def _months(
    start: dt.datetime, end: dt.datetime, x: Callable[[dt.datetime], float], height: int
) -> list[str]:
    months = (end.year - start.year) * 12 + end.month - start.month
    step = next(s for s in (1, 2, 3, 6, 12, 24) if months / s <= 8)
    parts: list[str] = []
    shown = 0
    year, month = start.year, start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        tick = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        if tick > end:
            return parts
        if (year * 12 + month - 1) % step:
            continue
        at = x(tick)
        label = f'<text x="{at + 3}" y="10">{tick:%b %Y}</text>' if at < WIDTH - 100 else ""
        alt = " alt" if shown % 2 else ""  # every other label hides in a narrow window
        shown += 1
        parts.append(
            f'<g class="tick{alt}"><line x1="{at}" y1="14" x2="{at}" y2="{height}"/>{label}</g>'
        )


def _facts(target: PageTarget, now: dt.datetime) -> str:
    status = target.status
    rows = [("Key Vault", f"{status.kind.value} '{status.key_vault_object}'")]
    if status.graph:
        rows.append(("Graph holds", status.graph))
    target_version = status.target_version or (
        "none usable" if status.in_sync is not None else "not read"
    )
    if status.target_thumbprint:
        target_version += f" ({status.target_thumbprint})"
    rows.append(("Would install", target_version))
    if status.pinned_version:
        rows.append(("Pinned", f"{status.pinned_version} (rotator unpin to release)"))
    if status.deferred_until:
        when = f"{status.deferred_until:%Y-%m-%d %H:%M} UTC"
        rows.append(("Deferred", f"a certificate not valid until {when}; probed then"))
    html = [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows]
    if status.expires_on is not None:
        days = status.days_to_expiry
        soon = " soon" if days is not None and days < SOON_DAYS else ""
        html.append(
            f'<dt>Next expiry</dt><dd class="expiry{soon}">{_day(status.expires_on)} '
            f"(in {_e(days)} day{'s' if days != 1 else ''})</dd>"
        )
    if status.error:
        html.append(f'<dt>Error</dt><dd class="error">{_e(status.error)}</dd>')
        if fix := fix_for(status.error):
            html.append(f"<dt>Fix</dt><dd>{_e(fix)}</dd>")
    return f'<dl class="facts">{"".join(html)}</dl>'


def _versions_table(target: PageTarget, now: dt.datetime) -> str:
    if not target.versions:
        return ""
    rows = [
        f'<tr class="{_bar_class(target, v, now)}"><td><code>{_e(v.version)}</code></td>'
        f"<td>{_day(v.not_before or v.created_on)}</td>"
        f"<td>{_day(v.expires_on) if v.expires_on else 'no expiry'}</td>"
        f"<td>{_e(version_label(target, v, now))}</td></tr>"
        for v in sorted(target.versions, key=lambda v: v.created_on or now, reverse=True)
    ]
    return (
        '<table class="versions"><caption>Key Vault versions, newest first</caption>'
        "<thead><tr><th>Version</th><th>Valid from</th><th>Until</th><th>For this "
        f"connector</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _history_table(target: PageTarget) -> str:
    if not target.history:
        return '<p class="history none">No rotation recorded yet.</p>'
    rows = [
        f'<tr class="{_e(h.outcome)}"><td>{_e(h.at[:19].replace("T", " "))}</td>'
        f'<td><span class="outcome">{_e(h.outcome)}</span></td><td>{_e(h.trigger)}</td>'
        f"<td><code>{_e((h.key_vault_version or '-')[:8])}</code></td>"
        f"<td>{_e(h.requested_by or '')}</td><td>{_e(h.reason or '')}</td></tr>"
        for h in target.history
    ]
    return (
        '<table class="history"><caption>Last rotations, newest first</caption><thead><tr>'
        "<th>When (UTC)</th><th>Outcome</th><th>Trigger</th><th>Version</th><th>Who</th>"
        f"<th>Why</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _card(target: PageTarget, now: dt.datetime) -> str:
    status = target.status
    state = state_of(target)
    badges = f'<span class="badge {state}">{state.replace("-", " ")}</span>'
    if state == "failing" and status.in_sync is False:
        badges += '<span class="badge behind">behind</span>'
    if status.pinned_version and state != "pinned":
        badges += '<span class="badge pinned">pinned</span>'
    if state == "failing" and target.history and target.history[0].outcome != "rotated":
        badges += f'<span class="last">last rotation {_e(target.history[0].outcome)}</span>'
    return (
        f'<section class="card {state}" data-connector="{_e(status.connector_id)}" '
        f'data-state="{state}"><header><h2>{_e(status.connector_id)}</h2>{badges}</header>'
        f"{_facts(target, now)}<figure>{timeline(target, now)}<figcaption>"
        '<span class="key held">in Graph</span><span class="key target">would install</span>'
        '<span class="key usable">usable</span><span class="key future">not yet valid</span>'
        '<span class="key disabled">disabled or expired</span></figcaption></figure>'
        f"{_versions_table(target, now)}{_history_table(target)}</section>"
    )


def render_status_page(page: StatusPage) -> str:
    """The whole HTML document."""
    counts = {state: 0 for state in STATES}
    for target in page.targets:
        counts[state_of(target)] += 1
    summary = "".join(
        f'<li class="badge {state}" data-count="{n}">{n} {state.replace("-", " ")}</li>'
        for state, n in counts.items()
        if n
    )
    cards = "".join(_card(t, page.now) for t in page.targets) or "<p>No connector configured.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        f"<title>rotator status</title><style>{_CSS}</style></head><body>"
        '<header class="page"><h1>API connector credentials</h1>'
        f'<p class="meta">as of <time datetime="{page.now:%Y-%m-%dT%H:%M:%SZ}">'
        f"{page.now:%Y-%m-%d %H:%M} UTC</time> · {_counted(page)}</p>"
        f'<ul class="summary">{summary}</ul></header><main>{cards}</main>'
        "<footer>rotator status page · values from Graph, Key Vault and the state store; "
        "no secret is ever shown here</footer></body></html>\n"
    )


def _counted(page: StatusPage) -> str:
    """``2 connector(s)``, and ``, 2 policy key set(s)`` when the page shows any."""
    sets = sum(t.status.target_kind is TargetKind.POLICY_KEY for t in page.targets)
    text = f"{len(page.targets) - sets} connector(s)"
    return text + (f", {sets} policy key set(s)" if sets else "")


_CSS = """
:root{--ink:#1d2430;--muted:#5b6675;--line:#d5dae1;--bg:#f4f6f9;--ok:#1a7f37;--behind:#b35900;
--fail:#c62828;--pin:#6f42c1;--held:#1f6feb;--target:#2da44e}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg);-webkit-print-color-adjust:exact;print-color-adjust:exact}
header.page,main,footer{max-width:1040px;margin:0 auto;padding:0 16px}
header.page{padding-top:20px}h1{font-size:1.5rem;margin:0 0 2px}
.meta{color:var(--muted);margin:0 0 10px}
.summary{list-style:none;padding:0;margin:0 0 16px;display:flex;gap:8px;flex-wrap:wrap}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:.85rem;font-weight:600;
color:#fff;background:var(--muted)}
.badge.in-sync{background:var(--ok)}.badge.behind{background:var(--behind)}
.badge.failing{background:var(--fail)}.badge.pinned{background:var(--pin)}
.card{background:#fff;border:1px solid var(--line);border-left:6px solid var(--muted);
border-radius:8px;padding:14px 18px;margin:0 0 16px;box-shadow:0 1px 2px #0001}
.card.in-sync{border-left-color:var(--ok)}.card.behind{border-left-color:var(--behind)}
.card.failing{border-left-color:var(--fail)}.card.pinned{border-left-color:var(--pin)}
.card>header{display:flex;align-items:center;gap:8px;flex-wrap:wrap}
h2{font-size:1.05rem;margin:0;overflow-wrap:anywhere;font-family:ui-monospace,Menlo,monospace}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:10px 0}
.facts dt{color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere}
.facts .error{color:var(--fail)}.facts .expiry.soon{color:var(--behind);font-weight:600}
figure{margin:16px 0 8px}svg.timeline{width:100%;height:auto;display:block;overflow:visible}
svg text{font-size:11px;fill:var(--ink)}
.tick line{stroke:var(--line)}.tick text{fill:var(--muted)}
.today line{stroke:var(--fail);stroke-width:2}.today text{fill:var(--fail);font-weight:600}
.expiry line{stroke:var(--behind);stroke-width:1.5;stroke-dasharray:4 3}
.expiry text{fill:var(--behind)}
.version rect{fill:#9aa5b1}.version.usable rect{fill:#8fb8ff}
.version.held rect{fill:var(--held)}.version.target rect{fill:var(--target)}
.version.future rect{fill:#fff;stroke:var(--target);stroke-dasharray:4 2}
.version.disabled rect,.version.expired rect{fill:#e3e6ea}
.version.held text,.version.target text{fill:#fff;font-weight:600}
figcaption{display:flex;gap:12px;flex-wrap:wrap;font-size:.8rem;color:var(--muted)}
.key::before{content:"";display:inline-block;width:12px;height:10px;border-radius:2px;
margin-right:4px;vertical-align:-1px;background:#9aa5b1}
.key.held::before{background:var(--held)}.key.target::before{background:var(--target)}
.key.usable::before{background:#8fb8ff}.key.future::before{border:1px dashed var(--target);
background:#fff}.key.disabled::before{background:#e3e6ea}
table{border-collapse:collapse;width:100%;margin:10px 0;font-size:.85rem}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{text-align:left;padding:3px 8px 3px 0;border-bottom:1px solid var(--line);
vertical-align:top;overflow-wrap:anywhere}
th{color:var(--muted);font-weight:600}code{font-family:ui-monospace,Menlo,monospace}
tr.failed .outcome,tr.refused .outcome{color:var(--fail);font-weight:600}
tr.rotated .outcome{color:var(--ok);font-weight:600}
.history.none{color:var(--muted)}table.history td:not(:last-child){white-space:nowrap}
.last{color:var(--fail);font-size:.85rem}
footer{color:var(--muted);font-size:.8rem;padding-bottom:24px}
th{white-space:nowrap}
@media (max-width:560px){body{font-size:14px}.facts{grid-template-columns:1fr}
.facts dd{margin-bottom:4px}table.versions th:nth-child(2),table.versions td:nth-child(2){display:none}
svg .version text,svg .tick.alt text{display:none}
svg .tick text,svg .today text,svg .expiry text{font-size:22px}
table.history thead{display:none}table.history tr{display:block;padding:4px 0;
border-bottom:1px solid var(--line)}table.history td{display:inline;border:0;padding-right:6px}
table.history td:last-child{display:block;white-space:normal}}
@media print{body{background:#fff}.card{break-inside:avoid;box-shadow:none}footer{padding:0}}
"""
