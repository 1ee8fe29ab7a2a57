"""Datasets kept and described: added once under a free name (a failed write leaves nothing), described
from their bars — rows, range, frequency, symbols, gaps, missing values — as pandas counts them; the demo
datasets are the arch package's real S&P 500 and NASDAQ histories; the command line imports and refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.config import load_settings
from backend.measurements.frames import as_table
from backend.measurements.names import MeasurementNameError
from backend.measurements.parquet_store import ParquetMeasurements
from backend.measurements.records import MeasurementRecords
from backend.meta import open_meta
from backend.research.__main__ import main as cli
from backend.research.dataset_service import DatasetError, Datasets
from backend.research.datasets import Bars
from backend.research.demo import demo_bars, ensure_demo_datasets, vn30_minute_bars
from backend.research.description import describe, frequency_label


@pytest.fixture
def datasets(tmp_path: Path) -> Datasets:
    return Datasets(ParquetMeasurements(tmp_path / "m"), MeasurementRecords(open_meta(f"sqlite:///{tmp_path}/meta.db")),
                    "parquet")


def minute_bars(days: int = 3, drop: tuple[int, ...] = (), symbols: tuple[str, ...] = ()) -> pd.DataFrame:
    frames = []
    for symbol in symbols or ("",):
        stamps = []
        for day in pd.bdate_range("2024-01-02", periods=days):
            stamps += list(pd.date_range(day + pd.Timedelta("09:15:00"), periods=60, freq="min",
                                         tz="Asia/Ho_Chi_Minh"))
        frame = pd.DataFrame({"timestamp": stamps, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5,
                              "volume": 100.0})
        frame = frame.drop(index=list(drop)).reset_index(drop=True)
        if symbol:
            frame.insert(1, "symbol", symbol)
        frames.append(frame)
    out = pd.concat(frames).sort_values("timestamp", kind="stable").reset_index(drop=True)
    out.loc[::17, "close"] = np.nan
    return out


def test_frequency_labels() -> None:
    assert [frequency_label(s) for s in (60, 300, 3600, 86_400, 604_800, 1, 90, None, 0, float("nan"))] == \
        ["1min", "5min", "1h", "1D", "7D", "1s", "90s", "irregular", "irregular", "irregular"]


def test_a_description_counts_what_pandas_counts() -> None:
    frame = minute_bars(drop=(10, 11, 12, 70))
    info = describe("vn", as_table(frame), "Asia/Ho_Chi_Minh")
    assert info.rows == len(frame) and info.frequency == "1min"
    assert info.start == frame["timestamp"].min() and info.end == frame["timestamp"].max()
    assert info.missing == {"close": int(frame["close"].isna().sum())}
    # by hand: steps longer than 1.5 minutes inside one local day (the nights are not gaps)
    local = frame["timestamp"]
    steps = local.diff().dt.total_seconds()
    same_day = local.dt.date == local.shift().dt.date
    assert info.gaps == int(((steps > 90) & same_day).sum()) == 2
    panel = describe("vn", as_table(minute_bars(symbols=("VCB", "FPT"))), "Asia/Ho_Chi_Minh")
    assert panel.symbols == ("FPT", "VCB") and panel.frequency == "1min" and panel.gaps == 0


def test_daily_bars_skip_weekends_without_gaps_but_not_a_lost_week() -> None:
    days = pd.bdate_range("2024-01-01", "2024-03-29")
    days = days[(days < "2024-02-05") | (days > "2024-02-16")]  # two weeks missing: one gap
    frame = pd.DataFrame({"timestamp": days.tz_localize("America/New_York"), "open": 1.0, "high": 1.0, "low": 1.0,
                          "close": 1.0, "volume": 0.0})
    info = describe("spx", as_table(frame), "America/New_York")
    assert info.frequency == "1D" and info.gaps == 1


def test_a_dataset_is_added_once_and_a_failed_write_leaves_nothing(datasets: Datasets) -> None:
    bars = Bars(as_table(minute_bars()), "Asia/Ho_Chi_Minh")
    info = datasets.add("vn30_minutes", bars, created_by="ana", source="vn.csv")
    assert info.rows == 180 and datasets.names() == ["vn30_minutes"]
    assert datasets.info("vn30_minutes") == info
    with pytest.raises(DatasetError, match="already"):
        datasets.add("vn30_minutes", bars)
    with pytest.raises(MeasurementNameError):
        datasets.add("vn30_minutes_2", bars)

    class Broken(ParquetMeasurements):
        def write(self, name, frame):  # type: ignore[no-untyped-def]
            raise OSError("disk full")

    broken = Datasets(Broken(datasets.measurements.root), datasets.records, "parquet")  # type: ignore[attr-defined]
    with pytest.raises(OSError):
        broken.add("spx", bars)
    assert datasets.names() == ["vn30_minutes"] and datasets.measurements.list() == ["vn30_minutes"]
    datasets.add("spx", bars)  # the name is free again
    with pytest.raises(DatasetError, match="no dataset"):
        datasets.info("ndx")


def test_the_demo_datasets_are_archs_real_histories(datasets: Datasets) -> None:
    from arch.data import sp500 as arch
    assert ensure_demo_datasets(datasets) == ["sp500", "nasdaq", "vn30_minutes"]
    assert ensure_demo_datasets(datasets) == []  # only when there is no dataset at all
    raw = arch.load()
    info = datasets.info("sp500")
    assert info.rows == len(raw) == 5031 and info.frequency == "1D" and info.time_zone == "America/New_York"
    table = datasets.measurements.read("sp500")
    local = table.column("timestamp").to_pandas().dt.tz_convert("America/New_York")
    assert (local.dt.strftime("%Y-%m-%d").to_numpy() == pd.DatetimeIndex(raw.index).strftime("%Y-%m-%d")).all()
    assert (local.dt.hour == 0).all()
    np.testing.assert_array_equal(table.column("close").to_numpy(), raw["Close"].to_numpy(float))
    np.testing.assert_array_equal(table.column("adj_close").to_numpy(), raw["Adj Close"].to_numpy(float))
    assert demo_bars("nasdaq").table.num_rows == 5031


def test_the_command_line_imports_a_file_and_refuses_a_wrong_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DESKBOARD_DATA_DIR", str(tmp_path / "data"))
    good = tmp_path / "spx.csv"
    good.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,12,10,11,200\n")
    assert cli(["import", str(good), "--name", "spx", "--tz", "America/New_York"]) == 0
    assert "imported spx: 2 bars, 1D" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2024-01-02,10,9,9,10,-1\n")
    assert cli(["import", str(bad), "--name", "bad"]) == 1
    err = capsys.readouterr().err
    assert "high below the open or close on line 2" in err and "negative volume on line 2" in err
    assert cli(["import", str(good), "--name", "spx"]) == 1 and "already" in capsys.readouterr().err
    assert cli(["import", str(good), "--name", "../etc"]) == 1 and "not a dataset name" in capsys.readouterr().err
    assert cli(["import", str(tmp_path / "none.csv"), "--name", "x"]) == 2
    assert cli(["list"]) == 0 and "spx" in capsys.readouterr().out
    settings = load_settings()
    assert (settings.data_dir / "measurements" / "spx").is_dir()
    assert not (settings.data_dir / "measurements" / "bad").exists()


def test_the_vn30_demo_panel_is_minute_bars_of_one_simulated_session() -> None:
    from backend.market.reference import VN30_SYMBOLS

    bars = vn30_minute_bars(density=2.0)
    frame = bars.table.to_pandas()
    assert set(bars.symbols) <= set(VN30_SYMBOLS) and len(bars.symbols) >= 25
    local = frame["timestamp"].dt.tz_convert("Asia/Ho_Chi_Minh")
    minutes = local.dt.hour * 60 + local.dt.minute
    # HOSE sessions: 09:00–11:30 and 13:00–14:45, Vietnam time
    assert ((minutes >= 9 * 60) & (minutes <= 11 * 60 + 30) | (minutes >= 13 * 60) & (minutes <= 14 * 60 + 45)).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert not frame.duplicated(["timestamp", "symbol"]).any() and (frame["volume"] > 0).all()
    # prices on HOSE's tick grid (10 / 50 / 100 VND by price band), as the board shows them
    tick = np.where(frame["close"] < 10_000, 10, np.where(frame["close"] < 50_000, 50, 100))
    assert (frame["close"] % tick == 0).all()
    info = describe("vn30_minutes", bars.table, bars.time_zone)
    assert info.frequency == "1min" and info.time_zone == "Asia/Ho_Chi_Minh"
