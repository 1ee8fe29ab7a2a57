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


@pytest.fixture
def ruled(tmp_path: Path) -> MarketService:
    """A service whose board has FPT's band, without a feed: rules are checked against the board."""
    service = MarketService(board=BoardState(fields=BOARD_FIELDS), userdata=UserData(tmp_path / "market.sqlite3"))
    ref, ceiling, floor = FPT
    service.board.publish([{"symbol": "FPT", "ref": ref, "ceiling": ceiling, "floor": floor, "last": 130_500}])
    return service


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


def _fpt_on_the_board(service, feed) -> None:
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 130_500, 100, 100))
    _wait(lambda: (service.board.row("FPT") or {}).get("last") == 130_500)


def test_a_price_rule_raises_one_alert_that_is_kept_and_stored(running, tmp_path: Path) -> None:
    service, feed = running
    _fpt_on_the_board(service, feed)
    rule = service.add_rule("FPT", "above", 131_000)
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
    _fpt_on_the_board(service, feed)
    rule = service.add_rule("FPT", "below", 129_000)
    assert service.delete_rule(rule.id)
    feed.send(trade_message("FPT", *FPT, 128_000, 100, 200))
    _wait(lambda: (service.board.row("FPT") or {}).get("last") == 128_000)
    time.sleep(0.2)
    assert service.alerts() == []
    for bad in (("FPT", "sideways", 130_000), ("", "above", 130_000), ("FPT", "above", -5.0)):
        with pytest.raises(UserDataError):
            service.add_rule(*bad)
    assert service.rules() == []


@pytest.mark.parametrize(
    ("shown", "reason"),
    [
        ("150", "150.00 is above FPT's ceiling: today's band is 120.90–139.10; the nearest valid price is 139.10"),
        ("139.2", "above FPT's ceiling"),
        ("120.8", "120.80 is below FPT's floor: today's band is 120.90–139.10; the nearest valid price is 120.90"),
        ("131.25", ("131.25 is not on FPT's price grid (tick 100 VND at this price); "
                    "the nearest valid prices are 131.20 or 131.30")),
        (131.234, "131.234 is not on FPT's price grid"),
        ("139.05", "nearest valid prices are 139.00 or 139.10"),
    ],
)
def test_a_rule_outside_the_band_or_off_the_grid_is_refused_with_the_nearest_valid_prices(
        ruled: MarketService, shown, reason: str) -> None:
    service = ruled
    with pytest.raises(UserDataError) as refused:
        service.add_rule("FPT", "above", shown, board_units=True)
    assert reason in str(refused.value)
    assert service.rules() == []
    # The band's edges and prices on the grid are accepted.
    for ok in ("139.1", "120.9", "131.2", 131.3):
        service.add_rule("FPT", "below", ok, board_units=True)
    assert sorted(r.price for r in service.rules()) == [120_900, 131_200, 131_300, 139_100]


def test_futures_rules_use_the_point_grid_and_the_band_from_the_reference(ruled: MarketService) -> None:
    service = ruled
    service.board.publish([{"symbol": "VN30F2412", "ref": 1300.0, "last": 1301.0}])  # no band sent: from ref
    with pytest.raises(UserDataError, match=r"1,301.25 is not on VN30F2412's price grid \(tick 0.1 point\); "
                                            r"the nearest valid prices are 1,301.2 or 1,301.3"):
        service.add_rule("VN30F2412", "above", "1301.25", board_units=True)
    with pytest.raises(UserDataError, match="above VN30F2412's ceiling: today's band is 1,209.0–1,391.0"):
        service.add_rule("VN30F2412", "above", 1400, board_units=True)
    assert service.add_rule("VN30F2412", "above", "1301.3", board_units=True).price == pytest.approx(1301.3)


@pytest.mark.parametrize(
    ("symbol", "price", "words"),
    [
        ("FPT", "abc", "not a price"),
        ("FPT", "nan", "not a price"),
        ("FPT", float("nan"), "positive number"),
        ("FPT", float("inf"), "positive number"),
        ("FPT", "-131", "not a price"),
        ("FPT", -131.0, "positive number"),
        ("FPT", 0, "positive number"),
        ("FPT", "1e3", "not a price"),
        ("FPT", "131,5", "not a price"),
        ("FPT", "9" * 5000, "not a price"),
        ("FPT", 10**12, "far beyond"),
        ("FPT", True, "type a price"),
        ("FPT", None, "type a price"),
        ("FPT", [131], "must be a number"),
        ("FPT", {"price": 131}, "must be a number"),
        ("FPT", "<script>alert(1)</script>", "not a price"),
        ("ZZZ", "10", "no price band for ZZZ"),
        ("'; DROP TABLE price_rules; --", "131", "not a valid symbol"),
        ("F" * 5000, "131", "not a valid symbol"),
        ("", "131", "not a valid symbol"),
    ],
)
def test_hostile_rule_input_is_refused_with_a_reason_and_nothing_is_stored(
        ruled: MarketService, symbol, price, words) -> None:
    service = ruled
    with pytest.raises(UserDataError, match=words) as refused:
        service.add_rule(symbol, "above", price, board_units=True)
    assert len(str(refused.value)) < 300  # the reason never echoes a huge input back
    assert service.rules() == []


