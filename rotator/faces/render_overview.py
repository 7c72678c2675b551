"""The top of the status page: how many targets ask for which attention, and one table row per
target, most urgent first, linking to its card (every value escaped with ``page_text``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from rotator.faces.page_parts import PageTarget, day
from rotator.faces.page_parts import page_text as _e
from rotator.model import TargetKind
from rotator.standing import Attention, TargetStatus


def attention_badge(status: TargetStatus) -> str:
    """The attention as a word on its colour (the word carries it: colour alone would not)."""
    word = status.attention.value
    return f'<span class="badge {word}">{word}</span>'


def summary(targets: Sequence[PageTarget]) -> str:
    """``<li>`` per attention that holds for any target, most urgent first: ``3 failing``."""
    counts = Counter(t.status.attention for t in targets)
    return "".join(
        f'<li class="badge {a.value}" data-count="{counts[a]}">{counts[a]} {a.value}</li>'
        for a in Attention
        if counts[a]
    )


def name_of(status: TargetStatus) -> str:
    """Graph's display name of a connector (a key set's id), or the id when none was read."""
    return status.display_name or status.connector_id


def kind_of(status: TargetStatus) -> str:
    """``connector, certificate``, ``policy key, secret``…"""
    kind = "policy key" if status.target_kind is TargetKind.POLICY_KEY else "connector"
    return f"{kind}, {status.kind.value}"


def days_words(days: int | None) -> str:
    """``in 12 days``, ``in 1 day``, ``today``, ``3 days ago``, or ``-`` when unknown."""
    if days is None:
        return "-"
    plural = "s" if abs(days) != 1 else ""
    return f"in {days} day{plural}" if days > 0 else f"{-days} day{plural} ago" if days else "today"


def expiry_of(status: TargetStatus) -> str:
    """``days_words`` of the next expiry, its date in ``datetime``, or ``-``."""
    if status.expires_on is None or status.days_to_expiry is None:
        return "-"
    return (
        f'<time datetime="{status.expires_on:%Y-%m-%d}">{days_words(status.days_to_expiry)}</time>'
    )


def last_outcome_of(status: TargetStatus) -> str:
    """``failed 2026-11-29 11:00`` with the trigger and reason in ``title``, or ``none yet``."""
    last = status.last_outcome
    if last is None:
        return '<span class="none">none yet</span>'
    why = " · ".join(part for part in (last.trigger, last.reason) if part)
    title = f' title="{_e(why)}"' if why else ""
    return (
        f'<span class="outcome {_e(last.outcome)}"{title}>{_e(last.outcome)}</span> '
        f"{_e(last.at[:16].replace('T', ' '))}"
    )


def overview(targets: Sequence[PageTarget], anchors: Sequence[str], now: dt.datetime) -> str:
    """The table: attention, name (a link to the card), id, identity and tenant, kind, what Graph
    holds, next expiry, last outcome; rows in the order given (the caller sorts them)."""
    rows = []
    for target, anchor in zip(targets, anchors, strict=True):
        status = target.status
        tenant = (
            f'<br><span class="tenant">{_e(status.tenant_id)}</span>' if status.tenant_id else ""
        )
        rows.append(
            f'<tr class="{status.attention.value}" data-attention="{status.attention.value}" '
            f'data-target="{_e(status.connector_id)}"><td>{attention_badge(status)}</td>'
            f'<td class="name"><a href="#{_e(anchor)}">{_e(name_of(status))}</a></td>'
            f'<td class="id"><code>{_e(status.connector_id)}</code></td>'
            f'<td class="identity">{_e(status.identity)}{tenant}</td>'
            f"<td>{_e(kind_of(status))}</td>"
            f'<td class="graph">{_e(status.graph or "-")}</td><td>{expiry_of(status)}</td>'
            f"<td>{last_outcome_of(status)}</td></tr>"
        )
    return (
        '<table class="overview"><caption>Every target, most urgent first, as of '
        f"{day(now)}</caption><thead><tr><th>Attention</th><th>Name</th><th>Id</th>"
        "<th>Identity / tenant</th><th>Kind</th><th>Graph holds</th><th>Next expiry</th>"
        f"<th>Last outcome (UTC)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
