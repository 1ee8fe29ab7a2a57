"""What a board screen receives: transactions for its watchlist, breadth, movers, tones."""

from __future__ import annotations

import random
from datetime import date

import pandas as pd
import pytest

from backend.market.board import BoardSnapshot, BoardState
from backend.market.board_view import (
    MAX_PINS,
    MAX_SCREEN_SYMBOLS,
    board_symbols,
    breadth,
    clean_symbols,
    client_update,
    front_month,
    index_strip,
    parse_pins,
    parse_symbol,
    price_tone,
    screen_tick,
    top_movers,
)
from backend.market.market_view import basis_view, foreign_leaders, index_view, rule_price

SYMBOLS = [f"S{i:02d}" for i in range(40)]


def test_a_screen_replaying_its_transactions_always_matches_the_board() -> None:
    rng = random.Random(3)
    board = BoardState()
    watch = set(rng.sample(SYMBOLS, 15))
    held: dict[str, dict] = {}
    since, known = None, None
    for _ in range(200):
        rows = [{"symbol": s, "last": rng.randrange(100)} for s in rng.sample(SYMBOLS, rng.randint(0, 8))]
        complete = rng.random() < 0.1
        if complete:
            rows = [{"symbol": s, "last": rng.randrange(100)} for s in rng.sample(SYMBOLS, 30)]
        board.publish(rows, complete=complete)
        up = client_update(board, since, known, watch)
        if up.full:
            held = {r["symbol"]: r for r in up.rows}
        else:
            assert not ({r["symbol"] for r in up.add} & set(held))  # adds are new rows only
            assert {r["symbol"] for r in up.update} <= set(held)  # updates touch rows the screen has
            for symbol in up.remove:
                del held[symbol]
            held.update({r["symbol"]: r for r in up.add + up.update})
        since, known = up.version, up.known
        assert sorted(held) == up.known
        assert held == {r["symbol"]: r for r in board.rows() if r["symbol"] in watch}


def test_a_screen_without_known_rows_gets_the_full_board_even_with_a_version() -> None:
    board = BoardState()
    board.publish([{"symbol": "A", "last": 1}])
    up = client_update(board, board.version, None, None)
    assert up.full and [r["symbol"] for r in up.rows] == ["A"]


@pytest.mark.parametrize(
    ("price", "expected"),
    [(107, "ceiling"), (108, "ceiling"), (93, "floor"), (101, "up"), (99, "down"), (100, "ref"), (None, None), (0, None)],
)
def test_price_tone_follows_vn_conventions(price, expected) -> None:
    assert price_tone(price, 100, 107, 93) == expected


def test_breadth_and_movers_match_pandas() -> None:
    rng = random.Random(9)
    rows = []
    for s in SYMBOLS:
        ref = 10_000
        last = rng.choice([None, 9_300, 9_500, 10_000, 10_400, 10_700])
        rows.append({"symbol": s, "ref": ref, "ceiling": 10_700, "floor": 9_300, "last": last,
                     "change_pct": None if last is None else (last - ref) / ref * 100, "total_val": rng.random()})
    frame = pd.DataFrame(rows).dropna(subset=["last"])
    counts = breadth(rows)
    assert counts == {
        "ceiling": int((frame["last"] >= 10_700).sum()), "floor": int((frame["last"] <= 9_300).sum()),
        "up": int(((frame["last"] > 10_000) & (frame["last"] < 10_700)).sum()),
        "down": int(((frame["last"] < 10_000) & (frame["last"] > 9_300)).sum()),
        "ref": int((frame["last"] == 10_000).sum()),
    }
    movers = top_movers(rows, 4)
    want = frame[frame["change_pct"] > 0].sort_values(["change_pct", "symbol"], ascending=[False, True])
    assert [m["symbol"] for m in movers["gainers"]] == want["symbol"].head(4).tolist()
    want = frame[frame["change_pct"] < 0].sort_values(["change_pct", "symbol"])
    assert [m["symbol"] for m in movers["losers"]] == want["symbol"].head(4).tolist()
    want = frame.sort_values("total_val", ascending=False)
    assert [m["symbol"] for m in movers["active"]] == want["symbol"].head(4).tolist()


