"""Simulations kept and traced: a simulation of a demo dataset is recorded as <dataset>_sim<n> with its
request, code version, data hash and trials; its trades and curve read back exactly as simulated; a
re-run of the record gives the same numbers; sweeps count every cell as a trial and open a cell once;
the command line simulates files, refuses misaligned signals and records like the app does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.measurements.parquet_store import ParquetMeasurements
from backend.measurements.records import MeasurementRecords
from backend.meta import open_meta
from backend.research.__main__ import main as cli
from backend.research.dataset_service import Datasets
from backend.research.datasets import Bars as DatasetBars
from backend.research.demo import demo_bars, vn30_minute_bars
from backend.research.simulation_service import SimulationError, Simulations, periods_per_year
from backend.research.simulator.engine import Simulator
from backend.research.simulator.requests import SimulationRequest, SweepRequest, parse

SMA = {"kind": "sma_cross", "fast": 20, "slow": 100}
COSTS = {"fees": 0.001, "slippage_bps": 2.0}


@pytest.fixture
def sims(tmp_path: Path) -> Simulations:
    datasets = Datasets(ParquetMeasurements(tmp_path / "m"), MeasurementRecords(open_meta(f"sqlite:///{tmp_path}/meta.db")),
                        "parquet")
    datasets.add("sp500", demo_bars("sp500"), source="arch")
    return Simulations(datasets)


def request(**more) -> SimulationRequest:
    return SimulationRequest.model_validate({"dataset": "sp500", "strategy": SMA, "costs": COSTS, **more})


def test_a_simulation_is_recorded_with_what_it_was_made_of(sims):
    outcome = sims.run(request(), created_by="ana")
    assert outcome.name == "sp500_sim1"
    record = sims.get("sp500_sim1")
    assert record["type"] == "simulation" and record["created_by"] == "ana"
    assert record["request"]["strategy"] == {**SMA, "short": False}
    assert record["code_version"].startswith("sim-") and len(record["data_hash"]) == 64
    assert record["periods_per_year"] == 252.0  # daily bars
    assert record["trials"] == {"count": 1, "sharpe_variance": 0.0}
    assert record["stats"]["dsr"] == pytest.approx(record["stats"]["psr"])
    # the curve and trades read back as simulated, and the return is the curve's
    equity = sims.equity("sp500_sim1")
    np.testing.assert_allclose(equity["equity"], outcome.equity["equity"])
    assert record["stats"]["return_pct"] == pytest.approx((equity["equity"].iloc[-1] / 100_000 - 1) * 100)
    trades = sims.trades("sp500_sim1")
    assert len(trades) == len(outcome.trades) == record["stats"]["trades"] + record["stats"]["open_trades"]
    np.testing.assert_allclose(trades["pnl"], outcome.trades["pnl"])
    assert list(trades["exit_time"]) == list(outcome.trades["exit_time"])
    bench = equity["benchmark"]
    assert bench.iloc[-1] / bench.iloc[0] - 1 == pytest.approx(record["stats"]["buy_hold_return_pct"] / 100)


def test_the_record_re_runs_to_the_same_numbers(sims):
    first = sims.run(request())
    again = sims.run(SimulationRequest.model_validate(sims.get(first.name)["request"]), record=False)
    for key in ("return_pct", "sharpe", "max_drawdown_pct", "trades", "psr"):
        assert again.stats[key] == pytest.approx(first.stats[key], rel=1e-12)
    assert again.inputs["data_hash"] == first.inputs["data_hash"]
    assert again.inputs["code_version"] == first.inputs["code_version"]


def test_the_same_simulation_by_hand_gives_the_same_curve(sims):
    outcome = sims.run(request(), record=False)
    bars = demo_bars("sp500").table.to_pandas()
    close = bars["close"].to_numpy()
    fast = pd.Series(close).rolling(20).mean().to_numpy()
    slow = pd.Series(close).rolling(100).mean().to_numpy()
    above = fast > slow
    before = np.r_[False, above[:-1]]
    valid = ~np.isnan(np.r_[np.nan, slow[:-1]])
    entries, exits = above & ~before & valid, ~above & before & valid & ~np.isnan(slow)
    by_hand = Simulator(fees=0.001, slippage_bps=2.0).run(bars, entries=entries, exits=exits)
    np.testing.assert_allclose(outcome.equity["equity"], by_hand.equity[:, 0], rtol=1e-12)


def test_trials_count_every_variant_tried_on_the_dataset_even_deleted_ones(sims):
    sims.run(request())
    second = sims.run(request(strategy={**SMA, "fast": 10}))
    assert second.inputs["trials"]["count"] == 2
    sims.remove(second.name)
    third = sims.run(request(strategy={**SMA, "fast": 30}))
    assert third.inputs["trials"]["count"] == 3
    sharpes = [sims.records.list(include_deleted=True)[i].inputs["stats"]["sharpe_bar"] for i in (1, 2, 3)]
    assert third.inputs["trials"]["sharpe_variance"] == pytest.approx(np.var(sharpes, ddof=1))
    assert third.stats["dsr"] < third.stats["psr"]


def test_a_sweep_counts_its_cells_and_opens_each_cell_once(sims):
    sweep = SweepRequest.model_validate({**request().model_dump(), "grid": {
        "x": {"param": "fast", "values": [5, 10, 20, 50]}, "y": {"param": "slow", "values": [20, 50, 100]}}})
    made = sims.sweep(sweep, created_by="ana")
    cells = made["cells"]
    assert len(cells) == 12
    left_out = [c for c in cells if "reason" in c]
    assert {(c["x"], c["y"]) for c in left_out} == {(20, 20), (50, 20), (50, 50)}
    assert "fast (20) must be shorter than slow (20)" in left_out[0]["reason"]
    assert made["trials"]["count"] == 9
    best = made["best_cell"]
    assert cells[best]["stats"]["sharpe"] == max(c["stats"]["sharpe"] for c in cells if "stats" in c)
    name = sims.open_cell(made["name"], best, created_by="ana")
    assert sims.open_cell(made["name"], best) == name  # the second click opens the same record
    opened = sims.get(name)
    assert opened["stats"]["sharpe"] == pytest.approx(cells[best]["stats"]["sharpe"], rel=1e-12)
    assert opened["stats"]["exposure_pct"] == pytest.approx(cells[best]["stats"]["exposure_pct"], rel=1e-12)
    assert opened["trials"]["count"] == 9  # counted by the sweep, not again
    x, y = cells[best]["x"], cells[best]["y"]
    single = sims.run(request(strategy={**SMA, "fast": int(x), "slow": int(y)}), record=False)
    assert single.stats["return_pct"] == pytest.approx(cells[best]["stats"]["return_pct"], rel=1e-12)
    with pytest.raises(SimulationError, match="was not simulated"):
        sims.open_cell(made["name"], cells.index(left_out[0]))
    with pytest.raises(SimulationError, match="cell"):
        sims.open_cell(made["name"], 99)


def test_panel_datasets_need_a_symbol(tmp_path):
    datasets = Datasets(ParquetMeasurements(tmp_path / "m"), MeasurementRecords(open_meta(f"sqlite:///{tmp_path}/meta.db")),
                        "parquet")
    datasets.add("vn30_minutes", vn30_minute_bars(), source="simulator")
    sims = Simulations(datasets)
    rule = {"kind": "indicator_rule", "indicator": {"function": "RSI", "params": {"timeperiod": 14}},
            "entry": {"op": "crosses_below", "value": 40}, "exit": {"op": "crosses_above", "value": 60}}
    with pytest.raises(SimulationError, match="choose one"):
        sims.run(SimulationRequest.model_validate({"dataset": "vn30_minutes", "strategy": rule}))
    with pytest.raises(SimulationError, match="no symbol"):
        sims.run(SimulationRequest.model_validate({"dataset": "vn30_minutes", "symbol": "NOPE", "strategy": rule}))
    outcome = sims.run(SimulationRequest.model_validate({"dataset": "vn30_minutes", "symbol": "FPT", "strategy": rule,
                                                         "costs": {"lot": 100, "init_cash": 1e9}}))
    assert all(t % 100 == 0 for t in outcome.trades["size"])
    bars = vn30_minute_bars().table.to_pandas()
    per_day = bars[bars["symbol"] == "FPT"].shape[0]
    assert outcome.inputs["periods_per_year"] == 252.0 * per_day  # one session of one-minute bars


def test_periods_per_year_from_the_spacing():
    days = pd.date_range("2024-01-01", periods=30, freq="B", tz="UTC")
    assert periods_per_year(days) == 252.0
    assert periods_per_year(pd.date_range("2020-01-31", periods=20, freq="ME", tz="UTC")) == 12.0
    assert periods_per_year(pd.date_range("2020-01-03", periods=20, freq="W-FRI", tz="UTC")) == 52.0
    minutes = pd.DatetimeIndex([t for d in days[:3] for t in pd.date_range(d + pd.Timedelta("14h"), periods=390,
                                                                           freq="min")])
    assert periods_per_year(minutes) == 252.0 * 390


@pytest.mark.parametrize(("raw", "words"), [
    ({"dataset": "sp500", "strategy": {**SMA, "fast": 200}}, "fast (200) must be shorter than slow"),
    ({"dataset": "sp500", "strategy": {"kind": "martingale"}}, "strategy"),
    ({"dataset": "sp500", "strategy": SMA, "costs": {"fees": -1}}, "costs.fees"),
    ({"dataset": "sp500", "strategy": SMA, "costs": {"fees": "NaN"}}, "costs.fees"),
    ({"dataset": "sp500", "strategy": SMA, "costs": {"sizing": "fraction", "size": 3}}, "size"),
    ({"dataset": "sp500", "strategy": SMA, "hack": 1}, "hack: unknown field"),
    ({"dataset": "x" * 5000, "strategy": SMA}, "dataset"),
    ({"dataset": "sp500", "strategy": {"kind": "indicator_rule", "indicator": {"function": "NOPE"},
                                       "entry": {"op": "above", "value": 1}, "exit": {"op": "below", "value": 0}}},
     "NOPE"),
    ({"dataset": "sp500", "strategy": {"kind": "threshold", "column": "close; DROP TABLE"}}, "column"),
])
def test_bad_requests_name_the_field(raw, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parse(SimulationRequest, raw)


@pytest.mark.parametrize(("dataset", "words"), [("nope", "no dataset"), ("../etc/passwd", "dataset"),
                                                ("sp500_sim1", "no dataset")])
def test_unknown_datasets_are_refused_and_nothing_is_recorded(sims, dataset, words):
    with pytest.raises(SimulationError, match=words):
        sims.run(request(dataset=dataset))
    assert [r.kind for r in sims.records.list(include_deleted=True)] == ["dataset"]


def test_a_threshold_on_a_missing_column_is_refused(sims):
    with pytest.raises(SimulationError, match="no column 'score'"):
        sims.run(request(strategy={"kind": "threshold", "column": "score", "long_threshold": 0}))


def _files(tmp_path: Path, n: int = 120) -> tuple[Path, Path, pd.DataFrame]:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="D"), "open": open_,
                          "high": np.maximum(open_, close) * 1.01, "low": np.minimum(open_, close) * 0.99,
                          "close": close, "volume": 1.0})
    frame.to_csv(tmp_path / "bars.csv", index=False)
    signals = pd.DataFrame({"timestamp": frame["timestamp"], "entry": rng.random(n) < 0.1,
                            "exit": rng.random(n) < 0.1})
    signals.to_parquet(tmp_path / "signals.parquet")
    return tmp_path / "bars.csv", tmp_path / "signals.parquet", signals


def test_the_command_line_simulates_files(tmp_path, capsys):
    bars, signals, table = _files(tmp_path)
    out = tmp_path / "out.json"
    assert cli(["simulate", "--ohlcv", str(bars), "--signals", str(signals), "--fees", "0.001", "--stop-loss", "5",
                "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    frame = pd.read_csv(bars, parse_dates=["timestamp"])
    by_hand = Simulator(fees=0.001, stop_loss=0.05).run(frame, entries=table["entry"].to_numpy(),
                                                         exits=table["exit"].to_numpy())
    assert result["stats"]["equity_final"] == pytest.approx(by_hand.equity[-1, 0])
    assert len(result["trades"]) == len(by_hand.trades)
    assert {"return_pct", "buy_hold_return_pct", "sharpe", "sortino", "calmar", "max_drawdown_pct",
            "avg_drawdown_pct", "max_drawdown_bars", "trades", "win_rate_pct", "profit_factor", "expectancy_pct",
            "sqn", "kelly", "exposure_pct", "equity_final", "equity_peak", "cagr_pct", "volatility_ann_pct",
            "alpha_pct", "beta", "psr", "dsr"} <= set(result["stats"])
    assert "NaN" not in out.read_text() and "Infinity" not in out.read_text()


def test_the_command_line_refuses_signals_off_the_bars(tmp_path, capsys):
    bars, _, table = _files(tmp_path)
    shifted = table.assign(timestamp=table["timestamp"] + pd.Timedelta("1h"))
    shifted.to_csv(tmp_path / "late.csv", index=False)
    table.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    table.assign(entry="maybe").to_csv(tmp_path / "words.csv", index=False)
    for name, words in (("late.csv", "must match the bars' timestamps"), ("short.csv", "119 signal rows for 120"),
                        ("words.csv", "true/false")):
        assert cli(["simulate", "--ohlcv", str(bars), "--signals", str(tmp_path / name),
                    "--out", str(tmp_path / "o.json")]) == 1
        assert words in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
    assert cli(["simulate", "--ohlcv", str(bars), "--signals", str(tmp_path / "short.csv"), "--fees", "7",
                "--out", str(tmp_path / "o.json")]) == 1
    assert "fees" in capsys.readouterr().err


def test_the_command_line_records_like_the_app(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DESKBOARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DESKBOARD_RECORDS_URL", raising=False)
    bars, signals, _ = _files(tmp_path)
    out = tmp_path / "out.json"
    args = ["simulate", "--ohlcv", str(bars), "--signals", str(signals), "--record", "--dataset", "mybars",
            "--out", str(out)]
    assert cli(args) == 0
    assert json.loads(out.read_text())["simulation"] == "mybars_sim1"
    assert cli(args) == 0  # the same bars: the dataset is reused
    assert json.loads(out.read_text())["simulation"] == "mybars_sim2"
    frame = pd.read_csv(bars)
    frame.loc[3, "close"] = frame.loc[3, "open"]
    frame.to_csv(tmp_path / "other.csv", index=False)
    assert cli(["simulate", "--ohlcv", str(tmp_path / "other.csv"), "--signals", str(signals), "--record",
                "--dataset", "mybars", "--out", str(out)]) == 1
    assert "exists with other bars" in capsys.readouterr().err


def test_dataset_bars_type_is_the_one_the_importer_makes():
    assert isinstance(demo_bars("sp500"), DatasetBars)


def test_the_workload_says_when_a_request_is_a_job(sims, monkeypatch):
    from backend.research.simulator import requests as limits

    assert sims.workload(request()).bars == 5031 and not sims.workload(request()).large
    sweep = SweepRequest.model_validate({**request().model_dump(), "grid": {
        "x": {"param": "fast", "values": [5, 10]}, "y": {"param": "slow", "values": [50, 60, 70]}}})
    assert sims.workload(sweep).cells == 6
    monkeypatch.setattr(limits, "DIRECT_CELLS_BARS_MAX", 5031 * 5)
    assert sims.workload(sweep).large and not sims.workload(request()).large
    with pytest.raises(SimulationError, match="symbol: sp500 has no symbol 'X'"):
        sims.workload(request(symbol="X"))
    with pytest.raises(SimulationError, match="strategy.column: sp500 has no column 'score'"):
        sims.workload(request(strategy={"kind": "threshold", "column": "score", "long_threshold": 0}))
    with pytest.raises(SimulationError, match="dataset: there is no dataset"):
        sims.workload(request(dataset="nope"))
