"""SSI's published message examples (tests/fixtures/market/ssi) through the normaliser and the core.

Expected values are read from the fixture's own Content with plain ``json``, field by field
under the name that fixture uses, never from the normaliser.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from backend.market.core import MarketCore
from backend.market.events import Bar, ForeignFlow, IndexUpdate, Quote, SecurityStatus, Side, Snapshot, Trade
from backend.market.normalize import MessageError, Normalizer
from tests.fixtures.market.ssi import NAMES, content, fixture, wire

PARSED = {
    "f_status_hose": SecurityStatus,
    "x_quote_hose_10_levels": Quote,
    "x_trade_hose": Trade,
    "x_snapshot_hnx_10_levels": Snapshot,
    "x_snapshot_derivatives_nan": Snapshot,
    "r_foreign_room": ForeignFlow,
    "mi_index_vn30": IndexUpdate,
    "mi_index_field_table_spelling": IndexUpdate,
    "b_bar": Bar,
}


def test_every_fixture_says_where_it_comes_from() -> None:
    assert set(NAMES) == {*PARSED, "ol_odd_lot"}
    for name in NAMES:
        f = fixture(name)
        assert f["source"] and f["changes"] and isinstance(f["message"], dict)


@pytest.mark.parametrize("name", sorted(PARSED))
@pytest.mark.parametrize("content_as_string", [True, False])
def test_every_shape_parses_with_content_as_string_or_object(name: str, content_as_string: bool) -> None:
    event = Normalizer().parse(wire(name, content_as_string=content_as_string))
    assert type(event) is PARSED[name]


def levels(c: dict[str, Any], side: str, kind: str) -> tuple[float, ...]:
    return tuple(float(c[f"{side}{kind}{i}"]) for i in (1, 2, 3))


@pytest.mark.parametrize("name", ["x_quote_hose_10_levels", "x_snapshot_hnx_10_levels"])
def test_ten_level_books_keep_the_best_three_levels(name: str) -> None:
    c = content(name)
    event = Normalizer().parse(wire(name))
    quote = event.quote if isinstance(event, Snapshot) else event
    assert isinstance(quote, Quote) and quote.symbol == c["Symbol"]
    assert quote.bid_prices == levels(c, "Bid", "Price") and quote.ask_prices == levels(c, "Ask", "Price")
    assert quote.bid_vols == tuple(int(v) for v in levels(c, "Bid", "Vol"))
    assert quote.ask_vols == tuple(int(v) for v in levels(c, "Ask", "Vol"))


def test_trade_and_snapshot_fields() -> None:
    c = content("x_trade_hose")
    trade = Normalizer().parse(wire("x_trade_hose"))
    assert isinstance(trade, Trade)
    assert (trade.price, trade.volume, trade.total_volume, trade.total_value) == (
        c["LastPrice"], int(c["LastVol"]), int(c["TotalVol"]), c["TotalVal"]
    )
    assert (trade.ref, trade.ceiling, trade.floor, trade.high, trade.low) == (
        c["RefPrice"], c["Ceiling"], c["Floor"], c["Highest"], c["Lowest"]
    )
    assert trade.side is Side.SELL and c["Side"] == "SD"
    c = content("x_snapshot_hnx_10_levels")
    snap = Normalizer().parse(wire("x_snapshot_hnx_10_levels"))
    assert isinstance(snap, Snapshot) and snap.trade is not None
    assert (snap.trade.high, snap.trade.low, snap.trade.total_volume) == (c["High"], c["Low"], int(c["TotalVol"]))


def test_nan_string_and_nulls_are_no_value_never_a_price() -> None:
    c = content("x_snapshot_derivatives_nan")
    assert c["AvgPrice"] == "NaN" and c["Side"] is None and c["LastPrice"] == 0.0
    snap = Normalizer().parse(wire("x_snapshot_derivatives_nan"))
    assert isinstance(snap, Snapshot)
    assert snap.trade is None  # LastPrice 0.0 before the open: no trade, not a trade at 0
    assert snap.quote.symbol == "41I1G4000" and snap.quote.session == c["TradingSession"]
    assert snap.quote.bid_prices == (0.0, 0.0, 0.0)  # empty levels, as the Quote event defines them
    # The same "no value" forms in the fields the board shows as prices.
    base = content("x_trade_hose")
    for missing in ("NaN", None, "", " nan "):
        trade = Normalizer().parse({"DataType": "X-TRADE", "Content": json.dumps(base | {
            "RefPrice": missing, "Ceiling": missing, "Floor": missing, "Highest": missing, "Lowest": 0.0,
        })})  # fmt: skip
        assert isinstance(trade, Trade)
        assert (trade.ref, trade.ceiling, trade.floor, trade.high, trade.low) == (None, None, None, None, None)
        with pytest.raises(MessageError) as info:
            Normalizer().parse({"DataType": "X-TRADE", "Content": json.dumps(base | {"LastPrice": missing})})
        assert info.value.reason == "missing_field"
    quote = Normalizer().parse({"DataType": "X-QUOTE", "Content": json.dumps(content("x_quote_hose_10_levels") | {
        "BidPrice1": "NaN", "BidVol1": None, "AskPrice2": None,
    })})  # fmt: skip
    assert isinstance(quote, Quote) and quote.bid_prices[0] == 0.0 and quote.bid_vols[0] == 0
    assert quote.ask_prices[1] == 0.0 and quote.ask_prices[0] == 22950.0


def test_index_breadth_in_both_spellings() -> None:
    sample, table = content("mi_index_vn30"), content("mi_index_field_table_spelling")
    assert {"NoChanges", "Ceilings", "Floors", "IndexId"} <= sample.keys()
    assert {"Nochanges", "Ceiling", "Floor", "IndexID"} <= table.keys()
    a = Normalizer().parse(wire("mi_index_vn30"))
    b = Normalizer().parse(wire("mi_index_field_table_spelling"))
    assert isinstance(a, IndexUpdate) and isinstance(b, IndexUpdate)
    assert (a.advances, a.declines, a.unchanged, a.ceilings, a.floors) == (
        sample["Advances"], sample["Declines"], sample["NoChanges"], sample["Ceilings"], sample["Floors"]
    )
    assert (a.value, a.prior_value, a.total_volume, a.total_value) == (
        sample["IndexValue"], sample["PriorIndexValue"], sample["AllQty"], sample["AllValue"]
    )
    assert a.session == "" and b.session == "LO"  # TradingSession null in the sample
    b.session = ""
    assert a == b
    # Non-zero counts, so a swap of the two spellings cannot hide behind zeros.
    counts = {"Nochanges": 4, "Ceiling": 5, "Floor": 6}
    c = Normalizer().parse({"DataType": "MI", "Content": json.dumps(table | counts)})
    assert isinstance(c, IndexUpdate) and (c.unchanged, c.ceilings, c.floors) == (4, 5, 6)


def test_foreign_room_in_the_sample_spelling() -> None:
    c = content("r_foreign_room")
    flow = Normalizer().parse(wire("r_foreign_room"))
    assert isinstance(flow, ForeignFlow)
    assert (flow.buy_vol, flow.sell_vol, flow.buy_val, flow.sell_val) == (
        int(c["BuyVol"]), int(c["SellVol"]), c["BuyVal"], c["SellVal"]
    )
    assert (flow.total_room, flow.current_room) == (int(c["TotalRoom"]), int(c["CurrentRoom"]))
    # A missing value beside a traded volume is refused: it would turn into a whole day's value later.
    with pytest.raises(MessageError, match="missing_field"):
        Normalizer().parse({"DataType": "R", "Content": json.dumps(c | {"BuyVal": "NaN"})})
    quiet = Normalizer().parse({"DataType": "R", "Content": json.dumps(c | {"BuyVol": 0, "BuyVal": None})})
    assert isinstance(quiet, ForeignFlow) and quiet.buy_val == 0.0


def test_bar_reads_trading_time_and_the_datatype_spelling() -> None:
    c = content("b_bar")
    n = Normalizer()
    trade = n.parse(wire("x_trade_hose"))  # 14:07:53; a bar carries no date: it takes the day of the messages before it
    bar = n.parse(wire("b_bar"))
    assert isinstance(bar, Bar) and bar.symbol == c["Symbol"]
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (c["Open"], c["High"], c["Low"], c["Close"], c["Volume"])
    assert c["TradingTime"] == "14:28:33" and (bar.day, bar.ts) == (trade.day, trade.ts + (28 * 60 + 33) - (7 * 60 + 53))
    with pytest.raises(MessageError, match="missing_field"):
        n.parse({"Datatype": "B", "Content": json.dumps(c | {"Open": 0})})


def test_status_message() -> None:
    c = content("f_status_hose")
    status = Normalizer().parse(wire("f_status_hose"))
    assert isinstance(status, SecurityStatus)
    assert (status.symbol, status.session, status.status, status.exchange) == (
        c["Symbol"], c["TradingSession"], c["TradingStatus"], c["Exchange"]
    )
    assert (status.ref, status.ceiling, status.floor) == (None, None, None)  # F carries no prices


def test_odd_lot_messages_are_recognised_and_kept_off_the_board() -> None:
    with pytest.raises(MessageError) as info:
        Normalizer().parse(wire("ol_odd_lot"))
    assert info.value.reason == "odd_lot"
    core = MarketCore()
    core.process(wire("x_trade_hose"))
    before = {s: dict(r) for s, r in core.rows.items()}
    odd = content("ol_odd_lot") | {"Symbol": "ACB", "TradingDate": "14/08/2023", "LastPrice": 22000, "TotalVol": 9_999_999}
    assert core.process({"DataType": "OL", "Content": json.dumps(odd)}) is False
    assert core.process({"RType": "OL", **odd}) is False
    assert core.dropped == {"odd_lot": 2} and core.rows == before


def test_one_day_of_ssi_messages_through_the_core() -> None:
    core = MarketCore()
    for name in ("f_status_hose", "x_quote_hose_10_levels", "x_trade_hose", "r_foreign_room"):
        assert core.process(wire(name)), name
    acb, ssi = core.rows["ACB"], core.rows["SSI"]
    q, t, r = content("x_quote_hose_10_levels"), content("x_trade_hose"), content("r_foreign_room")
    assert (acb["bid1"], acb["ask1"], acb["bid3_vol"]) == (q["BidPrice1"], q["AskPrice1"], q["BidVol3"])
    assert (acb["last"], acb["total_vol"], acb["ref"], acb["ceiling"]) == (
        t["LastPrice"], t["TotalVol"], t["RefPrice"], t["Ceiling"]
    )
    assert acb["change"] == t["LastPrice"] - t["RefPrice"]
    assert ssi["session"] == "LO" and ssi["f_buy_vol"] == r["BuyVol"] and ssi["f_net_val"] == r["BuyVal"] - r["SellVal"]
    assert core.counters["dropped"] == 0


def mutate(rng: random.Random, c: dict[str, Any]) -> dict[str, Any]:
    out = dict(c)
    for _ in range(rng.randint(1, 4)):
        key = rng.choice(list(out))
        action = rng.randrange(4)
        if action == 0:
            del out[key]
            if not out:
                break
        else:
            out[key] = rng.choice([
                None, "NaN", "", "abc", -1, 1e308, 2**70, [], {}, True, "9" * 400, "1,000", "\u0000", 0, "25:61:61",
            ])  # fmt: skip
    return out


def test_mutated_ssi_messages_raise_only_message_errors() -> None:
    rng = random.Random(20240304)
    n = Normalizer()
    outcomes: dict[str, int] = {}
    for _ in range(3000):
        name = rng.choice(NAMES)
        message = fixture(name)["message"]
        envelope = {k: v for k, v in message.items() if k.lower() != "content"}
        raw = json.dumps(envelope | {"Content": json.dumps(mutate(rng, content(name)))})
        if rng.random() < 0.2:
            raw = raw[: rng.randrange(len(raw))]
        try:
            event = n.parse(raw)
        except MessageError as exc:
            outcomes[exc.reason] = outcomes.get(exc.reason, 0) + 1
        else:
            outcomes["parsed"] = outcomes.get("parsed", 0) + 1
            assert type(event) in PARSED.values()
    assert outcomes["parsed"] > 500 and {"malformed", "bad_value", "missing_field", "odd_lot"} <= outcomes.keys()
