"""/settings in the browser. With sign-in on: a user changes every default, reloads and finds them
kept; a save from an out-of-date form is refused and the form shows what is stored; a personal API
token is shown once, opens a real API route as a bearer token, and is refused once revoked. With
sign-in off the local user saves settings and the page says tokens are not needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from dash.testing.wait import until
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from backend.access.install import EXTENSION_KEY
from backend.access.user_settings import UserSettingsService
from backend.config import load_settings
from backend.market.watchlists import UserData
from backend.meta.views import SavedViews
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.warehouse import Warehouse

PASSWORD = "a long enough passphrase 42"


def _app(tmp_path: Path, warehouse_url: str, wh: Warehouse, auth: str):
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=wh.database, demo_rows=0, auth=auth)
    return create_app(settings, market=False)


@pytest.fixture
def signin_app(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse):
    app = _app(tmp_path, warehouse_url, loaded_warehouse, "on")
    app.server.extensions[EXTENSION_KEY].accounts.create_user(
        "ana", display_name="Ana Analyst", password=PASSWORD, roles=("analyst",), actor="ana")
    return app


def meta(app):
    return app.server.extensions[STORES_KEY].meta


def _path(dash_duo) -> str:
    return dash_duo.driver.execute_script("return location.pathname + location.search")


def sign_in(dash_duo, user: str, then: str) -> None:
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/signin?next=" + then)
    dash_duo.wait_for_element("#signin-form", timeout=20)
    dash_duo.find_element("#user").send_keys(user)
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#signin-submit").click()
    until(lambda: _path(dash_duo) == then, timeout=20)


def pick(dash_duo, css: str, option: str, typed: str = "") -> None:
    """Choose ``option`` in a Mantine select (typing ``typed`` first to filter a long list)."""
    field = dash_duo.find_element(css)
    field.click()
    if typed:
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(typed)
    xpath = f"//*[@role='option' and normalize-space()='{option}']"
    until(lambda: dash_duo.driver.find_elements(By.XPATH, xpath), timeout=10)
    dash_duo.driver.find_element(By.XPATH, xpath).click()


def value(dash_duo, css: str) -> str:
    return dash_duo.find_element(css).get_attribute("value")


def theme(dash_duo) -> str:
    return dash_duo.driver.execute_script(
        "const c = document.querySelector('#settings-theme input:checked'); return c ? c.value : null")


def scheme(dash_duo) -> tuple[str | None, str | None]:
    """(Mantine's colour scheme, the shell's theme that the grids follow)."""
    return tuple(dash_duo.driver.execute_script(
        "const m = document.querySelector('[data-mantine-color-scheme]');"
        "return [m && m.getAttribute('data-mantine-color-scheme'),"
        " document.documentElement.getAttribute('data-db-theme')]"))


def form(dash_duo) -> tuple[str, ...]:
    return (theme(dash_duo), value(dash_duo, "#settings-thousands"), value(dash_duo, "#settings-decimals"),
            value(dash_duo, "#settings-time-zone"), value(dash_duo, "#settings-pivot-view"),
            value(dash_duo, "#settings-watchlist"))


def test_settings_persist_and_a_stale_save_is_refused(dash_duo, signin_app) -> None:
    view = SavedViews(meta(signin_app)).create("ana", "Rates by book", "/pivot", {"rows": "book"})
    wl = UserData(meta(signin_app)).save_watchlist("Banks", ["VCB", "TCB"])
    dash_duo.start_server(signin_app, navigate=False)
    sign_in(dash_duo, "ana", "/settings")
    dash_duo.wait_for_element("#settings-save", timeout=30)
    assert form(dash_duo) == ("auto", "1,234,567", "0", "Asia/Ho_Chi_Minh", "", "")
    assert dash_duo.find_element("#settings-password").get_attribute("href").endswith("/account/password")

    dash_duo.driver.find_element(By.XPATH, "//*[@id='settings-theme']//label[normalize-space()='Dark']").click()
    pick(dash_duo, "#settings-thousands", "1.234.567")
    decimals = dash_duo.find_element("#settings-decimals")
    decimals.send_keys(Keys.CONTROL, "a")
    decimals.send_keys("2")
    dash_duo.wait_for_text_to_equal("#settings-preview", "Numbers look like -1.234.567,89", timeout=10)
    pick(dash_duo, "#settings-time-zone", "Europe/London", typed="Europe/Lond")
    pick(dash_duo, "#settings-pivot-view", "Rates by book")
    pick(dash_duo, "#settings-watchlist", "Banks")
    dash_duo.find_element("#settings-save").click()
    dash_duo.wait_for_contains_text("#settings-notices", "Saved (version 1)", timeout=20)
    # the chosen theme applies at once
    until(lambda: scheme(dash_duo)[0] == "dark", timeout=10)

    # a browser that has no theme of its own yet (here: its storage cleared) starts with the user's
    dash_duo.driver.execute_script("window.localStorage.clear()")
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#settings-save", timeout=30)
    until(lambda: form(dash_duo) == ("dark", "1.234.567", "2", "Europe/London", "Rates by book", "Banks"), timeout=20)
    until(lambda: scheme(dash_duo) == ("dark", "dark"), timeout=10)
    stored = UserSettingsService(meta(signin_app)).get("ana")
    assert (stored.pivot_view, stored.watchlist, stored.version) == (view.id, wl.id, 1)

    # another tab saves meanwhile: this form (version 1) is out of date
    UserSettingsService(meta(signin_app)).update("ana", 1, decimals=4, theme="light")
    pick(dash_duo, "#settings-thousands", "1 234 567")
    dash_duo.find_element("#settings-save").click()
    dash_duo.wait_for_contains_text("#settings-notices", "changed elsewhere", timeout=20)
    until(lambda: form(dash_duo)[:3] == ("light", "1.234.567", "4"), timeout=10)
    assert UserSettingsService(meta(signin_app)).get("ana").thousands == "."  # the stale change was not written
    # saved again from the form as it is now
    dash_duo.find_element("#settings-save").click()
    dash_duo.wait_for_contains_text("#settings-notices", "Saved (version 3)", timeout=20)
    assert dash_duo.get_logs() == []


def test_a_token_is_shown_once_opens_the_api_and_is_refused_once_revoked(dash_duo, signin_app) -> None:
    dash_duo.start_server(signin_app, navigate=False)
    base = dash_duo.server.url.rstrip("/")
    api = base + "/api/v1/instruments"
    assert requests.get(api, timeout=30).status_code == 401
    sign_in(dash_duo, "ana", "/admin")
    # the page opens from the user menu
    dash_duo.wait_for_element("#shell-user", timeout=30).click()
    dash_duo.wait_for_element("#shell-settings", timeout=10).click()
    until(lambda: _path(dash_duo) == "/settings", timeout=20)
    dash_duo.wait_for_element("#settings-token-name", timeout=30).send_keys("nightly export")
    dash_duo.find_element("#settings-token-days").send_keys("30")
    dash_duo.find_element("#settings-token-create").click()
    raw = dash_duo.wait_for_element("#settings-token-raw", timeout=20).get_attribute("value")
    assert raw.startswith("dsk_") and len(raw) == 47
    dash_duo.wait_for_contains_text("#settings-token-shown", "not shown again", timeout=10)
    css = "#settings-token-grid .ag-center-cols-container .ag-row"
    until(lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, css)) == 1, timeout=20)
    row = dash_duo.driver.find_element(By.CSS_SELECTOR, css)
    assert row.find_element(By.CSS_SELECTOR, "[col-id='prefix']").text == raw[:8] + "…"
    assert row.find_element(By.CSS_SELECTOR, "[col-id='state']").text == "live"
    assert row.find_element(By.CSS_SELECTOR, "[col-id='last_used']").text == "never"

    answer = requests.get(api, headers={"Authorization": f"Bearer {raw}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["instruments"]
    # the token is not on the page after a reload; the list shows it was used
    dash_duo.driver.refresh()
    until(lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, css)) == 1, timeout=30)
    assert raw not in dash_duo.driver.page_source
    assert not dash_duo.driver.find_elements(By.ID, "settings-token-raw")
    assert dash_duo.driver.find_element(By.CSS_SELECTOR, css + " [col-id='last_used']").text != "never"

    # revoking asks first; cancelling keeps the token working
    dash_duo.find_element("#settings-token-revoke").click()
    dash_duo.wait_for_contains_text("#settings-token-notices", "Select a token", timeout=10)
    dash_duo.driver.find_element(By.CSS_SELECTOR, css + " [col-id='name']").click()
    dash_duo.find_element("#settings-token-revoke").click()
    dash_duo.wait_for_contains_text("#settings-token-modal-text", "nightly export", timeout=10)
    dash_duo.find_element("#settings-token-cancel").click()
    until(lambda: not dash_duo.driver.find_elements(By.ID, "settings-token-confirm"), timeout=10)
    assert requests.get(api, headers={"Authorization": f"Bearer {raw}"}, timeout=30).status_code == 200
    dash_duo.find_element("#settings-token-revoke").click()
    dash_duo.wait_for_element("#settings-token-confirm", timeout=10).click()
    dash_duo.wait_for_contains_text("#settings-token-notices", "Revoked 'nightly export'", timeout=20)
    until(lambda: dash_duo.driver.find_element(By.CSS_SELECTOR, css + " [col-id='state']").text == "revoked",
          timeout=10)
    answer = requests.get(api, headers={"Authorization": f"Bearer {raw}"}, timeout=30)
    assert answer.status_code == 401
    # a bad token name is answered with a notice, and nothing is created
    dash_duo.find_element("#settings-token-create").click()
    dash_duo.wait_for_contains_text("#settings-token-notices", "Name: give the token a name", timeout=10)
    assert len(signin_app.server.extensions[EXTENSION_KEY].tokens.list("ana")) == 1
    assert dash_duo.get_logs() == []


def test_with_sign_in_off_settings_save_and_tokens_are_not_needed(dash_duo, tmp_path: Path, warehouse_url: str,
                                                                  loaded_warehouse: Warehouse) -> None:
    app = _app(tmp_path, warehouse_url, loaded_warehouse, "off")
    dash_duo.start_server(app, navigate=False)
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/settings?junk=%00%ff&x=" + "a" * 3000)
    dash_duo.wait_for_contains_text("#settings-tokens-off", "not needed", timeout=30)
    assert not dash_duo.driver.find_elements(By.ID, "settings-token-create")
    assert not dash_duo.driver.find_elements(By.ID, "settings-password")
    pick(dash_duo, "#settings-time-zone", "UTC", typed="UTC")
    dash_duo.find_element("#settings-save").click()
    dash_duo.wait_for_contains_text("#settings-notices", "Saved (version 1)", timeout=20)
    assert UserSettingsService(meta(app)).get("local").time_zone == "UTC"
    assert dash_duo.get_logs() == []


def test_the_default_pivot_view_applies_only_without_a_query_and_a_shared_link_looks_the_same(
        dash_duo, signin_app, trades_folder: Path) -> None:
    import duckdb

    from tests.ui.pivot_support import HELD, latest, number, rows, total_text, view_state

    accounts = signin_app.server.extensions[EXTENSION_KEY].accounts
    accounts.create_user("bo", password=PASSWORD, roles=("analyst",), actor="bo")
    views, settings = SavedViews(meta(signin_app)), UserSettingsService(meta(signin_app))
    settings.update("ana", 0, pivot_view=views.create("ana", "By book", "/pivot", {"rows": "book"}).id,
                    thousands=".", decimals=2)
    settings.update("bo", 0, pivot_view=views.create("bo", "By region", "/pivot", {"rows": "region"}).id)
    duck = duckdb.connect()
    duck.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    day = latest(duck)

    def distinct(column: str) -> set[str]:
        return {r[0] for r in duck.execute(
            f"SELECT DISTINCT {column} FROM trades WHERE trade_date = '{day}' AND {HELD}").fetchall()}

    def labels() -> set[str]:
        return {r["label"] for r in rows(dash_duo)}

    def open_page(query: str) -> None:
        dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/pivot" + query)
        until(lambda: len(rows(dash_duo)) > 0, timeout=90)

    dash_duo.start_server(signin_app, navigate=False)
    seen: dict[str, dict[str, object]] = {}
    totals: dict[str, str] = {}
    for user, own_rows, column in (("ana", "book", "book"), ("bo", "region", "region")):
        dash_duo.driver.delete_all_cookies()
        sign_in(dash_duo, user, "/settings")
        dash_duo.wait_for_element("#settings-save", timeout=30)
        open_page("")  # no query string: the user's own default view, written into the address bar
        until(lambda own_rows=own_rows: tuple(view_state(dash_duo).rows) == (own_rows,), timeout=30)
        # (the grid draws only the rows in sight: what it shows must be this dimension's values)
        until(lambda column=column: labels() and labels() <= distinct(column), timeout=30)
        assert f"rows={own_rows}" in _path(dash_duo)
        open_page("?rows=desk")  # a shared link: what it carries wins over the default
        until(lambda: labels() == distinct("desk"), timeout=30)
        seen[user] = {"rows": tuple(view_state(dash_duo).rows), "labels": labels(), "path": _path(dash_duo)}
        totals[user] = total_text(dash_duo, "pnl")
    assert seen["ana"] == seen["bo"]
    assert seen["ana"]["rows"] == ("desk",)
    # the same number, each in their own format: ana groups with "." and shows 2 decimals after ","
    want = duck.execute(f"SELECT sum(pnl) FROM trades WHERE trade_date = '{day}' AND {HELD}").fetchone()[0]
    assert re.fullmatch(r"-?\d{1,3}(\.\d{3})*,\d{2}", totals["ana"]), totals["ana"]
    assert re.fullmatch(r"-?\d{1,3}(,\d{3})*", totals["bo"]), totals["bo"]
    assert float(totals["ana"].replace(".", "").replace(",", ".")) == pytest.approx(want, abs=0.01)
    assert number(totals["bo"]) == pytest.approx(want, abs=1)
    assert dash_duo.get_logs() == []


def test_the_default_watchlist_opens_the_board_and_a_list_in_the_url_wins(dash_duo, tmp_path: Path,
                                                                           warehouse_url: str,
                                                                           fresh_warehouse: Warehouse) -> None:
    from tests.ui import board_support
    from tests.ui.board_support import FUTURES, LIMITS, open_board, row_order, wait_cell

    with board_support.scripted_market(tmp_path, warehouse_url, fresh_warehouse) as m:
        m.send_limits()
        for symbol, (ref, _ceiling, _floor) in LIMITS.items():
            m.trade(symbol, ref)
        m.trade(FUTURES, 1_301.0, total=5, volume=5)
        banks = m.service.userdata.save_watchlist("Banks", ["ACB", "BID"])
        UserSettingsService(meta(m.app)).update("local", 0, watchlist=banks.id)  # sign-in off: the local user
        open_board(dash_duo, m)  # /board with no watchlist in the URL, /market live in another tab
        wait_cell(dash_duo, "ACB", "last", "24.50")
        until(lambda: set(row_order(dash_duo)) == {"ACB", "BID"}, timeout=15)
        dash_duo.wait_for_page(dash_duo.server_url + "/board?watchlist=vn30")
        wait_cell(dash_duo, "HPG", "last", "27.00")
        until(lambda: set(row_order(dash_duo)) == set(LIMITS) | {FUTURES}, timeout=15)
        assert dash_duo.get_logs() == []


def _separators(dash_duo, css: str) -> list[str]:
    """Plotly's separators (decimal mark, then grouping) of every chart drawn under ``css``."""
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' .js-plotly-plot'))"
        ".map(g => g._fullLayout && g._fullLayout.separators).filter(s => s)", css)


