"""What the explorer draws for a window: candles merged to the chart's width and equal to pandas'
resample of the same bars, times on the dataset's wall clock, lines thinned with their extremes kept,
and a notice — never a blank — for an empty window, an all-missing column, an unknown symbol or gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.measurements.frames import as_table
from backend.measurements.parquet_store import ParquetMeasurements
from backend.measurements.records import MeasurementRecords
from backend.meta import open_meta
from backend.research.dataset_service import Datasets
from backend.research.datasets import Bars
from backend.research.explorer import explorer_window
from backend.research.indicator_service import IndicatorVersions
from backend.research.indicators import clean_request


@pytest.fixture
def datasets(tmp_path: Path) -> Datasets:
    return Datasets(ParquetMeasurements(tmp_path / "m"), MeasurementRecords(open_meta(f"sqlite:///{tmp_path}/m.db")),
                    "parquet")


def bars(n: int, symbol: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    close = 50 + rng.normal(0, 0.1, n).cumsum()
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-02 02:00", periods=n, freq="min", tz="UTC"),
                          "open": close, "high": close + 0.2, "low": close - 0.2, "close": close,
                          "volume": rng.integers(1, 100, n).astype(float)})
    if symbol:
        frame.insert(1, "symbol", symbol)
    return frame


def test_the_whole_range_is_merged_to_the_width_as_pandas_would(datasets: Datasets) -> None:
    frame = bars(100_000)
    datasets.add("m", Bars(as_table(frame), "Asia/Ho_Chi_Minh"))
    window = explorer_window(datasets, "m", width=800)
    assert window.rows == 100_000 and len(window.x) <= 800 and window.merged == 125
    starts = pd.to_datetime(window.x).tz_localize("Asia/Ho_Chi_Minh").tz_convert("UTC")
    bucket = np.searchsorted(starts.asi8, frame["timestamp"].astype("int64").to_numpy(), side="right") - 1
    want = frame.groupby(bucket).agg(open=("open", "first"), high=("high", "max"), low=("low", "min"),
                                     close=("close", "last"), volume=("volume", "sum"))
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(window, column), want[column].to_numpy())
    assert window.x[0] == "2024-01-02 09:00:00"  # 02:00 UTC on Hanoi's wall clock


def test_a_zoomed_window_shows_single_bars_and_the_indicator_line(datasets: Datasets) -> None:
    datasets.add("m", Bars(as_table(bars(5_000)), "UTC"))
    version = IndicatorVersions(datasets).make("m", clean_request([{"function": "SMA", "params": {"timeperiod": 5}},
                                                                    {"function": "RSI"}]))
    window = explorer_window(datasets, version.name, start="2024-01-02 03:00", end="2024-01-02 03:30",
                             columns=["sma_5", "rsi_14", "nope"], width=1200)
    assert window.rows == 30 and window.merged == 1 and len(window.x) == 30
    assert [(s.name, s.overlay) for s in window.lines] == [("sma_5", True), ("rsi_14", False)]
    assert window.x[0] == "2024-01-02 03:00:00" and window.notices == []


def test_empty_windows_missing_columns_unknown_symbols_and_gaps_say_so(datasets: Datasets) -> None:
    frame = bars(300)
    frame = frame.drop(index=range(100, 110)).reset_index(drop=True)  # a ten-minute hole
    datasets.add("m", Bars(as_table(frame), "UTC"))
    empty = explorer_window(datasets, "m", start="2030-01-01")
    assert empty.rows == 0 and empty.x == [] and "No bars in this window" in empty.notices[0]
    gaps = explorer_window(datasets, "m")
    assert any("1 gap" in n for n in gaps.notices)
    version = IndicatorVersions(datasets).make("m", clean_request([{"function": "SMA", "params": {"timeperiod": 50}}]))
    early = explorer_window(datasets, version.name, end="2024-01-02 02:30", columns=["sma_50"])
    assert early.lines == [] and any("sma_50 has no values in this window" in n for n in early.notices)
    panel = pd.concat([bars(50, "AAA"), bars(50, "BBB")]).sort_values(["timestamp", "symbol"], kind="stable")
    datasets.add("p", Bars(as_table(panel), "UTC", ("AAA", "BBB")))
    other = explorer_window(datasets, "p", symbol="ZZZ")
    assert other.symbol == "AAA" and other.rows == 50 and "no symbol 'ZZZ'" in other.notices[0]
    assert explorer_window(datasets, "p", symbol="BBB").symbol == "BBB"
