"""What the /board browser tests share: the app with a scripted or simulated feed, the /market tab
opened beside the board (test modules wrap the markets as fixtures), and readers of the grid that ask the page in one script (a live grid
redraws between two element reads)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

from backend.config import load_settings
from backend.market.feed.base import MarketFeed
from backend.market.feed.simulated import SimulatorFeed
from backend.market.reference import VN_TZ, futures_contracts
from backend.market.runtime import install_market_service
from backend.market.service import MarketService, ServiceSettings
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.warehouse import Warehouse
from tests.backend.market_ui.feeds import ScriptedFeed, index_message, status_message, trade_message

# (ref, ceiling, floor) from the HOSE ±7% band.
LIMITS = {
    "ACB": (24_500, 26_200, 22_800),
    "BID": (48_000, 51_300, 44_700),
    "FPT": (130_000, 139_100, 120_900),
    "HPG": (27_000, 28_850, 25_150),
    "VNM": (66_000, 70_600, 61_400),
}
FUTURES = futures_contracts(datetime.now(VN_TZ).date(), 1)[0]
FUTURES_LIMITS = (1_300.0, 1_391.0, 1_209.0)


@dataclass
class Market:
    app: Any
    service: MarketService
    feed: MarketFeed | None
    beats: list[threading.Event] = field(default_factory=list)

    @property
    def scripted(self) -> ScriptedFeed:
        assert isinstance(self.feed, ScriptedFeed)
        return self.feed

    def start(self) -> None:
        """Start the feed once the test server is up (a server restart would stop its thread)."""
        self.service.start(self.service.pipeline)

    def resume(self) -> None:
        """Index updates several times a second at a steady level, as a quiet live feed sends them."""
        beat = threading.Event()
        self.beats.append(beat)
        threading.Thread(target=_heartbeat, args=(self.scripted, beat), daemon=True).start()

    def pause(self) -> None:
        """The feed stays connected but goes quiet."""
        for beat in self.beats:
            beat.set()
        self.beats.clear()

    def send_limits(self) -> None:
        self.scripted.send(*(status_message(s, *limits) for s, limits in LIMITS.items()))

    def trade(self, symbol: str, price: float, total: int = 1_000, volume: int = 100, side: str = "BU") -> None:
        limits = FUTURES_LIMITS if symbol == FUTURES else LIMITS[symbol]
        self.scripted.send(trade_message(symbol, *limits, price, volume, total, side=side))  # type: ignore[arg-type]


def _heartbeat(feed: ScriptedFeed, stop: threading.Event) -> None:
    while not stop.wait(0.3):
        feed.send(index_message("VN30", 1_301.5, 1_300.0), index_message("VNINDEX", 1_250.25, 1_252.0))


def _app(tmp_path: Path, warehouse_url: str, database: str, feed_factory: Callable[[], MarketFeed],
         settings: ServiceSettings) -> tuple[Any, MarketService]:
    from app import create_app

    app_settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                                 warehouse_database=database, demo_rows=0)
    app = create_app(app_settings, market=False)  # the test starts the service with its own feed
    service = install_market_service(app.server, app.server.extensions[STORES_KEY], feed_factory=feed_factory,
                                     settings=settings, start=False)
    assert service is not None
    return app, service


@contextmanager
def scripted_market(tmp_path: Path, warehouse_url: str, warehouse: Warehouse) -> Iterator[Market]:
    """The real app on its own database with a feed the test writes provider messages into."""
    feed = ScriptedFeed()
    app, service = _app(tmp_path, warehouse_url, warehouse.database, lambda: feed,
                        ServiceSettings(stale_seconds=2.0, tick_seconds=0.1))
    market = Market(app, service, feed)
    market.resume()
    yield market
    market.pause()
    service.stop()


@contextmanager
def simulated_market(tmp_path: Path, warehouse_url: str, warehouse: Warehouse) -> Iterator[Market]:
    """The app with the seeded simulator, 30 simulated seconds per wall second, from 10:00 VN."""
    feed_box: list[MarketFeed] = []

    def factory() -> MarketFeed:
        feed_box.append(SimulatorFeed(rate=300, speed=30, seed=7, start_time="10:00"))
        return feed_box[-1]

    app, service = _app(tmp_path, warehouse_url, warehouse.database, factory,
                        ServiceSettings(stale_seconds=5.0, tick_seconds=0.2))
    market = Market(app, service, None)
    yield market
    service.stop()


def open_board(dash_duo, market: Market, query: str = "", *, width: int = 1366, height: int = 768) -> None:
    """Start the server and the feed, open /market in one tab and /board (with ``query``) in another."""
    dash_duo.start_server(market.app)
    market.start()
    driver = dash_duo.driver
    set_viewport(driver, width, height)
    driver.get(dash_duo.server_url + "/market")
    dash_duo.wait_for_element("[id^='market-']", timeout=20)  # the live /market page is drawn
    driver.switch_to.new_window("tab")
    set_viewport(driver, width, height)
    dash_duo.wait_for_page(dash_duo.server_url + "/board" + query)


def set_viewport(driver, width: int, height: int) -> None:
    """The page's own size (not the window's), as on a screen of that resolution."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def cell(dash_duo, symbol: str, col: str):
    return dash_duo.find_element(f"#board-grid .ag-center-cols-container [row-id='{symbol}'] [col-id='{col}'], "
                                 f"#board-grid .ag-pinned-left-cols-container [row-id='{symbol}'] [col-id='{col}']")


def cell_text(dash_duo, symbol: str, col: str) -> str | None:
    try:
        return cell(dash_duo, symbol, col).text
    except (NoSuchElementException, StaleElementReferenceException):  # the row is not drawn yet
        return None


def wait_cell(dash_duo, symbol: str, col: str, text: str, timeout: float = 15) -> None:
    until(lambda: cell_text(dash_duo, symbol, col) == text, timeout=timeout)


def row_order(dash_duo) -> list[str]:
    """Row ids in display order, read from the grid (AG Grid keeps DOM order, sorts visually)."""
    return dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi('board-grid'); const out = [];"
        "api.forEachNodeAfterFilterAndSort(n => out.push(n.id)); return out;")


def texts(dash_duo, css: str) -> list[str]:
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)", css)


TONE_VARS = {"up": "--db-up", "down": "--db-down", "ref": "--db-ref", "ceiling": "--db-ceil", "floor": "--db-floor"}


def tone_colours(dash_duo) -> dict[str, str]:
    """The VN colours of the page's current scheme as the browser writes computed colours, 'rgb(r, g, b)'."""
    raw = dash_duo.driver.execute_script(
        "const s = getComputedStyle(document.documentElement); const out = {};"
        "for (const [k, v] of Object.entries(arguments[0])) out[k] = s.getPropertyValue(v).trim(); return out;",
        TONE_VARS)
    return {k: "rgb({}, {}, {})".format(*(int(v[i:i + 2], 16) for i in (1, 3, 5))) for k, v in raw.items()}


def colour(dash_duo, symbol: str, col: str) -> str:
    """The computed text colour of a cell (the symbol cell lives in the pinned-left part)."""
    return dash_duo.driver.execute_script(
        "const c = document.querySelector(`#board-grid [row-id='${arguments[0]}'] [col-id='${arguments[1]}']`);"
        "return c ? getComputedStyle(c).color : null;", symbol, col)
