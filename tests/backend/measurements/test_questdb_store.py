"""The QuestDB store's writes, byte for byte: a frame with every supported type is sent to a socket of
this test and the lines are read back with a parser written here from the InfluxDB line protocol's
specification (table[,tag=value...] field=value[,field=value...] timestamp, with its escapes and type
suffixes). Against a live QuestDB — only where DESKBOARD_TEST_QUESTDB_URL names one — the round trip."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from backend.measurements.frames import FrameError
from backend.measurements.names import MeasurementNameError
from backend.measurements.questdb_store import QuestDBMeasurements


@pytest.fixture
def ilp_socket() -> Iterator[tuple[int, list[bytes]]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.append(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    server.close()


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes and not after a backslash."""
    parts, current, quoted, i = [], "", False, 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current += text[i:i + 2]
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    parts.append(current)
    return parts


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    """One ILP line: table, tags (symbols), typed fields, timestamp in nanoseconds."""
    head, fields_text, stamp = _split(line, " ")
    table, *tags = _split(head, ",")
    symbols = {_unescape(k): _unescape(v) for k, v in (t.split("=", 1) for t in tags)}
    fields: dict[str, object] = {}
    for item in _split(fields_text, ","):
        key, value = item.split("=", 1)
        if value.startswith('"'):
            fields[_unescape(key)] = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif value.endswith("i"):
            fields[_unescape(key)] = int(value[:-1])
        elif value in ("t", "f", "true", "false"):
            fields[_unescape(key)] = value in ("t", "true")
        else:
            fields[_unescape(key)] = float(value)
    return _unescape(table), symbols, fields, int(stamp)


def test_every_type_is_sent_as_the_line_protocol_says(ilp_socket) -> None:
    port, received = ilp_socket
    store = QuestDBMeasurements(f"tcp::addr=127.0.0.1:{port};")
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(["2024-01-02 09:15:00.123456789", "2024-01-02 09:16", "2024-01-02 09:17"],
                                    format="ISO8601")
        .tz_localize("Asia/Ho_Chi_Minh"),
        "symbol": ["VCB", "FPT", "Hòa Phát, \"HPG\""],
        "close": [25.65, np.nan, -1e-300],
        "volume": pd.array([100, None, -(2**62)], dtype="Int64"),
        "halted": [True, False, True],
        "note": ['a "quoted", = text\\', None, "đồng"],
    })
    assert store.write("vn30", frame) == 3
    until = time.monotonic() + 5
    while b"".join(received).count(b"\n") < 3 and time.monotonic() < until:
        time.sleep(0.05)
    lines = b"".join(received).decode().splitlines()
    assert len(lines) == 3
    parsed = [parse_line(line) for line in lines]
    assert {p[0] for p in parsed} == {"m_vn30"}
    assert [p[1] for p in parsed] == [{"symbol": "VCB"}, {"symbol": "FPT"}, {"symbol": 'Hòa Phát, "HPG"'}]
    nanos = frame["timestamp"].dt.tz_convert("UTC").astype("int64").tolist()
    assert [p[3] for p in parsed] == nanos  # the designated timestamp, UTC nanoseconds
    first, second, third = (p[2] for p in parsed)
    assert first == {"close": 25.65, "volume": 100, "halted": True, "note": 'a "quoted", = text\\'}
    assert np.isnan(second["close"]) and "volume" not in second and second["halted"] is False
    assert "note" not in second  # a missing value is left out of its row: QuestDB stores NULL
    assert third["close"] == -1e-300 and third["volume"] == -(2**62) and third["note"] == "đồng"
    assert third["halted"] is True
    # a missing boolean cannot be stored (QuestDB's BOOLEAN has no NULL): refused, nothing sent
    sent = len(b"".join(received))
    with pytest.raises(FrameError, match="halted"):
        store.write("vn30", frame.assign(halted=[True, None, False]))
    time.sleep(0.2)
    assert len(b"".join(received)) == sent


def test_hostile_names_and_addresses_are_refused() -> None:
    for conf in ("", "addr=x", "tcp::addr=;", "file:///etc/passwd", "udp::addr=h:1;"):
        with pytest.raises(ValueError, match="ILP"):
            QuestDBMeasurements(conf)
    store = QuestDBMeasurements("tcp::addr=127.0.0.1:9;")
    with pytest.raises(MeasurementNameError):
        store.write("../spx", pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"], utc=True), "x": [1.0]}))
    with pytest.raises(RuntimeError, match="PostgreSQL"):
        store.list()


@pytest.mark.skipif(not os.environ.get("DESKBOARD_TEST_QUESTDB_URL"),
                    reason="no QuestDB server here: set DESKBOARD_TEST_QUESTDB_URL=ilp-conf|postgresql-url to run")
def test_a_round_trip_through_a_live_questdb() -> None:
    import psycopg

    ilp, sql = os.environ["DESKBOARD_TEST_QUESTDB_URL"].split("|", 1)
    store = QuestDBMeasurements(ilp, lambda: psycopg.connect(sql, autocommit=True))
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-02", periods=50, freq="min", tz="UTC"),
                          "symbol": ["VCB", "FPT"] * 25, "close": np.linspace(1, 2, 50), "n": np.arange(50)})
    store.write("contract", frame)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "contract" in store.list() and store.read("contract").num_rows == 50:
            break  # the table appears when QuestDB commits the rows
        time.sleep(0.5)
    got = store.read("contract", start="2024-01-02 00:10", end="2024-01-02 00:20")
    assert got.num_rows == 10
    assert got.column("close").to_pylist() == pytest.approx(frame["close"].iloc[10:20].tolist())
    assert store.schema("contract").field("n").type == pa.int64()
    assert "contract" in store.list() and store.delete("contract") and "contract" not in store.list()
