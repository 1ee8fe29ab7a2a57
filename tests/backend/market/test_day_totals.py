"""Day totals the feed leaves out: the board keeps a running value, and an index's zero is a zero."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from backend.market.core import MarketCore
from backend.market.events import IndexUpdate
from backend.market.normalize import Normalizer

BASE = {"TradingDate": "04/03/2024", "Exchange": "HOSE"}
MISSING = [None, "NaN", "nan", float("nan"), 0, 0.0, "", "absent"]


def _trade(symbol: str, second: int, price: float, volume: int, total: int, total_value: object) -> dict[str, object]:
    message: dict[str, object] = {
        "RType": "X-TRADE", **BASE, "Time": f"10:{second // 60:02d}:{second % 60:02d}", "Symbol": symbol,
        "LastPrice": price, "LastVol": volume, "TotalVol": total, "Side": "BU",
    }
    if total_value != "absent":
        message["TotalVal"] = total_value
    return message


@pytest.mark.parametrize(("symbol", "unit", "tick"), [("FPT", 1, 100), ("VN30F2403", 100_000, 0.1)])
def test_a_missing_day_value_keeps_the_previous_one_and_adds_the_trade(symbol: str, unit: int, tick: float) -> None:
    rng = random.Random(7)
    n = 400
    prices = [round(1_300 / tick + rng.randint(-50, 50)) * tick if unit > 1 else 130_000 + 100 * rng.randint(-50, 50)
              for _ in range(n)]
    volumes = [rng.randint(1, 50) * (1 if unit > 1 else 100) for _ in range(n)]
    frame = pd.DataFrame({"price": prices, "volume": volumes})
    frame["total"] = frame["volume"].cumsum()
    frame["value"] = (frame["price"] * frame["volume"] * unit).cumsum()  # the exchange's own day value
    sent = [rng.random() < 0.6 for _ in range(n)]
    sent[0] = rng.random() < 0.5  # the day's first match may come without a value too
    core = MarketCore()
    seen = []
    for i, row in frame.iterrows():
        value = float(row["value"]) if sent[i] else rng.choice(MISSING)
        assert core.process(_trade(symbol, i, float(row["price"]), int(row["volume"]), int(row["total"]), value))
        seen.append(core.rows[symbol]["total_val"])
    assert seen == pytest.approx(frame["value"].tolist(), rel=1e-12)


def test_before_any_value_a_session_joined_mid_day_shows_none_not_a_partial_sum() -> None:
    core = MarketCore()
    # Joining at 10:00: the day's volume is already 5,000, the first message has no value.
    assert core.process(_trade("FPT", 0, 130_000, 100, 5_000, None))
    assert core.rows["FPT"]["total_val"] is None
    assert core.process(_trade("FPT", 1, 130_100, 100, 5_100, None))
    assert core.rows["FPT"]["total_val"] is None
    assert core.process(_trade("FPT", 2, 130_000, 200, 5_300, 689_000_000.0))
    assert core.process(_trade("FPT", 3, 130_200, 100, 5_400, "NaN"))
    assert core.rows["FPT"]["total_val"] == 689_000_000.0 + 130_200 * 100


def test_a_repeated_trade_without_a_value_adds_nothing() -> None:
    core = MarketCore()
    core.process(_trade("FPT", 0, 130_000, 100, 100, 13_000_000.0))
    core.process(_trade("FPT", 1, 130_000, 100, 100, None))  # the same match again: dropped, value kept
    assert core.rows["FPT"]["total_val"] == 13_000_000.0


def _index(**content: object) -> str:
    body = {"IndexId": "VNINDEX", "IndexValue": 1250.0, "PriorIndexValue": 1245.0, **BASE, "Time": "09:00:05"}
    return json.dumps({"DataType": "MI", "Content": json.dumps(body | content)})


@pytest.mark.parametrize(("content", "expected"), [
    ({"AllValue": 0.0, "TotalValue": 5e9}, 0.0),  # nothing traded yet is a value, not a missing one
    ({"AllValue": 0, "TotalValue": 5e9}, 0.0),
    ({"AllValue": "0", "TotalValue": 5e9}, 0.0),
    ({"AllValue": 7e12, "TotalValue": 5e9}, 7e12),
    ({"TotalValue": 5e9}, 5e9),  # no AllValue at all: the other spelling
    ({"AllValue": None, "TotalValue": 5e9}, 5e9),
    ({"AllValue": "NaN", "TotalValue": 5e9}, 5e9),
    ({}, None),
])
def test_an_index_value_of_zero_stays_zero(content: dict[str, object], expected: float | None) -> None:
    event = Normalizer().parse(_index(**content))
    assert isinstance(event, IndexUpdate)
    assert event.total_value == expected and (expected is None or type(event.total_value) in (int, float))
