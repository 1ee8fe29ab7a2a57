"""Both spellings, numbers as strings, and bad input: counted and dropped, nothing corrupted."""

from __future__ import annotations

import json
import random

import pytest

from backend.market.core import MarketCore
from backend.market.events import ForeignFlow, IndexUpdate, Side, Trade
from backend.market.normalize import MAX_MESSAGE_CHARS, MessageError, Normalizer

BASE = {"TradingDate": "04/03/2024", "Time": "10:00:00"}


def wrap(channel: str, **content: object) -> str:
    return json.dumps({"DataType": channel, "Content": json.dumps(BASE | content)})


def test_both_spellings_and_string_numbers_give_the_same_event() -> None:
    n = Normalizer()
    a = n.parse(wrap("R", Symbol="SSI", FBuyVol=1000, FSellVol=500, FBuyVal=2.7e7, FSellVal=1.35e7, TotalRoom=10, CurrentRoom=4))
    b = n.parse(wrap("R", symbol="ssi", BuyVol="1,000", SellVol="500", BuyVal="27000000", SellVal=1.35e7, totalRoom=10.0, currentRoom="4"))
    assert isinstance(a, ForeignFlow) and a == b
    i1 = n.parse(wrap("MI", IndexID="VN30", IndexValue=1300.5, PriorIndexValue=1290))
    i2 = n.parse(json.dumps({"dataType": "MI", "content": json.dumps(BASE | {"IndexId": "VN30", "indexValue": "1300.5", "PriorIndexValue": "1290"})}))
    assert isinstance(i1, IndexUpdate) and i1 == i2


@pytest.mark.parametrize("rtype", ["X-TRADE", "Trade", "trade"])
def test_channel_names_in_both_forms_without_envelope(rtype: str) -> None:
    event = Normalizer().parse({"RType": rtype, **BASE, "Symbol": "ACB", "LastPrice": 24500, "LastVol": 100, "TotalVol": 100, "Side": "BU"})
    assert isinstance(event, Trade) and event.side is Side.BUY and event.price == 24500


def test_time_is_read_on_the_vn_clock() -> None:
    event = Normalizer().parse(wrap("X-TRADE", Symbol="ACB", LastPrice=1, LastVol=100, TotalVol=100))
    assert event.ts == 1709521200.0  # 2024-03-04 10:00 UTC+7 == 03:00 UTC
    # HHMMSS, as the provider's field table for channel F writes it, and a fraction after HH:MM:SS.
    for time in ("100000", "10:00:00.250"):
        event = Normalizer().parse(wrap("F", Symbol="ACB", Time=time))
        assert event.ts == 1709521200.0


BAD = [
    ("not json", "malformed"),
    ("[1, 2]", "malformed"),
    ('{"DataType": "X-TRADE", "Content": "{not json"}', "malformed"),
    ('{"DataType": "X-TRADE"}', "missing_field"),
    ('{"DataType": "ZZZ", "Content": "{}"}', "unknown_channel"),
    ('{"Content": "{}"}', "unknown_channel"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice="abc", LastVol=100, TotalVol=100), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=-5, LastVol=100, TotalVol=100), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=5, LastVol=100.5, TotalVol=100), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastVol=100, TotalVol=100), "missing_field"),
    (wrap("X-TRADE", Symbol="'; DROP TABLE--", LastPrice=5, LastVol=100, TotalVol=100), "bad_value"),
    (wrap("X-TRADE", Symbol=["ACB"], LastPrice=5, LastVol=100, TotalVol=100), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=5, LastVol=100, TotalVol=100, Time="25:00:00"), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=5, LastVol=100, TotalVol=100, TradingDate="31/02/2024"), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=5, LastVol=100, TotalVol={"a": 1}), "bad_value"),
    (wrap("MI", IndexId="VN30", IndexValue="NaN"), "missing_field"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=5, LastVol=100, TotalVol=100, Time="1a:00:00"), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=5, LastVol=100, TotalVol=100, Time="+1:00:00"), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=5, LastVol=100, TotalVol=100, Time=100000), "bad_value"),
    (wrap("X-TRADE", Symbol="ACB", LastPrice=5, LastVol=100, TotalVol=2**70), "bad_value"),
    (wrap("B", Symbol="X26", Open=0, High=1, Low=1, Close=1), "missing_field"),
    (wrap("R", Symbol="SSI", FBuyVol=100, FSellVol=0, FBuyVal="NaN"), "missing_field"),
    ('{"DataType": "OL", "Content": "{}"}', "odd_lot"),
    ('{"DataType": "X-TRADE", "Content": "' + "[" * 5000 + '"}', "malformed"),
    ('{"DataType": "X-TRADE", "Content": "[1]"}', "malformed"),
    ('{"DataType": 7, "Content": "{}"}', "unknown_channel"),
    ('{"DataType": "X", "Content": "' + "x" * (MAX_MESSAGE_CHARS + 1) + '"}', "oversized"),
    ("x" * (MAX_MESSAGE_CHARS + 1), "oversized"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD)
def test_bad_messages_raise_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(MessageError) as info:
        Normalizer().parse(raw)
    assert info.value.reason == reason


def test_core_counts_bad_messages_and_keeps_its_state(session_messages: list[str]) -> None:
    clean = MarketCore()
    clean.process_many(session_messages[:800])
    core = MarketCore()
    rng = random.Random(1)
    mixed: list[object] = []
    for message in session_messages[:800]:
        mixed.append(message)
        if rng.random() < 0.3:
            raw, _ = rng.choice(BAD)
            mixed.append(raw)
    mixed += [None, 42, b"\xff\xfe", bytes(rng.randrange(256) for _ in range(300)), {"DataType": 5}]
    mixed += [message[: rng.randrange(len(message))] for message in session_messages[:50]]  # truncated frames
    for raw in mixed:
        core.process(raw)  # type: ignore[arg-type]
    assert core.counters["received"] == len(mixed)
    assert core.counters["dropped"] == len(mixed) - 800 == sum(core.dropped.values())
    strip = lambda c: {s: {k: v for k, v in r.items() if k != "v"} for s, r in c.rows.items()}
    assert strip(core) == strip(clean)