def test_market_views_from_a_core_summary() -> None:
    summary = {
        "indices": {"VN30": {"value": 1302.0, "prior": 1300.0, "change": 2.0, "change_pct": 0.15, "advances": 12,
                             "declines": 10, "unchanged": 8, "ceilings": 0, "floors": 0,
                             "series": [[60.0, 1301.0], [120.0, 1302.0], [180.0, 1303.0]]}},
        "basis": {"active": "VN30F2412", "basis": -2.5, "basis_pct": -0.19, "stance": "discount",
                  "series": [[60.0, -1.0], [180.0, -2.5], [240.0, -3.0]]},
    }
    vn30 = index_view(summary, "VN30")
    assert vn30["values"] == [1301.0, 1302.0, 1303.0] and vn30["breadth"]["advances"] == 12
    assert index_view(summary, "VNINDEX") is None
    basis = basis_view(summary)
    # Only minutes where both the index and the basis exist; futures = index + basis.
    assert basis["times"] == [60.0, 180.0]
    assert basis["futures"] == [1300.0, 1300.5]
    leaders = foreign_leaders([
        {"symbol": "A", "f_net_val": 5.0}, {"symbol": "B", "f_net_val": -7.0}, {"symbol": "C", "f_net_val": 9.0},
        {"symbol": "D", "f_net_val": None}, {"symbol": "E", "f_net_val": -1.0},
    ], n=2)
    assert [f["symbol"] for f in leaders["buyers"]] == ["C", "A"]
    assert [f["symbol"] for f in leaders["sellers"]] == ["B", "E"]
    assert rule_price("FPT", 131.5) == 131_500
    assert rule_price("VN30F2412", 1301.2) == 1301.2


def test_a_screen_whose_list_changes_gets_the_new_rows_and_loses_the_old() -> None:
    """The default board's futures contract rolls over: the new row arrives even if it did not change."""
    board = BoardState()
    board.publish([{"symbol": s, "last": 1} for s in ("ACB", "FPT", "VN30F2612", "VN30F2701")])
    first = client_update(board, None, None, ["ACB", "FPT", "VN30F2612"])
    assert first.full and first.known == ["ACB", "FPT", "VN30F2612"]
    up = client_update(board, first.version, first.known, ["ACB", "FPT", "VN30F2701"])
    assert not up.full
    assert [r["symbol"] for r in up.add] == ["VN30F2701"] and up.remove == ["VN30F2612"] and up.update == []
    assert up.known == ["ACB", "FPT", "VN30F2701"]


def test_movers_and_grid_rows_come_from_one_snapshot() -> None:
    board = BoardState()
    board.publish([{"symbol": "A", "last": 10, "change_pct": 1.0}, {"symbol": "B", "last": 10, "change_pct": -1.0}])
    snap = board.snapshot()
    board.publish([{"symbol": "A", "last": 9, "change_pct": -2.0}])  # the board moves on meanwhile
    up = client_update(snap, None, None, ["A", "B"])
    movers = top_movers(snap.ordered_rows(["A", "B"]))
    assert up.version == snap.version < board.version
    assert [m["symbol"] for m in movers["gainers"]] == ["A"]
    assert {r["symbol"]: r["change_pct"] for r in up.rows} == {"A": 1.0, "B": -1.0}


def test_a_screen_is_as_of_the_latest_change_to_its_own_rows() -> None:
    board = BoardState()
    board.publish([{"symbol": "A", "last": 10, "ts": 1_000.0}, {"symbol": "B", "last": 10, "ts": 1_500.0},
                   {"symbol": "C", "last": 10, "ts": 9_000.0}, {"symbol": "D", "last": 10, "ts": None}])
    tick = screen_tick(board.snapshot(), {}, ["A", "B", "D"], with_futures=False)
    assert tick.as_of == 1_500.0  # C is on the board, not on this screen
    again = screen_tick(board.snapshot(), {}, ["A", "B", "D"], with_futures=False, since=tick.update.version,
                        known=tick.update.known)
    assert again.update.empty and again.as_of is None  # nothing new: the screen keeps its label
    assert screen_tick(board.snapshot(), {}, ["D"], with_futures=False).as_of is None


def _snapshot(rows: list[dict]) -> BoardSnapshot:
    board = BoardState()
    board.publish(rows)
    return board.snapshot()


def test_the_front_month_is_the_nearest_contract_on_the_board() -> None:
    day = date(2026, 12, 2)  # December contract expires on the 17th
    both = _snapshot([{"symbol": "VN30F2612", "kind": "future"}, {"symbol": "VN30F2701", "kind": "future"}])
    assert front_month(both, {"basis": {"active": "VN30F2701"}}, day) == "VN30F2612"
    # After expiry the January contract is the front month.
    assert front_month(both, {}, date(2026, 12, 18)) == "VN30F2701"
    # The nearest contract has not traded yet: the feed's active contract, then any futures row.
    later = _snapshot([{"symbol": "VN30F2701", "kind": "future"}, {"symbol": "VN30F2703", "kind": "future"}])
    assert front_month(later, {"basis": {"active": "VN30F2703"}}, day) == "VN30F2703"
    assert front_month(later, {"basis": {"active": "<script>"}}, day) == "VN30F2701"
    assert front_month(_snapshot([{"symbol": "FPT", "kind": "stock"}]), {}, day) is None
    assert board_symbols(["FPT", "ACB", "FPT"], with_futures="VN30F2612") == ["FPT", "ACB", "VN30F2612"]
    assert board_symbols(["FPT"], with_futures=None) == ["FPT"]


