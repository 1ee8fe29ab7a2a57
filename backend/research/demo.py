"""Demo datasets for a new installation: real daily histories a researcher recognises.

The S&P 500 and NASDAQ Composite daily bars 1999–2018 (5,031 each) that the ``arch``
package ships in ``arch.data`` — published market data, not a simulation. Each bar is its
New York session's date; the adjusted close comes along as an extra column.
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
    return added
