"""Pivot page responsiveness in a real browser, beside the engine's own time.

    .venv/bin/python benchmarks/pivot_browser.py [--rows 200000] [--loads 5] [--actions 24]
    .venv/bin/python benchmarks/pivot_browser.py --rows 20000000 --data /tmp/deskboard-bench/20000000 \
        --warehouse /tmp/deskboard-bench/wh-20000000     # load once, reuse on later runs

Generates trades once per row count under /tmp/deskboard-bench/<rows> (or reads an
existing generator folder given with --data), loads them into a throwaway chDB
folder, serves the app on 127.0.0.1 with a free port and drives headless Chromium
(Playwright, Debian's chromium):

* first data: navigation start to the first grid row on screen, for ``--loads``
  loads of the same link with the browser cache warm (one warm-up load first);
  it also reports whether "No trades match this view" ever showed on the way;
* actions: click to the grid showing different data (row ids or numbers), timed in
  the page by a MutationObserver — change the hierarchy, expand a group, sort by
  P&L, pick another trade date — with the server time of the same pivot request
  through the REST API, uncached, beside it.

Targets: first data p50 <= 1500 ms; each action p50 <= 500 ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START, END = date(2024, 1, 2), date(2024, 3, 29)  # the generated data's trade dates
LINK = "/pivot?rows=portfolio_manager_id,asset_class,symbol&m=notional,pnl,quantity,gross_exposure"
FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")
# Installed before the page's own scripts: when the first row shows, and whether the empty text ever did.
WATCH = """
window.__firstRow = null; window.__emptySeen = false;
new MutationObserver(function () {
  const grid = document.getElementById('pivot-grid');
  if (!grid) return;
  if (window.__firstRow === null && grid.querySelector('.ag-center-cols-container .ag-row')) {
    window.__firstRow = performance.now();
  }
  if (grid.innerText.indexOf('No trades match this view') >= 0) window.__emptySeen = true;
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
# Clicks ``selector`` (after ``prepare``, untimed) and resolves with the ms until the grid differs.
ACT = """
async ([prepare, selector]) => {
  const grid = document.getElementById('pivot-grid');
  const look = () => Array.from(grid.querySelectorAll('.ag-row')).map(r => r.getAttribute('row-id') + '|'
    + r.getAttribute('row-index') + '|' + r.innerText).join('\\n');
  if (prepare) {
    document.querySelector(prepare).click();
    await new Promise(r => setTimeout(r, 400));
  }
  const target = document.querySelector(selector);
  if (!target) throw new Error('nothing to click: ' + selector);
  const before = look();
  return await new Promise((resolve, reject) => {
    let started;
    const observer = new MutationObserver(() => {
      if (look() !== before) { observer.disconnect(); resolve(performance.now() - started); }
    });
    observer.observe(grid, {subtree: true, childList: true, characterData: true, attributes: true});
    setTimeout(() => { observer.disconnect(); reject(new Error('the grid did not change')); }, 60000);
    started = performance.now();
    target.click();
  });
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(rows: int, given: Path | None) -> Path:
    if given is not None:
        return given
    from backend.datagen import generate_to_folder

    folder = Path("/tmp/deskboard-bench") / str(rows)
    if not (folder / "instruments.parquet").exists():
        print(f"generating {rows:,} trades into {folder} (once) ...", flush=True)
        generate_to_folder(folder, rows=rows, start=START, end=END, seed=7)
    return folder


def _serve(rows: int, data: Path | None, warehouse: Path | None) -> tuple[Any, str, Path]:
    from werkzeug.serving import make_server

    from app import create_app
    from backend.config import load_settings
    from backend.warehouse import open_warehouse
    from backend.warehouse.loader import load_folder

    work = Path(tempfile.mkdtemp(prefix="deskboard-bench-"))
    folder = warehouse or work / "warehouse"
    url = f"chdb://{folder}"
    loaded = folder / "LOADED"
    if not loaded.exists():
        started = time.perf_counter()
        report = load_folder(open_warehouse(url, "bench"), _data(rows, data))
        print(f"loaded {report.trades:,} trades in {time.perf_counter() - started:.1f} s", flush=True)
        if warehouse is not None:
            loaded.write_text(f"{report.trades}\n")
    else:
        print(f"reusing the loaded warehouse {folder}", flush=True)
    app = create_app(load_settings(data_dir=work / "app", warehouse_dsn=url, warehouse_database="bench", demo_rows=0),
                     market=False)
    port = _free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, f"http://127.0.0.1:{port}", work


def _api_ms(app: Any, url: str) -> float:
    from urllib.parse import urlsplit

    from backend.pivot.view_state import parse_view

    body = parse_view(urlsplit(url).query).state.to_request(cache=False)
    with app.server.test_client() as client:
        started = time.perf_counter()
        reply = client.post("/api/v1/pivot", json=body)
        elapsed = (time.perf_counter() - started) * 1000
    if reply.status_code != 200:
        raise RuntimeError(reply.json)
    return elapsed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _first_data(page: Any, url: str, loads: int) -> tuple[list[float], int]:
    times, flashes = [], 0
    for i in range(loads + 1):
        page.goto(url, wait_until="commit")
        page.wait_for_function("window.__firstRow !== null", timeout=120_000)
        page.wait_for_timeout(300)
        if i == 0:
            continue  # warm-up: fills the browser and result caches
        times.append(page.evaluate("window.__firstRow"))
        flashes += bool(page.evaluate("window.__emptySeen"))
    return times, flashes


def _days(app: Any) -> list[str]:
    """Up to three recent trade dates in the latest month (the month the date picker opens on)."""
    with app.server.test_client() as client:
        reply = client.post("/api/v1/pivot", json={"dimensions": ["trade_date"], "metrics": ["trade_count"],
                                                   "sort": {"field": "trade_date", "direction": "desc"}, "limit": 4})
    days = [r["trade_date"] for r in reply.json["rows"] if r.get("trade_date")]
    return [d for d in days if d[:7] == days[0][:7]][1:4] or days[:1]


def _label(day: str) -> str:
    d = date.fromisoformat(day)
    return f"{d.day} {d:%B %Y}"


def _action(page: Any, kind: str, i: int, days: list[str]) -> float:
    if kind == "dimension":
        return page.evaluate(ACT, [None, ".pivot-row-item button[aria-label^='Move'][aria-label$='down']"])
    if kind == "expand":
        return page.evaluate(ACT, [None, "#pivot-grid .pivot-chevron"])
    if kind == "sort":
        return page.evaluate(ACT, [None, "#pivot-grid .ag-header-cell[col-id='pnl'] .ag-header-cell-label"])
    # A single day in the range picker is two clicks on it; the second one sends the view.
    day = f"button[aria-label='{_label(days[i % len(days)])}']"
    page.click("#pivot-dates")
    page.click(day)
    return page.evaluate(ACT, [None, day])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--data", type=Path, default=None, help="an existing generator folder to load instead")
    parser.add_argument("--warehouse", type=Path, default=None,
                        help="a chDB folder to load once and reuse (kept); default: a throwaway one")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--actions", type=int, default=24)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    app, base, work = _serve(args.rows, args.data, args.warehouse)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=list(FLAGS))
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.add_init_script(WATCH)
            first, flashes = _first_data(page, base + LINK, args.loads)
            days = _days(app)
            kinds = ["dimension", "expand", "sort", "date"]
            measured: dict[str, list[float]] = {k: [] for k in kinds}
            server: dict[str, list[float]] = {k: [] for k in kinds}
            for i in range(args.actions):
                kind = kinds[i % len(kinds)]
                measured[kind].append(_action(page, kind, i // len(kinds), days))
                page.wait_for_timeout(250)  # let the URL and the other callbacks settle
                if kind != "expand":  # expanding needs no server round trip
                    server[kind].append(_api_ms(app, page.url))
            browser.close()
        print(f"\npivot page on {args.rows:,} rows ({base}{LINK})")
        print(f"first data after navigation, {len(first)} warm loads (ms): p50 {statistics.median(first):.0f}, "
              f"max {max(first):.0f}; empty text seen on {flashes} of {len(first)}")
        print(f"\n{'action':<11}{'n':>4}{'browser p50':>13}{'p95':>9}{'API p50 (same request, uncached)':>36}")
        kinds = [k for k in kinds if measured[k]]
        everything = [v for k in kinds for v in measured[k]]
        for kind in kinds:
            api = f"{statistics.median(server[kind]):>10.0f}" if server[kind] else f"{'(none)':>10}"
            print(f"{kind:<11}{len(measured[kind]):>4}{statistics.median(measured[kind]):>13.0f}"
                  f"{_pct(measured[kind], 0.95):>9.0f}{api:>36}")
        if everything:
            print(f"{'all':<11}{len(everything):>4}{statistics.median(everything):>13.0f}"
                  f"{_pct(everything, 0.95):>9.0f}")
        worst = max((statistics.median(measured[k]) for k in kinds), default=0.0)
        print(f"targets: first data p50 <= 1500 ms: {'met' if statistics.median(first) <= 1500 else 'NOT met'}; "
              f"each action p50 <= 500 ms: {'met' if worst <= 500 else 'NOT met'}")
        print(json.dumps({"first_ms": first, "actions_ms": measured}), file=sys.stderr)
    finally:
        from backend.warehouse import close_all

        close_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