def test_the_index_strip_reads_the_summary_and_the_futures_row() -> None:
    snap = _snapshot([{"symbol": "VN30F2612", "kind": "future", "last": 1294.1, "ref": 1298.0, "ceiling": 1388.8,
                       "floor": 1207.2, "change": -3.9, "change_pct": -0.3}])
    summary = {"indices": {"VN30": {"value": 1294.36, "change": -5.64, "change_pct": -0.43},
                           "VNINDEX": {"value": 1250.0, "change": 0.0, "change_pct": 0.0}},
               "basis": {"active": "VN30F2612", "basis": -0.26}}
    strip = index_strip(summary, snap, "VN30F2612")
    assert [(i["id"], i["value"], i["change"], i["tone"]) for i in strip] == [
        ("VNINDEX", 1250.0, 0.0, "ref"), ("VN30", 1294.36, -5.64, "down"), ("VN30F2612", 1294.1, -3.9, "down")]
    assert strip[2]["basis"] == -0.26 and strip[2]["kind"] == "future"
    # Before the feed has sent anything: empty values, no futures item, no error.
    empty = index_strip({}, _snapshot([]), None)
    assert [(i["id"], i["value"], i["tone"]) for i in empty] == [("VNINDEX", None, None), ("VN30", None, None)]
    # The basis belongs to another contract: not shown against this one.
    assert index_strip({**summary, "basis": {"active": "VN30F2701", "basis": 2.0}}, snap, "VN30F2612")[2]["basis"] is None


ON_BOARD = {"FPT", "HPG", "VN30F2612"}


@pytest.mark.parametrize(
    ("raw", "pins", "notes"),
    [
        (None, [], 0), ("", [], 0), ("FPT,HPG", ["FPT", "HPG"], 0), (" fpt , hpg ,, FPT", ["FPT", "HPG"], 0),
        ("vn30f2612", ["VN30F2612"], 0), ("FPT,XYZ", ["FPT"], 1), ("<script>alert(1)</script>", [], 1),
        ("FPT,' OR 1=1 --", ["FPT"], 1), (["FPT", "HPG"], [], 1), ("A" * 5000, [], 1), ("FPT," + "Z" * 30, ["FPT"], 1),
        ("\u0000,FPT", ["FPT"], 1),
    ],
)
def test_pins_from_the_url_keep_valid_symbols_and_explain_the_rest(raw, pins, notes) -> None:
    got, messages = parse_pins(raw, ON_BOARD)
    assert got == pins
    assert len(messages) == notes
    assert all(len(m) < 120 for m in messages)


def test_too_many_pins_keep_the_first_thirty() -> None:
    board = {f"S{i:02d}" for i in range(40)}
    pins, notes = parse_pins(",".join(sorted(board)), board)
    assert pins == sorted(board)[:MAX_PINS] and len(notes) == 1


@pytest.mark.parametrize(
    ("raw", "symbol", "notes"),
    [(None, None, 0), ("fpt", "FPT", 0), ("VN30F2612", "VN30F2612", 0), ("XYZ", None, 1), ("<b>", None, 1),
     (["FPT", "HPG"], None, 1), ("F" * 3000, None, 1), ("FPT HPG", None, 1)],
)
def test_the_detail_symbol_from_the_url(raw, symbol, notes) -> None:
    got, messages = parse_symbol(raw, ON_BOARD)
    assert got == symbol and len(messages) == notes


@pytest.mark.parametrize(
    ("raw", "clean"),
    [(None, []), ("FPT", []), ({"FPT": 1}, []), (["FPT", 5, None, {"a": 1}, ["HPG"], "<b>", "hpg", "VN30F2612"],
                                                ["FPT", "VN30F2612"]), (("ACB",), ["ACB"])],
)
def test_symbols_sent_back_by_a_screen_are_cleaned(raw, clean) -> None:
    assert clean_symbols(raw) == clean


def test_a_screen_can_send_back_no_more_than_a_list_and_its_futures() -> None:
    many = [f"S{i:04d}" for i in range(5_000)]
    assert clean_symbols(many) == many[:MAX_SCREEN_SYMBOLS]
