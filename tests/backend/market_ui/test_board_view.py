"""What a board screen receives: transactions for its watchlist, breadth, movers, tones."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from backend.market.board import BoardState
from backend.market.board_view import breadth, client_update, price_tone, top_movers
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
