"""Signing in through the page, seeing the pivot, and signing out, with sign-in on."""

from __future__ import annotations

from pathlib import Path

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from backend.access.install import EXTENSION_KEY
from backend.config import load_settings
from backend.warehouse import Warehouse

PASSWORD = "a long enough passphrase 42"


@pytest.fixture
def signin_app(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse):
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, auth="on")
    app = create_app(settings, market=False)
    app.server.extensions[EXTENSION_KEY].accounts.create_user(
        "ana", display_name="Ana Analyst", password=PASSWORD, roles=("analyst",), actor="ana")
    return app


def _path(dash_duo) -> str:
    return dash_duo.driver.execute_script("return location.pathname + location.search")


def test_sign_in_see_the_pivot_and_sign_out(dash_duo, signin_app) -> None:
    # not navigate=True: that waits for Dash at "/", and a visitor who is not signed in meets the sign-in page
    dash_duo.start_server(signin_app, navigate=False)
    base = dash_duo.server.url.rstrip("/")
    dash_duo.driver.get(base + "/pivot")
    # not signed in: the sign-in page, which will lead back to the pivot
    dash_duo.wait_for_element("#signin-form", timeout=20)
    assert _path(dash_duo).startswith("/signin?next=/pivot")
    dash_duo.find_element("#user").send_keys("ana")
    dash_duo.find_element("#password").send_keys("not the password")
    dash_duo.find_element("#signin-submit").click()
    dash_duo.wait_for_contains_text("#signin-message", "Wrong user name or password", timeout=20)
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#signin-submit").click()

    # the pivot, with its numbers
    until(lambda: _path(dash_duo) == "/pivot", timeout=20)
    dash_duo.wait_for_contains_text("#pivot-freshness", "rows from", timeout=60)
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#pivot-grid .ag-center-cols-container .ag-row"),
          timeout=30)
    dash_duo.wait_for_text_to_equal("#shell-user", "Ana Analyst", timeout=10)

    # embedded, the page shows no chrome: no user menu either
    dash_duo.driver.get(base + "/pivot?embed=1")
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#pivot-grid .ag-center-cols-container .ag-row"),
          timeout=60)
    until(lambda: not dash_duo.driver.find_elements(By.ID, "shell-user")
          or not dash_duo.driver.find_element(By.ID, "shell-user").is_displayed(), timeout=10)
    dash_duo.driver.get(base + "/pivot")
    dash_duo.wait_for_text_to_equal("#shell-user", "Ana Analyst", timeout=30)

    # sign out from the user menu
    dash_duo.find_element("#shell-user").click()
    dash_duo.wait_for_element("#shell-signout", timeout=10).click()
    dash_duo.wait_for_element("#signin-form", timeout=20)
    assert _path(dash_duo) == "/signin"
    # and the pivot is closed again
    dash_duo.driver.get(base + "/pivot")
    dash_duo.wait_for_element("#signin-form", timeout=20)
    assert _path(dash_duo).startswith("/signin?next=/pivot")
    assert dash_duo.get_logs() == []


def test_a_page_the_user_may_not_see_says_so(dash_duo, signin_app) -> None:
    signin_app.server.extensions[EXTENSION_KEY].accounts.create_user(
        "vic", password=PASSWORD, roles=("viewer",), actor="vic")
    dash_duo.start_server(signin_app, navigate=False)
    base = dash_duo.server.url.rstrip("/")
    dash_duo.driver.get(base + "/admin/system")
    dash_duo.wait_for_element("#signin-form", timeout=20)
    dash_duo.find_element("#user").send_keys("vic")
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#signin-submit").click()
    dash_duo.wait_for_contains_text("#access-denied", "No access to this page", timeout=30)
    assert not dash_duo.driver.find_elements(By.ID, "system-stats")
    # the pages they may see still open, from the same tab
    dash_duo.driver.get(base + "/")
    dash_duo.wait_for_element("#overview", timeout=30)
    assert not dash_duo.driver.find_elements(By.ID, "access-denied")
    assert dash_duo.get_logs() == []


def test_a_page_whose_session_ended_goes_to_the_sign_in_form_and_back(dash_duo, signin_app) -> None:
    accounts = signin_app.server.extensions[EXTENSION_KEY].accounts
    dash_duo.start_server(signin_app, navigate=False)
    base = dash_duo.server.url.rstrip("/")
    dash_duo.driver.get(base + "/pivot?rows=desk")
    dash_duo.wait_for_element("#signin-form", timeout=20)
    dash_duo.find_element("#user").send_keys("ana")
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#signin-submit").click()
    dash_duo.wait_for_contains_text("#pivot-freshness", "rows from", timeout=60)

    # Elsewhere, the password changes: this session is over, and the page's next request says so.
    accounts.set_password("ana", PASSWORD + " renewed", actor="admin")
    dash_duo.driver.execute_script(
        "window.history.pushState({}, '', '/'); window.dispatchEvent(new PopStateEvent('popstate'))")
    dash_duo.wait_for_element("#signin-form", timeout=30)
    assert _path(dash_duo).startswith("/signin?reason=idle&next=")
    # the refused request is the only thing the browser complained about
    logs = dash_duo.get_logs()
    assert all("401" in entry["message"] for entry in logs), [e["message"][-160:] for e in logs]

    dash_duo.find_element("#user").send_keys("ana")
    dash_duo.find_element("#password").send_keys(PASSWORD + " renewed")
    dash_duo.find_element("#signin-submit").click()
    # a password an administrator set must be changed first; then the page it left
    until(lambda: _path(dash_duo).startswith("/account/password"), timeout=20)
    if dash_duo.driver.find_elements(By.ID, "current"):
        dash_duo.find_element("#current").send_keys(PASSWORD + " renewed")
    dash_duo.find_element("#new").send_keys(PASSWORD + " again")
    dash_duo.find_element("#confirm").send_keys(PASSWORD + " again")
    dash_duo.find_element("#password-submit").click()
    until(lambda: not _path(dash_duo).startswith(("/account", "/signin")), timeout=20)
    dash_duo.wait_for_element("#shell-user", timeout=30)
    assert dash_duo.get_logs() == []
