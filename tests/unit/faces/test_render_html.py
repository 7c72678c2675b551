"""The status page as a document: states at a glance, the timeline, escaping, self-containment."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from typing import Any

from rotator.faces.render_html import (
    PageTarget,
    StatusPage,
    render_status_page,
    timeline,
    version_label,
)
from rotator.model import CredentialKind, VersionInfo
from rotator.standing import LastOutcome, StatusReport, TargetStatus
from rotator.state.records import HistoryEntry

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def status(**overrides: Any) -> TargetStatus:
    values: dict[str, Any] = {
        "connector_id": "c1",
        "kind": CredentialKind.CERTIFICATE,
        "key_vault_object": "api-cert",
        "in_sync": True,
        "graph_thumbprints": ("AA" * 20,),
        "target_version": "v2",
        "expires_on": NOW + 30 * DAY,
        "days_to_expiry": 30,
    }
    values.update(overrides)
    return TargetStatus(**values)


def version(name: str, start: int, end: int, **overrides: Any) -> VersionInfo:
    values: dict[str, Any] = {
        "name": "api-cert",
        "version": name,
        "enabled": True,
        "created_on": NOW + start * DAY,
        "not_before": NOW + start * DAY,
        "expires_on": NOW + end * DAY,
        "thumbprint": None,
    }
    values.update(overrides)
    return VersionInfo(**values)


def entry(outcome: str, **overrides: Any) -> HistoryEntry:
    values: dict[str, Any] = {"at": "2026-11-29T11:00:00Z", "trigger": "cli", "outcome": outcome}
    values.update(overrides)
    return HistoryEntry(**values)


def page(*targets: PageTarget) -> str:
    report = StatusReport(tuple(t.status for t in targets))
    return render_status_page(StatusPage(report, targets, NOW))


class Tags(HTMLParser):
    """Every start tag and attribute the way a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def card_badges(html: str) -> list[str]:
    """The badges of the page's one card, in order."""
    card = html[html.index('<section class="card') :]
    return re.findall(r'<span class="badge [a-z]+">([a-z]+)</span>', card)


def test_the_card_shows_the_attention_status_computes() -> None:
    """The card's word is ``TargetStatus.attention`` (as in the CLI and the JSON); a pin is an
    extra badge, never the word: a refused rotation is refused, not failing."""
    refused = LastOutcome("refused", "2026-11-29T11:00:00Z", "the API refused it", "cli")
    failed = LastOutcome("failed", "2026-11-29T11:00:00Z", "Graph answered 503", "timer")
    assert card_badges(page(PageTarget(status()))) == ["ok"]
    assert card_badges(page(PageTarget(status(in_sync=False)))) == ["behind"]
    assert card_badges(page(PageTarget(status(in_sync=False, last_outcome=refused)))) == ["refused"]
    assert card_badges(page(PageTarget(status(in_sync=False, last_outcome=failed)))) == ["failing"]
    assert card_badges(page(PageTarget(status(in_sync=None, error="boom")))) == ["failing"]
    assert card_badges(page(PageTarget(status(days_to_expiry=5)))) == ["expiring"]
    assert card_badges(page(PageTarget(status(pinned_version="v1")))) == ["ok", "pinned"]
    assert 'data-attention="refused"' in page(
        PageTarget(status(in_sync=False, last_outcome=refused))
    )


def test_a_failure_that_a_later_run_repaired_asks_for_nothing() -> None:
    """Graph in sync after a failed rotation: ``ok`` on the card, the failure still in the
    overview's last outcome."""
    failed = LastOutcome("failed", "2026-11-29T11:00:00Z", "Graph answered 503", "timer")
    html = page(PageTarget(status(last_outcome=failed), history=(entry("failed"),)))
    assert card_badges(html) == ["ok"]
    assert '<span class="outcome failed" title="timer · Graph answered 503">failed</span>' in html


def test_version_labels_say_what_each_version_is_for_the_connector() -> None:
    """In Graph (by thumbprint), the target, disabled, not yet valid, expired, usable."""
    target = PageTarget(status())
    assert version_label(target, version("v1", -300, 30, thumbprint="AA" * 20), NOW) == "in Graph"
    assert version_label(target, version("v2", -1, 365), NOW) == "target"
    assert version_label(target, version("v3", -2, 400, enabled=False), NOW) == "disabled"
    assert version_label(target, version("v4", 10, 400), NOW) == "not yet valid"
    assert version_label(target, version("v5", -400, -10), NOW) == "expired"
    assert version_label(target, version("v6", -50, 100), NOW) == "usable"


def test_a_basic_connector_holds_the_applied_version() -> None:
    """For a password, "in Graph" is the version the state store says was applied."""
    target = PageTarget(
        status(kind=CredentialKind.BASIC, applied_version="p1", target_version="p1")
    )
    assert version_label(target, version("p1", -10, 100), NOW) == "in Graph, target"


def test_timeline_draws_one_bar_per_version_and_today_after_the_bars() -> None:
    """The SVG has a bar per version, a today line at the right place, and the next expiry."""
    versions = (version("v1", -300, 30, thumbprint="AA" * 20), version("v2", -1, 365))
    svg = timeline(PageTarget(status(), versions=versions), NOW)
    assert svg.count("<rect") == 2
    assert 'class="version held"' in svg
    assert 'class="version target"' in svg
    today = line_x(svg, "today")
    expiry = line_x(svg, "expiry")
    assert 0 < today < expiry < 720