def test_the_number_format_applies_on_the_board_its_detail_the_market_page_and_every_chart(
        dash_duo, tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse) -> None:
    from tests.ui import board_support
    from tests.ui.board_support import FUTURES, LIMITS, open_board, texts, wait_cell

    with board_support.scripted_market(tmp_path, warehouse_url, fresh_warehouse) as m:
        m.send_limits()
        for symbol, (ref, _ceiling, _floor) in LIMITS.items():
            m.trade(symbol, ref, total=12_345, volume=12_345)
        m.trade(FUTURES, 1_301.5, total=5, volume=5)
        UserSettingsService(meta(m.app)).update("local", 0, thousands=".", decimals=2)  # 1.234,56
        open_board(dash_duo, m)  # /market live in the other tab
        wait_cell(dash_duo, "ACB", "last", "24,50")  # thousand VND, two decimals after a comma
        wait_cell(dash_duo, FUTURES, "last", "1301,5")  # futures keep their narrow ungrouped points
        wait_cell(dash_duo, "ACB", "total_vol", "12,3K")
        until(lambda: any(re.fullmatch(r"1\.301,5", t) for t in texts(dash_duo, ".board-index-value")), timeout=15)
        dash_duo.find_element("#board-grid [row-id='ACB'] [col-id='symbol'] .board-open").click()
        until(lambda: texts(dash_duo, ".board-detail-price") == ["24,50"], timeout=15)
        until(lambda: "12.345" in " ".join(texts(dash_duo, "#board-detail-head span")), timeout=15)  # volume
        until(lambda: _separators(dash_duo, "#board-detail-chart") == [",."], timeout=15)
        dash_duo.wait_for_page(dash_duo.server_url + "/market")
        until(lambda: len(_separators(dash_duo, "body")) >= 4 and set(_separators(dash_duo, "body")) == {",."},
              timeout=30)
        assert dash_duo.get_logs() == []


