"""Pivot page responsiveness in a real browser, beside the engine's own time.

    .venv/bin/python benchmarks/pivot_browser.py [--rows 20000000] [--actions 24]

Generates trades once per row count under /tmp/deskboard-bench/<rows> (reused on
later runs), loads them into a throwaway chDB folder, serves the app on
127.0.0.1 with a free port and drives headless Chromium through analyst actions:
change the row hierarchy, expand a group, sort by P&L. For each action it prints
the time from the click to the grid showing the new data (p50, p95), and beside
it the server time of the same pivot request through the REST API, uncached.
Target: p50 <= 500 ms for the browser figure.
"""

from __future__ import annotations

import argparse
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

ROW_IDS = """return Array.from(document.querySelectorAll('#pivot-grid .ag-pinned-left-cols-container .ag-row'))
  .sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index')).map(r => r.getAttribute('row-id'));"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(rows: int) -> Path:
    from backend.datagen import generate_to_folder

    folder = Path("/tmp/deskboard-bench") / str(rows)
    if not (folder / "instruments.parquet").exists():
        print(f"generating {rows:,} trades into {folder} (once) ...", flush=True)
        generate_to_folder(folder, rows=rows, start=date(2024, 1, 2), end=date(2024, 3, 29), seed=7)
    return folder


def _serve(rows: int) -> tuple[Any, str, Path]:
    from werkzeug.serving import make_server

    from app import create_app
    from backend.api.trades import trades_api
    from backend.config import load_settings
    from backend.warehouse import open_warehouse
    from backend.warehouse.loader import load_folder

    work = Path(tempfile.mkdtemp(prefix="deskboard-bench-"))
    url = f"chdb://{work / 'warehouse'}"
    started = time.perf_counter()
    report = load_folder(open_warehouse(url, "bench"), _data(rows))
    print(f"loaded {report.trades:,} trades in {time.perf_counter() - started:.1f} s", flush=True)
    app = create_app(load_settings(data_dir=work / "app", warehouse_dsn=url, warehouse_database="bench", demo_rows=0))
    if "trades_api" not in app.server.blueprints:
        app.server.register_blueprint(trades_api)
    port = _free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, f"http://127.0.0.1:{port}", work


def _browser() -> Any:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", "--window-size=1920,1080"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options)


def _wait_change(driver: Any, before: list[str], timeout: float = 60.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        now = driver.execute_script(ROW_IDS)
        if now and now != before:
            return (time.perf_counter() - started) * 1000
        time.sleep(0.005)
    raise TimeoutError("the grid did not change")


def _act(driver: Any, kind: str) -> float:
    from selenium.webdriver.common.by import By

    before = driver.execute_script(ROW_IDS)
    if kind == "dimension":
        target = driver.find_element(By.CSS_SELECTOR, ".pivot-row-item button:not([disabled])")
    elif kind == "expand":
        target = driver.find_element(By.CSS_SELECTOR, "#pivot-grid .pivot-chevron")
    else:
        target = driver.find_element(By.CSS_SELECTOR, "#pivot-grid .ag-header-cell[col-id='pnl'] .ag-header-cell-label")
    started = time.perf_counter()
    target.click()
    _wait_change(driver, before)
    return (time.perf_counter() - started) * 1000


def _api_ms(app: Any, driver: Any) -> float:
    from urllib.parse import urlsplit

    from backend.pivot.view_state import parse_view

    body = parse_view(urlsplit(driver.current_url).query).state.to_request(cache=False)
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--actions", type=int, default=24)
    args = parser.parse_args()
    app, base, work = _serve(args.rows)
    driver = _browser()
    try:
        driver.get(base + "/pivot?rows=portfolio_manager_id,asset_class,symbol&m=notional,pnl,quantity")
        _wait_change(driver, [])
        kinds = ["dimension", "expand", "sort"]
        browser: dict[str, list[float]] = {k: [] for k in kinds}
        server: dict[str, list[float]] = {k: [] for k in kinds}
        for i in range(args.actions):
            kind = kinds[i % len(kinds)]
            browser[kind].append(_act(driver, kind))
            if kind != "expand":  # expanding needs no server round trip
                server[kind].append(_api_ms(app, driver))
        print(f"\npivot page on {args.rows:,} rows, {args.actions} actions (ms)")
        print(f"{'action':<11}{'n':>4}{'browser p50':>13}{'p95':>9}{'API p50 (same request, uncached)':>36}")
        everything = [v for k in kinds for v in browser[k]]
        for kind in kinds:
            api = f"{statistics.median(server[kind]):>10.0f}" if server[kind] else f"{'(none)':>10}"
            print(f"{kind:<11}{len(browser[kind]):>4}{statistics.median(browser[kind]):>13.0f}"
                  f"{_pct(browser[kind], 0.95):>9.0f}{api:>36}")
        print(f"{'all':<11}{len(everything):>4}{statistics.median(everything):>13.0f}{_pct(everything, 0.95):>9.0f}")
        print(f"target p50 <= 500 ms: {'met' if statistics.median(everything) <= 500 else 'NOT met'}")
    finally:
        driver.quit()
        from backend.warehouse import close_all

        close_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
