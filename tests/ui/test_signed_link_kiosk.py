"""A signed read-only link on a wall screen, in the browser with sign-in on: a desk-scoped analyst makes
a link to the pivot's kiosk view through the API; another browser session opens it and sees that view,
without chrome, with the analyst's desk totals (checked against DuckDB over the fixture files), and
nothing else; once the analyst revokes the link the screen's next load is refused."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from backend.access.install import EXTENSION_KEY
from backend.access.principal import DataScope
from backend.config import load_settings
from backend.warehouse import Warehouse
from tests.ui.pivot_support import HELD, cell_texts, number, rows, total_text

PASSWORD = "a long enough passphrase 42"
ANALYST = "desk-ana"
DESK = "Commodities"
QUERY = "rows=desk&kiosk=1"
# fetch with the session's CSRF token (the cookie Dash's renderer echoes), answering [status, body]
FETCH_JS = """
    const [method, url, body, done] = arguments;
    const csrf = (document.cookie.split('; ').find(c => c.startsWith('_csrf_token=')) || '').split('=')[1] || '';
    fetch(url, {method: method, credentials: 'same-origin',
                headers: {'Content-Type': 'application/json', 'X-CSRFToken': decodeURIComponent(csrf)},
                body: body === null ? undefined : JSON.stringify(body)})
        .then(r => r.text().then(t => done([r.status, t])))
        .catch(e => done([0, String(e)]));