def test_the_overview_tiles_and_charts_use_the_users_number_format(dash_duo, signin_app) -> None:
    UserSettingsService(meta(signin_app)).update("ana", 0, thousands=" ", decimals=2)
    accounts = signin_app.server.extensions[EXTENSION_KEY].accounts
    accounts.create_user("bo", password=PASSWORD, roles=("analyst",), actor="bo")
    dash_duo.start_server(signin_app, navigate=False)
    shown: dict[str, tuple[str, str]] = {}
    for user in ("ana", "bo"):
        dash_duo.driver.delete_all_cookies()
        sign_in(dash_duo, user, "/")
        dash_duo.wait_for_element("#overview-trend .bars path", timeout=60)
        until(lambda: _separators(dash_duo, "body") and len(set(_separators(dash_duo, "body"))) == 1, timeout=20)
        tile = dash_duo.find_element("[id*='overview-figure'][id*='gross_exposure']")
        shown[user] = (tile.text, _separators(dash_duo, "body")[0])
        value = float(tile.get_attribute("data-value"))
        text = tile.text.replace(" ", "") if user == "ana" else tile.text.replace(",", "")
        scale = {"B": 1e9, "M": 1e6, "K": 1e3}.get(text[-1], 1)
        assert float(text.strip("$BMK")) * scale == pytest.approx(value, rel=0.01)
    assert shown["ana"][1] == ". " and shown["bo"][1] == ".,"
    assert re.fullmatch(r"\$\d{1,3}\.\d{2}[KMB]", shown["ana"][0]), shown
    assert dash_duo.get_logs() == []


