"""The shell a user sees on every page: navigation, theme, embed and kiosk modes."""

from __future__ import annotations

import dash
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from backend.access import policy


def _theme(dash_duo) -> str:
    return dash_duo.driver.execute_script("return document.documentElement.getAttribute('data-db-theme')")


def test_shell_lists_registered_pages_and_loads_without_console_errors(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element(".shell-brand")
    links = {a.get_attribute("pathname") for a in dash_duo.find_elements(".shell-nav-link")}
    # pages behind a feature flag are listed only where it is on (none is, in this app)
    expected = {p["relative_path"] for p in dash.page_registry.values()
                if p.get("nav", True) and policy.page_flag(p["path"]) is None}
    assert links == expected
    assert dash_duo.get_logs() == []


def test_theme_toggle_is_remembered_by_the_browser(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#shell-theme-toggle")
    until(lambda: _theme(dash_duo) == "light", timeout=20)
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: _theme(dash_duo) == "dark", timeout=20)
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#shell-theme-toggle")
    until(lambda: _theme(dash_duo) == "dark", timeout=20)
    assert dash_duo.driver.execute_script("return document.documentElement.getAttribute('data-mantine-color-scheme')") == "dark"
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: _theme(dash_duo) == "light", timeout=20)
    assert dash_duo.get_logs() == []


def test_embed_and_kiosk_hide_all_chrome(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element(".shell-brand")
    for query, theme in (("?embed=1", "light"), ("?kiosk=1", "dark")):
        dash_duo.driver.get(dash_duo.server_url + "/" + query)
        until(lambda theme=theme: _theme(dash_duo) == theme, timeout=20)
        until(
            lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".shell-brand")
            or not dash_duo.driver.find_element(By.CSS_SELECTOR, ".shell-brand").is_displayed(),
            timeout=5,
        )
        assert not dash_duo.driver.find_elements(By.ID, "shell-theme-toggle") or not dash_duo.driver.find_element(
            By.ID, "shell-theme-toggle"
        ).is_displayed()
    assert dash_duo.get_logs() == []


def test_phone_width_has_a_menu_with_every_page(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.driver.set_window_size(390, 844)
    dash_duo.wait_for_element("#shell-phone-menu").click()
    expected = {p.get("title") or p["name"] for p in dash.page_registry.values()
                if p.get("nav", True) and policy.page_flag(p["path"]) is None}

    def items() -> dict:
        return {e.text: e for e in dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role='menuitem']")}

    # The menu opens with a transition: its items have no text until they are shown.
    until(lambda: set(items()) == expected, timeout=20)
    items()["Pivot"].click()
    until(lambda: dash_duo.driver.current_url.split("?")[0].endswith("/pivot"), timeout=20)
    assert dash_duo.get_logs() == []


def _system_scheme(dash_duo, scheme: str) -> None:
    dash_duo.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                    {"features": [{"name": "prefers-color-scheme", "value": scheme}]})


def test_with_no_theme_chosen_the_shell_follows_the_system_until_the_user_picks_one(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#shell-theme-toggle")
    dash_duo.driver.execute_script("window.localStorage.removeItem('shell-theme')")
    _system_scheme(dash_duo, "dark")
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#shell-theme-toggle")
    until(lambda: _theme(dash_duo) == "dark", timeout=20)
    _system_scheme(dash_duo, "light")  # the system changes while the page is open
    until(lambda: _theme(dash_duo) == "light", timeout=20)
    assert dash_duo.driver.execute_script("return document.documentElement.getAttribute('data-mantine-color-scheme')") == "light"
    dash_duo.find_element("#shell-theme-toggle").click()  # a choice: kept whatever the system does
    until(lambda: _theme(dash_duo) == "dark", timeout=20)
    _system_scheme(dash_duo, "light")
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#shell-theme-toggle")
    until(lambda: _theme(dash_duo) == "dark", timeout=20)
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: _theme(dash_duo) == "light", timeout=20)
    assert dash_duo.get_logs() == []
