"""Market history on the real embedded warehouse: batching, retention, history queries."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from backend.market.store import MAX_HISTORY_ROWS, TABLES, MarketStore, StoreError
from backend.warehouse import Warehouse
from backend.warehouse.schema import MARKET_HISTORY_DDL

SYMBOLS = ("FPT", "HPG", "VNM", "SSI")


def _count(wh: Warehouse, table: str) -> int:
    return int(wh.query_rows(f"SELECT count() FROM {{db}}.{table}")[0][0])


def _parts(wh: Warehouse, table: str) -> int:
    return int(
        wh.query_rows(
            "SELECT count() FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active",
            {"db": wh.database, "t": table},
        )[0][0]
    )


def _trades(n: int, seed: int, days: list[date]) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        day = rng.choice(days)
        ts = datetime(day.year, day.month, day.day, 2, 15, tzinfo=UTC) + timedelta(seconds=i)
        rows.append({
            "ts": ts.timestamp(), "day": day.toordinal(), "symbol": rng.choice(SYMBOLS),
            "price": rng.randrange(20_000, 30_000, 50), "volume": rng.randrange(100, 10_000, 100),
            "side": rng.choice([-1, 0, 1]), "total_volume": i * 100, "total_value": i * 1e6,
        })
    return rows


def test_many_small_adds_become_one_insert_per_table_per_flush(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse)
    today = date.today()
    for chunk in range(50):
        store.add("trades", _trades(20, chunk, [today]))
        store.add("foreign", [{"ts": time.time(), "symbol": "FPT", "buy_vol": chunk, "sell_vol": 0,
                               "buy_val": 0.0, "sell_val": 0.0, "total_room": None, "current_room": 5}])
    assert _count(fresh_warehouse, "market_trades") == 0  # nothing written before the flush
    assert store.pending() == {"trades": 1000, "foreign": 50, "index": 0, "basis": 0, "alerts": 0}
    assert store.flush() == {"trades": 1000, "foreign": 50}
    assert _count(fresh_warehouse, "market_trades") == 1000
    assert _count(fresh_warehouse, "market_foreign") == 50
    # Each insert makes one part and the embedded engine does not merge on its own.
    assert _parts(fresh_warehouse, "market_trades") == 1
    assert _parts(fresh_warehouse, "market_index") == 0
    store.add("trades", _trades(5, 99, [today]))
    store.flush()
    assert _parts(fresh_warehouse, "market_trades") == 2
    assert store.flush() == {}


def test_the_writer_thread_flushes_about_once_a_second(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse, flush_seconds=1.0)
    store.start()
    try:
        store.add("trades", _trades(10, 1, [date.today()]))
        assert _count(fresh_warehouse, "market_trades") == 0
        deadline = time.monotonic() + 5
        while _count(fresh_warehouse, "market_trades") < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _count(fresh_warehouse, "market_trades") == 10
        store.add("trades", _trades(3, 2, [date.today()]))
    finally:
        store.stop()
    assert _count(fresh_warehouse, "market_trades") == 13  # stop writes the rest


def test_history_by_day_and_symbol_matches_pandas(fresh_warehouse: Warehouse) -> None:
    days = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]
    rows = _trades(3000, 7, days)
    store = MarketStore(fresh_warehouse, retention_days=3650)  # old test dates must not expire
    store.add("trades", rows)
    store.flush()
    frame = pd.DataFrame(rows)
    frame["day"] = frame["day"].map(date.fromordinal)
    for day in days:
        for symbol in (*SYMBOLS, None):
            got = store.history("trades", day, symbol, limit=MAX_HISTORY_ROWS)
            want = frame[(frame["day"] == day) & ((frame["symbol"] == symbol) if symbol else True)]
            want = want.sort_values("ts")
            assert len(got) == len(want)
            assert [r["price"] for r in got] == want["price"].tolist()
            assert [r["ts"].timestamp() for r in got] == pytest.approx(want["ts"].tolist())
    assert store.days("trades") == sorted(days, reverse=True)
    assert len(store.history("trades", days[0], limit=7)) == 7


def test_rows_older_than_the_retention_are_purged(fresh_warehouse: Warehouse) -> None:
    now = datetime.now(UTC)
    store = MarketStore(fresh_warehouse)
    for age in (45, 31, 29, 1):
        ts = now - timedelta(days=age)
        store.add("trades", [{"ts": ts.timestamp(), "symbol": f"A{age}", "price": 1.0, "volume": 100,
                              "total_volume": 100, "total_value": 1.0}])
        store.add("index", [{"ts": ts.timestamp(), "symbol": "VN30", "value": 1.0, "prior_value": 1.0}])
    store.flush()
    store.purge_expired()
    kept = {r[0] for r in fresh_warehouse.query_rows("SELECT symbol FROM {db}.market_trades")}
    assert kept == {"A29", "A1"}
    assert _count(fresh_warehouse, "market_index") == 2

    shorter = MarketStore(fresh_warehouse, retention_days=7)
    shorter.purge_expired()
    assert {r[0] for r in fresh_warehouse.query_rows("SELECT symbol FROM {db}.market_trades")} == {"A1"}


def test_a_failed_write_keeps_its_rows_for_the_next_flush(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse)
    fresh_warehouse.command("DROP TABLE {db}.market_trades SYNC")
    store.add("trades", _trades(25, 3, [date.today()]))
    assert store.flush() == {}
    assert store.last_error is not None and "market_trades" in store.last_error
    assert store.pending()["trades"] == 25
    fresh_warehouse.command(MARKET_HISTORY_DDL[0])
    assert store.flush() == {"trades": 25}
    assert _count(fresh_warehouse, "market_trades") == 25


def test_the_buffer_is_capped_while_the_warehouse_refuses_writes(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse, buffer_cap=100)
    store.add("trades", _trades(150, 4, [date.today()]))
    assert store.pending()["trades"] == 100
    assert store.dropped_rows == 50


def test_acknowledging_an_alert_is_a_new_revision_read_back_once(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse)
    now = time.time()
    day = datetime.fromtimestamp(now, UTC).date()
    store.add("alerts", [{"id": "a-1", "ts": now, "day": day, "symbol": "FPT", "kind": "price_rule",
                          "severity": "warning", "message": "FPT above 130", "value": 131.0, "threshold": 130.0}])
    assert store.acknowledge("a-1", day, by="trader1", at=now + 5)
    assert not store.acknowledge("nope", day, by="trader1", at=now)
    alerts = store.history("alerts", day)
    assert len(alerts) == 1
    assert alerts[0]["acked_by"] == "trader1"
    assert alerts[0]["acked_at"].timestamp() == pytest.approx(now + 5, abs=0.01)


def test_acknowledging_many_alerts_is_one_read_and_one_insert(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse)
    now = time.time()
    day = datetime.fromtimestamp(now, UTC).date()
    store.add("alerts", [{"id": f"a-{i}", "ts": now + i, "day": day, "symbol": "FPT", "kind": "price_rule",
                          "severity": "info", "message": f"FPT {i}", "value": float(i), "threshold": 1.0}
                         for i in range(5)])
    calls = []
    insert = fresh_warehouse.insert_rows
    fresh_warehouse.insert_rows = lambda *a, **k: (calls.append(a[0]), insert(*a, **k))[1]  # type: ignore[method-assign]
    try:
        found = store.acknowledge_many(["a-0", "a-2", "a-4", "nope", "x' OR 1=1 --"], day, by="desk", at=now + 9)
    finally:
        del fresh_warehouse.insert_rows
    assert found == 3
    assert calls.count("market_alerts") == 2  # the buffered alerts, then the acknowledgements
    acked = {a["id"]: a["acked_by"] for a in store.history("alerts", day)}
    assert acked == {"a-0": "desk", "a-1": "", "a-2": "desk", "a-3": "", "a-4": "desk"}
    assert store.acknowledge_many([], day, by="desk", at=now) == 0


@pytest.mark.parametrize(
    ("kind", "row"),
    [
        ("nonsense", {"ts": 1, "symbol": "A"}),
        ("trades", {"symbol": "A"}),
        ("trades", {"ts": 1}),
        ("trades", {"ts": 1, "symbol": "A", "price; DROP TABLE x": 1}),
    ],
)
def test_bad_rows_are_refused_and_nothing_is_queued(fresh_warehouse: Warehouse, kind: str, row: dict) -> None:
    store = MarketStore(fresh_warehouse)
    with pytest.raises(StoreError):
        store.add(kind, [{"ts": 1.0, "symbol": "OK", "price": 1.0}, row])
    assert sum(store.pending().values()) == 0


def test_bad_history_requests_are_refused_and_hostile_symbols_are_plain_values(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse)
    day = date.today()
    store.add("trades", _trades(5, 5, [day]))
    store.flush()
    for kind, kwargs in (("x", {}), ("trades", {"limit": 0}), ("trades", {"limit": MAX_HISTORY_ROWS + 1}),
                         ("trades", {"columns": ["price", "1; DROP TABLE market_trades"]})):
        with pytest.raises(StoreError):
            store.history(kind, day, **kwargs)
    with pytest.raises(StoreError):
        store.history("trades", "2024-01-01")  # type: ignore[arg-type]
    assert store.history("trades", day, "FPT' OR 1=1 --") == []
    assert _count(fresh_warehouse, "market_trades") == 5


@pytest.mark.parametrize("bad", [0, -1, 4000])
def test_retention_out_of_range_is_refused(fresh_warehouse: Warehouse, bad: int) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        MarketStore(fresh_warehouse, retention_days=bad)


def test_every_kind_has_a_table_in_the_schema(fresh_warehouse: Warehouse) -> None:
    tables = set(fresh_warehouse.table_counts())
    assert {spec.table for spec in TABLES.values()} <= tables
