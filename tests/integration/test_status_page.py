"""The status page in a real browser (Debian's Chromium, headless): what it renders for the demo's
connectors, wide, narrow and printed; a screenshot is kept in ``.test-artifacts/``."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rotator.emulator import Emulator
from rotator.faces.demo import seed_demo
from rotator.faces.render_html import PageTarget, StatusPage, render_status_page
from rotator.model import CredentialKind
from rotator.standing import StatusReport, TargetStatus
from rotator.state.records import HistoryEntry
from rotator.steps.context import utcnow
from tests.unit.faces.fleet import fleet_page

from .browser import CARDS, LABELS, browse, headless, install_chromium, measure
from .conftest import (
    FOREIGN_AZURE_VARIABLES,
    SKIP_BROWSER_TESTS,
    browser_tests_opted_out,
    without_browser,
)
from .support import run_cli

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".test-artifacts"
BROWSER_TESTS = 8  # how many tests here use the ``chromium`` fixture


@pytest.fixture(scope="session")
def chromium(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The headless Chromium command line (its own profile directory); without a browser, a
    failure on CI and a skip elsewhere (said again at the end of the run)."""
    if browser_tests_opted_out():
        without_browser(request.config, f"{SKIP_BROWSER_TESTS}=1 is set")
    browser = install_chromium()
    if browser is None:
        without_browser(
            request.config,
            "Chromium is not installed and cannot be installed here (needs root and apt-get: "
            "`apt-get install chromium`)",
        )
    return headless(browser, tmp_path_factory.mktemp("chromium-profile"))


@pytest.fixture
def demo_page(emu: Emulator, tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, str]]:
    """The demo's vault and connectors after one `rotator rotate` (the certificate refused by its
    API, the password rotated), and `rotator status --html` of them."""
    config, expected = seed_demo(emu, io.StringIO())
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in FOREIGN_AZURE_VARIABLES and not k.startswith("ROTATOR_")
    }
    env.update(emu.env())
    env.update(ROTATOR_CONFIG=json.dumps(config), ROTATOR_STATE_DIR=str(tmp_path / "state"))
    run_cli(env, "rotate")
    page = tmp_path / "status.html"
    result = run_cli(env, "status", "--html", str(page))
    assert result.returncode == 1  # the certificate connector is behind
    assert f"status page written to {page}" in result.stderr
    return page, expected, env


