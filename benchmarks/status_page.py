"""The status page for 200 connectors: render time, file size and headless Chromium's load time.

Run: ./dev bench (``BENCH_TARGETS`` changes the fleet's size, ``BENCH_RUNS`` the renders timed).
The page is tests/unit/faces/fleet.py's (three failing, five behind, ten expiring, the rest ok,
each with two or three Key Vault versions and a last rotation). Chromium opens it at 1280 px;
the figure is the time from navigation to a script at the end of the page, after the whole
document was parsed, styled and laid out, and the wall time with the browser's start. Exits 1
if the browser's overview does not list the failing, behind and expiring connectors first; the
figures themselves are printed, never judged.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rotator.faces.render_html import render_status_page  # noqa: E402
from tests.integration.browser import LABELS, headless, install_chromium, measure  # noqa: E402
from tests.unit.faces.fleet import FLEET, SIZES, fleet_page  # noqa: E402


def main() -> int:
    size = int(os.environ.get("BENCH_TARGETS", FLEET))
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    page, _ = fleet_page(size)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        html = render_status_page(page)
        timings.append(time.perf_counter() - started)
    print(f"status page for {size} targets")
    print(f"  render (median of {runs})   {statistics.median(timings) * 1000:8.0f} ms")
    print(f"  file size                 {len(html.encode()) / 1024:8.0f} KB")
    browser = install_chromium()
    if browser is None:
        print("  Chromium                  not installed: no browser figure")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "status.html"
        path.write_text(html, encoding="utf-8")
        started = time.perf_counter()
        measured = measure(headless(browser, Path(tmp) / "profile"), path, 1280, LABELS)
        wall = time.perf_counter() - started
    print(f"  Chromium parse + layout   {measured['parsedMs']:8.0f} ms")
    print(f"  Chromium with its start   {wall:8.1f} s")
    expected = [word for word, n in SIZES.items() for _ in range(n)]
    if measured["rows"][: len(expected)] != expected or measured["overlaps"]:
        print("FAILED: the overview is out of order or labels overlap", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
