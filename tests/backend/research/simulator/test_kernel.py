"""The simulator's fill rules on a hand-worked 10-bar series, one case per rule, each number worked
out in the comments; a randomised check that equity is always cash plus the marked position, as
rebuilt from the trades; and hostile inputs refused with a message naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.research.simulator.engine import Bars, Simulator, signals_from_targets

OPEN = np.array([10, 10, 11, 12, 11, 10, 9, 10, 11, 12], dtype=float)
HIGH, LOW, CLOSE = OPEN + 0.5, OPEN - 0.5, OPEN + 0.2


def bars(open_: np.ndarray = OPEN, high: np.ndarray = HIGH, low: np.ndarray = LOW,
         close: np.ndarray = CLOSE) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=len(open_), freq="D", tz="UTC"),
                         "open": open_, "high": high, "low": low, "close": close})


def flags(*bars_on: int, n: int = 10) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(bars_on)] = True
    return out


def run(frame: pd.DataFrame | None = None, *, entries=(1,), exits=(5,), short_entries=None, short_exits=None,
        **rules):
    rules.setdefault("init_cash", 1000.0)
    kwargs = {"entries": flags(*entries), "exits": flags(*exits)}
    if short_entries is not None:
        kwargs["short_entries"] = flags(*short_entries)
    if short_exits is not None:
        kwargs["short_exits"] = flags(*short_exits)
    result = Simulator(**rules).run(bars() if frame is None else frame, **kwargs)
    return result.equity[:, 0], result.trades_frame(0)


def test_next_open_fills_whole_units_and_marks_at_the_close():
    equity, trades = run()
    # entry signal on bar 1 → bought at bar 2's open 11: floor(1000 / 11) = 90 units, cash 10
    # exit signal on bar 5 → sold at bar 6's open 9: cash 10 + 810 = 820
    assert equity == pytest.approx([1000, 1000, 10 + 90 * 11.2, 10 + 90 * 12.2, 10 + 90 * 11.2, 10 + 90 * 10.2,
                                    820, 820, 820, 820])
    (trade,) = trades.itertuples()
    assert (trade.direction, trade.entry_bar, trade.exit_bar, trade.size) == ("long", 2, 6, 90)
    assert (trade.entry_price, trade.exit_price, trade.pnl) == pytest.approx((11, 9, -180))
    assert trade.return_pct == pytest.approx(-180 / 990 * 100)
    assert trade.duration_bars == 4 and not trade.is_open
    # held through bars 2-5 (lows 10.5, 11.5, 10.5, 9.5; highs up to 12.5), sold at 9
    assert trade.mae_pct == pytest.approx((9 / 11 - 1) * 100)
    assert trade.mfe_pct == pytest.approx((12.5 / 11 - 1) * 100)


def test_fill_at_the_same_bars_close():
    equity, trades = run(fill="close")
    # bought at bar 1's close 10.2: floor(1000 / 10.2) = 98 units, cash 0.4; sold at bar 5's close 10.2
    assert equity[1] == pytest.approx(0.4 + 98 * 10.2)
    assert equity[3] == pytest.approx(0.4 + 98 * 12.2)
    assert equity[9] == pytest.approx(1000.0)
    (trade,) = trades.itertuples()
    assert (trade.entry_bar, trade.exit_bar, trade.entry_price, trade.exit_price) == (1, 5, 10.2, 10.2)


def test_fees_as_a_fraction_and_a_fixed_amount_per_order():
    equity, trades = run(fees=0.01, fixed_fee=2.0)
    # units = floor((1000 - 2) / (11 × 1.01)) = floor(89.83) = 89; entry fee 89 × 11 × 1% + 2 = 11.79
    # cash 1000 - 979 - 11.79 = 9.21; exit fee 89 × 9 × 1% + 2 = 10.01; cash 9.21 + 801 - 10.01 = 800.20
    assert equity[2] == pytest.approx(9.21 + 89 * 11.2)
    assert equity[-1] == pytest.approx(800.20)
    (trade,) = trades.itertuples()
    assert trade.size == 89
    assert trade.fees == pytest.approx(11.79 + 10.01)
    assert trade.pnl == pytest.approx(-199.80)


def test_slippage_moves_fills_against_the_trader():
    equity, trades = run(slippage_bps=100)
    # buy at 11 × 1.01 = 11.11: 90 units (999.90), cash 0.10; sell at 9 × 0.99 = 8.91: cash 0.10 + 801.90
    (trade,) = trades.itertuples()
    assert (trade.entry_price, trade.exit_price) == pytest.approx((11.11, 8.91))
    assert equity[-1] == pytest.approx(802.0)


def test_slippage_never_fills_outside_the_bar():
    equity, trades = run(slippage_bps=1000)
    # 11 × 1.1 = 12.1 is above bar 2's high 11.5: bought at 11.5, floor(1000 / 11.5) = 86, cash 11
    # 9 × 0.9 = 8.1 is below bar 6's low 8.5: sold at 8.5, cash 11 + 731
    (trade,) = trades.itertuples()
    assert (trade.entry_price, trade.exit_price, trade.size) == pytest.approx((11.5, 8.5, 86))
    assert equity[-1] == pytest.approx(742.0)


def test_stop_loss_inside_the_bar():
    equity, trades = run(stop_loss=0.10)
    # stop at 11 × 0.9 = 9.9: bar 5's low 9.5 reaches it (its open 10 does not): sold at 9.9 on bar 5
    (trade,) = trades.itertuples()
    assert (trade.exit_bar, trade.exit_price) == (5, pytest.approx(9.9))
    assert equity[5] == pytest.approx(10 + 90 * 9.9)
    assert equity[-1] == pytest.approx(901.0)  # the exit signal on bar 5 finds nothing to close


def test_a_gap_through_the_stop_fills_at_the_open():
    equity, trades = run(stop_loss=0.05)
    # stop at 10.45: bar 4's low 10.5 stays above; bar 5 opens at 10, below it: sold at the open
    (trade,) = trades.itertuples()
    assert (trade.exit_bar, trade.exit_price) == (5, 10.0)
    assert equity[-1] == pytest.approx(910.0)


def test_when_stop_and_target_are_both_touched_the_stop_wins():
    high, low = HIGH.copy(), LOW.copy()
    high[3], low[3] = 14.0, 9.0  # bar 3 ranges over both levels
    equity, trades = run(bars(high=high, low=low), stop_loss=0.15, take_profit=0.20)
    # stop 9.35, target 13.2: bar 2 touches neither; bar 3 (open 12) touches both → the stop, at 9.35
    (trade,) = trades.itertuples()
    assert (trade.exit_bar, trade.exit_price) == (3, pytest.approx(9.35))
    assert equity[-1] == pytest.approx(10 + 90 * 9.35)


def test_take_profit_inside_the_bar_and_through_a_gap():
    _, trades = run(take_profit=0.10)
    # target 12.1: bar 3 opens at 12 (below) and reaches 12.5 → sold at 12.1
    assert (trades.exit_bar[0], trades.exit_price[0]) == (3, pytest.approx(12.1))
    _, trades = run(take_profit=0.05)
    # target 11.55: bar 3 opens at 12, already beyond it → sold at the open, 12
    assert (trades.exit_bar[0], trades.exit_price[0]) == (3, 12.0)


def test_stops_are_checked_on_the_entry_bar_after_an_open_fill():
    low = LOW.copy()
    low[2] = 9.0  # after buying at bar 2's open (11) the bar falls to 9
    _, trades = run(bars(low=low), stop_loss=0.10)
    assert (trades.entry_bar[0], trades.exit_bar[0], trades.exit_price[0]) == (2, 2, pytest.approx(9.9))
    assert trades.duration_bars[0] == 0


def test_an_exit_beside_an_entry_wins_while_long():
    equity, trades = run(entries=(1, 3), exits=(3,))
    # long from bar 2; bar 3 says both: the exit wins, sold at bar 4's open 11 → cash 1000, no re-entry
    assert len(trades) == 1
    assert trades.exit_bar[0] == 4
    assert equity[-1] == pytest.approx(1000.0)


def test_entry_and_exit_together_while_flat_do_nothing():
    _, trades = run(entries=(1,), exits=(1,))
    assert trades.empty


def test_a_short_entry_while_long_closes_and_reverses_at_the_next_open():
    equity, trades = run(entries=(1,), exits=(), short_entries=(3,))
    # long 90 from bar 2; short entry on bar 3 → at bar 4's open 11: sell 90 (cash 1000), short 90 (cash 1990)
    # still short at the end: 1990 - 90 × 12.2 = 892, an open trade marked at the last close
    assert list(trades.direction) == ["long", "short"]
    assert list(trades.exit_bar) == [4, 9]
    assert list(trades.is_open) == [False, True]
    assert trades.pnl[1] == pytest.approx(-90 * (12.2 - 11))
    assert equity[4] == pytest.approx(1990 - 90 * 11.2)
    assert equity[-1] == pytest.approx(892.0)


def test_a_short_stop_is_above_the_entry():
    equity, trades = run(entries=(), exits=(), short_entries=(1,), stop_loss=0.10)
    # short 90 at bar 2's open 11 (cash 1990); stop 12.1: bar 3's high 12.5 reaches it → buy back 1089
    (trade,) = trades.itertuples()
    assert (trade.direction, trade.exit_bar, trade.exit_price) == ("short", 3, pytest.approx(12.1))
    assert equity[-1] == pytest.approx(901.0)


def test_lots_fraction_and_fixed_units():
    _, trades = run(init_cash=10_000.0, lot=100)
    assert trades["size"][0] == 900  # floor(10000 / 11) = 909 → 9 lots
    _, trades = run(sizing="fraction", size=0.5)
    assert trades["size"][0] == 45  # floor(500 / 11)
    _, trades = run(sizing="units", size=50)
    assert trades["size"][0] == 50
    _, trades = run(sizing="units", size=200)
    assert trades["size"][0] == 90  # cut to what the cash buys
    _, trades = run(fractional=True)
    assert trades["size"][0] == pytest.approx(1000 / 11)


def test_a_signal_on_the_last_bar_has_no_next_open():
    equity, trades = run(entries=(9,), exits=())
    assert trades.empty and equity[-1] == 1000.0


def test_an_order_too_small_for_one_lot_is_skipped():
    _, trades = run(init_cash=1000.0, lot=100)
    assert trades.empty


def test_targets_and_predictions_become_signals():
    targets = np.array([0, 1, 1, 0, -1, -1, 1, np.nan, 0, 0], dtype=float).reshape(-1, 1)
    entries, exits, short_entries, short_exits = (a[:, 0] for a in signals_from_targets(targets))
    assert list(np.flatnonzero(entries)) == [1, 6]
    assert list(np.flatnonzero(exits)) == [3, 7]
    assert list(np.flatnonzero(short_entries)) == [4]
    assert list(np.flatnonzero(short_exits)) == [6]
    predictions = np.array([0.0, 0.5, 0.9, 0.2, -0.8, -0.1, 0.7, 0.0, 0.0, 0.0])
    by_prediction = Simulator(init_cash=1000.0).run(bars(), predictions=predictions, long_threshold=0.4,
                                                    short_threshold=-0.5)
    by_target = Simulator(init_cash=1000.0).run(bars(), targets=np.where(predictions > 0.4, 1,
                                                                         np.where(predictions < -0.5, -1, 0)))
    np.testing.assert_allclose(by_prediction.equity, by_target.equity)


def test_many_columns_each_with_its_own_cash():
    entries = np.stack([flags(1), flags(2), flags()], axis=1)
    exits = np.stack([flags(5), flags(7), flags()], axis=1)
    result = Simulator(init_cash=1000.0).run(bars(), entries=entries, exits=exits)
    assert result.equity.shape == (10, 3)
    np.testing.assert_allclose(result.equity[:, 0], run()[0])
    assert result.equity[-1, 2] == 1000.0
    # column 1 buys at bar 3's open 12 (83 units, cash 4) and sells at bar 8's open 11
    assert result.equity[-1, 1] == pytest.approx(4 + 83 * 11)
    assert sorted(set(result.trades["column"])) == [0, 1]


@pytest.mark.parametrize("seed", range(6))
def test_equity_is_always_cash_plus_the_marked_position(seed):
    rng = np.random.default_rng(seed)
    n = 600
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.01, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.03, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.03, n))
    fees, fixed = rng.choice([0.0, 0.001, 0.003]), rng.choice([0.0, 1.0])
    rules = {"fees": fees, "fixed_fee": fixed, "slippage_bps": rng.choice([0.0, 5.0, 50.0]),
             "stop_loss": rng.choice([None, 0.03]), "take_profit": rng.choice([None, 0.05]),
             "fill": rng.choice(["next_open", "close"]), "fractional": bool(rng.integers(2)), "init_cash": 10_000.0}
    result = Simulator(**rules).run(bars(open_, high, low, close), entries=rng.random(n) < 0.08,
                                    exits=rng.random(n) < 0.08, short_entries=rng.random(n) < 0.04,
                                    short_exits=rng.random(n) < 0.04)
    equity, position, trades = result.equity[:, 0], result.position[:, 0], result.trades_frame(0)
    # rebuild the cash from the fills alone
    cash = np.full(n, 10_000.0)
    expected_position = np.zeros(n)
    for t in trades.itertuples():
        side = 1.0 if t.direction == "long" else -1.0
        entry_fee = t.size * t.entry_price * fees + fixed
        held = slice(t.entry_bar, n) if t.is_open else slice(t.entry_bar, t.exit_bar)
        cash[t.entry_bar:] -= side * t.size * t.entry_price + entry_fee
        expected_position[held] += side * t.size
        if not t.is_open:
            cash[t.exit_bar:] += side * t.size * t.exit_price - (t.fees - entry_fee)
            assert t.pnl == pytest.approx(side * t.size * (t.exit_price - t.entry_price) - t.fees, abs=1e-6)
        assert low[t.entry_bar] - 1e-9 <= t.entry_price <= high[t.entry_bar] + 1e-9
        assert low[t.exit_bar] - 1e-9 <= t.exit_price <= high[t.exit_bar] + 1e-9
    np.testing.assert_allclose(position, expected_position, atol=1e-9)
    np.testing.assert_allclose(equity, cash + position * close, rtol=1e-9, atol=1e-6)
    assert equity[-1] == pytest.approx(10_000.0 + trades.pnl.sum(), abs=1e-6)
    assert (cash[position >= 0] >= -1e-6).all()  # a long never spends cash it does not have


@pytest.mark.parametrize(("field", "value", "words"), [
    ("open", np.nan, "open at"), ("close", 0.0, "prices must be positive"), ("low", -1.0, "prices must be positive"),
    ("high", np.inf, "high at"),
])
def test_bad_prices_are_refused_naming_the_bar(field, value, words):
    frame = bars()
    frame.loc[4, field] = value
    with pytest.raises(ValueError, match=words):
        Simulator().run(frame, entries=flags(1), exits=flags(5))


def test_a_bar_whose_close_is_outside_its_range_is_refused():
    frame = bars()
    frame.loc[3, "close"] = 20.0
    with pytest.raises(ValueError, match="outside its low–high range"):
        Simulator().run(frame, entries=flags(1), exits=flags(5))


@pytest.mark.parametrize(("signals", "words"), [
    ({"entries": np.zeros(9, dtype=bool)}, "9 rows for 10 bars"),
    ({"entries": np.array(["x"] * 10)}, "true/false"),
    ({"entries": np.full(10, 2.0)}, "true/false"),
    ({"entries": flags(1), "exits": np.zeros((10, 3), dtype=bool), "short_entries": np.zeros((10, 2), dtype=bool)},
     "columns where the other signals have"),
    ({"targets": np.full(10, 0.5)}, "targets"),
    ({"predictions": np.zeros(10)}, "threshold"),
    ({}, "give one of"),
])
def test_bad_signals_are_refused(signals, words):
    with pytest.raises(ValueError, match=words):
        Simulator().run(bars(), **signals)


@pytest.mark.parametrize(("rules", "words"), [
    ({"fees": -0.01}, "fees"), ({"fees": 5.0}, "fees"), ({"fees": float("nan")}, "fees"),
    ({"fees": "0.1"}, "fees"), ({"slippage_bps": 1e9}, "slippage_bps"), ({"init_cash": 0}, "init_cash"),
    ({"fixed_fee": 2e6, "init_cash": 1e6}, "fixed_fee"), ({"fill": "vwap"}, "fill"), ({"sizing": "kelly"}, "sizing"),
    ({"sizing": "fraction", "size": 1.5}, "size"), ({"lot": 0}, "lot"), ({"lot": 1.5}, "lot"),
    ({"stop_loss": 1.0}, "stop_loss"), ({"take_profit": -0.1}, "take_profit"), ({"fractional": "yes"}, "fractional"),
])
def test_bad_rules_are_refused_at_construction(rules, words):
    with pytest.raises(ValueError, match=words):
        Simulator(**rules)


def test_bars_out_of_order_are_refused():
    frame = bars().iloc[[0, 2, 1, 3, 4, 5, 6, 7, 8, 9]]
    with pytest.raises(ValueError, match="increasing"):
        Bars.from_frame(frame)


def test_the_inputs_are_left_untouched():
    frame = bars()
    before = frame.copy()
    entries = flags(1)
    Simulator().run(frame, entries=entries, exits=flags(5))
    pd.testing.assert_frame_equal(frame, before)
    assert list(np.flatnonzero(entries)) == [1]
