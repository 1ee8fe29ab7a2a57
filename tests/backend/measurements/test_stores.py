"""The two embedded-testable measurement stores side by side — Parquet files and ClickHouse tables
(through chDB) — against pandas: writes, appends and windowed reads give the rows written, in order,
with their types, time zones, NaN and missing values; a frame written to one and copied to the other
reads back identical; hostile frames and names are refused with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from backend.measurements.clickhouse_store import ClickHouseMeasurements
from backend.measurements.frames import FrameError, MeasurementNotFound, to_pandas
from backend.measurements.names import MeasurementNameError
from backend.measurements.parquet_store import ParquetMeasurements
from backend.warehouse import Warehouse


@pytest.fixture(params=["parquet", "clickhouse"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ParquetMeasurements | ClickHouseMeasurements]:
    if request.param == "parquet":
        yield ParquetMeasurements(tmp_path / "measurements")
    else:
        yield ClickHouseMeasurements(request.getfixturevalue("fresh_warehouse"))


def bars(n: int = 500, seed: int = 3, start: str = "2024-01-02 09:15", tz: str | None = "Asia/Ho_Chi_Minh") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 + rng.normal(0, 1, n).cumsum()
    frame = pd.DataFrame({
        "timestamp": pd.date_range(start, periods=n, freq="min", tz=tz),
        "open": close + rng.normal(0, 0.1, n), "high": close + 1, "low": close - 1, "close": close,
        "volume": pd.array(rng.integers(0, 10_000, n), dtype="Int64"),
        "symbol": rng.choice(["VCB", "FPT", "HPG"], n),
        "halted": rng.random(n) < 0.05,
    })
    frame.loc[frame.index[::37], "close"] = np.nan
    frame.loc[frame.index[::53], "volume"] = pd.NA
    return frame


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    stamps = out["timestamp"]
    out["timestamp"] = (stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")).astype(
        "datetime64[ns, UTC]")
    return out.reset_index(drop=True)


def _same(got: pa.Table, want: pd.DataFrame) -> None:
    frame = to_pandas(got)
    want = _utc(want)
    assert list(frame.columns) == list(want.columns)
    for column in want.columns:
        left, right = frame[column], want[column]
        if column == "timestamp":
            assert (left.to_numpy() == right.to_numpy()).all()
        elif pd.api.types.is_float_dtype(right):
            np.testing.assert_array_equal(left.to_numpy(dtype=float), right.to_numpy(dtype=float))  # NaN == NaN here
        else:
            assert left.astype(object).where(left.notna(), None).tolist() == \
                right.astype(object).where(right.notna(), None).tolist(), column


def test_write_read_schema_list_delete(store) -> None:
    frame = bars()
    assert store.write("vn30", frame) == len(frame)
    _same(store.read("vn30"), frame)
    schema = store.schema("vn30")
    assert schema.names == ["timestamp", "open", "high", "low", "close", "volume", "symbol", "halted"]
    assert schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert [schema.field(c).type for c in ("close", "volume", "symbol", "halted")] == \
        [pa.float64(), pa.int64(), pa.string(), pa.bool_()]
    assert store.write("vn30_1", frame.iloc[:10]) == 10
    assert store.list() == ["vn30", "vn30_1"]
    assert store.delete("vn30_1") is True and store.delete("vn30_1") is False
    assert store.list() == ["vn30"]
    with pytest.raises(MeasurementNotFound):
        store.read("vn30_1")


def test_a_rewrite_replaces_and_appends_follow_in_order(store) -> None:
    first, second, third = bars(200, 1), bars(50, 2, start="2024-01-03 09:15"), bars(30, 3, start="2024-01-04 09:15")
    store.write("spx", first)
    store.write("spx", second)  # replaces
    _same(store.read("spx"), second)
    assert store.append("spx", third) == 30
    assert store.append("spx", third.iloc[:0]) == 0
    _same(store.read("spx"), pd.concat([second, third]))


@pytest.mark.parametrize(("start", "end"), [
    ("2024-01-02 03:00", "2024-01-02 05:00"),  # UTC bounds: 10:00 to 12:00 in Hanoi
    (pd.Timestamp("2024-01-02 10:00", tz="Asia/Ho_Chi_Minh"), None),
    (None, "2024-01-02 02:20:00+00:00"),
    ("2030-01-01", None),  # an empty window: no rows, the columns still there
])
def test_a_window_is_start_inclusive_end_exclusive_in_utc(store, start, end) -> None:
    frame = bars()
    store.write("spx", frame)
    utc = _utc(frame)
    lo = None if start is None else pd.Timestamp(start)
    hi = None if end is None else pd.Timestamp(end)
    lo = None if lo is None else (lo.tz_localize("UTC") if lo.tzinfo is None else lo.tz_convert("UTC"))
    hi = None if hi is None else (hi.tz_localize("UTC") if hi.tzinfo is None else hi.tz_convert("UTC"))
    keep = pd.Series(True, index=utc.index)
    if lo is not None:
        keep &= utc["timestamp"] >= lo
    if hi is not None:
        keep &= utc["timestamp"] < hi
    got = store.read("spx", columns=["close", "symbol"], start=start, end=end)
    assert got.column_names == ["timestamp", "close", "symbol"]
    _same(got, frame.loc[keep.to_numpy(), ["timestamp", "close", "symbol"]])


def test_arrow_nan_and_missing_stay_apart_and_naive_times_are_utc(store) -> None:
    table = pa.table({
        "timestamp": pa.array([1_700_000_000_000_000_000, 1_700_000_060_000_000_000, 1_700_000_120_000_000_123],
                              pa.timestamp("ns")),
        "x": pa.array([1.5, float("nan"), None], pa.float64()),
        "n": pa.array([1, None, -(2**63)], pa.int32() if False else pa.int64()),
        "s": pa.array(["", None, "đồng ₫ 🙂"], pa.string()),
        "b": pa.array([None, True, False], pa.bool_()),
    })
    store.write("odd", table)
    got = store.read("odd")
    assert got.column("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert got.column("timestamp").cast(pa.int64()).to_pylist() == table.column("timestamp").cast(pa.int64()).to_pylist()
    x = got.column("x").to_pylist()
    assert x[0] == 1.5 and x[1] != x[1] and x[2] is None  # NaN is NaN, missing is missing
    assert got.column("n").to_pylist() == [1, None, -(2**63)]
    assert got.column("s").to_pylist() == ["", None, "đồng ₫ 🙂"]
    assert got.column("b").to_pylist() == [None, True, False]


def test_round_trips_parquet_to_clickhouse_and_back_are_exact(tmp_path: Path, fresh_warehouse: Warehouse) -> None:
    parquet, clickhouse = ParquetMeasurements(tmp_path / "m"), ClickHouseMeasurements(fresh_warehouse)
    frame = bars(2_000, 9)
    parquet.write("spx", frame)
    parquet.append("spx", bars(100, 4, start="2024-02-01", tz=None))  # naive: read as UTC
    once = parquet.read("spx")
    clickhouse.write("spx", once)
    there = clickhouse.read("spx")
    assert there.schema == once.schema
    assert there.equals(once)
    parquet.write("spx_1", there)
    assert parquet.read("spx_1").equals(once)
    assert clickhouse.read("spx", start="2024-01-02 05:00").equals(parquet.read("spx", start="2024-01-02 05:00"))


HOSTILE_FRAMES = [
    (pd.DataFrame({"time": pd.date_range("2024-01-01", periods=2), "x": [1.0, 2.0]}), "'timestamp' column"),
    (pd.DataFrame({"timestamp": ["2024-01-01", "2024-01-02"], "x": [1.0, 2.0]}), "expected timestamps"),
    (pa.table({"timestamp": pa.array([None, 1], pa.timestamp("s")), "x": [1.0, 2.0]}), "no timestamp"),
    (pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=2), "x y": [1.0, 2.0]}), "column 'x y'"),
    (pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=2), "=cmd|'/c calc'!A1": [1, 2]}), "column"),
    (pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=2), "x\n": [1, 2]}), "column"),
    (pa.table({"timestamp": pa.array([1, 2], pa.timestamp("s")), "X": [1, 2], "x": [1, 2]}), "twice"),
    (pa.table({"timestamp": pa.array([1, 2], pa.timestamp("s")), "d": pa.array([1, 2], pa.date32())}), "type"),
    (pa.table({"timestamp": pa.array([1, 2], pa.timestamp("s")), "l": pa.array([[1], [2]])}), "type"),
    (pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=2),
                   **{f"c{i}": [1.0, 2.0] for i in range(600)}}), "at most"),
    ({"timestamp": [1, 2]}, "Arrow table or a pandas DataFrame"),
]


@pytest.mark.parametrize(("frame", "message"), HOSTILE_FRAMES)
def test_hostile_frames_are_refused_and_nothing_is_stored(store, frame, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        store.write("spx", frame)
    assert store.list() == []


@pytest.mark.parametrize("name", ["../spx", "Spx", "spx.parquet", "a" * 60, "", "spx\n", "m_spx;DROP"])
def test_hostile_names_are_refused_and_nothing_is_stored(store, name: str) -> None:
    with pytest.raises(MeasurementNameError):
        store.write(name, bars(5))
    assert store.list() == []


def test_an_append_with_other_columns_is_refused_and_the_stored_rows_stay(store) -> None:
    frame = bars(20)
    store.write("spx", frame)
    for other in (frame.drop(columns=["symbol"]), frame.assign(volume=frame["volume"].astype(float)),
                  frame.rename(columns={"close": "last"})):
        with pytest.raises(FrameError, match="differ"):
            store.append("spx", other)
    with pytest.raises(MeasurementNotFound):
        store.append("nothing", frame)
    _same(store.read("spx"), frame)
    with pytest.raises(FrameError, match="no column"):
        store.read("spx", columns=["close", "nope"])
    with pytest.raises(FrameError, match="start"):
        store.read("spx", start="not a time")
