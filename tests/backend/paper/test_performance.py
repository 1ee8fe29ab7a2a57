"""A portfolio's performance against a computation written here with pandas: deposits are not
returns (time-weighted), Sharpe on daily returns with 252 periods (ddof 1), the deepest drawdown
of the growth curve, the win rate over sell fills; snapshots kept by the matcher's clock."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from backend.paper.performance import performance

from .conftest import quote

DAYS = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 5), date(2026, 3, 6), date(2026, 3, 9)]


def test_performance_matches_pandas_with_a_deposit_that_is_not_a_return():
    # equity and net deposits at each day's last snapshot; 100,000,000 deposited on the 5th
    equity = [1_000_000_000, 1_020_000_000, 1_110_000_000, 1_080_000_000, 1_100_000_000]
    deposits = [1_000_000_000, 1_000_000_000, 1_100_000_000, 1_100_000_000, 1_100_000_000]
    earlier = [(DAYS[0], 990_000_000, 1_000_000_000)]  # an earlier snapshot the same day is not the day's point
    snaps = earlier + list(zip(DAYS, equity, deposits, strict=True))
    sells = [{"realized_pnl": 5_000, "gross": 105_000}, {"realized_pnl": -1, "gross": 99},
             {"realized_pnl": 0, "gross": 100}]
    got = performance(snaps, sells)
    frame = pd.DataFrame({"equity": equity, "deposits": deposits}, dtype="float64")
    r = (frame["equity"] - frame["deposits"].diff()) / frame["equity"].shift() - 1
    r = r.dropna()
    # by hand: 1.02, (1,110 − 100) / 1,020 = 0.990196…, 1,080 / 1,110, 1,100 / 1,080
    assert r.tolist() == pytest.approx([0.02, 1_010 / 1_020 - 1, 1_080 / 1_110 - 1, 1_100 / 1_080 - 1])
    growth = (1 + r).cumprod()
    assert got["return_pct"] == pytest.approx((growth.iloc[-1] - 1) * 100)
    assert got["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    curve = pd.concat([pd.Series([1.0]), growth], ignore_index=True)
    assert got["max_drawdown_pct"] == pytest.approx(((curve / curve.cummax()) - 1).min() * 100)
    assert got["win_rate_pct"] == pytest.approx(100 / 3) and got["trades"] == 3 and got["days"] == 5
    assert [p["day"] for p in got["curve"]] == [d.isoformat() for d in DAYS]


def test_one_day_has_no_return():
    got = performance([(DAYS[0], 1_000, 1_000)], [])
    assert (got["return_pct"], got["sharpe"], got["win_rate_pct"], got["days"]) == (None, None, None, 1)


def test_the_ledger_keeps_snapshots_and_reads_its_performance(sqlite_ledger):
    ledger = sqlite_ledger
    pid = ledger.create("ana", "main", 100_000_000)["id"]
    ledger.place(pid, "ana", {"symbol": "VCB", "side": "buy", "quantity": 100, "type": "market"}, quote())
    assert ledger.snapshot_all(lambda s: 90_100, DAYS[0]) == 1
    assert ledger.snapshot_all(lambda s: 95_000, DAYS[1]) == 1
    got = ledger.performance(pid, "ana", lambda s: 99_000, DAYS[2])
    # cash after the buy: 100,000,000 − 9,010,000 − 13,515; equity each day = cash + 100 × price
    cash = 100_000_000 - 9_010_000 - 13_515
    assert [p["equity"] for p in got["curve"]] == [cash + 9_010_000, cash + 9_500_000, cash + 9_900_000]
    assert got["return_pct"] == pytest.approx(((cash + 9_900_000) / (cash + 9_010_000) - 1) * 100)
    assert ledger.reset(pid, "ana") and ledger.performance(pid, "ana", lambda s: None, DAYS[2])["days"] == 1


def test_the_matcher_snapshots_every_sixty_seconds(sqlite_ledger):
    from backend.market.board import BoardState
    from backend.paper.matcher import Matcher

    ledger = sqlite_ledger
    ledger.create("ana", "main")
    now = [1_000_000.0]
    matcher = Matcher(ledger, BoardState(), clock=lambda: now[0])
    assert matcher.snapshot() == 1
    now[0] += 59
    assert matcher.snapshot() == 0
    now[0] += 1
    assert matcher.snapshot() == 1
