"""The walk-forward pages' data, against pandas: the run browser's blocks filter, search and sort
as a plain pandas query of the same rows would; the parameters that differ; a recorded run's
fold timeline, importances and curve; the form's fields to a request and back."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from backend.measurements.frames import as_table
from backend.measurements.parquet_store import ParquetMeasurements
from backend.measurements.records import MeasurementRecords
from backend.meta import open_meta
from backend.research.dataset_service import Datasets
from backend.research.datasets import Bars
from backend.research.run_views import (
    block,
    differing_columns,
    error_lines,
    filter_rows,
    fold_bands,
    form_from_request,
    importances,
    model_params,
    oos_curves,
    oos_equity,
    request_from_form,
    sort_rows,
    summary_frame,
)
from backend.research.walkforward.requests import RunError, parse_request
from backend.research.walkforward.service import Runs
from tests.backend.research.walkforward.conftest import market


def summaries(n: int = 500, seed: int = 7) -> list[dict]:
    """Summary rows as ``Runs.summaries()`` gives them: flat, parameters and metrics dotted."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append({"name": f"walk_run{i + 1}", "created_at": f"2026-01-{1 + i % 28:02d}T00:{i % 60:02d}:00+00:00",
                     "created_by": ["ana", "bo"][i % 2], "dataset": ["walk", "spx"][i % 3 == 0],
                     "symbol": None, "model": "lightgbm_regressor", "target": "return/5", "folds": 6, "seed": i % 4,
                     "param.num_leaves": int(rng.integers(2, 64)), "param.learning_rate": float(rng.uniform(0, 1)),
                     "metric.ic": None if i % 17 == 0 else float(rng.normal(0, 0.05)),
                     "metric.sharpe": float(rng.normal(0, 1)), "audit": ["passed", "flagged"][i % 5 == 0]})
    return rows


@pytest.fixture
def datasets(tmp_path) -> Datasets:
    made = Datasets(ParquetMeasurements(tmp_path / "m"), MeasurementRecords(open_meta(f"sqlite:///{tmp_path}/meta.db")),
                    "parquet")
    made.add("walk", Bars(as_table(market()), "UTC"), source="a random walk")
    return made


@pytest.fixture
def frame() -> pd.DataFrame:
    return summary_frame(summaries())


def test_summary_frame_puts_fixed_columns_then_parameters_then_metrics(frame):
    assert list(frame.columns[:3]) == ["name", "created_at", "created_by"]
    params = [i for i, c in enumerate(frame.columns) if c.startswith("param.")]
    metrics = [i for i, c in enumerate(frame.columns) if c.startswith("metric.")]
    assert max(params) < min(metrics)


def test_a_number_filter_keeps_what_pandas_keeps_and_leaves_the_input_alone(frame):
    before = frame.copy()
    model = {"metric.ic": {"filterType": "number", "type": "greaterThan", "filter": 0.01},
             "param.num_leaves": {"filterType": "number", "operator": "OR", "conditions": [
                 {"filterType": "number", "type": "lessThan", "filter": 10},
                 {"filterType": "number", "type": "inRange", "filter": 30, "filterTo": 40}]}}
    kept = filter_rows(frame, model)
    leaves = frame["param.num_leaves"]
    expected = frame[(frame["metric.ic"] > 0.01) & ((leaves < 10) | leaves.between(30, 40))]
    pd.testing.assert_frame_equal(kept, expected)
    pd.testing.assert_frame_equal(frame, before)


def test_text_filters_and_the_quick_search_match_words_in_any_order(frame):
    kept = filter_rows(frame, {"audit": {"filterType": "text", "type": "equals", "filter": "FLAGGED"}}, "spx bo")
    expected = frame[(frame["audit"] == "flagged") & (frame["created_by"] == "bo") & (frame["dataset"] == "spx")]
    assert len(expected) and kept["name"].tolist() == expected["name"].tolist()
    assert len(filter_rows(frame, None, "walk_run12")) == 11  # walk_run12, walk_run120…129
    # a filter on a column the rows lack, or one still being typed, holds nothing back
    assert len(filter_rows(frame, {"nope": {"filterType": "number", "type": "equals", "filter": 1},
                                   "metric.ic": {"filterType": "number", "type": "equals"}})) == len(frame)


