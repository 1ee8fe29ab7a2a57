"""Indicators against formulas written here in pandas — SMA, EMA seeded with an SMA (TA-Lib's way),
RSI and ATR with Wilder's smoothing, Bollinger bands with the population deviation — after each one's
warm-up; returns and forward returns; panels computed per symbol with nothing read across symbols;
versions made once per request and traced to what made them; hostile requests refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.measurements.frames import as_table
from backend.measurements.parquet_store import ParquetMeasurements
from backend.measurements.records import MeasurementRecords
from backend.meta import open_meta
from backend.research.dataset_service import DatasetError, Datasets
from backend.research.datasets import Bars
from backend.research.indicator_service import IndicatorVersions
from backend.research.indicators import (
    IndicatorError,
    IndicatorSpec,
    catalogue,
    clean_request,
    column_names,
    compute,
)


def prices(n: int = 400, seed: int = 5, symbol: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high = close * (1 + rng.uniform(0, 0.01, n))
    low = close * (1 - rng.uniform(0, 0.01, n))
    open_ = np.clip(close * (1 + rng.normal(0, 0.003, n)), low, high)
    frame = pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"), "open": open_,
                          "high": high, "low": low, "close": close, "volume": rng.integers(1, 10_000, n).astype(float)})
    if symbol:
        frame.insert(1, "symbol", symbol)
    return frame


def _run(frame: pd.DataFrame, *items: dict) -> pd.DataFrame:
    table, _ = compute(as_table(frame), clean_request(list(items)))
    return table.to_pandas()


# -- independent formulas -------------------------------------------------------------------------
def sma(x: pd.Series, n: int) -> pd.Series:
    return x.rolling(n).mean()


def ema(x: pd.Series, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    out[n - 1] = x.iloc[:n].mean()  # seeded with the SMA of the first n values
    k = 2 / (n + 1)
    for i in range(n, len(x)):
        out[i] = out[i - 1] + k * (x.iloc[i] - out[i - 1])
    return out


def wilder(values: np.ndarray, n: int, first: int) -> np.ndarray:
    """Wilder's smoothing: the mean of values[first:first+n], then (prev * (n-1) + v) / n."""
    out = np.full(len(values), np.nan)
    out[first + n - 1] = values[first:first + n].mean()
    for i in range(first + n, len(values)):
        out[i] = (out[i - 1] * (n - 1) + values[i]) / n
    return out


def rsi(close: pd.Series, n: int) -> np.ndarray:
    change = close.diff().to_numpy()
    gain, loss = np.where(change > 0, change, 0.0), np.where(change < 0, -change, 0.0)
    avg_gain, avg_loss = wilder(gain, n, 1), wilder(loss, n, 1)
    return 100 * avg_gain / (avg_gain + avg_loss)


def atr(frame: pd.DataFrame, n: int) -> np.ndarray:
    prev = frame["close"].shift()
    tr = np.maximum.reduce([frame["high"] - frame["low"], (frame["high"] - prev).abs(), (frame["low"] - prev).abs()])
    return wilder(np.asarray(tr, float), n, 1)


def _close(got: pd.Series | np.ndarray, want: np.ndarray | pd.Series, warm_up: int) -> None:
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert np.isnan(got[:warm_up]).all()
    np.testing.assert_allclose(got[warm_up:], want[warm_up:], rtol=1e-9, atol=1e-9)


def test_sma_and_ema_after_their_warm_up() -> None:
    frame = prices()
    got = _run(frame, {"function": "SMA", "params": {"timeperiod": 20}}, {"function": "EMA", "params": {"timeperiod": 12}})
    _close(got["sma_20"], sma(frame["close"], 20), 19)
    _close(got["ema_12"], ema(frame["close"], 12), 11)


def test_rsi_and_atr_with_wilders_smoothing() -> None:
    frame = prices()
    got = _run(frame, {"function": "RSI", "params": {"timeperiod": 14}}, {"function": "ATR", "params": {"timeperiod": 14}})
    _close(got["rsi_14"], rsi(frame["close"], 14), 14)
    _close(got["atr_14"], atr(frame, 14), 14)


def test_bollinger_bands_use_the_population_deviation() -> None:
    frame = prices()
    got = _run(frame, {"function": "BBANDS", "params": {"timeperiod": 20, "nbdevup": 2, "nbdevdn": 2}})
    mid = sma(frame["close"], 20)
    sd = frame["close"].rolling(20).std(ddof=0)
    _close(got["bbands_20_2_2_0_middleband"], mid, 19)
    _close(got["bbands_20_2_2_0_upperband"], mid + 2 * sd, 19)
    _close(got["bbands_20_2_2_0_lowerband"], mid - 2 * sd, 19)


def test_a_missing_close_costs_one_warm_up_not_the_rest_of_the_series() -> None:
    frame = prices(200)
    frame.loc[[50, 120], "close"] = np.nan
    got = _run(frame, {"function": "SMA", "params": {"timeperiod": 10}}, {"function": "RSI", "params": {"timeperiod": 5}})
    np.testing.assert_allclose(got["sma_10"], sma(frame["close"], 10), equal_nan=True)  # pandas: windows with a gap are NaN
    assert got["rsi_5"].iloc[56:120].notna().all() and got["rsi_5"].iloc[51:56].isna().all()
    _close(got["rsi_5"].iloc[51:120].reset_index(drop=True), rsi(frame["close"].iloc[51:120].reset_index(drop=True), 5), 5)
    assert "MAVP" not in catalogue()  # it needs a periods series that bars do not have


