"""The status page: one self-contained HTML document (inline CSS and SVG, no script, nothing
fetched): at the top an overview of every target, most urgent first, then per target a card in
the same order with the Key Vault versions' validity on a timeline, what Graph holds, today, the
next expiry and the last rotations. Pure: every value is escaped (``page_text``), and nothing
that reaches it holds a secret."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from rotator.faces.page_css import CSS
from rotator.faces.page_parts import (
    PageTarget,
    StatusPage,
    anchor_ids,
    in_attention_order,
)
from rotator.faces.page_parts import day as _day
from rotator.faces.page_parts import page_text as _e
from rotator.faces.render_overview import (
    attention_badge,
    days_words,
    name_of,
    overview,
    summary,
)
from rotator.hints import fix_for
from rotator.model import CredentialKind, TargetKind, VersionInfo
from rotator.standing import Attention

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "CONTENT_SECURITY_POLICY_HEADER",
    "PageTarget",
    "StatusPage",
    "render_status_page",
    "timeline",
    "version_label",
]

DAY = dt.timedelta(days=1)
SOON_DAYS = 30  # an expiry closer than this is shown as a warning
# the timeline shows at most this far around today (a ten-year CA would flatten everything)
PAST, FUTURE = 400 * DAY, 800 * DAY
# The timeline's geometry, in SVG units (720 wide). Every label has a lane of its own, tall
# enough for the 20-unit text of a narrow window: months on the first line, "today" on the
# second, each version's label above its bar, "expires" under the bars.
WIDTH, MONTH_Y, TODAY_Y, TOP, ROW, FOOT = 720, 19, 45, 52, 40, 26
LABEL_Y, BAR_Y, BAR = 20, 25, 12  # in a version's row: the label's baseline, the bar's top
# A page served over HTTP may load nothing, run nothing, and only style itself inline.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# The header adds what a <meta> policy cannot carry: no other site may frame the page.
CONTENT_SECURITY_POLICY_HEADER = f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"


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
    """An inline SVG: one bar per Key Vault version from ``notBefore`` to ``expires`` with its
    label above it, today and the next expiry as vertical lines, months along the top."""
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

    height = TOP + ROW * max(len(versions), 1) + FOOT
    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="Key Vault versions of {_e(target.status.key_vault_object)} over time" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    parts.extend(_months(start, end, x, height))
    for row, (version, begin, finish) in enumerate(zip(versions, starts, ends, strict=True)):
        y = TOP + row * ROW
        left, right = x(begin), x(finish)
        words = version_label(target, version, now)
        parts.append(
            f'<g class="version {_bar_class(target, version, now)}" '
            f'data-version="{_e(version.version)}"><title>{_e(version.version)}: {_day(begin)} '
            f"to {_day(finish)} ({_e(words)})</title>"
            f'<rect x="{left}" y="{y + BAR_Y}" width="{max(right - left, 2)}" height="{BAR}" '
            f'rx="3"/>{_label(left, right, y + LABEL_Y, f"{version.version[:8]} {words}")}</g>'
        )
    if not versions:
        parts.append(
            f'<text class="empty" x="8" y="{TOP + LABEL_Y}">no Key Vault version read</text>'
        )
    expiry = target.status.expires_on
    if expiry and start <= expiry <= end:
        ex = x(expiry)
        parts.append(
            f'<g class="expiry"><line x1="{ex}" y1="{MONTH_Y + 6}" x2="{ex}" y2="{height}"/>'
            f"{_label(ex, ex, height - 6, 'expires', before=ex > 90)}</g>"
        )
    today = x(now)
    parts.append(
        f'<g class="today"><line x1="{today}" y1="{MONTH_Y + 6}" x2="{today}" y2="{height}"/>'
        f"{_label(today, today, TODAY_Y, 'today', before=today > WIDTH - 90)}</g></svg>"
    )
    return "".join(parts)


def _label(left: float, right: float, y: int, text: str, *, before: bool | None = None) -> str:
    """A ``<text>`` starting at ``left``, or ending at ``right`` (``before``; by default when
    ``left`` is in the right half, so that the label stays inside the timeline)."""
    if before is None:
        before = left > WIDTH / 2
    if before:
        return f'<text x="{round(min(right, WIDTH) - 4, 1)}" y="{y}" text-anchor="end">{_e(text)}</text>'
    return f'<text x="{round(left + 4, 1)}" y="{y}">{_e(text)}</text>'


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
        label = f'<text x="{at + 3}" y="{MONTH_Y}">{tick:%b %Y}</text>' if at < WIDTH - 110 else ""
        alt = " alt" if shown % 2 else ""  # every other label hides in a narrow window
        shown += 1
        parts.append(
            f'<g class="tick{alt}"><line x1="{at}" y1="{MONTH_Y + 6}" x2="{at}" y2="{height}"/>'
            f"{label}</g>"
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
    rows.append(("Target", target_version))  # the bar and the legend say "target" too
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
            f"({days_words(days)})</dd>"
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


LEGEND = (  # the words of the bars' labels (``version_label``), with their colours
    '<figcaption><span class="key held">in Graph</span><span class="key target">target</span>'
    '<span class="key usable">usable</span><span class="key future">not yet valid</span>'
    '<span class="key disabled">disabled or expired</span></figcaption>'
)


def _card(target: PageTarget, anchor: str, now: dt.datetime) -> str:
    status = target.status
    attention = status.attention
    badges = attention_badge(status)
    if status.pinned_version:
        badges += '<span class="badge pinned">pinned</span>'
    last = status.last_outcome
    if attention in (Attention.FAILING, Attention.REFUSED) and last and last.outcome != "rotated":
        badges += f'<span class="last">last rotation {_e(last.outcome)}</span>'
    name = name_of(status)
    ident = f"<code>{_e(status.connector_id)}</code>" if name != status.connector_id else ""
    return (
        f'<section class="card {attention.value}" id="{_e(anchor)}" '
        f'data-connector="{_e(status.connector_id)}" data-attention="{attention.value}">'
        f"<header><h2>{_e(name)}</h2>{ident}{badges}"
        '<a class="up" href="#overview">overview</a></header>'
        f"{_facts(target, now)}<figure>{timeline(target, now)}{LEGEND}</figure>"
        f"{_versions_table(target, now)}{_history_table(target)}</section>"
    )


def render_status_page(page: StatusPage) -> str:
    """The whole HTML document: the overview, then the cards in the same order."""
    targets = in_attention_order(page.targets)
    anchors = anchor_ids(targets)
    cards = "".join(_card(t, a, page.now) for t, a in zip(targets, anchors, strict=True))
    table = overview(targets, anchors, page.now) if targets else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        f"<title>rotator status</title><style>{CSS}</style></head><body>"
        '<header class="page" id="overview"><h1>API connector credentials</h1>'
        f'<p class="meta">as of <time datetime="{page.now:%Y-%m-%dT%H:%M:%SZ}">'
        f"{page.now:%Y-%m-%d %H:%M} UTC</time> · {_counted(page)}</p>"
        f'<ul class="summary">{summary(targets)}</ul>{table}</header>'
        f"<main>{cards or '<p>No connector configured.</p>'}</main>"
        "<footer>rotator status page · values from Graph, Key Vault and the state store; "
        "no secret is ever shown here</footer></body></html>\n"
    )


def _counted(page: StatusPage) -> str:
    """``2 connector(s)``, and ``, 2 policy key set(s)`` when the page shows any."""
    sets = sum(t.status.target_kind is TargetKind.POLICY_KEY for t in page.targets)
    text = f"{len(page.targets) - sets} connector(s)"
    return text + (f", {sets} policy key set(s)" if sets else "")
