"""The usage recorder: buffered, capped, never in the request's way, and nothing lost below the cap."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from dash.testing.wait import until
from flask import Flask, jsonify

from backend.access.usage import (
    EXTENSION_KEY,
    MAX_DETAIL_CHARS,
    MAX_USER_CHARS,
    UsageEvent,
    UsageRecorder,
    install_usage,
    note_job,
    note_pivot,
)
from backend.observability.requests import install_request_hooks
from backend.warehouse import Warehouse


class Outage:
    """A warehouse that refuses writes while ``down`` (reads and DDL pass through)."""

    def __init__(self, wh: Warehouse) -> None:
        self._wh = wh
        self.database = wh.database
        self.down = True
        self.inserts = 0

    def command(self, *args: Any, **kwargs: Any) -> Any:
        return self._wh.command(*args, **kwargs)

    def insert_rows(self, *args: Any, **kwargs: Any) -> None:
        if self.down:
            raise ConnectionError("connection refused")
        self.inserts += 1
        self._wh.insert_rows(*args, **kwargs)


def _rows(wh: Warehouse, columns: str = "user, kind, route", where: str = "1") -> list[tuple]:
    return wh.query_rows(f"SELECT {columns} FROM {{db}}.usage_events WHERE {where} ORDER BY time, route")


def test_events_are_written_by_the_thread_in_one_insert_and_stop_writes_the_rest(fresh_warehouse: Warehouse) -> None:
    recorder = UsageRecorder(fresh_warehouse, flush_seconds=0.05).start()
    for i in range(10):
        recorder.record(UsageEvent("api_call", "alice", route=f"/api/v1/r{i}", status=200, duration_ms=i,
                                   time=1_780_000_000 + i))
    until(lambda: recorder.written == 10, timeout=10)
    assert recorder.status()["pending"] == 0
    recorder.record(UsageEvent("job", "bob", route="backup", time=1_780_000_100))
    recorder.stop()
    assert _rows(fresh_warehouse)[-1] == ("bob", "job", "backup")
    assert len(_rows(fresh_warehouse)) == 11
    assert recorder.status() == {"pending": 0, "written": 11, "dropped": 0, "rejected": 0, "last_error": None}


def test_while_the_warehouse_is_down_the_newest_events_wait_up_to_the_cap_and_the_rest_are_counted(
        fresh_warehouse: Warehouse) -> None:
    outage = Outage(fresh_warehouse)
    recorder = UsageRecorder(outage, cap=100)  # type: ignore[arg-type]
    for i in range(80):
        recorder.record(UsageEvent("api_call", "u", route=f"r{i:03d}", time=1_780_000_000 + i))
    assert recorder.flush() == 0
    assert "refused" in recorder.status()["last_error"]
    for i in range(80, 150):  # new events arrive during the outage
        recorder.record(UsageEvent("api_call", "u", route=f"r{i:03d}", time=1_780_000_000 + i))
    assert recorder.flush() == 0
    assert recorder.status()["pending"] == 100 and recorder.dropped == 50
    outage.down = False
    assert recorder.flush() == 100
    assert [r for (_, _, r) in _rows(fresh_warehouse)] == [f"r{i:03d}" for i in range(50, 150)]
    assert outage.inserts == 1  # one insert for the whole batch
    assert recorder.status()["last_error"] is None


def test_fifty_threads_recording_at_once_lose_nothing_below_the_cap(fresh_warehouse: Warehouse) -> None:
    recorder = UsageRecorder(fresh_warehouse, flush_seconds=0.05, cap=50_000).start()
    per_thread, threads = 900, 50
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            recorder.record(UsageEvent("page_view", f"user{t}", route="/pivot", detail={"search": f"?n={i}"}))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    recorder.stop()
    assert recorder.dropped == 0 and recorder.rejected == 0
    counts = dict(fresh_warehouse.query_rows("SELECT user, count() FROM {db}.usage_events GROUP BY user"))
    assert counts == {f"user{t}": per_thread for t in range(threads)}


def test_a_huge_detail_is_cut_not_refused_and_hostile_values_are_cleaned(fresh_warehouse: Warehouse) -> None:
    recorder = UsageRecorder(fresh_warehouse)
    recorder.record(UsageEvent("job", "ü" * 10_000, route="export", detail={"blob": "x" * 1_000_000},
                               time=1_780_000_000))
    recorder.record(UsageEvent("pivot", "a\x00b\nc", dimensions=["desk", "", "d" * 500, *map(str, range(500))],
                               metrics=("pnl",), detail="not json ' \" \\", time=1_780_000_001))
    assert recorder.flush() == 2
    (user, detail), (user2, dims, metrics, text) = (
        fresh_warehouse.query_rows("SELECT user, detail FROM {db}.usage_events WHERE kind = 'job'")[0],
        fresh_warehouse.query_rows("SELECT user, dimensions, metrics, detail FROM {db}.usage_events "
                                   "WHERE kind = 'pivot'")[0])
    assert user == "ü" * MAX_USER_CHARS
    assert len(detail) <= MAX_DETAIL_CHARS
    cut = json.loads(detail)
    assert cut["truncated"] is True and cut["chars"] > 1_000_000 and cut["head"].startswith('{"blob": "xxx')
    assert user2 == "abc"
    assert dims[:2] == ["desk", "d" * 100] and len(dims) == 64
    assert metrics == ["pnl"] and text == "not json ' \" \\"


def test_text_that_cannot_be_utf8_is_replaced_so_it_never_blocks_its_batch(fresh_warehouse: Warehouse) -> None:
    recorder = UsageRecorder(fresh_warehouse)
    recorder.record(UsageEvent("pivot", "a\ud800b", route="/p\udfff", dimensions=["d\ud800"],
                               detail={"x": "\ud800"}, time=1_780_000_000))
    recorder.record(UsageEvent("job", "ok", route="fine", detail="\udc00", time=1_780_000_001))
    assert recorder.flush() == 2
    rows = fresh_warehouse.query_rows("SELECT user, route, dimensions, detail FROM {db}.usage_events ORDER BY time")
    assert rows[0][0] == "a?b" and rows[0][1] == "/p?" and rows[0][2] == ["d?"]
    assert rows[1][:2] == ("ok", "fine")


def test_a_row_the_client_refuses_is_rejected_alone_and_its_batch_written(fresh_warehouse: Warehouse) -> None:
    recorder = UsageRecorder(fresh_warehouse)
    for i in range(5):
        recorder.record(UsageEvent("job", "u", route=f"r{i}", time=1_780_000_000 + i))
    recorder.record(UsageEvent("pivot", "u", dimensions=[object()], time=1_780_000_010))  # becomes text: fine
    original = fresh_warehouse.insert_rows

    def picky(table, rows, columns):
        if any(row[4] == "r3" for row in rows):
            raise ValueError("a value the client cannot encode")
        return original(table, rows, columns)

    fresh_warehouse.insert_rows = picky  # type: ignore[method-assign]
    try:
        assert recorder.flush() == 5
    finally:
        del fresh_warehouse.insert_rows
    assert recorder.rejected == 1 and recorder.status()["pending"] == 0
    assert sorted(r for (_, _, r) in _rows(fresh_warehouse)) == ["", "r0", "r1", "r2", "r4"]


def test_a_table_dropped_while_running_is_created_again(fresh_warehouse: Warehouse) -> None:
    recorder = UsageRecorder(fresh_warehouse)
    recorder.record(UsageEvent("job", "u", route="first"))
    assert recorder.flush() == 1
    fresh_warehouse.command("DROP TABLE {db}.usage_events SYNC")
    recorder.record(UsageEvent("job", "u", route="second"))
    assert recorder.flush() == 0 and recorder.status()["pending"] == 1  # kept, and the table is made again next
    assert recorder.flush() == 1
    assert _rows(fresh_warehouse) == [("u", "job", "second")]


def test_events_that_cannot_be_rows_are_rejected_and_counted_without_losing_the_batch(
        fresh_warehouse: Warehouse) -> None:
    recorder = UsageRecorder(fresh_warehouse)
    recorder.record(UsageEvent("nonsense", "u"))
    recorder.record(UsageEvent("job", "u", time=float("nan")))
    recorder.record(UsageEvent("job", "u", status="x"))  # type: ignore[arg-type]
    recorder.record(UsageEvent("job", "u", route="fine"))
    assert recorder.flush() == 1
    assert recorder.rejected == 3
    assert _rows(fresh_warehouse) == [("u", "job", "fine")]


def test_callbacks_are_counted_by_name_and_written_once_per_window(fresh_warehouse: Warehouse) -> None:
    recorder = UsageRecorder(fresh_warehouse, callback_seconds=3600)
    for i in range(100):
        recorder.count_callback("alice", "board-grid.rowData", float(i), 200)
    recorder.count_callback("alice", "board-grid.rowData", 50.0, 500)
    recorder.count_callback("bob", "board-grid.rowData", 7.0, 200)
    assert recorder.flush(force=False) == 0  # the window is still open
    assert recorder.flush() == 2
    rows = {u: (c, round(d, 6), s) for u, c, d, s in fresh_warehouse.query_rows(
        "SELECT user, count, duration_ms, status FROM {db}.usage_events")}
    assert rows == {"alice": (101, round((sum(range(100)) + 50) / 101, 6), 500), "bob": (1, 7.0, 200)}


@pytest.mark.parametrize(("flush_seconds", "cap"), [(0, 10), (1, 0), (1, -5), (10_000, 10)])
def test_the_recorder_refuses_bad_settings(fresh_warehouse: Warehouse, flush_seconds: float, cap: int) -> None:
    with pytest.raises(ValueError):
        UsageRecorder(fresh_warehouse, flush_seconds=flush_seconds, cap=cap)


# -- the request hooks ----------------------------------------------------------------
PAGES = ".._pages_content.children..._pages_store.data.."


@pytest.fixture
def server(fresh_warehouse: Warehouse):
    app = Flask(__name__)
    install_request_hooks(app, known_callbacks=lambda: {"board-grid.rowData", PAGES})

    @app.post("/_dash-update-component")
    def update():
        return jsonify({})

    @app.route("/api/v1/items/<int:item>", methods=["GET", "POST"])
    def item(item: int):
        note_pivot(["desk", "symbol"], ["pnl"])
        note_job("export")
        return jsonify({"item": item}), 201

    @app.get("/pivot")
    def page():
        return "<html></html>"

    recorder = install_usage(app, fresh_warehouse, flush_seconds=60, callback_seconds=3600)
    yield app, recorder
    recorder.stop()


def _update(client, body: Any) -> None:
    client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def test_requests_become_page_views_api_calls_pivots_jobs_and_counted_callbacks(server, fresh_warehouse) -> None:
    app, recorder = server
    client = app.test_client()
    _update(client, {"output": PAGES, "inputs": [
        {"id": "_pages_location", "property": "pathname", "value": "/pivot"},
        {"id": "_pages_location", "property": "search", "value": "?rows=desk&kiosk=1&m=pnl"}],
        "changedPropIds": ["_pages_location.pathname"]})
    client.post("/api/v1/items/7")
    client.get("/pivot")  # the HTML load: its content callback is the page view
    for _ in range(5):
        _update(client, {"output": "board-grid.rowData", "changedPropIds": ["board-search.value"]})
    for _ in range(50):  # live refreshes driven by a timer or a store (a board's polls) are not use
        _update(client, {"output": "board-grid.rowData", "changedPropIds": ["board-tick.n_intervals"]})
        _update(client, {"output": "board-grid.rowData", "changedPropIds": ["board-poll.data"]})
    client.post("/_dash-update-component?cacheKey=abc", data=json.dumps(  # a background job's progress poll
        {"output": "board-grid.rowData", "changedPropIds": ["x.value"]}), content_type="application/json")
    _update(client, {"output": "..evil.x..", "changedPropIds": ["a.b"]})
    _update(client, "not a dict")
    recorder.stop()
    rows = fresh_warehouse.query_rows(
        "SELECT kind, route, user, status, count, dimensions, metrics, detail FROM {db}.usage_events "
        "ORDER BY kind, route")
    assert [(k, r, u, s, c) for k, r, u, s, c, *_ in rows] == [
        ("api_call", "/api/v1/items/<int:item>", "local", 201, 1),
        ("callback", "<unknown>", "local", 200, 1),  # an unregistered name, under one bounded label
        ("callback", "board-grid.rowData", "local", 200, 5),
        ("job", "export", "local", 0, 1),
        ("page_view", "/pivot", "local", 200, 1),
        ("pivot", "pivot", "local", 0, 1),
    ]
    assert json.loads(rows[4][7]) == {"search": "m=pnl&rows=desk"}
    assert rows[5][5:7] == (["desk", "symbol"], ["pnl"])


def test_without_a_recorder_the_helpers_do_nothing_and_requests_still_succeed() -> None:
    app = Flask(__name__)
    install_request_hooks(app, known_callbacks=lambda: set())

    @app.get("/api/v1/x")
    def x():
        note_pivot(["desk"], ["pnl"])
        return "ok"

    assert EXTENSION_KEY not in app.extensions
    assert app.test_client().get("/api/v1/x").status_code == 200
    note_job("backup")  # outside any app: nothing to do, nothing raised


def test_record_does_not_wait_for_a_slow_warehouse(fresh_warehouse: Warehouse) -> None:
    gate = threading.Event()

    class Slow(Outage):
        def insert_rows(self, *args: Any, **kwargs: Any) -> None:
            gate.wait(10)
            self._wh.insert_rows(*args, **kwargs)

    slow = Slow(fresh_warehouse)
    recorder = UsageRecorder(slow, flush_seconds=0.01).start()  # type: ignore[arg-type]
    recorder.record(UsageEvent("job", "u", route="first"))
    until(lambda: recorder.pending() == 0, timeout=10)  # the writer took it and now hangs on the insert
    began = time.perf_counter()
    for _ in range(1_000):
        recorder.record(UsageEvent("job", "u", route="more"))
    waited = time.perf_counter() - began
    gate.set()
    recorder.stop()
    assert waited < 5  # a generous bound: the point is that it did not wait the 10 s insert
    assert recorder.written == 1_001
