"""/admin/system in a real browser: the figures a scrape of /metrics gives, refreshed, with /board live beside it."""

from __future__ import annotations

import json
import math
import re
import urllib.request
from pathlib import Path

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from backend.config import load_settings
from backend.market.feed.simulated import SimulatorFeed
from backend.market.runtime import install_market_service
from backend.market.service import ServiceSettings
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.warehouse import Warehouse
from tests.backend.observability_support import parse, value


def _get(url: str, headers: dict[str, str] | None = None) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=20) as response:
        return response.read()


def _post(url: str, body: dict) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def _text(dash_duo, css: str) -> str:
    try:
        return dash_duo.find_element(css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _stat(dash_duo, name: str, part: str = "stat") -> str:
    return _text(dash_duo, f'[id=\'{{"name":"{name}","type":"system-{part}"}}\']')


def _cell(dash_duo, grid: str, row: str, column: str) -> str:
    return _text(dash_duo, f"#{grid} .ag-center-cols-container .ag-row[row-id='{row}'] [col-id='{column}']")


def _quantile(q: float, samples: dict, name: str, **labels: str) -> float:
    """Prometheus' histogram_quantile, written out here from the scrape's own buckets."""
    bounds = sorted({float(dict(lbl)["le"]) for (n, lbl) in samples if n == f"{name}_bucket"})
    cumulative = [(b, value(samples, f"{name}_bucket", **labels, le=_le(b))) for b in bounds]
    total = cumulative[-1][1]
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank and count > below:
            return lower if math.isinf(bound) else lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = (bound if not math.isinf(bound) else lower), count
    return lower


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


@pytest.fixture
def live_app(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse):
    """The app on the fixture trades, with the simulated market feed (started after the server)."""
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0)
    app = create_app(settings, market=False)
    service = install_market_service(app.server, app.server.extensions[STORES_KEY],
                                     feed_factory=lambda: SimulatorFeed(rate=200, speed=1, seed=3),
                                     settings=ServiceSettings(stale_seconds=5.0, tick_seconds=0.25), start=False)
    yield app, service
    service.stop()