def test_the_demo_status_page_renders_each_connector_at_a_glance(
    chromium: list[str], demo_page: tuple[Path, dict[str, str], dict[str, str]]
) -> None:
    """Wide window: two cards, the certificate its API refused first (``refused``), then the
    password (``ok``), a timeline bar per Key Vault version with today, the history; a
    screenshot is kept."""
    page, expected, _ = demo_page
    measured = measure(chromium, page, 1100)
    cards = {card["id"]: card for card in measured["cards"]}
    cert, basic = cards[expected["cert_connector"]], cards[expected["basic_connector"]]
    assert [card["id"] for card in measured["cards"]] == [
        expected["cert_connector"],
        expected["basic_connector"],
    ]
    assert cert["attention"] == "refused"
    assert cert["badges"] == ["refused"]
    assert basic["attention"] == "ok"
    assert (cert["bars"], basic["bars"]) == (4, 3)
    assert min(cert["barWidths"] + basic["barWidths"]) >= 2
    assert cert["today"] == basic["today"] == 1
    assert cert["svgWidth"] > 600
    assert cert["history"] == basic["history"] == 1
    assert measured["summary"] == "1 refused1 ok"
    assert measured["refusedColor"] == "rgb(142, 36, 77)"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    browse(chromium, page, f"--window-size=1100,{measured['height'] + 20}", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_stays_readable_in_a_narrow_window(
    chromium: list[str], demo_page: tuple[Path, dict[str, str], dict[str, str]]
) -> None:
    """In the narrowest window headless Chromium opens (500 px; the phone layout starts at 560)
    nothing overflows sideways, the timeline shrinks to fit, text stays at least 12 px, no two
    labels overlap and the bars keep their labels."""
    page, _, _ = demo_page
    measured = measure(chromium, page, 360, CARDS, LABELS)
    width = measured["innerWidth"]
    assert measured["overlaps"] == []
    assert all(label["height"] >= 9 and label["inside"] for label in measured["barLabels"])
    assert width <= 560
    assert measured["scrollWidth"] <= width
    assert all(card["right"] <= width for card in measured["cards"])
    assert all(0 < card["svgWidth"] < width - 32 for card in measured["cards"])
    assert measured["smallestText"] >= 12
    ARTIFACTS.mkdir(exist_ok=True)
    browse(
        chromium,
        page,
        f"--window-size={width},{measured['height'] + 20}",
        f"--screenshot={ARTIFACTS / 'status-page-narrow.png'}",
    )


def test_the_page_prints(
    chromium: list[str], demo_page: tuple[Path, dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    """Printing to PDF works and keeps the cards (one PDF with at least one page)."""
    page, _, _ = demo_page
    pdf = tmp_path / "status.pdf"
    browse(chromium, page, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 1


def test_the_page_runs_nothing_and_shows_no_secret(
    chromium: list[str], demo_page: tuple[Path, dict[str, str], dict[str, str]]
) -> None:
    """As the browser parsed it: no script, link, image or frame; no password, key or header."""
    page, expected, env = demo_page
    dom = browse(chromium, page, "--dump-dom")
    assert re.findall(r"<(script|link|img|iframe|object)\b", dom) == []
    for secret in (expected["password"], env["IDENTITY_HEADER"], "PRIVATE KEY", "BEGIN"):
        assert secret not in dom
        assert secret not in page.read_text()


def test_hostile_values_stay_text_in_the_browser(chromium: list[str], tmp_path: Path) -> None:
    """Markup, quotes and bidi overrides in an id, a display name, an error or a history reason
    are shown as text, never run or rendered; the overview's link still reaches the card."""
    hostile = '<script>document.title="owned"</script><img src=x onerror=alert(1)>\'"\u202e'
    status = TargetStatus(
        connector_id=hostile,
        kind=CredentialKind.BASIC,
        key_vault_object=hostile,
        in_sync=None,
        error=hostile,
        display_name=hostile,
    )
    target = PageTarget(status, history=(HistoryEntry("2026-01-01T00:00:00Z", hostile, hostile),))
    page = tmp_path / "hostile.html"
    page.write_text(
        render_status_page(StatusPage(StatusReport((status,)), (target,), utcnow())),
        encoding="utf-8",
    )
    dom = browse(chromium, page, "--dump-dom")
    assert "<title>rotator status</title>" in dom
    assert re.findall(r"<(script|img)\b", dom) == []
    assert dom.count("&lt;script&gt;") >= 5
    assert "\u202e" not in dom
    card = re.search(r'<section class="card failing" id="([A-Za-z0-9_-]+)"', dom)
    assert card
    assert f'href="#{card.group(1)}"' in dom


@pytest.fixture(scope="module")
def fleet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page of 200 connectors (three failing, five behind, ten expiring) as a file."""
    page, _ = fleet_page()
    path = tmp_path_factory.mktemp("fleet") / "fleet.html"
    path.write_text(render_status_page(page), encoding="utf-8")
    return path


def test_200_connectors_open_in_the_browser_most_urgent_first(
    chromium: list[str], fleet_file: Path
) -> None:
    """Chromium lays out the 200-connector page with the three failing rows first, then the
    five behind, then the ten expiring; the cards follow in that order and each row links to
    its card. The time it took is printed, never asserted."""
    started = time.perf_counter()
    measured = measure(chromium, fleet_file, 1280, LABELS)
    wall = time.perf_counter() - started
    print(
        f"\n200 connectors in Chromium: parsed and laid out in {measured['parsedMs']:.0f} ms "
        f"({wall:.1f} s with the browser's start), {fleet_file.stat().st_size / 1024:.0f} KB"
    )
    rows = measured["rows"]
    assert rows[:18] == ["failing"] * 3 + ["behind"] * 5 + ["expiring"] * 10
    assert set(rows[18:]) == {"ok"}
    assert len(rows) == len(measured["cardOrder"]) == 200
    assert measured["links"] == [f"#{anchor}" for anchor in measured["cardOrder"]]
    assert measured["scrollWidth"] <= measured["innerWidth"]


@pytest.mark.parametrize("width", [500, 1280])
def test_no_two_labels_overlap_and_the_bars_keep_their_labels(
    chromium: list[str], fleet_file: Path, width: int
) -> None:
    """At 500 and 1280 px no two labels of a card's timeline, legend or header (nor the
    summary's badges) overlap, and every bar's label is shown, at least 9 px tall and inside
    its timeline (at 500 px they used to be hidden and "today" sat on the months)."""
    measured = measure(chromium, fleet_file, width, LABELS)
    assert measured["innerWidth"] == width
    assert measured["overlaps"] == []
    labels = measured["barLabels"]
    assert len(labels) == 500  # 2 or 3 versions for each of the 200 connectors
    assert all(label["display"] != "none" for label in labels)
    assert min(label["height"] for label in labels) >= 9
    assert all(label["inside"] for label in labels), [x for x in labels if not x["inside"]][:3]
    assert measured["scrollWidth"] <= width


def _browser_tests_without_chromium(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The browser tests run by a fresh pytest whose PATH holds no browser (and no apt-get)."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if k not in {"CI", SKIP_BROWSER_TESTS}}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "browser", __file__],
        cwd=REPO,
        env={**clean, "PATH": str(empty), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_without_a_browser_ci_fails_the_browser_tests_with_one_line(tmp_path: Path) -> None:
    """With CI=true and no Chromium, the browser tests fail (exit 1) and say why in one line."""
    result = _browser_tests_without_chromium(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout
    assert f"{BROWSER_TESTS} errors" in result.stdout, result.stdout
    line = "Chromium is not installed and cannot be installed here"
    assert f"Failed: {line}" in result.stdout
    assert "on CI (CI=true) the status page's browser tests must run, not skip" in result.stdout


def test_on_ci_the_opt_out_does_not_skip_the_browser_tests(tmp_path: Path) -> None:
    """ROTATOR_SKIP_BROWSER_TESTS=1 does not turn CI's failure into a skip."""
    result = _browser_tests_without_chromium(tmp_path, CI="true", ROTATOR_SKIP_BROWSER_TESTS="1")
    assert result.returncode == 1, result.stdout
    assert "(ROTATOR_SKIP_BROWSER_TESTS does not apply on CI)" in result.stdout


def test_the_opt_out_skips_the_browser_tests_and_says_so_last(tmp_path: Path) -> None:
    """Off CI, ROTATOR_SKIP_BROWSER_TESTS=1 skips the browser tests (exit 0) and the run ends
    saying so."""
    result = _browser_tests_without_chromium(tmp_path, ROTATOR_SKIP_BROWSER_TESTS="1")
    assert result.returncode == 0, result.stdout
    assert f"{BROWSER_TESTS} skipped" in result.stdout, result.stdout
    banner = "BROWSER TESTS SKIPPED: ROTATOR_SKIP_BROWSER_TESTS=1 is set"
    assert banner in result.stdout.rstrip().splitlines()[-2], result.stdout  # before the counts


def test_off_ci_a_missing_browser_skips_and_says_so_last(tmp_path: Path) -> None:
    """Off CI with no Chromium the browser tests skip (exit 0) and the run ends saying why."""
    result = _browser_tests_without_chromium(tmp_path)
    assert result.returncode == 0, result.stdout
    assert f"{BROWSER_TESTS} skipped" in result.stdout, result.stdout
    assert "BROWSER TESTS SKIPPED: Chromium is not installed" in result.stdout
