"""Demo datasets for a new installation: real daily histories a researcher recognises, and a panel.

The S&P 500 and NASDAQ Composite daily bars 1999–2018 (5,031 each) that the ``arch``
package ships in ``arch.data`` — published market data, not a simulation. Each bar is its
New York session's date; the adjusted close comes along as an extra column. Beside them,
``vn30_minutes``: one-minute bars of the VN30 names over one session of the market simulator
(the one behind /board), a panel with a ``symbol`` column, in Vietnam's time.
"""

from __future__ import annotations

import logging
from typing import Final

import pandas as pd

from backend.measurements.frames import as_table
from backend.research.dataset_service import Datasets
from backend.research.datasets import Bars

log = logging.getLogger(__name__)

SESSION_ZONE: Final = "America/New_York"
DEMO: Final[dict[str, tuple[str, str]]] = {
    "sp500": ("sp500", "S&P 500 daily 1999–2018, from the arch package's data (arch.data.sp500)"),
    "nasdaq": ("nasdaq", "NASDAQ Composite daily 1999–2018, from the arch package's data (arch.data.nasdaq)"),
}


def demo_bars(module_name: str) -> Bars:
    """One of ``arch.data``'s histories as bars: each date at midnight of its New York session."""
    import importlib

    module = importlib.import_module(f"arch.data.{module_name}")
    raw = module.load()
    frame = pd.DataFrame({
        "timestamp": pd.DatetimeIndex(raw.index).tz_localize(SESSION_ZONE).tz_convert("UTC"),
        "open": raw["Open"].to_numpy(float), "high": raw["High"].to_numpy(float), "low": raw["Low"].to_numpy(float),
        "close": raw["Close"].to_numpy(float), "volume": raw["Volume"].to_numpy(float),
        "adj_close": raw["Adj Close"].to_numpy(float),
    })
    return Bars(as_table(frame), SESSION_ZONE)


VN_ZONE: Final = "Asia/Ho_Chi_Minh"
VN30_SESSION: Final = "2026-11-30"  # a Monday: one whole simulated session, the same at every start


def vn30_minute_bars(seed: int = 7, density: float = 5.0, session: str = VN30_SESSION) -> Bars:
    """Minute bars of every VN30 name over one simulated session (prices in VND, VN time)."""
    from datetime import date

    from backend.market.events import Trade
    from backend.market.feed.simulator import MarketSimulator, vn_start
    from backend.market.normalize import MessageError, Normalizer

    day = date.fromisoformat(session)
    opening = vn_start(day, "09:00")
    simulator = MarketSimulator(seed=seed, start=opening, density=density, catch_up_density=density, days=1,
                                skip_breaks=True)
    normalizer = Normalizer(now=opening.timestamp)
    stamps: list[float] = []
    symbols: list[str] = []
    prices: list[float] = []
    volumes: list[int] = []
    for _ts, raw in simulator.stream():
        try:
            event = normalizer.parse(raw)
        except MessageError:
            continue
        if isinstance(event, Trade) and not event.symbol.startswith("VN30F") and event.volume > 0:
            stamps.append(event.ts)
            symbols.append(event.symbol)
            prices.append(event.price)
            volumes.append(event.volume)
    trades = pd.DataFrame({"minute": pd.to_datetime(stamps, unit="s", utc=True).floor("min"), "symbol": symbols,
                           "price": prices, "volume": volumes})
    bars = trades.groupby(["minute", "symbol"], sort=True).agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
        volume=("volume", "sum")).reset_index().rename(columns={"minute": "timestamp"})
    bars["volume"] = bars["volume"].astype(float)
    return Bars(as_table(bars), VN_ZONE, tuple(sorted(bars["symbol"].unique())))


def ensure_demo_datasets(datasets: Datasets) -> list[str]:
    """Add the demo datasets when there is no dataset at all; the names added."""
    if datasets.names():
        return []
    added = []
    for name, (module_name, source) in DEMO.items():
        try:
            datasets.add(name, demo_bars(module_name), created_by="deskboard", source=source)
        except ImportError:
            log.warning("the demo dataset %s needs the arch package; skipped", name)
            continue
        added.append(name)
    datasets.add("vn30_minutes", vn30_minute_bars(), created_by="deskboard",
                 source=f"VN30 one-minute bars of one simulated session ({VN30_SESSION}), from the market simulator")
    added.append("vn30_minutes")
    return added
