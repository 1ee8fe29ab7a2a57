"""The simulation pages' numbers, each checked against an independent pandas computation, and the
form's fields read into a request (a wrong one named, never guessed)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backend.research.simulation_views import (
    FormError,
    compare_stats,
    form_error_text,
    format_stat,
    grid_values,
    monthly_returns,
    request_from_form,
    rolling_sharpe,
    sweep_matrix,
    trade_markers,
)
from backend.research.simulator.requests import SimulationRequest, SweepRequest, parse
from backend.research.simulator.stats import STAT_KEYS


def daily_equity(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2023-01-03 05:00", periods=n, freq="B", tz="UTC")
    equity = 100_000 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    return pd.DataFrame({"timestamp": stamps, "equity": equity})


def test_monthly_returns_chain_month_ends_from_the_cash() -> None:
    frame = daily_equity()
    before = frame.copy()
    table = monthly_returns(frame, init_cash=100_000.0, time_zone="America/New_York")
    pd.testing.assert_frame_equal(frame, before)  # the input is untouched
    local = frame.set_index(frame["timestamp"].dt.tz_convert("America/New_York"))["equity"]
    ends = local.resample("ME").last().dropna()
    want = ends.pct_change() * 100
    want.iloc[0] = (ends.iloc[0] / 100_000 - 1) * 100
    for stamp, value in want.items():
        assert table.loc[stamp.year, stamp.month] == pytest.approx(value)
    assert table.notna().sum().sum() == len(ends)
    # the compounded months give the whole return
    months = table.to_numpy().ravel()
    total = np.prod(1 + months[~np.isnan(months)] / 100) - 1
    assert total == pytest.approx(frame["equity"].iloc[-1] / 100_000 - 1)


def test_rolling_sharpe_matches_pandas_over_the_window() -> None:
    frame = daily_equity()
    got = rolling_sharpe(frame, periods_per_year=252, window=20)
    returns = frame["equity"].pct_change()
    want = returns.rolling(20).mean() / returns.rolling(20).std() * math.sqrt(252)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), equal_nan=True)
    assert got.iloc[:20].isna().all() and got.iloc[20:].notna().all()
    with pytest.raises(ValueError, match="window"):
        rolling_sharpe(frame, periods_per_year=252, window=1)


def test_a_flat_window_has_no_sharpe_rather_than_infinity() -> None:
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=30, tz="UTC"), "equity": 100.0})
    assert rolling_sharpe(frame, periods_per_year=252, window=5).isna().all()


def test_trade_markers_leave_an_open_trade_without_an_exit() -> None:
    stamps = pd.date_range("2024-01-01", periods=3, tz="UTC")
    trades = pd.DataFrame({"entry_time": stamps, "exit_time": stamps + pd.Timedelta(days=1),
                           "direction": ["long", "short", "long"], "entry_price": [1.0, 2.0, 3.0],
                           "exit_price": [1.5, 1.8, np.nan], "size": [10.0, 5.0, 1.0],
                           "return_pct": [50.0, 10.0, np.nan], "is_open": [False, False, True]})
    markers = trade_markers(trades)
    assert markers["entries"]["y"] == [1.0, 2.0, 3.0] and len(markers["entries"]["x"]) == 3
    assert markers["exits"]["y"] == [1.5, 1.8] and markers["exits"]["text"][0] == "long exit · +50.00 %"


def test_compare_marks_the_best_value_on_the_better_side() -> None:
    records = [{"stats": {"sharpe": 0.5, "max_drawdown_pct": -30.0, "volatility_ann_pct": 12.0, "trades": 10}},
               {"stats": {"sharpe": 0.9, "max_drawdown_pct": -10.0, "volatility_ann_pct": 15.0, "trades": 30}},
               {"stats": {"sharpe": None, "max_drawdown_pct": -10.0, "volatility_ann_pct": math.nan, "trades": 20}}]
    rows = {row["key"]: row for row in compare_stats(records)}
    assert [row["key"] for row in compare_stats(records)] == list(STAT_KEYS)
    assert rows["sharpe"]["best"] == [1]
    assert rows["max_drawdown_pct"]["best"] == [1, 2]  # the shallowest, shared
    assert rows["volatility_ann_pct"]["best"] == [0]  # lower is better; NaN is no value
    assert rows["trades"]["best"] == []  # more trades is not better
    assert rows["return_pct"]["best"] == []  # nobody has it


def test_sweep_matrix_places_each_cell_by_its_values() -> None:
    cells = [{"index": k, "x": x, "y": y, "stats": {"sharpe": x + y / 100}} for k, (x, y) in
             enumerate((x, y) for x in (5.0, 10.0) for y in (30.0, 60.0, 90.0))]
    cells[4] = {"index": 4, "x": 10.0, "y": 60.0, "reason": "fast must be shorter"}
    matrix = sweep_matrix(cells, "sharpe")
    assert matrix["x"] == [5.0, 10.0] and matrix["y"] == [30.0, 60.0, 90.0]
    assert matrix["z"][2][0] == pytest.approx(5.9) and matrix["z"][1][1] is None
    assert matrix["index"][2][1] == 5 and matrix["index"][0][1] == 3
    one = sweep_matrix([{"index": 0, "x": 2.0, "y": None, "stats": {"sharpe": 1.0}}], "sharpe")
    assert one["y"] == [None] and one["z"] == [[1.0]]


def test_format_stat_reads_as_people_read_numbers() -> None:
    assert format_stat("equity_final", 133097.598) == "133,097.60"
    assert format_stat("trades", 67) == "67"
    assert format_stat("dsr", 0.79846) == "0.798"
    assert format_stat("start", "1999-01-04T05:00:00+00:00") == "1999-01-04"
    assert format_stat("sortino", math.inf) == "∞" and format_stat("sharpe", None) == "—"


BASE = {"dataset": "sp500", "kind": "sma_cross", "fast": 10, "slow": 50, "fill": "next_open", "fees": 0.001,
        "fixed_fee": 0, "slippage_bps": 1, "init_cash": 100_000, "sizing": "all_in", "size": 1, "lot": 1,
        "stop_loss": 5, "take_profit": None}


def test_the_form_becomes_the_request_the_api_takes() -> None:
    model, raw = request_from_form(BASE)
    request = parse(model, raw)
    assert isinstance(request, SimulationRequest) and not isinstance(request, SweepRequest)
    assert request.strategy.fast == 10 and request.costs.stop_loss == pytest.approx(0.05)
    model, raw = request_from_form({**BASE, "kind": "indicator_rule", "function": "RSI", "period": 14,
                                    "entry_op": "crosses_below", "entry_value": 30, "exit_op": "crosses_above",
                                    "exit_value": 70})
    assert parse(model, raw).strategy.label() == "RSI(14) crosses below 30 → enter; crosses above 70 → exit"
    model, raw = request_from_form({**BASE, "sweep": True, "x_param": "fast", "x_from": 5, "x_to": 20, "x_step": 5,
                                    "y_param": "slow", "y_from": 30, "y_to": 120, "y_step": 30})
    sweep = parse(model, raw)
    assert isinstance(sweep, SweepRequest) and sweep.grid.x.values == [5, 10, 15, 20]


@pytest.mark.parametrize(("change", "named"), [
    ({"fast": "12abc"}, "Fast SMA: '12abc' is not a number"),
    ({"fees": ""}, "Fees: give a number"),
    ({"lot": 1.5}, "Lot: a whole number"),
    ({"dataset": ""}, "Dataset: choose one"),
    ({"sweep": True, "x_param": "fast", "x_from": 5, "x_to": 1, "x_step": 1}, "Sweep fast: 'to' is below 'from'"),
    ({"sweep": True, "x_param": "fast", "x_from": 1, "x_to": 100, "x_step": 1}, "at most 50"),
])
def test_a_field_that_cannot_be_read_is_named(change: dict, named: str) -> None:
    with pytest.raises(FormError, match=named.replace("(", r"\(")):
        request_from_form({**BASE, **change})


@pytest.mark.parametrize(("change", "named"), [
    ({"fast": 60}, "Strategy: fast (60) must be shorter than slow (50)"),
    ({"fees": -0.01}, "Fees: Input should be greater than or equal to 0"),
])
def test_a_request_the_model_refuses_is_told_with_the_form_names(change: dict, named: str) -> None:
    model, raw = request_from_form({**BASE, **change})
    with pytest.raises(ValueError) as caught:
        parse(model, raw)
    assert named in form_error_text(str(caught.value))


def test_grid_values_include_the_end() -> None:
    assert grid_values(0.1, 0.3, 0.1, label="x") == [0.1, 0.2, 0.3]
    with pytest.raises(FormError, match="step"):
        grid_values(1, 2, 0, label="x")