def line_x(svg: str, name: str) -> float:
    """The x of the timeline's ``name`` line (today, expiry)."""
    found = re.search(rf'class="{name}"><line x1="([\d.]+)"', svg)
    assert found is not None, f"no {name} line"
    return float(found.group(1))


def test_a_ten_year_version_does_not_flatten_the_timeline() -> None:
    """The window is bounded around today, so a long-lived version leaves today readable."""
    svg = timeline(PageTarget(status(), versions=(version("ca", -3650, 3650),)), NOW)
    today = line_x(svg, "today")
    assert 150 < today < 400


def test_every_outside_value_is_escaped() -> None:
    """Ids, errors, reasons, triggers, users and versions cannot inject markup."""
    target = PageTarget(
        status(
            connector_id=HOSTILE,
            key_vault_object=HOSTILE,
            graph=HOSTILE,
            in_sync=None,
            error=HOSTILE,
        ),
        versions=(version(HOSTILE, -1, 30),),
        history=(entry(HOSTILE, trigger=HOSTILE, reason=HOSTILE, requested_by=HOSTILE),),
    )
    html = page(target)
    assert [t for t, _ in tags_of(html) if t in ("script", "img")] == []
    assert "&lt;script&gt;" in html
    assert all(not name.startswith("on") for _, attrs in tags_of(html) for name in attrs)


def test_control_and_bidi_characters_are_written_out_as_the_cli_writes_them() -> None:
    """A stored reason or a Graph message holding a bidi override, an escape sequence, a C1
    control or a line break shows them as visible escapes (as `rotator history` does), never
    raw: the page cannot reorder or hide what an operator reads."""
    reason = "ok\u202e;reverted \u2066x\u2069 \x1b[31mred\x1b[0m \x85nel\nline \x00"
    message = "Graph says \u202btrusted\u202c\r\n"
    target = PageTarget(
        status(in_sync=None, error=message),
        history=(entry("failed", reason=reason, requested_by="ops\u202e"),),
    )
    html = page(target)
    hidden = {"\u202e", "\u202b", "\u202c", "\u2066", "\u2069", "\x1b", "\x85", "\x00", "\r"}
    assert not hidden.intersection(html)
    assert "ok\\u202e;reverted \\u2066x\\u2069 \\x1b[31mred\\x1b[0m \\x85nel\\nline \\x00" in html
    assert "Graph says \\u202btrusted\\u202c\\r\\n" in html
    assert "ops\\u202e" in html


def test_the_page_fetches_and_runs_nothing() -> None:
    """No script, no stylesheet link, no image or font URL: one self-contained file with a CSP."""
    html = page(
        PageTarget(status(), versions=(version("v2", -1, 365),), history=(entry("rotated"),))
    )
    tags = tags_of(html)
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object")]
    assert "url(" not in html
    assert "@import" not in html
    assert any(t == "meta" and a.get("http-equiv") == "Content-Security-Policy" for t, a in tags)
    assert "frame-ancestors" not in html  # a <meta> policy cannot carry it: the header does
    assert re.findall(r'src="', html) == []
    ids = {a["id"] for _, a in tags if "id" in a}
    links = [a["href"] for t, a in tags if t == "a"]
    assert links  # the overview's row and the card's way back
    assert all(link and link[0] == "#" and link[1:] in ids for link in links)


def test_summary_counts_each_attention() -> None:
    """The header counts targets per attention, most urgent first."""
    html = page(
        PageTarget(status(connector_id="a")),
        PageTarget(status(connector_id="b", in_sync=False)),
        PageTarget(status(connector_id="c", in_sync=False)),
    )
    assert re.findall(r'data-count="(\d+)">([^<]+)<', html) == [("2", "2 behind"), ("1", "1 ok")]


def test_a_close_expiry_is_marked_soon() -> None:
    """An expiry within 30 days is highlighted; a far one is not."""
    assert 'class="expiry soon"' in page(PageTarget(status(days_to_expiry=5)))
    assert 'class="expiry soon"' not in page(PageTarget(status(days_to_expiry=200)))


def test_a_tls_error_shows_its_fix() -> None:
    """An untrusted server certificate names ROTATOR_CA_BUNDLE on the page."""
    error = "no answer (ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed)"
    assert "ROTATOR_CA_BUNDLE" in page(PageTarget(status(in_sync=None, error=error)))


def test_browsers_get_the_page_and_api_clients_the_json() -> None:
    """Accept preferring text/html (a browser) or ?format=html picks the page; */*, JSON-first
    Accept headers and ?format=json pick the report."""
    from rotator.functions.service import wants_html

    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert wants_html(browser, None)
    assert wants_html(None, "html")
    assert wants_html("application/json", "HTML")
    assert not wants_html(browser, "json")
    assert not wants_html("*/*", None)
    assert not wants_html(None, None)
    assert not wants_html("application/json, text/html", None)


def test_a_deferred_certificate_is_shown_with_its_date() -> None:
    """A certificate waiting for its start date (overlap + probe) is a fact on the card."""
    html = page(PageTarget(status(deferred_until=NOW + 5 * DAY), (version("v2", -1, 300),), ()))
    assert "<dt>Deferred</dt><dd>a certificate not valid until 2026-12-04 12:00 UTC" in html