def test_sorting_puts_missing_values_last_in_both_directions(frame):
    up = sort_rows(frame, [{"colId": "metric.ic", "sort": "asc"}])
    down = sort_rows(frame, [{"colId": "metric.ic", "sort": "desc"}])
    known = frame["metric.ic"].dropna()
    assert up["metric.ic"].head(len(known)).tolist() == sorted(known)
    assert down["metric.ic"].head(len(known)).tolist() == sorted(known, reverse=True)
    assert up["metric.ic"].tail(len(frame) - len(known)).isna().all()
    assert down["metric.ic"].tail(len(frame) - len(known)).isna().all()
    assert sort_rows(frame, [])["created_at"].is_monotonic_decreasing


def test_a_block_is_the_slice_of_the_filtered_sorted_rows(frame):
    sort = [{"colId": "metric.sharpe", "sort": "desc"}]
    filters = {"dataset": {"filterType": "text", "type": "equals", "filter": "walk"}}
    rows, total = block(frame, start=100, end=200, sort_model=sort, filter_model=filters)
    expected = frame[frame["dataset"] == "walk"].sort_values("metric.sharpe", ascending=False)
    assert total == len(expected)
    assert [r["name"] for r in rows] == expected["name"].iloc[100:200].tolist()
    assert all(r["metric.ic"] is None or isinstance(r["metric.ic"], float) for r in rows)  # JSON: no NaN
    rows, total = block(frame, start=-5, end=10**9)
    assert len(rows) == 500 and total == 500  # bounded, never negative


def test_only_the_parameters_that_differ_are_listed():
    rows = [{"param.a": 1, "param.b": 0.1, "param.c": "x", "metric.ic": 0.1},
            {"param.a": 1, "param.b": 0.2, "param.c": "x", "metric.ic": 0.2},
            {"param.a": 1.0, "param.b": 0.1, "metric.ic": 0.1}]
    assert differing_columns(rows) == ["param.b", "param.c"]
    assert differing_columns(rows[:1]) == []
    assert differing_columns([{"param.x": float("nan")}, {"param.x": None}]) == []


def test_model_params_read_the_whitelist_bounds():
    params = {p["name"]: p for p in model_params("lightgbm_regressor")}
    assert params["num_leaves"] == {"name": "num_leaves", "default": 31, "min": 2, "max": 1024, "integer": True}
    assert params["learning_rate"]["min"] == 0.0 and params["learning_rate"]["integer"] is False
    assert model_params("random_forest") == []


REQUEST = {"dataset": "walk", "features": ["ret1", "ret5"], "target": {"kind": "return", "horizon": 5},
           "model": {"kind": "ridge", "alpha": 2.0},
           "folds": {"train": 250, "validation": 100, "test": 100, "embargo": 5, "mode": "expanding"},
           "threshold_rule": {"kind": "quantile", "long_quantile": 0.8, "short": False}, "seed": 3, "threads": 1}


def test_the_form_round_trips_a_recorded_request():
    recorded = parse_request(REQUEST).model_dump(mode="json")
    again = parse_request(request_from_form(form_from_request(recorded))).model_dump(mode="json")
    assert again == recorded


def test_the_form_round_trips_a_combinatorial_request_and_ignores_the_walk_forward_sizes():
    cpcv = {**REQUEST, "folds": {"validation": 60, "mode": "combinatorial", "groups": 7, "test_groups": 3}}
    recorded = parse_request(cpcv).model_dump(mode="json")
    fields = {**form_from_request(recorded), "train": 250, "test": 60}  # still typed in, now disabled
    assert parse_request(request_from_form(fields)).model_dump(mode="json") == recorded
    said = error_lines("folds.test_groups: 9 is outside [2, 6]")
    assert said == [("folds.test_groups", "Test groups: 9 is outside [2, 6]")]


def test_hostile_form_values_come_back_named_as_the_form_names_them():
    fields = {**form_from_request(REQUEST), "train": -3, "model_params": {"alpha": -1}}
    with pytest.raises(RunError) as caught:
        parse_request(request_from_form(fields))
    said = [text for _, text in error_lines(str(caught.value))]
    assert any(t.startswith("Train bars:") for t in said) and any(t.startswith("alpha:") for t in said)


