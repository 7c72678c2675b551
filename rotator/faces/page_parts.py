"""What the status page is made of (one target's status, versions and last rotations) and how an
outside value becomes page text or a fragment id: the pieces every part of the page uses."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from rotator.model import TargetKind, VersionInfo
from rotator.standing import StatusReport, TargetStatus
from rotator.state.records import HistoryEntry
from rotator.text import printable

ANCHOR_LENGTH = 64  # of the id's text taken into its fragment id (a GUID is 36)
_NOT_IN_AN_ANCHOR = re.compile(r"[^A-Za-z0-9_-]+")


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


def page_text(value: object) -> str:
    """``value`` as HTML text or an attribute's value, written out as the CLI writes it: control
    characters and bidi overrides from a stored reason or a Graph message become visible escapes
    (``\\u202e``), and ``<``, ``>``, ``&`` and both quotes become entities."""
    return escape(printable(str(value)), quote=True)


def day(moment: dt.datetime | None) -> str:
    """``2026-12-03``, or ``-`` for no date."""
    return f"{moment:%Y-%m-%d}" if moment else "-"


def in_attention_order(targets: Sequence[PageTarget]) -> tuple[PageTarget, ...]:
    """``targets`` in ``StatusReport.by_attention()``'s order (most urgent first, then the
    soonest expiry, then the name): the order of the overview and of the cards."""
    ranks = {
        id(status): rank
        for rank, status in enumerate(StatusReport(tuple(t.status for t in targets)).by_attention())
    }
    return tuple(sorted(targets, key=lambda t: ranks[id(t.status)]))


def anchor_ids(targets: Sequence[PageTarget]) -> tuple[str, ...]:
    """One fragment id per target, unique on the page and made only of ``A-Z a-z 0-9 _ -``
    whatever the target's id holds: ``connector-<id>`` or ``key-set-<id>``, other characters
    as ``-``, cut to ``ANCHOR_LENGTH``, a repeat numbered ``-2``, ``-3``…"""
    taken: set[str] = set()
    anchors = []
    for target in targets:
        status = target.status
        kind = "key-set" if status.target_kind is TargetKind.POLICY_KEY else "connector"
        text = _NOT_IN_AN_ANCHOR.sub("-", status.connector_id[:ANCHOR_LENGTH]).strip("-")
        base = f"{kind}-{text}" if text else kind
        anchor, count = base, 1
        while anchor in taken:
            count += 1
            anchor = f"{base}-{count}"
        taken.add(anchor)
        anchors.append(anchor)
    return tuple(anchors)
