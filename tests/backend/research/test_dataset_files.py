"""Dataset files: a right CSV or Parquet file becomes bars in UTC; every wrong one is refused whole with
a message naming its rows — and nothing is stored. Checked against pandas reading the same text."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backend.research.datasets import DatasetFileError, read_bars, read_file

GOOD = """Date,Open,High,Low,Close,Volume,Note
2024-01-02,10,11,9,10.5,100,first
2024-01-03,10.5,12,10,11,200,
2024-01-04,11,12,10.5,11.5,150,last
"""


def test_a_daily_csv_is_dated_by_its_session_and_kept_in_utc() -> None:
    bars = read_bars(GOOD.encode(), "spx.csv", time_zone="America/New_York")
    frame = bars.table.to_pandas()
    want = pd.read_csv(io.StringIO(GOOD))
    assert list(frame.columns) == ["timestamp", "open", "high", "low", "close", "volume", "note"]
    assert (frame["timestamp"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d %H:%M")
            == [f"{d} 00:00" for d in want["Date"]]).all()
    assert str(frame["timestamp"].dt.tz) == "UTC"
    for column in ("Open", "High", "Low", "Close", "Volume"):
        np.testing.assert_array_equal(frame[column.lower()].to_numpy(), want[column].to_numpy(float))
    assert frame["note"].tolist() == ["first", "", "last"]
    assert bars.time_zone == "America/New_York" and bars.symbols == ()


def test_aware_timestamps_keep_their_instant_and_a_panel_is_ordered_per_symbol() -> None:
    text = ("timestamp,symbol,open,high,low,close,volume\n"
            "2024-01-02T09:15:00+07:00,VCB,1,2,1,2,10\n2024-01-02T09:15:00+07:00,FPT,1,2,1,2,10\n"
            "2024-01-02T09:16:00+07:00,VCB,2,3,2,3,10\n2024-01-02T09:16:00+07:00,FPT,2,3,2,2,10\n")
    bars = read_bars(text.encode(), "vn.csv", time_zone="UTC")
    frame = bars.table.to_pandas()
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 02:15", tz="UTC")
    assert bars.symbols == ("FPT", "VCB")
    assert frame["symbol"].tolist() == ["VCB", "FPT", "VCB", "FPT"]


def test_a_parquet_file_is_read_the_same_way(tmp_path: Path) -> None:
    frame = pd.read_csv(io.StringIO(GOOD)).drop(columns=["Note"])
    frame["Date"] = pd.to_datetime(frame["Date"])
    path = tmp_path / "spx.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    from_parquet = read_file(path, time_zone="America/New_York").table
    from_csv = read_bars(GOOD.encode(), "spx.csv", time_zone="America/New_York").table.drop_columns(["note"])
    assert from_parquet.equals(from_csv)


HEADER = "timestamp,open,high,low,close,volume\n"
ROW = "2024-01-0{d},10,11,9,10.5,100\n"


def _rows(*days: int) -> str:
    return "".join(ROW.format(d=d) for d in days)


BAD_FILES = [
    ("", ["the file is empty"]),
    ("   \n\n", ["the file is empty"]),
    (HEADER, ["no rows"]),
    ("a,b\n1,2\n", ["missing columns timestamp, open, high, low, close, volume"]),
    (HEADER.replace("volume", "close") + _rows(2), ["same column"]),
    (HEADER + "yesterday,10,11,9,10.5,100\n" + _rows(3), ["timestamp: not a date or time on line 2"]),
    (HEADER + _rows(2) + "2024-01-03,10,eleven,9,10.5,100\n", ["high: not a number on line 3"]),
    (HEADER + _rows(2, 2), ["timestamp repeated on line 3"]),
    (HEADER + _rows(3, 2), ["earlier than the row before it on line 3"]),
    (HEADER + "2024-01-02,10,9.5,9,10.5,100\n", ["high below the open or close on line 2"]),
    (HEADER + "2024-01-02,10,11,10.2,10.5,100\n", ["low above the open or close on line 2"]),
    (HEADER + "2024-01-02,10,11,9,10.5,-1\n", ["negative volume on line 2"]),
    ("timestamp,open,high,low,close,volume,note\n2024-01-02,10,11,9,10.5,100,=HYPERLINK(\"x\")\n",
     ["note: text starting with '='"]),
    ("timestamp,open,high,low,close,volume,symbol\n2024-01-02,10,11,9,10.5,100,=1+1\n", ["symbol: text starting"]),
    (HEADER + "".join(f"2024-01-02 09:{m:02d},10,9,9,10,100\n" for m in range(20)),
     ["high below the open or close on lines 2, 3, 4, 5, 6 and 15 more"]),
    (b"\xff\xfe\x00garbage\x00".decode("latin-1"), ["not a readable CSV file", "missing column", "no rows"]),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
def test_a_wrong_file_is_refused_whole_naming_its_rows(text: str, expected: list[str]) -> None:
    with pytest.raises(DatasetFileError) as caught:
        read_bars(text.encode("latin-1"), "bad.csv")
    message = " | ".join(caught.value.problems)
    assert any(e in message for e in expected), message


def test_every_problem_is_named_at_once() -> None:
    text = HEADER + "2024-01-02,10,9,9,10.5,-5\n2024-01-02,10,11,9,10.5,100\n"
    with pytest.raises(DatasetFileError) as caught:
        read_bars(text.encode(), "bad.csv")
    assert caught.value.problems == ["high below the open or close on line 2", "negative volume on line 2",
                                     "timestamp repeated on line 3"]
    text = HEADER + "2024-01-02,10,11,9,10.5,100\n2024-01-01,10,11,9,10.5,100\n"
    with pytest.raises(DatasetFileError, match="earlier"):
        read_bars(text.encode(), "bad.csv")


def test_size_zone_and_parquet_garbage_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileError, match="over the"):
        read_bars((HEADER + _rows(2)).encode(), "x.csv", max_bytes=10)
    for zone in ("Mars/Olympus", "../../etc/passwd", "", "x" * 500):
        with pytest.raises(DatasetFileError, match="time zone"):
            read_bars((HEADER + _rows(2)).encode(), "x.csv", time_zone=zone)
    with pytest.raises(DatasetFileError, match="Parquet"):
        read_bars(b"PAR1 not really", "x.parquet")
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(DatasetFileError, match="over the"):
        read_file(big, max_bytes=1024)


def test_a_bad_cell_far_down_a_large_file_is_named() -> None:
    n = 200_000
    stamps = pd.date_range("2020-01-01", periods=n, freq="min")
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M"), "open": 1.0, "high": 2.0, "low": 0.5,
                          "close": 1.5, "volume": 10})
    text = frame.to_csv(index=False)
    lines = text.splitlines()
    lines[150_001] = lines[150_001].rsplit(",", 1)[0] + ",ten"
    with pytest.raises(DatasetFileError, match="volume: not a number on line 150002"):
        read_bars("\n".join(lines).encode(), "big.csv")
    assert read_bars(text.encode(), "big.csv").table.num_rows == n


def test_a_local_time_that_does_not_exist_in_the_zone_is_refused() -> None:
    text = HEADER + "2024-03-10 01:30,10,11,9,10.5,100\n2024-03-10 02:30,10,11,9,10.5,100\n"
    with pytest.raises(DatasetFileError, match="America/New_York"):
        read_bars(text.encode(), "dst.csv", time_zone="America/New_York")
    assert read_bars(text.encode(), "dst.csv", time_zone="UTC").table.num_rows == 2


def test_times_with_offsets_keep_their_instant_whatever_the_zone_given() -> None:
    text = HEADER + "2024-01-02T09:15:00+07:00,10,11,9,10.5,100\n2024-01-02T02:16:00Z,10,11,9,10.5,100\n"
    stamps = read_bars(text.encode(), "x.csv", time_zone="America/New_York").table.column("timestamp").to_pylist()
    assert [t.isoformat() for t in stamps] == ["2024-01-02T02:15:00+00:00", "2024-01-02T02:16:00+00:00"]
