"""Saved views panel in the browser, on a small page of its own inside the real app.

Every step is checked twice: what the user sees, and what the records store holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import dash
import pytest
from dash import html
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from backend.config import Settings
from backend.meta import open_meta
from backend.meta.views import SavedViews
from components.saved_views import LOADING, saved_views

PROBE_PATH = "/saved-views-probe"
PROBE_MODULE = "tests.ui.saved_views_probe"
TECH = "?rows=symbol&date=2024-01-02&f.symbol=AAPL&f.symbol=MSFT"
DESK = "?rows=desk&m=pnl"


def _sel(part: str) -> str:
    # Dash renders dict ids as sorted JSON; match on the part name.
    return f"[id*='\"part\":\"{part}\"']"


@pytest.fixture
def probe_app(deskboard_app) -> Iterator[dash.Dash]:

    dash.register_page(PROBE_MODULE, path=PROBE_PATH, name="Saved views probe", nav=False,
                       layout=lambda **_: html.Div([html.H3("Probe"), saved_views("probe")]))
    yield deskboard_app
    dash.page_registry.pop(PROBE_MODULE, None)


@pytest.fixture
def stored(app_settings: Settings) -> SavedViews:
    return SavedViews(open_meta(app_settings.meta_database_url))


def _fresh(read):
    """``read()``, or None while Dash is re-rendering the element being read."""
    try:
        return read()
    except StaleElementReferenceException:
        return None


def _message(dash_duo) -> str:
    return _fresh(lambda: dash_duo.find_element(_sel("message")).text) or ""


def _wait_message(dash_duo, text: str) -> None:
    until(lambda: text in _message(dash_duo), 20, msg=f"no {text!r} in the message: {_message(dash_duo)!r}")


def _type_name(dash_duo, name: str) -> None:
    box = dash_duo.find_element(_sel("name"))
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(name)


def _choose(dash_duo, label: str) -> None:
    """Pick ``label`` in the saved-views select, reopening it until the list has loaded."""

    def pick() -> bool:
        box = dash_duo.find_element(_sel("select"))
        box.click()
        options = [o for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role='option']") if o.text == label]
        if not options:
            box.send_keys(Keys.ESCAPE)
            return False
        options[0].click()
        return True

    until(lambda: _fresh(pick), timeout=20, poll=0.3)
    until(lambda: _fresh(lambda: dash_duo.find_element(_sel("select")).get_attribute("value")) == label, timeout=20)


def _visit(dash_duo, search: str) -> None:
    dash_duo.driver.get(dash_duo.server_url + PROBE_PATH + search)
    dash_duo.wait_for_element(_sel("save"))
    # The list has loaded once the placeholder stops saying so.
    until(lambda: _fresh(lambda: dash_duo.find_element(_sel("select")).get_attribute("placeholder"))
          not in (None, LOADING), timeout=20)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_save_open_rename_delete_and_copy_link(dash_duo, probe_app, stored: SavedViews) -> None:
    dash_duo.start_server(probe_app)
    _visit(dash_duo, TECH)
    _type_name(dash_duo, "  Tech  ")
    dash_duo.find_element(_sel("save")).click()
    _wait_message(dash_duo, "Saved “Tech”.")
    [tech] = stored.list("local")
    assert (tech.name, tech.page) == ("Tech", PROBE_PATH)
    assert _query(tech.href) == _query(TECH)

    _visit(dash_duo, DESK)
    _type_name(dash_duo, "Desk")
    dash_duo.find_element(_sel("save")).click()
    _wait_message(dash_duo, "Saved “Desk”.")

    # A second view under a taken name is refused and nothing is stored.
    _type_name(dash_duo, "Tech")
    dash_duo.find_element(_sel("save")).click()
    _wait_message(dash_duo, "already exists")
    assert sorted(v.name for v in stored.list("local")) == ["Desk", "Tech"]

    # Open navigates to the saved URL.
    _choose(dash_duo, "Tech")
    # The link box fills from the choice (a round trip): wait for it rather than read it at once.
    until(lambda: _fresh(lambda: dash_duo.find_element(_sel("link")).get_attribute("value")), timeout=20)
    link = dash_duo.find_element(_sel("link")).get_attribute("value")
    assert link.startswith(dash_duo.server_url + PROBE_PATH + "?")
    assert _query(link) == _query(TECH)
    dash_duo.find_element(_sel("open")).click()
    until(lambda: _query(dash_duo.driver.current_url) == _query(TECH), timeout=20)
    assert urlsplit(dash_duo.driver.current_url).path == PROBE_PATH

    # Copy link puts the absolute URL on the clipboard.
    dash_duo.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": dash_duo.server_url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
    })
    _choose(dash_duo, "Tech")
    # The link box fills from the choice (a round trip); copy what it then shows.
    until(lambda: _fresh(lambda: dash_duo.find_element(_sel("link")).get_attribute("value")) == link, timeout=20)
    dash_duo.find_element(_sel("copy")).click()

    def clipboard() -> str:
        return dash_duo.driver.execute_async_script(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('error: ' + e));"
        )

    until(lambda: clipboard() == link, timeout=10)

    # Rename keeps the state and bumps the version.
    _type_name(dash_duo, "Tech longs")
    dash_duo.find_element(_sel("rename")).click()
    _wait_message(dash_duo, "Renamed to “Tech longs”.")
    renamed = stored.get("local", tech.id)
    assert (renamed.name, renamed.version, renamed.state) == ("Tech longs", 2, tech.state)

    # Delete asks first; cancel keeps the view, confirm removes it.
    _choose(dash_duo, "Desk")
    dash_duo.find_element(_sel("delete")).click()
    until(lambda: "Delete “Desk”?" in dash_duo.find_element(_sel("confirm-text")).text, timeout=20)
    dash_duo.find_element(_sel("confirm-no")).click()
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, _sel("confirm-yes")), timeout=20)
    assert len(stored.list("local")) == 2
    dash_duo.find_element(_sel("delete")).click()
    dash_duo.wait_for_element(_sel("confirm-yes")).click()
    _wait_message(dash_duo, "Deleted “Desk”.")
    assert [v.name for v in stored.list("local")] == ["Tech longs"]
    assert dash_duo.get_logs() == []


def test_a_rename_after_someone_else_changed_the_view_is_a_conflict(dash_duo, probe_app, stored) -> None:
    first = stored.create_from_search("local", "Shared", PROBE_PATH, TECH)
    dash_duo.start_server(probe_app)
    _visit(dash_duo, "")
    _choose(dash_duo, "Shared")
    # Another tab renames it after this page listed it.
    stored.rename("local", first.id, "Renamed elsewhere", first.version)
    _type_name(dash_duo, "Mine")
    dash_duo.find_element(_sel("rename")).click()
    _wait_message(dash_duo, "changed by someone else")
    assert stored.get("local", first.id).name == "Renamed elsewhere"
    assert dash_duo.get_logs() == []


def test_bad_names_are_refused_with_a_message(dash_duo, probe_app, stored) -> None:
    dash_duo.start_server(probe_app)
    _visit(dash_duo, TECH)
    dash_duo.find_element(_sel("save")).click()
    _wait_message(dash_duo, "give the view a name")
    _type_name(dash_duo, "   ")
    dash_duo.find_element(_sel("save")).click()
    _wait_message(dash_duo, "give the view a name")
    # Opening, renaming or deleting with nothing chosen says so.
    dash_duo.find_element(_sel("open")).click()
    _wait_message(dash_duo, "Choose a saved view to open.")
    dash_duo.find_element(_sel("delete")).click()
    _wait_message(dash_duo, "Choose a saved view to delete.")
    assert stored.list("local") == []
    assert dash_duo.get_logs() == []
