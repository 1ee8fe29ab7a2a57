"""A symbol's recent trades as bars, over the real market history store (embedded warehouse):
bars and VWAP equal a pandas resample of the same trades for every window; the window's edges;
an empty window; a day picked by the market clock; every answer fits the OpenAPI document; hostile
queries refused naming the parameter, with nothing changed."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from flask import Flask

from backend.api import register_api
from backend.api.spec import SPEC_URL
from backend.market.board import BoardState
from backend.market.reference import vn_epoch
from backend.market.service import EXTENSION_KEY, MarketService, ServiceSettings
from backend.market.store import MarketStore
from backend.warehouse import Warehouse
from tests.backend.research.test_research_api import _fits

URL = "/api/v1/symbols/{}/history"
PATH = "/api/v1/symbols/{symbol}/history"
# Recent days: the history tables keep thirty days, and older rows may be dropped at any merge.
DAY = datetime.now(UTC).date() - timedelta(days=2)
EARLIER = DAY - timedelta(days=1)
WINDOWS = {"5m": 300, "15m": 900, "30m": 1_800, "1h": 3_600, "2h": 7_200, "4h": 14_400, "1d": 86_400}
INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1_800, "1h": 3_600}


def _ms(day: date, hhmmss: str) -> int:
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return round(vn_epoch(day) * 1000) + ((h * 60 + m) * 60 + s) * 1000


def _trade(symbol: str, ms: int, price: float, volume: int, total: int) -> dict:
    return {"ts": datetime.fromtimestamp(ms / 1000, UTC), "symbol": symbol, "price": price, "volume": volume,
            "total_volume": total, "total_value": 0.0}


def _session(symbol: str, day: date, seed: int, n: int) -> list[dict]:
    """``n`` trades between 09:15 and 14:45, some in the same millisecond, prices on the tick grid."""
    rng = random.Random(seed)
    lo, hi = _ms(day, "09:15:00"), _ms(day, "14:45:00")
    stamps = sorted(rng.randrange(lo, hi) for _ in range(n))
    stamps[10:14] = [stamps[10]] * 4  # ties: told apart by the running volume
    price, total, out = 50_000.0, 0, []
    for ms in stamps:
        price = max(100.0, price + rng.choice((-100, -50, 0, 0, 50, 100)))
        volume = rng.choice((100, 200, 500, 1_000, 3_000, 10_000))
        total += volume
        out.append(_trade(symbol, ms, price, volume, total))
    return out


def _expected(trades: list[dict], symbol: str, day: date, window: int, interval: int) -> tuple[list[dict], dict]:
    """The same selection and bars computed with pandas over the raw trades."""
    df = pd.DataFrame(trades)
    df["ms"] = (df["ts"].map(lambda t: t.timestamp()) * 1000).round().astype("int64")
    df["day"] = (pd.to_datetime(df["ms"], unit="ms", utc=True).dt.tz_convert("Asia/Ho_Chi_Minh")).dt.date
    on_day = df[df["day"] == day]
    end = int(on_day["ms"].max())
    chosen = on_day[(on_day["symbol"] == symbol) & (on_day["ms"] > end - window * 1000) & (on_day["ms"] <= end)]
    chosen = chosen.sort_values(["ms", "total_volume"]).assign(pv=lambda f: f["price"] * f["volume"])
    chosen.index = pd.to_datetime(chosen["ms"], unit="ms", utc=True)
    bars = chosen.resample(f"{interval}s").agg(
        {"price": ["first", "max", "min", "last", "count"], "volume": "sum", "pv": "sum"})
    bars.columns = ["open", "high", "low", "close", "trades", "volume", "pv"]
    bars = bars[bars["trades"] > 0]
    rows = [{"start": ts.timestamp(), "open": r.open, "high": r.high, "low": r.low, "close": r.close,
             "volume": int(r.volume), "vwap": r.pv / r.volume, "trades": int(r.trades)} for ts, r in bars.iterrows()]
    totals = {"start": (end - window * 1000) / 1000, "end": end / 1000, "volume": int(chosen["volume"].sum()),
              "trades": len(chosen), "vwap": chosen["pv"].sum() / chosen["volume"].sum() if len(chosen) else None}
    return rows, totals


@pytest.fixture
def market(fresh_warehouse: Warehouse) -> MarketService:
    service = MarketService(settings=ServiceSettings(), board=BoardState(), store=MarketStore(fresh_warehouse))
    service.board.publish([{"symbol": s, "kind": "stock", "last": 50_000} for s in ("FPT", "HPG", "VNM")])
    return service


@pytest.fixture
def app(market: MarketService) -> Flask:
    app = Flask(__name__)
    register_api(app)
    app.extensions[EXTENSION_KEY] = market
    return app


@pytest.fixture
def client(app: Flask):
    return app.test_client()


def _store(market: MarketService, trades: list[dict]) -> None:
    market.store.add("trades", trades)
    market.store.flush()


def _count(market: MarketService) -> int:
    return market.store.warehouse.query_rows("SELECT count() FROM {db}.market_trades")[0][0]


def _get(client, symbol: str, query: str = "") -> dict:
    resp = client.get(URL.format(symbol) + (f"?{query}" if query else ""))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


CASES = [(w, None) for w in WINDOWS] + [("1d", "1m"), ("1d", "1h"), ("4h", "15m"), ("2h", "30m"), ("1h", "1h"),
                                        ("5m", "5m"), ("30m", "5m")]


def test_bars_and_vwap_equal_a_pandas_resample_of_the_same_trades(client, market) -> None:
    fpt, hpg = _session("FPT", DAY, 1, 2_500), _session("HPG", DAY, 2, 2_500)
    # the day's latest trade is HPG's, later than FPT's: the window ends there for every symbol
    hpg.append(_trade("HPG", _ms(DAY, "14:45:30"), 51_000.0, 100, hpg[-1]["total_volume"] + 100))
    earlier = _session("FPT", EARLIER, 3, 300)  # another day, not in the answer
    trades = fpt + hpg + earlier
    _store(market, trades)
    doc = client.get(SPEC_URL).get_json()
    defaults = {"5m": "1m", "15m": "1m", "30m": "1m", "1h": "1m", "2h": "1m", "4h": "5m", "1d": "5m"}
    for window, interval in CASES:
        query = f"window={window}" + (f"&interval={interval}" if interval else "")
        resp = client.get(URL.format("FPT") + "?" + query)
        _fits(doc, PATH, "get", resp)
        body = resp.get_json()
        chosen = interval or defaults[window]
        bars, totals = _expected(trades, "FPT", DAY, WINDOWS[window], INTERVALS[chosen])
        assert (body["symbol"], body["date"], body["window"], body["interval"]) == ("FPT", DAY.isoformat(), window,
                                                                                    chosen)
        assert (body["start"], body["end"], body["volume"], body["trades"]) == (
            totals["start"], totals["end"], totals["volume"], totals["trades"]), query
        assert body["vwap"] == pytest.approx(totals["vwap"], rel=1e-12)
        got = [{k: v for k, v in bar.items() if k != "time"} for bar in body["bars"]]
        assert len(got) == len(bars), query
        for mine, theirs in zip(got, bars, strict=True):
            assert mine == {**theirs, "vwap": pytest.approx(theirs["vwap"], rel=1e-12)}, query
    whole = _get(client, "FPT", "window=1d")
    assert whole["trades"] == 2_500 and whole["volume"] == fpt[-1]["total_volume"]
    assert whole["bars"][0]["time"].startswith(f"{DAY.isoformat()}T09:1") and whole["bars"][0]["time"].endswith("+07:00")


def test_the_window_holds_trades_after_its_start_up_to_and_including_the_days_latest(client, market) -> None:
    end = _ms(DAY, "11:00:00")
    _store(market, [
        _trade("FPT", end - 3_600_000, 100.0, 100, 100),  # exactly an hour before: out of the hour
        _trade("FPT", end - 3_599_999, 110.0, 200, 300),  # a millisecond later: in, in the 10:00 bar
        _trade("FPT", end - 60_001, 120.0, 300, 600),  # 10:58:59.999: the 10:58 bar
        _trade("FPT", end - 60_000, 130.0, 400, 1_000),  # 10:59:00.000: starts the 10:59 bar
        _trade("FPT", end, 140.0, 500, 1_500),  # the latest trade of the day: in, the 11:00 bar
        _trade("HPG", end, 10.0, 100, 100),
    ])
    hour = _get(client, "FPT", "window=1h")
    assert (hour["start"], hour["end"]) == ((end - 3_600_000) / 1000, end / 1000)
    assert [(b["time"][11:19], b["open"], b["volume"]) for b in hour["bars"]] == [
        ("10:00:00", 110.0, 200), ("10:58:00", 120.0, 300), ("10:59:00", 130.0, 400), ("11:00:00", 140.0, 500)]
    assert hour["vwap"] == pytest.approx((110 * 200 + 120 * 300 + 130 * 400 + 140 * 500) / 1_400, rel=1e-12)
    minute = _get(client, "FPT", "window=5m")
    assert [b["close"] for b in minute["bars"]] == [120.0, 130.0, 140.0] and minute["trades"] == 3
    assert _get(client, "FPT", "window=1d")["trades"] == 5


def test_same_millisecond_trades_open_and_close_in_the_order_of_the_running_volume(client, market) -> None:
    at = _ms(DAY, "10:30:00")
    _store(market, [_trade("FPT", at, 105.0, 100, 300), _trade("FPT", at, 101.0, 100, 100),
                    _trade("FPT", at, 103.0, 100, 200)])
    [bar] = _get(client, "FPT", "window=5m")["bars"]
    assert (bar["open"], bar["close"], bar["high"], bar["low"], bar["vwap"]) == (101.0, 105.0, 105.0, 101.0, 103.0)


def test_a_symbol_quiet_in_the_window_answers_an_empty_window(client, market) -> None:
    _store(market, [_trade("FPT", _ms(DAY, "09:20:00"), 100.0, 100, 100),
                    _trade("HPG", _ms(DAY, "14:00:00"), 10.0, 100, 100)])
    body = _get(client, "FPT", "window=1h")
    assert body["bars"] == [] and (body["volume"], body["trades"], body["vwap"]) == (0, 0, None)
    assert body["end"] == _ms(DAY, "14:00:00") / 1000 and body["date"] == DAY.isoformat()
    assert _get(client, "FPT", "window=1d")["trades"] == 1
    assert _get(client, "VNM", "window=1d")["bars"] == []  # on the board, never traded


def test_the_market_clock_picks_the_day_and_without_trades_ends_the_window(client, market) -> None:
    _store(market, _session("FPT", EARLIER, 4, 50) + _session("FPT", DAY, 5, 50))
    assert _get(client, "FPT", "window=1d")["date"] == DAY.isoformat()  # no clock: the newest day stored
    market.note_message(vn_epoch(EARLIER) + 10 * 3600)  # a replay of the day before
    replay = _get(client, "FPT", "window=1d")
    assert replay["date"] == EARLIER.isoformat() and replay["trades"] == 50
    today = datetime.now(UTC).date() + timedelta(days=1)
    clock = vn_epoch(today) + 9 * 3600 + 5 * 60
    market.note_message(clock)  # a day that has not traded yet
    quiet = _get(client, "FPT", "window=15m")
    assert quiet["date"] == today.isoformat() and quiet["bars"] == []
    assert (quiet["start"], quiet["end"]) == (clock - 900, clock)


def test_nothing_stored_at_all_is_an_empty_answer_without_a_day(client, market) -> None:
    body = _get(client, "FPT")
    assert (body["date"], body["start"], body["end"], body["bars"], body["window"], body["interval"]) == (
        None, None, None, [], "1h", "1m")


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("window=1y", "window"),
        ("window=1H", "window"),
        ("window=%201h", "window"),
        ("window=-1h", "window"),
        ("window=3600", "window"),
        ("window=" + "1" * 5_000, "window"),
        ("window=1h&window=2h", "window"),
        ("window=1h%00", "window"),
        ("interval=2m", "interval"),
        ("interval=1m;DROP%20TABLE%20market_trades", "interval"),
        ("window=30m&interval=1h", "interval"),
        ("window=5m&interval=15m", "interval"),
        ("interval=1m&interval=5m", "interval"),
        ("interval=" + "m" * 4_001, "interval"),
        ("windows=1h", "windows"),
        ("date=2024-01-01", "date"),
        ("%3Cscript%3E=1", "script"),
    ],
)
def test_hostile_queries_are_a_400_naming_the_parameter_and_change_nothing(client, market, query, name) -> None:
    _store(market, _session("FPT", DAY, 6, 20))
    before, version = _count(market), market.board.version
    resp = client.get(URL.format("FPT") + "?" + query)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    message = resp.get_json()["error"]
    assert name in message and "<" not in message and "SELECT" not in message and len(message) < 300
    assert (_count(market), market.board.version) == (before, version)


@pytest.mark.parametrize(("symbol", "status"), [("fpt", 400), ("%3Cx%3E", 400), ("A" * 30, 400), ("FP", 400),
                                                 ("ZZZZ", 404), ("FPT%27--", 400)])
def test_a_malformed_symbol_is_a_400_and_one_off_the_board_a_404(client, market, symbol, status) -> None:
    resp = client.get(URL.format(symbol))
    assert resp.status_code == status and set(resp.get_json()) == {"error"}
    assert resp.get_json()["error"].startswith("symbol")


def test_without_the_market_or_its_store_the_answer_is_a_503(app, market) -> None:
    market.store = None
    resp = app.test_client().get(URL.format("FPT"))
    assert resp.status_code == 503 and "history" in resp.get_json()["error"]
    del app.extensions[EXTENSION_KEY]
    resp = app.test_client().get(URL.format("FPT"))
    assert resp.status_code == 503 and "not running" in resp.get_json()["error"]


def test_the_document_lists_the_endpoint_with_its_parameters(client) -> None:
    operation = client.get(SPEC_URL).get_json()["paths"][PATH]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) == {"symbol", "window", "interval"}
    assert params["window"]["schema"]["enum"] == list(WINDOWS) and params["window"]["schema"]["default"] == "1h"
    assert params["interval"]["schema"]["enum"] == list(INTERVALS)
    assert {"200", "400", "404", "503"} <= set(operation["responses"])
