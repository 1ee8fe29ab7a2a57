"""Each built-in role in the browser, with sign-in on: every page the role may open draws its numbers
without a console error (no control the role may not use is on the page, so no callback of it is
refused), the header links only to those pages, and the pages it may not open say so, quietly."""

from __future__ import annotations

from pathlib import Path

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from backend.access import permissions as p
from backend.access.install import EXTENSION_KEY
from backend.config import load_settings
from backend.market.runtime import install_market_service
from backend.market.service import ServiceSettings
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.warehouse import Warehouse
from backend.warehouse.loader import load_folder
from tests.backend.market_ui.feeds import ScriptedFeed
from tests.ui.board_support import Market
from tests.ui.pivot_support import rows

PASSWORD = "a long enough passphrase 42"
ROLES = ("viewer", "analyst", "trader", "admin")
PAGES = ("/", "/pivot", "/board", "/market", "/settings", "/admin")
ADMIN_PAGES = {  # the section pages, by what shows their content once drawn
    "/admin/users": "#users-grid .ag-row",
    "/admin/flags": "#flags-grid",
    "/admin/usage": "#usage-stats",
    "/admin/audit": "#audit-grid .ag-row",
    "/admin/links": "#links-grid",
    "/admin/sources": "#sources-grid .ag-row",
    "/admin/system": "#system-stats",
}
# What the header links to, by the permission each page declares ("/admin": any admin permission).
NAV = {"/": p.OVERVIEW_VIEW, "/pivot": p.PIVOT_VIEW, "/board": p.MARKET_VIEW, "/market": p.MARKET_VIEW,
       "/portfolio": p.PAPER_TRADE, "/admin": p.ADMIN_USERS, "/admin/system": p.ADMIN_SYSTEM, "/admin/usage": p.ADMIN_USAGE}
# Pending callbacks in Dash's store (the renderer keeps requested, prioritized, executing ... lists).
PENDING_JS = """
    if (!window.store) { return -1; }
    const state = Object.assign({}, window.store.getState().callbacks);
    delete state.stored; delete state.completed;
    return Object.values(state).reduce((n, list) => n + (list ? list.length : 0), 0);
"""


@pytest.fixture
def market(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse, trades_folder: Path):
    """The app with sign-in on over the fixture trades, with a scripted live market (as
    ``tests.ui.board_support`` runs it) and one user per built-in role."""
    from app import create_app

    load_folder(fresh_warehouse, trades_folder)
    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=fresh_warehouse.database, demo_rows=0, auth="on")
    app = create_app(settings, market=False)
    feed = ScriptedFeed()
    service = install_market_service(app.server, app.server.extensions[STORES_KEY], feed_factory=lambda: feed,
                                     settings=ServiceSettings(stale_seconds=2.0, tick_seconds=0.1), start=False)
    assert service is not None
    accounts = app.server.extensions[EXTENSION_KEY].accounts
    for role in ROLES:
        accounts.create_user(f"the-{role}", display_name=f"The {role}", password=PASSWORD, roles=(role,),
                             actor=f"the-{role}")
    m = Market(app, service, feed)
    m.resume()
    yield m
    m.pause()
    service.stop()


def _path(dash_duo) -> str:
    return dash_duo.driver.execute_script("return location.pathname + location.search")


def _present(dash_duo, css: str) -> bool:
    return bool(dash_duo.driver.find_elements(By.CSS_SELECTOR, css))


def _visible(dash_duo, css: str) -> bool:
    return bool(dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).some(e => e.getClientRects().length > 0)", css))


def _go(dash_duo, path: str) -> None:
    """Open ``path`` from the page's own navigation, as a click on a header link does (no reload)."""
    dash_duo.driver.execute_script(
        "window.history.pushState({}, '', arguments[0]); window.dispatchEvent(new PopStateEvent('popstate'))", path)


def _text(dash_duo, css: str) -> str:
    try:
        return dash_duo.find_element(css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _settled(dash_duo) -> None:
    """Every callback the page started has been answered (a live page's polls come and go: a moment
    with none in flight is enough)."""
    until(lambda: dash_duo.driver.execute_script(PENDING_JS) == 0, timeout=20, poll=0.05)


def _sign_in(dash_duo, user: str) -> None:
    """Sign ``user`` in as a person switching accounts does: sign the previous one out first."""
    base = dash_duo.server.url.rstrip("/")
    driver = dash_duo.driver
    if driver.current_url.startswith(base):
        # The sign-out form of the shell's user menu: the page leaves at once, so none of its live
        # refreshes runs without a session.
        driver.get(base + "/settings")
        dash_duo.wait_for_element("#shell-user", timeout=30).click()
        dash_duo.wait_for_element("#shell-signout", timeout=10).click()
        dash_duo.wait_for_element("#signin-form", timeout=30)
    driver.get(base + "/signin?next=/")
    dash_duo.wait_for_element("#signin-form", timeout=20)
    dash_duo.find_element("#user").send_keys(user)
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#signin-submit").click()
    until(lambda: _path(dash_duo) == "/", timeout=20)


def _points(dash_duo, graph: str) -> int:
    return dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph} .js-plotly-plot');"
        "return g && g.data ? (g.data[0].x || []).length : 0;") or 0


