"""The status page's overview: one row per target, most urgent first, each linking to its card;
200 connectors in one self-contained file; fragment ids safe whatever an id holds."""

from __future__ import annotations

import datetime as dt
import re
import time
from html import unescape
from html.parser import HTMLParser
from typing import Any

from rotator.faces.page_parts import PageTarget, StatusPage, anchor_ids
from rotator.faces.render_html import render_status_page, timeline
from rotator.model import CredentialKind, TargetKind, VersionInfo
from rotator.standing import LastOutcome, StatusReport, TargetStatus

from .fleet import FLEET, SIZES, fleet_page

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOSTILE_IDS = (
    '<script>alert("x")</script>',
    "\"' onmouseover=alert(1) x='",
    "api\u202eexe.js\u2066",
    "a b",
    "a-b",
    "a_b",
    "a-b",  # the same id twice (two tenants may hold it)
    "",
)


class Tags(HTMLParser):
    """Start tags with their attributes, and the text of each ``<tr>`` of the overview."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags_of(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def overview_rows(html: str) -> list[tuple[str, str]]:
    """(attention, target id) of each overview row, top to bottom."""
    return [
        (a["data-attention"], a["data-target"])
        for t, a in tags_of(html)
        if t == "tr" and "data-target" in a
    ]


def cards(html: str) -> list[tuple[str, str]]:
    """(attention, connector id) of each card, top to bottom."""
    return [
        (a["data-attention"], a["data-connector"])
        for t, a in tags_of(html)
        if t == "section" and "card" in a.get("class", "")
    ]


def status(connector_id: str, **overrides: Any) -> TargetStatus:
    values: dict[str, Any] = {
        "connector_id": connector_id,
        "kind": CredentialKind.BASIC,
        "key_vault_object": "pw",
        "in_sync": True,
    }
    values.update(overrides)
    return TargetStatus(**values)


def render(*statuses: TargetStatus) -> str:
    targets = tuple(PageTarget(s) for s in statuses)
    return render_status_page(StatusPage(StatusReport(statuses), targets, NOW))


def test_200_connectors_list_failing_then_behind_then_expiring_first() -> None:
    """Of 200 shuffled connectors the three failing are the first rows, the five behind the
    next, then the ten expiring (soonest first), then the ok ones."""
    page, ids = fleet_page()
    rows = overview_rows(render_status_page(page))
    assert len(rows) == FLEET
    failing, behind, expiring = SIZES["failing"], SIZES["behind"], SIZES["expiring"]
    assert {i for _, i in rows[:failing]} == set(ids["failing"])
    assert {i for _, i in rows[failing : failing + behind]} == set(ids["behind"])
    assert {i for _, i in rows[failing + behind : failing + behind + expiring]} == set(
        ids["expiring"]
    )
    assert [a for a, _ in rows] == ["failing"] * 3 + ["behind"] * 5 + ["expiring"] * 10 + ["ok"] * (
        FLEET - 18
    )
    expiring_ids = [i for a, i in rows if a == "expiring"]
    by_id = {t.status.connector_id: t.status for t in page.targets}
    days = [by_id[i].days_to_expiry or 0 for i in expiring_ids]
    assert days == sorted(days)


def test_the_cards_follow_the_overview_and_each_row_links_to_its_card() -> None:
    """The cards come in the overview's order, and each row's link is its card's id."""
    page, _ = fleet_page()
    html = render_status_page(page)
    assert cards(html) == overview_rows(html)
    tags = tags_of(html)
    links = [a["href"][1:] for t, a in tags if t == "a" and a.get("class") != "up"]
    sections = [a["id"] for t, a in tags if t == "section"]
    assert links == sections
    assert len(set(sections)) == FLEET


def test_the_200_connector_page_is_one_self_contained_file() -> None:
    """No script, no URL to fetch (``src``, an http(s) ``href``, ``url(``, ``@import``), the
    stylesheet inline and the CSP meta kept: the file can be mailed as is."""
    page, _ = fleet_page()
    started = time.perf_counter()
    html = render_status_page(page)
    elapsed = time.perf_counter() - started
    print(f"200 connectors rendered in {elapsed * 1000:.0f} ms, {len(html) / 1024:.0f} KB")
    tags = tags_of(html)
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object")]
    assert not [a for _, a in tags if "src" in a]
    assert all(a["href"].startswith("#") for t, a in tags if "href" in a)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg\")", html)
    assert "url(" not in html
    assert "@import" not in html
    assert [t for t, _ in tags].count("style") == 1
    assert any(t == "meta" and a.get("http-equiv") == "Content-Security-Policy" for t, a in tags)