def _alert(n: int, ts: float, *, kind: str = "price_rule", symbol: str = "FPT", rule: str = "p-1",
           severity: str = "info") -> dict:
    from backend.market.reference import vn_day

    return {"id": f"a{n}", "ts": ts, "day": vn_day(ts), "symbol": symbol, "kind": kind, "severity": severity,
            "message": f"{symbol} alert {n}", "value": float(n), "threshold": 1.0, "rule_id": rule}


def test_one_condition_firing_again_and_again_is_one_row_with_a_count_and_the_latest_value() -> None:
    service = MarketService(settings=ServiceSettings(alert_fold_seconds=600))
    t0 = time.time()
    for n in range(200):  # one condition every 2 s for ~7 minutes
        service.record_alert(_alert(n, t0 + 2 * n, severity="critical" if n == 50 else "info"))
    service.record_alert(_alert(900, t0 + 1, symbol="HPG"))
    service.record_alert(_alert(901, t0 + 2, kind="basis_premium", rule=""))
    rows = service.alerts()
    assert [(r["symbol"], r["kind"], r["count"]) for r in rows] == [
        ("FPT", "price_rule", 200), ("FPT", "basis_premium", 1), ("HPG", "price_rule", 1)]
    fpt = rows[0]
    assert (fpt["id"], fpt["last_id"], fpt["value"], fpt["message"]) == ("a0", "a199", 199.0, "FPT alert 199")
    assert fpt["first_ts"] == t0 and fpt["ts"] == t0 + 398
    assert fpt["severity"] == "critical"  # the highest seen in the row
    # After a quiet spell longer than the window, the condition opens a new row.
    service.record_alert(_alert(1000, t0 + 398 + 601))
    assert [r["count"] for r in service.alerts(symbol="FPT", unacked=True) if r["kind"] == "price_rule"] == [1, 200]


def test_one_noisy_condition_cannot_push_other_alerts_out_of_the_list() -> None:
    service = MarketService(settings=ServiceSettings(recent_alerts=10))
    t0 = time.time()
    service.record_alert(_alert(0, t0, symbol="HPG"))
    for n in range(1, 5000):
        service.record_alert(_alert(n, t0 + n * 0.1))
    assert [(r["symbol"], r["count"]) for r in service.alerts()] == [("FPT", 4999), ("HPG", 1)]


def test_acknowledging_a_row_records_what_was_seen_and_keeps_later_alerts_open(running) -> None:
    service, _feed = running
    t0 = time.time()
    for n in range(3):
        service.record_alert(_alert(n, t0 + n))
    seen = service.alerts()[0]
    assert (seen["id"], seen["last_id"], seen["count"]) == ("a0", "a2", 3)
    service.record_alert(_alert(3, t0 + 3))  # arrives after the row was drawn, before the click
    assert service.acknowledge(seen["id"], by="desk", upto=seen["last_id"])
    rows = service.alerts()
    assert [(r["id"], r["count"], bool(r["acked_at"])) for r in rows] == [("a3", 1, False), ("a0", 3, True)]
    assert rows[1]["acked_by"] == "desk" and rows[1]["last_id"] == "a2"
    # Later alerts of the condition join the open row, not the acknowledged one.
    service.record_alert(_alert(4, t0 + 4))
    assert [(r["id"], r["count"]) for r in service.alerts(unacked=True)] == [("a3", 2)]
    assert service.acknowledge("a4", by="api")  # by the id of any alert in the row
    assert service.alerts(unacked=True) == []
    assert not service.acknowledge("nope", by="desk")
    service.stop()  # writes what is buffered
    stored = {a["id"]: a["acked_by"] for a in service.store.history("alerts", _vn_today())}
    assert stored == {"a0": "desk", "a1": "desk", "a2": "desk", "a3": "api", "a4": "api"}
    # History shows the day folded the same way, acknowledged rows apart from open ones.
    earlier = service.alerts(day=_vn_today())
    assert [(r["id"], r["count"], r["acked_by"]) for r in earlier] == [("a3", 2, "api"), ("a0", 3, "desk")]


def test_status_names_the_source_and_says_when_prices_are_not_the_live_exchange(running) -> None:
    service, feed = running
    feed.send(status_message("FPT", *FPT))
    _wait(lambda: service.status()["source"] is not None)
    assert service.status()["source"] == "scripted" and service.status()["simulated"] is True
    feed.source = "ssi"
    assert service.status()["source"] == "ssi" and service.status()["simulated"] is False
    feed.simulated = True  # a feed that says it makes its messages up is simulated whatever its name
    assert service.status()["simulated"] is True
    assert MarketService().status()["source"] is None and MarketService().status()["simulated"] is False