# -- the page's callbacks answer hostile form values with a notice, and write nothing ------------
def _callback_key(app, *outputs: str) -> str:
    found = [key for key in app.callback_map if all(o in key for o in outputs)]
    assert len(found) == 1, found
    return found[0]


def _post(client, app, key: str, values: list) -> dict:
    from tests.backend.access.guard_support import post_callback

    entry = app.callback_map[key]
    specs = [*entry["inputs"], *entry["state"]]
    assert len(values) == len(specs)
    filled = [{"id": s["id"], "property": s["property"], "value": v} for s, v in zip(specs, values, strict=True)]
    n_in = len(entry["inputs"])
    parts = key.strip(".").split("...")
    outputs = [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True)) for part in parts]
    body = {"output": key, "outputs": outputs if len(parts) > 1 else outputs[0], "inputs": filled[:n_in],
            "state": filled[n_in:], "changedPropIds": [f"{filled[0]['id']}.{filled[0]['property']}"]}
    answer = post_callback(client, body, stop=False)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_json()["response"]


def _notice(response: dict, component: str) -> str:
    import json

    return json.dumps(response[component]["children"], ensure_ascii=False)


HOSTILE_SAVES = [
    # theme, thousands, decimals, time zone, pivot view, watchlist, version -> the field the notice names
    (("x" * 10_000, "comma", 0, "UTC", None, None, 0), "Theme:"),
    (("dark", ["comma"], 0, "UTC", None, None, 0), "Thousands separator:"),
    (("dark", "comma\x00", 0, "UTC", None, None, 0), "Thousands separator:"),
    (("dark", "comma", "3", "UTC", None, None, 0), "Decimals:"),
    (("dark", "comma", 1e308, "UTC", None, None, 0), "Decimals:"),
    (("dark", "comma", 2, "../../etc/passwd", None, None, 0), "Time zone:"),
    (("dark", "comma", 2, "Mars/Olympus", None, None, 0), "Time zone:"),
    (("dark", "comma", 2, "UTC", "../1", None, 0), "Default pivot view:"),
    (("dark", "comma", 2, "UTC", {"id": 1}, None, 0), "Default pivot view:"),
    (("dark", "comma", 2, "UTC", "99999", None, 0), "Default pivot view:"),
    (("dark", "comma", 2, "UTC", None, "y" * 10_000, 0), "Default watchlist:"),
    (("dark", "comma", 2, "UTC", None, "no-such-list", 0), "Default watchlist:"),
    (("dark", "comma", 2, "UTC", None, None, "0"), "Version:"),
    (("dark", "comma", 2, "UTC", None, None, None), "Version:"),
]