def test_a_recorded_run_gives_its_timeline_importances_and_curve(datasets):
    name = Runs(datasets).run(REQUEST).name
    record, predictions = Runs(datasets).get(name), Runs(datasets).predictions(name)
    bands = fold_bands(record)
    first = [b for b in bands if b["fold"] == 0]
    assert [b["band"] for b in first] == ["train", "purge", "validation", "purge", "test", "embargo"]
    assert [b["bars"] for b in first] == [250, 5, 100, 5, 100, 5]
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(first))
    shares = importances(record)
    assert set(shares.index) == {"ret1", "ret5"} and shares.sum() == pytest.approx(1.0)
    curve = oos_equity(predictions)
    assert len(curve) == record["summary"]["test_bars"] and curve["timestamp"].is_monotonic_increasing
    assert curve["equity"].iloc[-1] == pytest.approx(record["summary"]["final_equity"])


def test_a_runs_signal_is_each_test_bar_thresholded_by_its_own_folds_thresholds(datasets):
    from backend.research.run_simulation import run_signal

    runs = Runs(datasets)
    name = runs.run(REQUEST).name
    record, predictions = runs.get(name), runs.predictions(name)
    signal = run_signal(record, predictions)
    test = predictions[predictions["band"] == "test"].reset_index(drop=True)
    longs = test["fold"].map({f["index"]: f["thresholds"]["long"] for f in record["folds"]})
    expected = np.where(test["prediction"] > longs, 1.0, 0.0)  # long only: the request trades no shorts
    np.testing.assert_array_equal(signal["signal"].to_numpy(), expected)
    assert (signal["timestamp"].to_numpy() == test["timestamp"].to_numpy()).all()


CPCV = {**REQUEST, "folds": {"validation": 60, "mode": "combinatorial", "groups": 5, "test_groups": 2}}


def test_a_combinatorial_run_draws_a_curve_per_path_and_trains_in_stretches(datasets):
    runs = Runs(datasets)
    name = runs.run(CPCV).name
    record, predictions = runs.get(name), runs.predictions(name)
    curves = oos_curves(name, predictions, record)
    assert [label for label, _ in curves] == [f"{name} · path {p}" for p in range(4)]
    for (_, curve), path in zip(curves, record["summary"]["paths"], strict=True):
        assert len(curve) == 930 and curve["timestamp"].is_monotonic_increasing
        assert curve["equity"].iloc[0] == pytest.approx(1e5, rel=0.05)
    # a fold whose model trains both before and after its test group
    fold = next(f for f in record["folds"] if f["train"][0] < f["test"][0] and f["test"][1] < f["train"][1])
    bands = [b for b in fold_bands(record) if b["fold"] == fold["index"]]
    assert [b["band"] for b in bands][:2] == ["train", "train"] and "purge" not in [b["band"] for b in bands]
    trains = [b for b in bands if b["band"] == "train"]
    test = next(b for b in bands if b["band"] == "test")
    assert trains[0]["end"] <= test["start"] and test["end"] <= trains[-1]["start"]
    assert sum(b["bars"] for b in bands if b["band"] == "train") == len(range(*fold["train"])) - sum(
        b - a for a, b in fold["excluded"])
    assert [label for label, _ in oos_curves("x", predictions, {"folds": []})] == ["x"]  # no paths: one curve


def test_a_combinatorial_run_simulates_one_path_at_a_time(datasets):
    from backend.research.run_simulation import run_signal, simulate_run

    runs = Runs(datasets)
    name = runs.run(CPCV).name
    record, predictions = runs.get(name), runs.predictions(name)
    on_path = {f["index"] for f in record["folds"] if f["path"] == 2}
    signal = run_signal(record, predictions, 2)
    assert len(signal) == 930 and signal["timestamp"].is_unique
    test = predictions[(predictions["band"] == "test") & predictions["fold"].isin(on_path)].reset_index(drop=True)
    longs = test["fold"].map({f["index"]: f["thresholds"]["long"] for f in record["folds"]})
    np.testing.assert_array_equal(signal["signal"], np.where(test["prediction"] > longs, 1.0, 0.0))
    for bad in (None, 4, -1, "0"):
        with pytest.raises(RunError, match="path: .* has backtest paths 0 to 3"):
            run_signal(record, predictions, bad)
    first, second = simulate_run(datasets, name), simulate_run(datasets, name, path=1)
    assert first != second
    versions = [r for r in datasets.records.list("walk") if r.kind == "indicators"]
    assert sorted(c for r in versions for c in r.inputs["columns"]) == [f"{name}_signal_path0", f"{name}_signal_path1"]
    with pytest.raises(RunError, match="path"):
        simulate_run(datasets, name, path=9)