def test_the_pipeline_builds_the_view_every_screen_reads(running) -> None:
    service, feed = running
    before = service.view
    # Two foreign totals: during trading hours the first one a session joins is a baseline, not
    # flow, and only the second draws a point; before the open both are flow.
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 131_000, 100, 100),
              index_message("VN30", 1_301.5, 1_300.0), foreign_message("FPT", 300, 100, 39e6, 13e6, 10**6, 999_800),
              foreign_message("FPT", 400, 100, 52e6, 13e6, 10**6, 999_700))
    _wait(lambda: len(service.view.series["vn30"]) == 1 and len(service.view.series["foreign"]) >= 1
          and service.view.summary["foreign"]["buy_val"] == 52e6)
    view = service.view
    assert view.version > before.version
    assert view.series["vn30"].cols["value"] == (1_301.5,)
    assert view.summary["indices"]["VN30"]["value"] == 1_301.5
    assert view.parts["movers"]["up"] == [{"symbol": "FPT", "change_pct": pytest.approx(100 * 1_000 / 130_000)}]
    assert view.summary["foreign"]["buy_val"] == 52e6


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


def _service_on(warehouse: Warehouse, feed: ScriptedFeed, tmp_path: Path) -> MarketService:
    service = MarketService(
        settings=ServiceSettings(stale_seconds=1.0, tick_seconds=0.05, flush_seconds=0.2),
        board=BoardState(fields=BOARD_FIELDS), store=MarketStore(warehouse, flush_seconds=0.2),
        userdata=UserData(tmp_path / "market.sqlite3"),
    )
    core = MarketCore()
    service.attach_core(core)
    service.start(FeedPipeline(service, core, lambda: feed))
    return service


def _stored_prices(service: MarketService) -> list[float]:
    return [r["price"] for r in service.store.history("trades", _vn_today(), "FPT")]


def test_a_restarted_simulated_feed_replaces_the_day_it_wrote(fresh_warehouse: Warehouse, tmp_path: Path) -> None:
    feed = ScriptedFeed()  # not the exchange: simulated
    first = _service_on(fresh_warehouse, feed, tmp_path)
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 131_000, 100, 100),
              trade_message("FPT", *FPT, 131_100, 50, 150))
    _wait(lambda: len(_stored_prices(first)) == 2)
    sources = first.store.sources  # which feed wrote which day, shared by both runs
    first.stop()
    # The simulator restarts and replays the day along another path: its rows replace the first run's.
    feed = ScriptedFeed()
    second = MarketService(
        settings=ServiceSettings(stale_seconds=1.0, tick_seconds=0.05, flush_seconds=0.2),
        board=BoardState(fields=BOARD_FIELDS), store=MarketStore(fresh_warehouse, flush_seconds=0.2, sources=sources),
    )
    core = MarketCore()
    second.start(FeedPipeline(second, core, lambda: feed))
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 125_000, 300, 300))
    _wait(lambda: _stored_prices(second) == [125_000.0])
    time.sleep(0.5)  # two more flushes: nothing of the first run comes back
    assert _stored_prices(second) == [125_000.0]
    second.stop()


def test_a_simulator_never_writes_over_a_day_an_exchange_feed_recorded(fresh_warehouse: Warehouse,
                                                                      tmp_path: Path) -> None:
    exchange = ScriptedFeed()
    exchange.source = "ssi"
    live = _service_on(fresh_warehouse, exchange, tmp_path)
    exchange.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 131_000, 100, 100))
    _wait(lambda: _stored_prices(live) == [131_000.0])
    sources = live.store.sources
    live.stop()
    feed = ScriptedFeed()
    sim = MarketService(
        settings=ServiceSettings(stale_seconds=1.0, tick_seconds=0.05, flush_seconds=0.2),
        board=BoardState(fields=BOARD_FIELDS), store=MarketStore(fresh_warehouse, flush_seconds=0.2, sources=sources),
    )
    sim.start(FeedPipeline(sim, MarketCore(), lambda: feed))
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 125_000, 300, 300))
    _wait(lambda: sim.store.refused_rows >= 1)
    _wait(lambda: (sim.board.row("FPT") or {}).get("last") is not None)
    assert sim.board.row("FPT")["last"] == 125_000  # the board shows the simulator's prices ...
    assert _stored_prices(sim) == [131_000.0]  # ... the history keeps the exchange's day
    sim.stop()


class CatchingUpFeed(ScriptedFeed):
    """A feed that replays the session so far before the test lets it go live."""

    def __init__(self) -> None:
        super().__init__()
        self._set_state(self.status.state, catching_up=True)

    def go_live(self) -> None:
        self._set_state(self.status.state, catching_up=False)


def test_status_says_while_the_feed_is_catching_up(fresh_warehouse: Warehouse, tmp_path: Path) -> None:
    feed = CatchingUpFeed()
    service = _service_on(fresh_warehouse, feed, tmp_path)
    feed.send(status_message("FPT", *FPT))
    _wait(lambda: service.status()["source"] == "scripted")
    assert service.status()["catching_up"] is True
    feed.go_live()
    assert service.status()["catching_up"] is False
    assert MarketService().status()["catching_up"] is False  # no feed yet
    service.stop()