def _open(dash_duo, path: str) -> None:
    """Open ``path`` and wait for what it shows: its numbers, or its own content."""
    _go(dash_duo, path)
    # the path only: a page writes its own view into the query as soon as it draws (the board its list)
    until(lambda: _path(dash_duo).split("?")[0] == path, timeout=10)
    if path == "/":
        dash_duo.wait_for_element("#overview-date", timeout=60)
        dash_duo.wait_for_element("#overview-trend .bars path", timeout=30)
    elif path == "/pivot":
        dash_duo.wait_for_contains_text("#pivot-freshness", "rows from", timeout=60)
        until(lambda: len(rows(dash_duo)) > 0, timeout=30)
    elif path == "/board":
        until(lambda: _text(dash_duo, "#board-grid [row-id='FPT']"), timeout=30)
    elif path == "/market":
        until(lambda: _points(dash_duo, "market-vn30") > 0, timeout=30)
        until(lambda: "FPT" in _text(dash_duo, "#market-alerts .market-alert"), timeout=30)
    elif path == "/settings":
        dash_duo.wait_for_element("#settings-save", timeout=30)
    elif path == "/admin":
        dash_duo.wait_for_element(".admin-page", timeout=30)
    else:
        dash_duo.wait_for_element(ADMIN_PAGES[path], timeout=30)
    _settled(dash_duo)


def _nav(dash_duo) -> set[str]:
    return set(dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#shell-nav a')).map(a => a.getAttribute('href'))"))


def _check(found: list[str], where: str, ok: bool, what: str) -> None:
    if not ok:
        found.append(f"{where}: {what}")


def _errors(dash_duo) -> list[str]:
    return [entry["message"][-200:] for entry in dash_duo.get_logs()]


@pytest.mark.slow
def test_every_role_sees_its_pages_without_console_errors_and_is_told_no_elsewhere(dash_duo, market) -> None:
    service = market.service
    market.send_limits()
    market.trade("FPT", 130_500)
    dash_duo.start_server(market.app, navigate=False)
    market.start()
    until(lambda: service.board.row("FPT") is not None, timeout=10)
    service.add_rule("FPT", "above", 131_000)  # an alert on /market, to acknowledge or not
    market.trade("FPT", 131_500, total=2_000)  # the day's running total grows with each trade
    until(lambda: service.alerts(unacked=True), timeout=10)

    roles = market.app.server.extensions[EXTENSION_KEY].roles
    found: list[str] = []  # every page of every role is looked at, then all that was wrong is named at once
    for role in ROLES:
        allowed = roles.get(role).permissions  # the server's own roles
        assert allowed == p.BUILT_IN_ROLES[role]
        can = allowed.__contains__
        _sign_in(dash_duo, f"the-{role}")
        for path in PAGES:
            _open(dash_duo, path)
            where = f"{role} on {path}"
            _check(found, where, not _present(dash_duo, "#access-denied"), "refused")
            errors = _errors(dash_duo)
            _check(found, where, errors == [], f"console errors {errors}")
            # the header links to the pages this role may open, and to no other
            nav, want = _nav(dash_duo), {page for page, need in NAV.items() if can(need)}
            _check(found, where, nav == want, f"header links {sorted(nav)}, expected {sorted(want)}")
            controls: dict[str, tuple[tuple[str, str, str], ...]] = {
                "/pivot": (("saved views", ".saved-views .mantine-Select-root", p.VIEWS_SAVE),
                           ("job control", ".job-progress button", p.JOBS_RUN),
                           ("Export CSV", "#pivot-export", p.PIVOT_EXPORT),
                           ("raw trades CSV", "#pivot-raw-export", p.PIVOT_EXPORT)),
                "/board": (("watchlist editor", "#board-lists-button", p.MARKET_RULES_EDIT),),
                "/market": (("price rule form", "#market-rule-add", p.MARKET_RULES_EDIT),
                            ("Ack button", "#market-alerts .market-alert button", p.MARKET_ALERTS_ACK)),
            }.get(path, ())
            for name, css, need in controls:
                shown = _visible(dash_duo, css)
                _check(found, where, shown == can(need), f"{name} {'shown' if shown else 'missing'} ({need})")
            if path == "/admin":
                _check(found, where, _present(dash_duo, "#admin-none") == (role != "admin"), "admin sections")
        # the user menu leads to the user's own settings
        dash_duo.find_element("#shell-user").click()
        until(lambda: _present(dash_duo, "#shell-password"), timeout=10)
        _check(found, role, _present(dash_duo, "#shell-settings[href='/settings']"), "no Settings in the user menu")
        for path, content in ADMIN_PAGES.items():
            where = f"{role} on {path}"
            if role == "admin":
                _open(dash_duo, path)
                _check(found, where, not _present(dash_duo, "#access-denied"), "refused")
            else:
                _go(dash_duo, path)
                _settled(dash_duo)  # the page asked for is answered (the previous one said no access too)
                dash_duo.wait_for_contains_text("#access-denied", "No access to this page", timeout=30)
                _check(found, where, not _present(dash_duo, content), "content shown")
            errors = _errors(dash_duo)
            _check(found, where, errors == [], f"console errors {errors}")
    assert found == [], "\n".join(found)
    assert dash_duo.get_logs() == []