def test_the_system_page_shows_the_metrics_figures_with_the_board_live_in_another_tab(dash_duo, live_app) -> None:
    app, service = live_app
    dash_duo.start_server(app)
    service.start(service.pipeline)
    base = dash_duo.server_url
    for _ in range(5):
        _get(base + "/health")
    body = {"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"trade_date": "2024-01-08"}}
    for _ in range(3):
        _post(base + "/api/v1/pivot", body)
    until(lambda: service.status()["state"] == "live", timeout=30)

    driver = dash_duo.driver
    dash_duo.wait_for_page(base + "/board")
    until(lambda: driver.find_elements(By.CSS_SELECTOR, "#board-grid .ag-row"), timeout=30)
    board_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    samples = parse(_get(base + "/metrics"))
    dash_duo.wait_for_page(base + "/admin/system")
    health = "GET /health"
    until(lambda: _cell(dash_duo, "system-routes", health, "requests"), timeout=20)
    name = "deskboard_http_request_duration_seconds"
    count = value(samples, f"{name}_count", route="/health", method="GET")
    assert count >= 5

    # The page opens on the last five minutes: at least this test's five /health requests, at most
    # all of them since the server started, and it says which span it covers.
    assert 5 <= int(_cell(dash_duo, "system-routes", health, "requests")) <= count
    assert _text(dash_duo, "#system-updated").startswith("Over the last ")

    # Since start: nothing else asks for /health, so the page's count is the scrape's; the
    # percentiles are the scrape's buckets interpolated as Prometheus does.
    dash_duo.driver.find_element(By.XPATH, "//*[@id='system-span']//label[normalize-space()='Since start']").click()
    until(lambda: _text(dash_duo, "#system-updated").startswith("Since the server started"), timeout=20)
    until(lambda: _cell(dash_duo, "system-routes", health, "requests") == f"{count:.0f}", timeout=10)
    for q, column in ((0.5, "p50"), (0.95, "p95")):
        expected = f"{_quantile(q, samples, name, route='/health', method='GET') * 1000:.1f}".rstrip("0").rstrip(".")
        until(lambda c=column, e=expected: _cell(dash_duo, "system-routes", health, c) == e, timeout=10,
              msg=f"{column} should read {expected}")

    # Failures only change when something fails, which nothing here does: the page's count is the scrape's.
    failed = sum(v for (n, lbl), v in samples.items()
                 if n == "deskboard_http_requests_total" and dict(lbl)["status"].startswith("5"))
    failed += sum(v for (n, _), v in samples.items() if n == "deskboard_dash_callback_errors_total")
    assert _stat(dash_duo, "error-rate", "detail").startswith(f"{failed:,.0f} failed")
    assert re.fullmatch(r"\d+\.\d\d %", _stat(dash_duo, "error-rate"))

    # Pivot: two of the three answers came from the cache.
    hits = value(samples, "deskboard_cache_lookups_total", kind="pivot", result="hit")
    lookups = hits + value(samples, "deskboard_cache_lookups_total", kind="pivot", result="miss")
    assert _stat(dash_duo, "pivot", "detail") == f"cache hit rate {hits / lookups * 100:.2f} %"
    assert hits >= 2

    # The feed is live: a lag of seconds, well under the stale threshold.
    until(lambda: "live" in _stat(dash_duo, "feed-lag", "detail"), timeout=20)
    lag = _stat(dash_duo, "feed-lag")
    assert re.fullmatch(r"\d+\.\d s", lag) and float(lag[:-2]) < 5.0

    # Memory: this process's resident size, as the scrape reports it (read a moment apart).
    rss = value(samples, "deskboard_process_resident_memory_bytes")
    shown = float(_stat(dash_duo, "memory").replace(",", "").split()[0])
    assert shown == pytest.approx(rss / 2**20, rel=0.2)

    # The page refreshes by itself: more requests appear without a reload.
    for _ in range(3):
        _get(base + "/health")
    until(lambda: _cell(dash_duo, "system-routes", health, "requests") == f"{count + 3:.0f}", timeout=20)
    # The board kept polling in its tab meanwhile, and its callbacks are listed by their outputs.
    until(lambda: _text(dash_duo, "#system-callbacks .ag-center-cols-container .ag-row"), timeout=20)
    driver.switch_to.window(board_tab)
    assert driver.find_elements(By.CSS_SELECTOR, "#board-grid .ag-row")
    assert dash_duo.get_logs() == []


def test_the_system_page_without_a_feed_says_so(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_page(dash_duo.server_url + "/admin/system")
    until(lambda: _stat(dash_duo, "feed-lag") == "no feed", timeout=20)
    assert _stat(dash_duo, "requests") != ""
    assert dash_duo.get_logs() == []


def test_an_admin_backs_up_the_running_app_and_sees_it_listed(dash_duo, deskboard_app, app_settings,
                                                               loaded_warehouse: Warehouse) -> None:
    from backend.backup import read_manifest

    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_page(dash_duo.server_url + "/admin/system")
    until(lambda: "No backups yet" in _text(dash_duo, "#system-backups"), timeout=20)
    dash_duo.find_element(_job_id("start")).click()
    until(lambda: "Completed" in _text(dash_duo, _job_id("text")), timeout=120)
    folders = list((app_settings.data_dir / "backups").iterdir())
    assert len(folders) == 1
    manifest = read_manifest(folders[0])
    assert manifest.mode == "online"
    trades = loaded_warehouse.query_rows("SELECT count() FROM {db}.trades_1d")[0][0]
    assert manifest.warehouse.tables["trades_1d"].rows == trades  # every trade, as the warehouse counts them
    # The list picks the new backup up on its next refresh, by the folder's name.
    until(lambda: folders[0].name in _text(dash_duo, "#system-backups"), timeout=20)
    assert dash_duo.get_logs() == []


def _job_id(part: str) -> str:
    return f"[id*='\"aio_id\":\"admin-backup\"'][id*='\"part\":\"{part}\"']"