def test_hostile_form_values_get_a_notice_naming_the_field_and_nothing_is_written(tmp_path: Path,
                                                                                  warehouse_url: str,
                                                                                  loaded_warehouse: Warehouse) -> None:
    from tests.backend.access.guard_support import build_app
    from tests.backend.access.guard_support import sign_in as form_sign_in

    app = build_app(tmp_path / "data", warehouse_url, loaded_warehouse.database)
    access = app.server.extensions[EXTENSION_KEY]
    access.accounts.create_user("ana", password=PASSWORD, roles=("analyst",), actor="ana")
    client = app.server.test_client()
    assert form_sign_in(client, "ana", PASSWORD).status_code == 302
    save = _callback_key(app, "settings-notices.children", "settings-version.data")
    for values, field in HOSTILE_SAVES:
        response = _post(client, app, save, [1, *values])
        assert field in _notice(response, "settings-notices"), (values[:6], _notice(response, "settings-notices"))
        assert len(_notice(response, "settings-notices")) < 1_000
    assert UserSettingsService(meta(app)).get("ana").version == 0  # nothing was written

    preview = _callback_key(app, "settings-preview.children")
    for thousands, decimals in ((["x"], 2), ("comma", 1e308), ("comma", None), ("nope", 2), ("comma", 99)):
        assert "…" in _post(client, app, preview, [thousands, decimals])["settings-preview"]["children"]

    create = _callback_key(app, "settings-token-shown.children", "settings-token-name.value")
    for name, days, field in (("x" * 10_000, None, "Name: at most"), (None, None, "Name: give"),
                              ("ok", "abc", "Expires after (days):"), ("ok", -1, "Expires after (days):"),
                              ("ok", 10**9, "Expires after (days):"), ("line\nbreak", None, "Name:")):
        response = _post(client, app, create, [1, name, days])
        assert field in _notice(response, "settings-token-notices"), _notice(response, "settings-token-notices")
    assert access.tokens.list("ana") == []

    revoke = _callback_key(app, "settings-token-grid.rowData", "settings-token-modal.opened")
    for selected, text in (([{"id": "x"}], "Token: expected a token id"), ("junk", "Select a token"),
                           ([{"id": 99_999}], "has no token"), ([{"id": 2**40}], "Token:")):
        response = _post(client, app, revoke, [1, selected])
        assert text in _notice(response, "settings-token-notices"), _notice(response, "settings-token-notices")
