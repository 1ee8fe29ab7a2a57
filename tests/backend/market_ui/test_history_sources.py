"""Each day's market history comes from one feed: a simulated session replaces its own day, an
exchange feed's day is never written over by a simulator, and the record survives a restart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from backend.market.history_sources import DayOwner, HistorySources, decide
from backend.market.store import MarketStore
from backend.warehouse import Warehouse

SIM = DayOwner("simulator", True, "s1")
SIM2 = DayOwner("simulator", True, "s2")
SSI = DayOwner("ssi", False, "x1")
SSI2 = DayOwner("ssi", False, "x2")


@pytest.mark.parametrize(("owner", "session", "has_rows", "action"), [
    (None, SIM, False, "append"), (None, SIM, True, "replace"),  # unrecorded history counts as simulated
    (SIM, SIM2, True, "replace"), (SSI, SIM, True, "refuse"), (SSI, SIM, False, "append"),
    (None, SSI, True, "replace"), (SIM, SSI, True, "replace"), (SSI, SSI2, True, "append"),
])
def test_what_a_session_does_with_a_day(owner: DayOwner | None, session: DayOwner, has_rows: bool,
                                        action: str) -> None:
    assert decide(owner, session, has_rows) == action


def test_the_record_survives_a_restart_and_takes_hostile_names_as_text(tmp_path: Path) -> None:
    path = tmp_path / "data" / "history.sqlite3"
    day = date(2024, 3, 4)
    HistorySources(path).record(day, DayOwner("ssi'); DROP TABLE market_history_days; --", False, "x"))
    again = HistorySources(path)
    assert again.owner(day) == DayOwner("ssi'); DROP TABLE market_history_days; --", False, "x")
    assert again.owner(day + timedelta(days=1)) is None
    again.record(day, SIM)
    assert HistorySources(path).owner(day) == SIM


def _trade(day: date, price: float, i: int) -> dict:
    ts = datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC).timestamp() + i
    return {"ts": ts, "day": day.toordinal(), "symbol": "FPT", "price": price, "volume": 100, "side": 1,
            "total_volume": 100 * (i + 1), "total_value": price * 100 * (i + 1)}


def _prices(store: MarketStore, day: date) -> list[float]:
    return [r["price"] for r in store.history("trades", day, "FPT")]


def _run(warehouse: Warehouse, sources: HistorySources, source: str, simulated: bool,
         rows: list[dict]) -> MarketStore:
    store = MarketStore(warehouse, sources=sources)
    store.begin_session(source, simulated=simulated)
    store.add("trades", rows)
    store.flush()
    return store


def test_sessions_over_two_days(fresh_warehouse: Warehouse, tmp_path: Path) -> None:
    sources = HistorySources(tmp_path / "history.sqlite3")
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    _run(fresh_warehouse, sources, "simulator", True, [_trade(yesterday, 1, 0), _trade(today, 2, 0)])
    # The simulator restarts: both of its days are replaced, each by the new run's path.
    store = _run(fresh_warehouse, sources, "simulator", True, [_trade(today, 3, 0), _trade(today, 4, 1)])
    assert _prices(store, today) == [3, 4] and _prices(store, yesterday) == [1]  # a day it did not write stays
    # The exchange feed connects: it replaces the simulated day, then a reconnect appends to its own.
    store = _run(fresh_warehouse, sources, "ssi", False, [_trade(today, 5, 0)])
    store = _run(fresh_warehouse, sources, "ssi", False, [_trade(today, 6, 1)])
    assert _prices(store, today) == [5, 6]
    # A simulator started afterwards writes nothing of that day and says how much it held back.
    store = _run(fresh_warehouse, sources, "simulator", True, [_trade(today, 7, 0), _trade(today, 8, 1)])
    assert _prices(store, today) == [5, 6] and store.refused_rows == 2
    assert sources.owner(today).source == "ssi"


def test_a_session_s_later_flushes_of_its_day_append(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse)
    today = datetime.now(UTC).date()
    store.begin_session("simulator", simulated=True)
    for i in range(3):
        store.add("trades", [_trade(today, 10 + i, i)])
        store.flush()
    assert _prices(store, today) == [10, 11, 12]