def test_returns_and_forward_returns() -> None:
    frame = prices(50)
    got = _run(frame, {"function": "RETURNS", "params": {"horizon": 5}},
               {"function": "FORWARD_RETURNS", "params": {"horizon": 5}})
    close = frame["close"]
    np.testing.assert_allclose(got["ret_5"], close / close.shift(5) - 1, equal_nan=True)
    np.testing.assert_allclose(got["fwd_ret_5"], close.shift(-5) / close - 1, equal_nan=True)
    assert got["fwd_ret_5"].iloc[-5:].isna().all()


def test_a_panel_is_computed_per_symbol_and_reads_nothing_across_them() -> None:
    a, b = prices(120, 1, "AAA"), prices(120, 2, "BBB")
    panel = pd.concat([a, b]).sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
    got = _run(panel, {"function": "SMA", "params": {"timeperiod": 10}},
               {"function": "FORWARD_RETURNS", "params": {"horizon": 1}})
    for symbol, alone in (("AAA", a), ("BBB", b)):
        rows = got[got["symbol"] == symbol].reset_index(drop=True)
        _close(rows["sma_10"], sma(alone["close"], 10), 9)
        np.testing.assert_allclose(rows["fwd_ret_1"], alone["close"].shift(-1) / alone["close"] - 1, equal_nan=True)


def test_columns_are_described_from_talibs_metadata() -> None:
    frame = prices()
    _, described = compute(as_table(frame), clean_request([{"function": "MACD"}, {"function": "sma"}]))
    macd = catalogue()["MACD"]
    assert macd["parameters"] == {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}
    assert set(described) == {"macd_12_26_9_macd", "macd_12_26_9_macdsignal", "macd_12_26_9_macdhist", "sma_30"}
    for name, info in described.items():
        assert info["leading_nans"] == info["lookback"], name  # clean data: NaNs exactly over the lookback
        assert info["min"] <= info["max"]
    assert described["sma_30"]["lookback"] == 29 and described["sma_30"]["parameters"] == {"timeperiod": 30}
    assert len(catalogue()) > 150 and catalogue()["BBANDS"]["overlay"] and not catalogue()["RSI"]["overlay"]
    assert column_names(IndicatorSpec("STOCH", catalogue()["STOCH"]["parameters"]))[0].startswith("stoch_5_3_0_3_0")


@pytest.mark.parametrize(("items", "says"), [
    ([], "list"), ("SMA", "list"), ([{"function": "NOPE"}], "not a TA-Lib function"),
    ([{"function": "SMA", "params": {"timeperiod": 0}}], "timeperiod"),
    ([{"function": "SMA", "params": {"timeperiod": 10**9}}], "timeperiod"),
    ([{"function": "SMA", "params": {"timeperiod": 2.5}}], "whole number"),
    ([{"function": "SMA", "params": {"timeperiod": "20"}}], "a number"),
    ([{"function": "SMA", "params": {"timeperiod": float("nan")}}], "a number"),
    ([{"function": "SMA", "params": {"period": 20}}], "no parameter"),
    ([{"function": "SMA", "extra": 1}], "each is"), ([{"function": "SMA"}] * 51, "at most"),
    ([{"function": "<script>"}], "not a TA-Lib function"),
])
def test_hostile_requests_are_refused(items, says: str) -> None:
    with pytest.raises(IndicatorError, match=says):
        clean_request(items)


def test_a_version_is_made_once_per_request_and_traced(tmp_path: Path) -> None:
    datasets = Datasets(ParquetMeasurements(tmp_path / "m"), MeasurementRecords(open_meta(f"sqlite:///{tmp_path}/m.db")),
                        "parquet")
    datasets.add("spx", Bars(as_table(prices()), "UTC"))
    versions = IndicatorVersions(datasets)
    first = versions.make("spx", clean_request([{"function": "SMA", "params": {"timeperiod": 20}}]), created_by="ana")
    again = versions.make("spx", clean_request([{"function": "sma", "params": {"timeperiod": 20}}]))
    other = versions.make("spx", clean_request([{"function": "RSI"}]))
    assert (first.name, first.reused, again.name, again.reused, other.name) == ("spx_1", False, "spx_1", True, "spx_2")
    record = datasets.records.get("spx_1")
    assert record is not None and record.inputs["request"] == [{"function": "SMA", "params": {"timeperiod": 20}}]
    assert record.inputs["dataset"] == "spx" and record.inputs["talib"] and record.created_by == "ana"
    stored = datasets.measurements.read("spx_1").to_pandas()
    _close(stored["sma_20"], sma(prices()["close"], 20), 19)
    assert datasets.info("spx_1").columns[-1] == "sma_20"
    with pytest.raises(DatasetError):
        versions.make("ndx", clean_request([{"function": "RSI"}]))
    with pytest.raises(IndicatorError, match="already"):
        compute(datasets.measurements.read("spx_1"), clean_request([{"function": "SMA", "params": {"timeperiod": 20}}]))


def test_a_versions_description_counts_its_missing_values(tmp_path: Path) -> None:
    datasets = Datasets(ParquetMeasurements(tmp_path / "m"), MeasurementRecords(open_meta(f"sqlite:///{tmp_path}/m.db")),
                        "parquet")
    frame = prices(300)
    frame.loc[100, "close"] = np.nan
    datasets.add("spx", Bars(as_table(frame), "UTC"))
    version = IndicatorVersions(datasets).make("spx", clean_request([{"function": "SMA", "params": {"timeperiod": 5}}]))
    kept = datasets.info(version.name)
    stored = datasets.measurements.read(version.name).to_pandas()
    from backend.research.description import describe

    assert kept == describe(version.name, datasets.measurements.read(version.name), "UTC", "indicators on spx")
    assert kept.missing == {"close": 1, "sma_5": int(stored["sma_5"].isna().sum())} and kept.missing["sma_5"] == 9
