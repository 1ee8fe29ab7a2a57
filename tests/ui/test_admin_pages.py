"""The admin pages in the browser with sign-in on: an admin creates a desk-scoped user who then signs
in and sees only that desk's numbers (checked against DuckDB over the fixture files); flags are
created, edited, refused when stale and deleted; the audit log lists those actions; a signed link
is revoked. With sign-in off the user pages say so."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from backend.access.flags import FLAGS_KEY
from backend.access.install import EXTENSION_KEY
from backend.config import load_settings
from backend.warehouse import Warehouse
from tests.ui.pivot_support import HELD, cell_texts, number, rows, total_text

PASSWORD = "a long enough passphrase 42"
NEW_PASSWORD = "another long passphrase 77"
ADMIN = "boss"


def _app(tmp_path: Path, warehouse_url: str, wh: Warehouse, auth: str = "on"):
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=wh.database, demo_rows=0, auth=auth)
    return create_app(settings, market=False)


@pytest.fixture
def admin_app(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse):
    app = _app(tmp_path, warehouse_url, loaded_warehouse)
    app.server.extensions[EXTENSION_KEY].accounts.create_user(
        ADMIN, display_name="The Admin", password=PASSWORD, roles=("admin",), actor=ADMIN)
    return app


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    return con


def _path(dash_duo) -> str:
    return dash_duo.driver.execute_script("return location.pathname + location.search")


def sign_in(dash_duo, user: str, password: str = PASSWORD, then: str = "/admin") -> None:
    base = dash_duo.server.url.rstrip("/")
    dash_duo.driver.get(base + "/signin?next=" + then)
    dash_duo.wait_for_element("#signin-form", timeout=20)
    dash_duo.find_element("#user").send_keys(user)
    dash_duo.find_element("#password").send_keys(password)
    dash_duo.find_element("#signin-submit").click()
    until(lambda: _path(dash_duo) == then, timeout=20)


def by_id(dash_duo, component_id: dict):
    text = json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return dash_duo.driver.find_element(By.XPATH, f"//input[@id='{text}']")


def choose(dash_duo, field, option: str) -> None:
    """Pick ``option`` in a Mantine multi-select: type to filter, click the option."""
    field.click()
    field.send_keys(option)
    xpath = f"//*[@role='option' and normalize-space()='{option}']"
    until(lambda: dash_duo.driver.find_elements(By.XPATH, xpath), timeout=10)
    dash_duo.driver.find_element(By.XPATH, xpath).click()
    field.send_keys(Keys.ESCAPE)


def click_row(dash_duo, grid: str, row_id: str) -> None:
    css = f"#{grid} .ag-center-cols-container .ag-row[row-id='{row_id}']"
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, css), timeout=20)
    cell = dash_duo.driver.find_element(By.CSS_SELECTOR, css + " .ag-cell")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()


def grid_values(dash_duo, grid: str, col: str) -> list[str]:
    return dash_duo.driver.execute_script(
        f"return Array.from(document.querySelectorAll(\"#{grid} .ag-center-cols-container .ag-row\"))"
        ".sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))"
        f".map(r => (r.querySelector(\"[col-id='{col}']\") || {{}}).innerText || '')")


def test_admin_creates_a_desk_user_who_sees_only_that_desk(dash_duo, admin_app, duck) -> None:
    dash_duo.start_server(admin_app, navigate=False)
    sign_in(dash_duo, ADMIN, then="/admin/users")
    dash_duo.wait_for_element("#users-new-id", timeout=30).send_keys("desk-ana")
    dash_duo.find_element("#users-new-name").send_keys("Ánh Desk")
    # an analyst (a viewer's /pivot asks for saved views and jobs it may not have, and is refused)
    choose(dash_duo, dash_duo.find_element("#users-new-roles"), "analyst")
    choose(dash_duo, by_id(dash_duo, {"type": "users-scope", "part": "new-desks"}), "Commodities")
    dash_duo.find_element("#users-create").click()
    dash_duo.wait_for_contains_text("#users-notices", "Created desk-ana", timeout=20)
    until(lambda: "desks: Commodities" in grid_values(dash_duo, "users-grid", "scope"), timeout=10)
    assert "analyst, viewer" in grid_values(dash_duo, "users-grid", "roles")

    # select the user (the URL names them) and issue a reset link, shown once
    click_row(dash_duo, "users-grid", "desk-ana")
    until(lambda: _path(dash_duo) == "/admin/users?user=desk-ana", timeout=20)
    dash_duo.wait_for_element("#users-reset", timeout=20).click()
    url = dash_duo.wait_for_element("#users-reset-url", timeout=20).text
    assert "/signin/link/" in url

    # a fresh browser session: the new user opens the link and chooses a password
    dash_duo.driver.delete_all_cookies()
    dash_duo.driver.get(url)
    dash_duo.wait_for_element("#password-form", timeout=20)
    dash_duo.find_element("#new").send_keys(NEW_PASSWORD)
    dash_duo.find_element("#confirm").send_keys(NEW_PASSWORD)
    dash_duo.find_element("#password-submit").click()
    until(lambda: not _path(dash_duo).startswith("/account/password"), timeout=20)

    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/pivot?rows=desk&m=pnl,notional")
    until(lambda: len(rows(dash_duo)) > 0, timeout=90)
    day = duck.execute("SELECT max(trade_date) FROM trades WHERE desk = 'Commodities'").fetchone()[0]
    want = duck.execute(f"SELECT sum(pnl), sum(notional) FROM trades WHERE desk = 'Commodities' "
                        f"AND trade_date = '{day}' AND {HELD}").fetchone()
    everyone = duck.execute(f"SELECT sum(pnl) FROM trades WHERE trade_date = '{day}' AND {HELD}").fetchone()[0]
    assert [r["label"] for r in rows(dash_duo)] == ["Commodities"]
    assert number(total_text(dash_duo, "pnl")) == pytest.approx(want[0], abs=1)
    assert number(total_text(dash_duo, "notional")) == pytest.approx(want[1], abs=1)
    assert [number(t) for t in cell_texts(dash_duo, "pnl")] == pytest.approx([want[0]], abs=1)
    assert abs(everyone - want[0]) > 1  # the scope made a difference to the number shown
    assert dash_duo.get_logs() == []


def test_flags_are_created_edited_refused_when_stale_deleted_and_audited(dash_duo, admin_app) -> None:
    flags = admin_app.server.extensions[FLAGS_KEY]
    dash_duo.start_server(admin_app, navigate=False)
    sign_in(dash_duo, ADMIN, then="/admin/flags?flag=")
    dash_duo.wait_for_element("#flags-key", timeout=30).send_keys("new-board")
    dash_duo.find_element("#flags-description").send_keys("the new board layout")
    dash_duo.find_element("#flags-enabled").click()
    dash_duo.find_element("#flags-save").click()
    until(lambda: _path(dash_duo) == "/admin/flags?flag=new-board", timeout=20)
    dash_duo.wait_for_text_to_equal("#flags-form-title", "Edit new-board", timeout=20)
    assert flags.get("new-board").enabled is True and flags.get("new-board").version == 1

    # an edit at the version read
    description = dash_duo.find_element("#flags-description")
    description.send_keys(", for traders")
    dash_duo.find_element("#flags-save").click()
    dash_duo.wait_for_contains_text("#flags-notices", "Saved new-board (version 2)", timeout=20)
    assert flags.get("new-board").description == "the new board layout, for traders"

    # someone else changes it meanwhile: the next save is refused and the form reloads
    flags.update("new-board", 2, actor="someone-else", description="changed elsewhere")
    dash_duo.find_element("#flags-description").send_keys(" again")
    dash_duo.find_element("#flags-save").click()
    dash_duo.wait_for_contains_text("#flags-notices", "changed by someone else", timeout=20)
    until(lambda: dash_duo.find_element("#flags-description").get_attribute("value") == "changed elsewhere",
          timeout=10)
    assert flags.get("new-board").description == "changed elsewhere"

    # delete, after the confirmation
    dash_duo.find_element("#flags-delete").click()
    dash_duo.wait_for_element("#flags-confirm", timeout=10).click()
    until(lambda: _path(dash_duo) == "/admin/flags", timeout=20)
    until(lambda: grid_values(dash_duo, "flags-grid", "key") == [], timeout=20)
    assert flags.list() == []

    # the audit log, filtered by actor through the URL
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/admin/audit")
    dash_duo.wait_for_element("#audit-actor", timeout=20).send_keys(ADMIN)
    dash_duo.find_element("#audit-apply").click()
    until(lambda: _path(dash_duo) == f"/admin/audit?actor={ADMIN}", timeout=20)
    until(lambda: grid_values(dash_duo, "audit-grid", "action")[:3] == ["flag.delete", "flag.update", "flag.create"],
          timeout=20)
    assert set(grid_values(dash_duo, "audit-grid", "actor")) == {ADMIN}
    assert dash_duo.get_logs() == []


def test_an_admin_revokes_a_signed_link_and_the_audit_log_lists_it(dash_duo, admin_app) -> None:
    access = admin_app.server.extensions[EXTENSION_KEY]
    maker = access.accounts.principal(ADMIN)
    _url, info = access.links.create(maker, "/pivot", "rows=desk", days=7, label="Wall screen")
    dash_duo.start_server(admin_app, navigate=False)
    sign_in(dash_duo, ADMIN, then="/admin/links")
    click_row(dash_duo, "links-grid", info.id)
    dash_duo.find_element("#links-revoke").click()
    dash_duo.wait_for_contains_text("#links-modal-text", "Wall screen", timeout=10)
    dash_duo.find_element("#links-confirm").click()
    dash_duo.wait_for_contains_text("#links-notices", "Revoked the link to /pivot?rows=desk", timeout=20)
    until(lambda: grid_values(dash_duo, "links-grid", "status") == ["revoked"], timeout=10)
    assert access.links.get(info.id).status == "revoked"

    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/admin/audit?action=link.revoke")
    until(lambda: grid_values(dash_duo, "audit-grid", "target") == [info.id], timeout=20)
    assert grid_values(dash_duo, "audit-grid", "actor") == [ADMIN]
    assert dash_duo.get_logs() == []


def test_with_sign_in_off_user_pages_say_so_and_flags_still_work(dash_duo, tmp_path, warehouse_url,
                                                                 loaded_warehouse) -> None:
    app = _app(tmp_path, warehouse_url, loaded_warehouse, auth="off")
    dash_duo.start_server(app)
    for page in ("/admin/users", "/admin/links", "/admin/audit"):
        dash_duo.driver.get(dash_duo.server_url + page)
        dash_duo.wait_for_contains_text("#admin-auth-off", "DESKBOARD_AUTH=off", timeout=20)
        assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#users-create, #links-revoke")
    dash_duo.driver.get(dash_duo.server_url + "/admin/flags?flag=")
    dash_duo.wait_for_element("#flags-key", timeout=20).send_keys("quiet-mode")
    dash_duo.find_element("#flags-save").click()
    until(lambda: "flag=quiet-mode" in _path(dash_duo), timeout=20)
    assert app.server.extensions[FLAGS_KEY].get("quiet-mode").updated_by == "local"
    dash_duo.driver.get(dash_duo.server_url + "/admin/sources")
    until(lambda: "Warehouse" in grid_values(dash_duo, "sources-grid", "name"), timeout=20)
    assert dash_duo.get_logs() == []


def _checked(dash_duo, css: str) -> bool | None:
    """Whether the checkbox is ticked now (None while it is not drawn), read in one script call:
    an element found first and asked after can be replaced in between."""
    return dash_duo.driver.execute_script(
        "const b = document.querySelector(arguments[0]); return b ? b.checked : null;", css)


def _click_fresh(dash_duo, css: str) -> bool:
    """Click the element as it is now; False (try again) if it was replaced before the click."""
    try:
        dash_duo.driver.find_element(By.CSS_SELECTOR, css).click()
    except StaleElementReferenceException:
        return False
    return True


def test_an_admin_makes_edits_and_deletes_a_custom_role_with_permission_checkboxes(dash_duo, admin_app) -> None:
    roles = admin_app.server.extensions[EXTENSION_KEY].roles
    dash_duo.start_server(admin_app, navigate=False)
    sign_in(dash_duo, ADMIN, then="/admin/users")
    dash_duo.wait_for_element("#roles-name", timeout=30).send_keys("desk-reader")
    dash_duo.find_element("#roles-description").send_keys("sees the pivot and exports it")
    for permission in ("pivot.view", "pivot.export"):
        dash_duo.driver.find_element(By.CSS_SELECTOR, f"input[type='checkbox'][value='{permission}']").click()
    dash_duo.find_element("#roles-save").click()
    dash_duo.wait_for_contains_text("#roles-notices", "Saved role desk-reader (2 permissions)", timeout=20)
    assert roles.get("desk-reader").permissions == {"pivot.view", "pivot.export"}

    # open it from the table (the URL names it), take one permission away
    click_row(dash_duo, "roles-grid", "desk-reader")
    until(lambda: "role=desk-reader" in _path(dash_duo), timeout=20)
    box = "input[type='checkbox'][value='pivot.export']"
    # the form is drawn again as the role loads: read and click the box as it is at that moment
    until(lambda: _checked(dash_duo, box), timeout=20)
    until(lambda: _click_fresh(dash_duo, box), timeout=20)
    until(lambda: _checked(dash_duo, box) is False, timeout=20)
    dash_duo.find_element("#roles-save").click()
    dash_duo.wait_for_contains_text("#roles-notices", "Saved role desk-reader (1 permissions)", timeout=20)
    assert roles.get("desk-reader").permissions == {"pivot.view"}

    dash_duo.find_element("#roles-delete").click()
    dash_duo.wait_for_element("#roles-confirm", timeout=10).click()
    dash_duo.wait_for_contains_text("#roles-notices", "Deleted role desk-reader", timeout=20)
    assert "desk-reader" not in [r.name for r in roles.list()]
    assert dash_duo.get_logs() == []


class CountingFeed:
    """A market service whose feed receives ``per_second`` messages a second, as status() reports."""

    def __init__(self, per_second: float) -> None:
        import time

        self._clock, self._start, self.per_second = time.monotonic, time.monotonic(), per_second

    def status(self) -> dict:
        elapsed = self._clock() - self._start
        return {"state": "live", "age_seconds": 0.2, "messages": int(elapsed * self.per_second), "rejected": 0,
                "error": None, "catching_up": False}

    def stop(self, timeout: float = 0) -> None:  # the test server stops the app's market service after
        return None


def test_the_sources_page_measures_the_feed_rate_between_redraws(dash_duo, admin_app) -> None:
    from backend.market.service import EXTENSION_KEY as MARKET_KEY

    admin_app.server.extensions[MARKET_KEY] = CountingFeed(per_second=400)
    dash_duo.start_server(admin_app, navigate=False)
    sign_in(dash_duo, ADMIN, then="/admin/sources")
    until(lambda: grid_values(dash_duo, "sources-grid", "name")[:1] == ["Market feed (simulator)"], timeout=20)
    assert grid_values(dash_duo, "sources-grid", "rate")[0] == ""  # one reading: no rate yet
    assert grid_values(dash_duo, "sources-grid", "status")[0] == "ok"
    until(lambda: grid_values(dash_duo, "sources-grid", "rate")[0] != "", timeout=20)
    rate = number(grid_values(dash_duo, "sources-grid", "rate")[0])
    assert 300 <= rate <= 500, rate
    # the status filter lives in the URL
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='down']").click()
    until(lambda: _path(dash_duo) == "/admin/sources?status=down", timeout=20)
    until(lambda: grid_values(dash_duo, "sources-grid", "name") == [], timeout=20)
    assert dash_duo.get_logs() == []