def test_a_row_says_name_id_identity_kind_graph_expiry_and_last_outcome() -> None:
    """One row holds Graph's display name (linking to the card), the id, the identity and
    tenant, the kind, what Graph holds, the days to expiry and the last outcome with its time."""
    row_status = status(
        "9f1c",
        display_name="Profile enrichment API",
        identity="contoso",
        tenant_id="t-42",
        kind=CredentialKind.CERTIFICATE,
        graph="certificate AB12",
        expires_on=NOW + 12 * DAY,
        days_to_expiry=12,
        last_outcome=LastOutcome("refused", "2026-12-01T08:30:00Z", "API said 401", "timer"),
    )
    html = render(row_status)
    row = re.search(r'<tr class="expiring".*?</tr>', html)
    assert row
    text = re.sub(r"<[^>]+>", "|", row.group(0))
    cells = [unescape(c) for c in text.split("|") if c.strip()]
    assert cells == [
        "expiring",
        "Profile enrichment API",
        "9f1c",
        "contoso",
        "t-42",
        "connector, certificate",
        "certificate AB12",
        "in 12 days",
        "refused",
        " 2026-12-01 08:30",
    ]
    assert '<a href="#connector-9f1c">Profile enrichment API</a>' in html
    assert "<h2>Profile enrichment API</h2><code>9f1c</code>" in html


def test_a_target_without_a_display_name_is_named_by_its_id() -> None:
    """No display name read: the id is the name; a key set is a policy key of its kind."""
    html = render(
        status("B2C_1A_Pw", kind=CredentialKind.SECRET, target_kind=TargetKind.POLICY_KEY),
    )
    assert '<a href="#key-set-B2C_1A_Pw">B2C_1A_Pw</a>' in html
    assert "<td>policy key, secret</td>" in html
    assert '<span class="none">none yet</span>' in html


def test_hostile_ids_and_names_make_safe_unique_fragment_ids() -> None:
    """Markup, quotes, bidi overrides, spaces, repeats and an empty id give fragment ids of
    ``A-Z a-z 0-9 _ -`` only, all different; names and ids show as escaped text."""
    statuses = tuple(status(i, display_name=f"{i}<b>\u202e") for i in HOSTILE_IDS)
    html = render(*statuses)
    tags = tags_of(html)
    assert not [t for t, _ in tags if t in ("script", "b", "img")]
    assert all(not name.startswith("on") for _, a in tags for name in a)
    assert "\u202e" not in html
    assert "\u2066" not in html
    ids = [a["id"] for t, a in tags if t == "section"]
    assert len(set(ids)) == len(HOSTILE_IDS)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)
    hrefs = {a["href"][1:] for t, a in tags if t == "a" and a.get("class") != "up"}
    assert hrefs == set(ids)
    assert "api\\u202eexe.js\\u2066" in html  # written out, as the CLI writes it


def test_anchor_ids_number_a_repeat() -> None:
    """The same id twice gets ``-2``; an id that is nothing but symbols keeps the kind."""
    targets = [PageTarget(status(i)) for i in ("x", "x", "<>", "x-2")]
    assert anchor_ids(targets) == ("connector-x", "connector-x-2", "connector", "connector-x-2-2")


def test_the_legend_says_what_the_bars_say() -> None:
    """The bar of the version a rotation installs says "target", and so does the legend (it
    said "would install")."""
    versions = (
        VersionInfo("pw", "v2" * 8, True, NOW - DAY, NOW - DAY, NOW + 300 * DAY),
        VersionInfo("pw", "v1" * 8, True, NOW - 90 * DAY, NOW - 90 * DAY, NOW + 30 * DAY),
    )
    target = PageTarget(status("c", target_version="v2" * 8, applied_version="v1" * 8), versions)
    html = render_status_page(StatusPage(StatusReport((target.status,)), (target,), NOW))
    assert '<span class="key target">target</span>' in html
    assert "would install" not in html.lower()
    assert ">v2v2v2v2 target</text>" in html


def test_each_label_of_the_timeline_has_a_line_of_its_own() -> None:
    """Months, today, each version's label and "expires" sit on different baselines (today's
    label used to share the months' band), and a late bar's label ends at the bar's end."""
    versions = tuple(
        VersionInfo("pw", f"v{n}" * 8, True, NOW + s * DAY, NOW + s * DAY, NOW + e * DAY)
        for n, (s, e) in enumerate([(-400, -100), (-120, 30), (200, 700)])
    )
    svg = timeline(PageTarget(status("c", expires_on=NOW + 30 * DAY), versions), NOW)

    def baselines(pattern: str) -> list[float]:
        return [float(y) for y in re.findall(pattern + r'<text[^>]* y="([\d.]+)"', svg)]

    months = set(baselines(r'<g class="tick[^"]*"><line[^>]*/>'))
    today = baselines(r'<g class="today"><line[^>]*/>')
    expires = baselines(r'<g class="expiry"><line[^>]*/>')
    bars = baselines(r"<rect[^>]*/>")
    assert (len(months), len(today), len(expires), len(bars)) == (1, 1, 1, 3)
    lines = [*months, *today, *expires, *bars]
    assert len(set(lines)) == len(lines)
    assert min(b - a for a, b in zip(sorted(lines), sorted(lines)[1:], strict=False)) >= 20
    late = re.search(r'<g class="version future".*?</g>', svg)
    assert late
    assert 'text-anchor="end"' in late.group(0)


def test_an_expiry_reads_in_days_today_or_days_ago() -> None:
    """The overview and the card say "in 1 day", "today" or "3 days ago" (the card said
    "in -3 days" of an expired credential)."""
    for days, words in ((1, "in 1 day"), (0, "today"), (-3, "3 days ago")):
        html = render(status("c", expires_on=NOW + days * DAY, days_to_expiry=days))
        assert f">{words}</time></td>" in html
        assert f"({words})</dd>" in html
