"""Headless Chromium for the status page: find (or install) it, open a page, and read what the
browser's own layout measured (a script writes its figures into the DOM; ``--dump-dom`` brings
them back). Used by test_status_page.py and ``benchmarks/status_page.py``."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

# The demo's cards as the browser laid them out.
CARDS = """
const cards = [...document.querySelectorAll('section.card')].map(c => ({
  id: c.dataset.connector, attention: c.dataset.attention,
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
Object.assign(measured, {
  cards, innerWidth, scrollWidth: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight, smallestText: Math.min(...sizes),
  summary: document.querySelector('.summary').textContent,
  refusedColor: getComputedStyle(document.querySelector('.badge.refused')).backgroundColor,
  scripts: document.scripts.length,
});
"""

# Every label that could collide: per card, the timeline's texts, the legend's keys and the
# header's parts; on the page, the summary's badges. Two labels overlap when their boxes share
# more than a pixel both ways. The bars' labels: shown, at least 9 px tall, inside the timeline.
LABELS = """
const shown = e => { const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden' ? r : null; };
const overlaps = [];
const check = (group) => {
  const boxes = group.map(e => [e, shown(e)]).filter(([, r]) => r);
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (w > 1 && h > 1) overlaps.push([a.textContent, b.textContent]);
  }
};
const sections = [...document.querySelectorAll('section.card')];
for (const c of sections) {
  check([...c.querySelectorAll('svg text, figcaption .key, .card > header > *')]);
}
check([...document.querySelectorAll('.summary li')]);
const barLabels = sections.flatMap(c => {
  const svg = c.querySelector('svg').getBoundingClientRect();
  return [...c.querySelectorAll('svg g.version text')].map(t => {
    const r = t.getBoundingClientRect();
    return { text: t.textContent, height: r.height, width: r.width,
      inside: r.left >= svg.left - 1 && r.right <= svg.right + 1,
      display: getComputedStyle(t).display };
  });
});
Object.assign(measured, {
  overlaps, barLabels, labels: document.querySelectorAll('svg text').length,
  innerWidth, scrollWidth: document.documentElement.scrollWidth,
  rows: [...document.querySelectorAll('table.overview tbody tr')].map(r => r.dataset.attention),
  cardOrder: sections.map(c => c.id),
  links: [...document.querySelectorAll('table.overview a')].map(a => a.getAttribute('href')),
});
"""


def install_chromium() -> str | None:
    """The browser's path, installed from Debian's packages when missing and allowed (root)."""
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        subprocess.run(
            command,
            check=False,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=900,
        )
    return shutil.which("chromium")


def headless(browser: str, profile: Path) -> list[str]:
    """The command line of a headless Chromium with its own profile directory."""
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
    """Open ``page`` (``args``: what to do with it); what Chromium printed."""
    result = subprocess.run(
        [*chromium, *args, page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def measure(chromium: list[str], page: Path, width: int, *scripts: str) -> dict[str, Any]:
    """Load a copy of ``page`` at ``width`` px with ``scripts`` (default ``CARDS``) run after
    it; what they measured, and ``parsedMs``: from navigation until the scripts ran, the whole
    document parsed, styled and laid out."""
    source = page.read_text(encoding="utf-8")
    # the page's CSP forbids every script (as it should): the measuring copy drops it
    source = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", source)
    script = (
        "<script>const measured = {};document.body.getBoundingClientRect();"
        "measured.parsedMs = performance.now();"
        + "".join(scripts or (CARDS,))
        + "document.body.setAttribute('data-measured', JSON.stringify(measured));</script>"
    )
    copy = page.with_name(f"measured-{width}-{page.name}")
    copy.write_text(source.replace("</body>", script + "</body>"), encoding="utf-8")
    dom = browse(chromium, copy, f"--window-size={width},900", "--dump-dom")
    found = re.search(r'data-measured="([^"]*)"', dom)
    assert found, dom[:500]
    measured: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return measured
