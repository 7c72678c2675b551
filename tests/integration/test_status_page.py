"""The status page in a real browser (Debian's Chromium, headless): what it renders for the demo's
connectors, wide, narrow and printed; a screenshot is kept in ``.test-artifacts/``."""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rotator.emulator import Emulator
from rotator.faces.demo import seed_demo
from rotator.faces.render_html import PageTarget, StatusPage, render_status_page
from rotator.model import CredentialKind
from rotator.standing import StatusReport, TargetStatus
from rotator.state.records import HistoryEntry
from rotator.steps.context import utcnow

from .conftest import (
    FOREIGN_AZURE_VARIABLES,
    SKIP_BROWSER_TESTS,
    browser_tests_opted_out,
    without_browser,
)
from .support import run_cli

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".test-artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Measured inside the page by the browser's own layout and written into the DOM for --dump-dom.
MEASURE = """<script>
const cards = [...document.querySelectorAll('section.card')].map(c => ({
  id: c.dataset.connector, state: c.dataset.state,
  badges: [...c.querySelectorAll('.badge')].map(b => b.textContent),
  svgWidth: c.querySelector('svg').getBoundingClientRect().width,
  bars: c.querySelectorAll('svg g.version rect').length,
  barWidths: [...c.querySelectorAll('svg g.version rect')].map(r => r.getBoundingClientRect().width),
  today: c.querySelectorAll('svg g.today line').length,
  history: c.querySelectorAll('table.history tbody tr').length,
  right: c.getBoundingClientRect().right,
}));
const sizes = [...document.querySelectorAll('dd, td, .badge')].map(
  e => parseFloat(getComputedStyle(e).fontSize));
document.body.setAttribute('data-measured', JSON.stringify({
  cards, innerWidth, scrollWidth: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight, smallestText: Math.min(...sizes),
  summary: document.querySelector('.summary').textContent,
  failingColor: getComputedStyle(document.querySelector('.badge.failing')).backgroundColor,
  scripts: document.scripts.length,
}));
</script>"""


def install_chromium() -> str | None:
    """The browser's path, installed from Debian's packages when missing and allowed (root)."""
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 900}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, **quiet)  # type: ignore[call-overload]
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env, **quiet)  # type: ignore[call-overload]
    return shutil.which("chromium")


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
    profile = tmp_path_factory.mktemp("chromium-profile")
    return [
        browser,
        "--headless",
        "--no-sandbox",  # tests run as root on CI
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
    ]


def browse(chromium: list[str], page: Path, *args: str) -> str:
    result = subprocess.run(
        [*chromium, *args, page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def measure(chromium: list[str], page: Path, width: int) -> dict[str, Any]:
    """Load a copy of ``page`` with the measuring script at ``width`` px; the browser's figures."""
    source = page.read_text(encoding="utf-8")
    # the page's CSP forbids every script (as it should): the measuring copy drops it
    source = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", source)
    copy = page.with_name(f"measured-{width}.html")
    copy.write_text(source.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = browse(chromium, copy, f"--window-size={width},900", "--dump-dom")
    found = re.search(r'data-measured="([^"]*)"', dom)
    assert found, dom[:500]
    measured: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return measured


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
    """Wide window: two cards, the refused certificate failing and behind, the password in
    sync, a timeline bar per Key Vault version with today, the history; a screenshot is kept."""
    page, expected, _ = demo_page
    measured = measure(chromium, page, 1100)
    cards = {card["id"]: card for card in measured["cards"]}
    cert, basic = cards[expected["cert_connector"]], cards[expected["basic_connector"]]
    assert cert["state"] == "failing"
    assert cert["badges"] == ["failing", "behind"]
    assert basic["state"] == "in-sync"
    assert (cert["bars"], basic["bars"]) == (4, 3)
    assert min(cert["barWidths"] + basic["barWidths"]) >= 2
    assert cert["today"] == basic["today"] == 1
    assert cert["svgWidth"] > 600
    assert cert["history"] == basic["history"] == 1
    assert measured["summary"] == "1 failing1 in sync"
    assert measured["failingColor"] == "rgb(198, 40, 40)"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    browse(chromium, page, f"--window-size=1100,{measured['height'] + 20}", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_stays_readable_in_a_narrow_window(
    chromium: list[str], demo_page: tuple[Path, dict[str, str], dict[str, str]]
) -> None:
    """In the narrowest window headless Chromium opens (500 px; the phone layout starts at 560)
    nothing overflows sideways, the timeline shrinks to fit and text stays at least 12 px."""
    page, _, _ = demo_page
    measured = measure(chromium, page, 360)
    width = measured["innerWidth"]
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
    """Markup in an id, an error or a history reason is shown as text, never run or rendered."""
    hostile = '<script>document.title="owned"</script><img src=x onerror=alert(1)>'
    status = TargetStatus(
        connector_id=hostile,
        kind=CredentialKind.BASIC,
        key_vault_object=hostile,
        in_sync=None,
        error=hostile,
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
    assert dom.count("&lt;script&gt;") >= 3


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
    """With CI=true and no Chromium, the 5 browser tests fail (exit 1) and say why in one line."""
    result = _browser_tests_without_chromium(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout
    assert "5 errors" in result.stdout, result.stdout
    line = "Chromium is not installed and cannot be installed here"
    assert f"Failed: {line}" in result.stdout
    assert "on CI (CI=true) the status page's browser tests must run, not skip" in result.stdout


def test_on_ci_the_opt_out_does_not_skip_the_browser_tests(tmp_path: Path) -> None:
    """ROTATOR_SKIP_BROWSER_TESTS=1 does not turn CI's failure into a skip."""
    result = _browser_tests_without_chromium(tmp_path, CI="true", ROTATOR_SKIP_BROWSER_TESTS="1")
    assert result.returncode == 1, result.stdout
    assert "(ROTATOR_SKIP_BROWSER_TESTS does not apply on CI)" in result.stdout


def test_the_opt_out_skips_the_browser_tests_and_says_so_last(tmp_path: Path) -> None:
    """Off CI, ROTATOR_SKIP_BROWSER_TESTS=1 skips the 5 tests (exit 0) and the run ends saying so."""
    result = _browser_tests_without_chromium(tmp_path, ROTATOR_SKIP_BROWSER_TESTS="1")
    assert result.returncode == 0, result.stdout
    assert "5 skipped" in result.stdout, result.stdout
    banner = "BROWSER TESTS SKIPPED: ROTATOR_SKIP_BROWSER_TESTS=1 is set"
    assert banner in result.stdout.rstrip().splitlines()[-2], result.stdout  # before the counts


def test_off_ci_a_missing_browser_skips_and_says_so_last(tmp_path: Path) -> None:
    """Off CI with no Chromium the browser tests skip (exit 0) and the run ends saying why."""
    result = _browser_tests_without_chromium(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "5 skipped" in result.stdout, result.stdout
    assert "BROWSER TESTS SKIPPED: Chromium is not installed" in result.stdout
