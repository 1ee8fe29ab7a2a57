"""Browser-test fixtures: the real app on the session warehouse's fixture data."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from dash.testing.composite import DashComposite
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver

from backend.config import Settings, load_settings
from backend.warehouse import Warehouse

WINDOW = (1280, 900)  # the suite's browser window (tests/conftest.py starts Chromium at this size)


@pytest.fixture
def app_settings(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse) -> Settings:
    """Settings for an app over the ``fixture`` database, with its own data dir."""
    return load_settings(
        data_dir=tmp_path / "app-data",
        warehouse_dsn=warehouse_url,
        warehouse_database=loaded_warehouse.database,
        demo_rows=0,
    )


@pytest.fixture
def deskboard_app(app_settings: Settings):
    from app import create_app

    return create_app(app_settings, market=False)


class SharedChromium(DashComposite):
    """``dash_duo`` on this worker's one Chromium: started for the first browser test, then each test
    gets a tab of its own (a new tab drops the last test's page, its emulated screen and media, and
    its scripts), no cookies and its own download folder; local storage is per origin, and every
    test's app has a port of its own. Starting Chromium for each of the suite's browser tests cost
    more than a second of both cores each time."""

    driver_kept: ClassVar[WebDriver | None] = None

    def get_webdriver(self) -> WebDriver:
        kept = SharedChromium.driver_kept
        if kept is not None:
            try:
                kept.get_log("browser")  # what the last test's pages logged is not this test's
                kept.execute_cdp_cmd("Network.clearBrowserCookies", {})
                kept.set_window_size(*WINDOW)
                kept.execute_cdp_cmd("Browser.setDownloadBehavior",
                                     {"behavior": "allow", "downloadPath": self.download_path})
                return kept
            except WebDriverException:
                SharedChromium.close()
        SharedChromium.driver_kept = super().get_webdriver()
        return SharedChromium.driver_kept

    def __exit__(self, exc_type, exc_val, traceback) -> None:
        # Keep the browser; leave it one blank tab, so nothing of this test's pages runs on.
        driver = self.driver
        try:
            old = driver.window_handles
            driver.switch_to.window(old[0])
            driver.switch_to.new_window("tab")
            fresh = driver.current_window_handle
            for handle in old:
                driver.switch_to.window(handle)
                driver.close()
            driver.switch_to.window(fresh)
        except WebDriverException:
            SharedChromium.close()

    @classmethod
    def close(cls) -> None:
        driver, cls.driver_kept = cls.driver_kept, None
        if driver is not None:
            with contextlib.suppress(WebDriverException):
                driver.quit()


@pytest.fixture(scope="session")
def _chromium_per_worker() -> Iterator[None]:
    yield
    SharedChromium.close()


@pytest.fixture
def dash_duo(request: pytest.FixtureRequest, dash_thread_server, tmpdir, _chromium_per_worker) -> Iterator[DashComposite]:
    with SharedChromium(
        server=dash_thread_server,
        browser=request.config.getoption("webdriver"),
        remote=request.config.getoption("remote"),
        remote_url=request.config.getoption("remote_url"),
        headless=request.config.getoption("headless"),
        options=request.config.hook.pytest_setup_options(),
        download_path=tmpdir.mkdir("download").strpath,
        percy_assets_root=request.config.getoption("percy_assets"),
        percy_finalize=request.config.getoption("nopercyfinalize"),
        pause=request.config.getoption("pause"),
    ) as duo:
        yield duo
