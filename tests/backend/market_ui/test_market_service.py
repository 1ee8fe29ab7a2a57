"""The market service end to end: feed → core → board → history, feed state, price-rule alerts."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from backend.market.board import BoardState
from backend.market.core import MarketCore
from backend.market.pipeline import BOARD_FIELDS, FeedPipeline
from backend.market.reference import VN_TZ
from backend.market.service import FeedState, MarketService, ServiceSettings
from backend.market.store import MarketStore
from backend.market.watchlists import UserData, UserDataError
from backend.warehouse import Warehouse
from tests.backend.market_ui.feeds import (
    ScriptedFeed,
    foreign_message,
    index_message,
    quote_message,
    status_message,
    trade_message,
)

FPT = (130_000, 139_100, 120_900)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _wait(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def running(fresh_warehouse: Warehouse, tmp_path: Path):
    feed = ScriptedFeed()
    service = MarketService(
        settings=ServiceSettings(stale_seconds=1.0, tick_seconds=0.05, flush_seconds=0.2),
        board=BoardState(fields=BOARD_FIELDS), store=MarketStore(fresh_warehouse, flush_seconds=0.2),
        userdata=UserData(tmp_path / "market.sqlite3"),
    )
    core = MarketCore()
    service.attach_core(core)
    service.start(FeedPipeline(service, core, lambda: feed))
    yield service, feed
    service.stop()


def test_feed_state_follows_messages_silence_and_disconnection() -> None:
    clock = Clock()
    service = MarketService(settings=ServiceSettings(stale_seconds=10), monotonic=clock)
    assert service.state() is FeedState.STOPPED
    service._started = True  # as start() does, without a feed thread
    assert service.state() is FeedState.STARTING
    service.note_message(1.0)
    assert service.state() is FeedState.LIVE
    clock.now += 10.0
    assert service.state() is FeedState.LIVE  # exactly N seconds is not yet stale
    clock.now += 0.5
    assert service.state() is FeedState.STALE
    assert service.status()["age_seconds"] == pytest.approx(10.5)
    service.note_message(2.0)
    assert service.state() is FeedState.LIVE
    service.note_disconnected("socket closed")
    assert service.state() is FeedState.DISCONNECTED and service.status()["error"] == "socket closed"


def test_messages_reach_the_board_and_history_exactly_once(running, fresh_warehouse: Warehouse) -> None:
    service, feed = running
    feed.send(status_message("FPT", *FPT))
    trades = [(130_500, 100, 100), (131_000, 200, 300), (130_000, 500, 800)]
    for price, volume, total in trades:
        feed.send(trade_message("FPT", *FPT, price, volume, total))
        # A quote that repeats the last trade must not store it twice.
        feed.send(trade_message("FPT", *FPT, price, volume, total))
    feed.send(quote_message("FPT", [(129_900, 1_000)], [(130_100, 700)]))
    feed.send(foreign_message("FPT", 300, 100, 39e6, 13e6, 1_000_000, 999_800))
    feed.send(index_message("VN30", 1_301.5, 1_300.0))
    _wait(lambda: (service.board.row("FPT") or {}).get("bid1") == 129_900)
    row = service.board.row("FPT")
    assert (row["last"], row["total_vol"], row["ref"], row["ask1_vol"]) == (130_000, 800, 130_000, 700)
    assert row["f_buy_vol"] == 300 and row["f_room"] == 999_800
    assert "v" not in row
    service.stop()  # writes what is buffered
    day = _vn_today()
    stored = service.store.history("trades", day, "FPT")
    assert [(r["price"], r["volume"], r["total_volume"]) for r in stored] == trades
    assert [r["current_room"] for r in service.store.history("foreign", day, "FPT")] == [999_800]
    assert [r["value"] for r in service.store.history("index", day, "VN30")] == [1_301.5]
    assert service.status()["state"] == "stopped"


def _vn_today() -> date:
    from datetime import datetime

    return datetime.now(VN_TZ).date()


def test_a_price_rule_raises_one_alert_that_is_kept_and_stored(running, tmp_path: Path) -> None:
    service, feed = running
    rule = service.add_rule("FPT", "above", 131_000)
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 130_500, 100, 100))
    feed.send(trade_message("FPT", *FPT, 131_000, 100, 200), trade_message("FPT", *FPT, 131_500, 100, 300))
    _wait(lambda: len(service.alerts()) >= 1)
    time.sleep(0.3)
    alerts = service.alerts()
    assert len(alerts) == 1  # one episode, not one per trade
    assert alerts[0]["symbol"] == "FPT" and alerts[0]["rule_id"] == rule.id
    assert service.acknowledge(alerts[0]["id"], by="desk")
    assert service.alerts(unacked=True) == []
    service.stop()
    stored = service.store.history("alerts", _vn_today())
    assert [(a["id"], a["acked_by"]) for a in stored] == [(alerts[0]["id"], "desk")]
    # The panel's history view reads the same alert back from the warehouse.
    earlier = service.alerts(day=_vn_today())
    assert [(a["id"], a["symbol"], a["acked_by"]) for a in earlier] == [(alerts[0]["id"], "FPT", "desk")]
    assert earlier[0]["ts"] == pytest.approx(alerts[0]["ts"], abs=0.001)
    assert service.alerts(day=_vn_today(), unacked=True) == []
    # Rules survive a restart of the service: they are in the user data file.
    assert [r.id for r in UserData(tmp_path / "market.sqlite3").rules()] == [rule.id]


def test_deleted_rules_stop_alerting_and_bad_rules_are_refused(running) -> None:
    service, feed = running
    rule = service.add_rule("FPT", "below", 129_000)
    assert service.delete_rule(rule.id)
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 128_000, 100, 100))
    _wait(lambda: (service.board.row("FPT") or {}).get("last") == 128_000)
    time.sleep(0.2)
    assert service.alerts() == []
    for bad in (("FPT", "sideways", 1.0), ("", "above", 1.0), ("FPT", "above", -5.0)):
        with pytest.raises(UserDataError):
            service.add_rule(*bad)
    assert service.rules() == []


def test_malformed_messages_are_counted_and_do_not_touch_the_board(running) -> None:
    service, feed = running
    feed.send(status_message("FPT", *FPT))
    _wait(lambda: service.board.row("FPT") is not None)
    version = service.board.version
    feed.send("not json", '{"DataType": "X-TRADE", "Content": "{}"}', "x" * 100_000, '{"DataType": 5}')
    _wait(lambda: service.status()["rejected"] >= 4)
    assert service.board.version == version


def test_a_feed_that_ends_shows_as_disconnected(running) -> None:
    service, feed = running
    feed.send(status_message("FPT", *FPT))
    _wait(lambda: service.status()["messages"] >= 1)
    feed.close()
    _wait(lambda: service.state() is FeedState.DISCONNECTED)
    assert service.status()["error"]  # says why: the feed closed or ended