"""


@pytest.fixture
def link_app(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse):
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, auth="on")
    app = create_app(settings, market=False)
    app.server.extensions[EXTENSION_KEY].accounts.create_user(
        ANALYST, display_name="Desk Analyst", password=PASSWORD, roles=("analyst",),
        scope=DataScope(desks=frozenset({DESK})), actor=ANALYST)
    return app


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    return con


def _path(dash_duo) -> str:
    return dash_duo.driver.execute_script("return location.pathname + location.search")


def _fetch(dash_duo, method: str, url: str, body: dict | None = None) -> tuple[int, str]:
    status, text = dash_duo.driver.execute_async_script(FETCH_JS, method, url, body)
    return status, text


def _visible(dash_duo, css: str) -> bool:
    return bool(dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).some(e => e.getClientRects().length > 0)", css))


def _go(dash_duo, path: str) -> None:
    """Navigate inside the page, as a link in it would (no reload)."""
    dash_duo.driver.execute_script(
        "window.history.pushState({}, '', arguments[0]); window.dispatchEvent(new PopStateEvent('popstate'))", path)


def _totals(dash_duo) -> tuple[list[str], float]:
    until(lambda: len(rows(dash_duo)) > 0 and total_text(dash_duo, "pnl"), timeout=90)
    labels = [r["label"] for r in rows(dash_duo)]
    assert [number(t) for t in cell_texts(dash_duo, "pnl")] == [number(total_text(dash_duo, "pnl"))]
    return labels, number(total_text(dash_duo, "pnl"))


def _only_refusals(dash_duo, statuses: tuple[str, ...]) -> None:
    """The browser reports each refused request as a console error: those, and nothing else."""
    logs = dash_duo.get_logs()
    assert logs and all(any(f"status of {s}" in e["message"] for s in statuses) for e in logs), \
        [e["message"][-200:] for e in logs]


def _switch_to(dash_duo, cookies: list[dict]) -> None:
    """This browser becomes the one whose cookies are given (another person's browser)."""
    dash_duo.driver.delete_all_cookies()
    for cookie in cookies:
        dash_duo.driver.add_cookie({k: v for k, v in cookie.items() if k in ("name", "value", "path", "httpOnly")})


def test_a_signed_link_shows_its_kiosk_view_only_and_stops_when_revoked(dash_duo, link_app, duck) -> None:
    access = link_app.server.extensions[EXTENSION_KEY]
    dash_duo.start_server(link_app, navigate=False)
    base = dash_duo.server.url.rstrip("/")
    driver = dash_duo.driver

    # the analyst signs in and sees their desk
    driver.get(base + "/signin?next=/pivot")
    dash_duo.wait_for_element("#signin-form", timeout=20)
    dash_duo.find_element("#user").send_keys(ANALYST)
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#signin-submit").click()
    until(lambda: _path(dash_duo) == "/pivot", timeout=20)
    driver.get(base + "/pivot?rows=desk")
    seen_by_analyst = _totals(dash_duo)

    # a link of the kiosk view, made through the API with the session's CSRF token
    for hostile in ({"path": "/admin/users", "query": "", "days": 1}, {"path": "/pivot", "query": QUERY, "days": 0},
                    {"path": "/pivot", "query": "x" * 100_000, "days": 1}, {"path": "/pivot", "days": "1; drop"}):
        refused, text = _fetch(dash_duo, "POST", "/api/v1/links", hostile)
        assert refused in (400, 413) and "error" in text, (hostile.keys(), refused, text[:200])
    assert access.links.list(ANALYST) == []  # nothing was made of them
    _only_refusals(dash_duo, ("400", "413"))
    status, text = _fetch(dash_duo, "POST", "/api/v1/links",
                          {"path": "/pivot", "query": QUERY, "days": 1, "label": "Wall screen"})
    assert status == 201, text
    made = json.loads(text)
    url, link_id = made["url"], made["link"]["id"]
    assert url.startswith("/l/")
    analyst_cookies = driver.get_cookies()

    # a wall screen: another browser session opens the link
    driver.delete_all_cookies()
    driver.get(base + url)
    until(lambda: _path(dash_duo) == "/pivot?" + QUERY, timeout=20)
    labels, pnl = _totals(dash_duo)
    day = duck.execute("SELECT max(trade_date) FROM trades WHERE desk = ?", [DESK]).fetchone()[0]
    want = duck.execute(f"SELECT sum(pnl) FROM trades WHERE desk = ? AND trade_date = ? AND {HELD}",
                        [DESK, day]).fetchone()[0]
    assert labels == [DESK]
    assert pnl == pytest.approx(want, abs=1)
    assert (labels, pnl) == seen_by_analyst
    # a kiosk: no header, no user menu, no controls
    until(lambda: not _visible(dash_duo, "#shell-nav") and not _visible(dash_duo, ".pivot-toolbar"), timeout=10)
    assert not driver.find_elements(By.ID, "shell-user")
    assert not _visible(dash_duo, ".saved-views") and not _visible(dash_duo, ".job-progress")
    assert dash_duo.get_logs() == []

    # nothing else opens: not from the page, not by address, not the API
    _go(dash_duo, "/board")
    dash_duo.wait_for_contains_text("#access-denied", "No access to this page", timeout=30)
    assert "one page only" in dash_duo.find_element("#access-denied").text
    for path in ("/", "/market", "/admin/links"):
        driver.get(base + path)
        dash_duo.wait_for_contains_text("#access-denied", "No access to this page", timeout=30)
        assert not rows(dash_duo), path
    status, text = _fetch(dash_duo, "POST", "/api/v1/pivot", {"rows": ["desk"]})
    assert status == 403 and "does not open the API" in text
    _only_refusals(dash_duo, ("403",))
    driver.get(base + "/pivot?" + QUERY)
    assert _totals(dash_duo) == (labels, pnl)  # its own view still shows
    # another view of the same page, by address: the screen shows the link's view, not that one
    driver.get(base + "/pivot?rows=book&m=pnl&kiosk=1")
    assert _totals(dash_duo) == (labels, pnl)
    assert dash_duo.get_logs() == []
    kiosk_cookies = driver.get_cookies()

    # the analyst revokes the link from their own session
    _switch_to(dash_duo, analyst_cookies)
    driver.get(base + "/settings")
    dash_duo.wait_for_element("#settings-save", timeout=30)
    status, text = _fetch(dash_duo, "DELETE", f"/api/v1/links/{link_id}")
    assert status == 200, text
    assert access.links.get(link_id).status == "revoked"

    # the screen's next load is refused: no numbers, the sign-in page
    _switch_to(dash_duo, kiosk_cookies)
    driver.get(base + "/pivot?" + QUERY)
    dash_duo.wait_for_element("#signin-form", timeout=20)
    assert _path(dash_duo).startswith("/signin")
    assert not rows(dash_duo)
    assert dash_duo.get_logs() == []
    driver.get(base + url)  # and the link itself no longer opens (a 403 page, which the browser reports)
    until(lambda: "does not open" in driver.find_element(By.TAG_NAME, "body").text, timeout=20)
    _only_refusals(dash_duo, ("403",))
