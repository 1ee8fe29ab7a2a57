"""Runs kept as <dataset>_run<n> in real embedded stores (Parquet measurements, SQLite records):
the record says what the run was made of and found, the same request gives the same predictions,
and a hostile request is refused by name with nothing recorded."""

from __future__ import annotations

import numpy as np
import pytest

from backend.research.walkforward.service import RunError, Runs

from .conftest import FAST_LGBM, HORIZON

REQUEST = {"dataset": "walk", "features": ["ret1", "ret5"], "target": {"kind": "return", "horizon": HORIZON},
           "model": FAST_LGBM, "folds": {"train": 250, "validation": 100, "test": 100, "embargo": 5},
           "threshold_rule": {"kind": "quantile", "long_quantile": 0.8}, "costs": {"fees": 0.0005},
           "seed": 3, "threads": 1}


def test_a_run_is_recorded_with_what_it_was_made_of_and_found(datasets):
    shares = []
    outcome = Runs(datasets).run(REQUEST, created_by="ana", progress=lambda share, words: shares.append(share))
    assert outcome.name == "walk_run1" and shares[-1] == 1.0
    record = Runs(datasets).get("walk_run1")
    assert record["type"] == "walkforward" and record["created_by"] == "ana" and record["base"] == "walk"
    assert record["request"]["model"]["kind"] == "lightgbm_regressor" and record["request"]["seed"] == 3
    assert record["code_version"].startswith("wf-") and len(record["data_hash"]) == 64
    assert (record["seed"], record["threads"], record["bars"]) == (3, 1, 930)
    assert record["libraries"]["lightgbm"] and record["libraries"]["xgboost-cpu"]
    assert len(record["folds"]) == 6 and record["folds"][0]["test"] == [360, 460]
    assert set(record["folds"][0]) >= {"thresholds", "metrics", "importances", "times", "embargoed"}
    assert record["audit"]["passed"] and record["audit"]["flags"] == []
    assert record["summary"]["test_bars"] == 930 - 360
    kept = Runs(datasets).predictions("walk_run1")
    assert list(kept.columns) == ["timestamp", "fold", "band", "prediction", "target", "forward_return", "equity",
                                  "position"]
    np.testing.assert_array_equal(kept["prediction"], outcome.result.predictions["prediction"])
    test = kept[kept["band"] == "test"]
    assert test["equity"].notna().all() and kept[kept["band"] == "validation"]["equity"].isna().all()


def test_the_same_request_gives_the_same_predictions(datasets):
    runs = Runs(datasets)
    first = runs.run(REQUEST)
    again = runs.run(runs.get(first.name)["request"])
    assert again.name == "walk_run2"
    np.testing.assert_array_equal(runs.predictions(first.name)["prediction"], runs.predictions(again.name)["prediction"])
    assert runs.get(first.name)["data_hash"] == runs.get(again.name)["data_hash"]
    assert runs.get(first.name)["folds"] == runs.get(again.name)["folds"]


def test_a_look_ahead_feature_is_recorded_as_flagged(datasets):
    outcome = Runs(datasets).run({**REQUEST, "features": ["ret1", "leak"]})
    assert [f["check"] for f in Runs(datasets).get(outcome.name)["audit"]["flags"]] == ["implausible_skill"]


@pytest.mark.parametrize(("change", "field"), [
    ({"model": {"kind": "random_forest"}}, "model"),
    ({"model": {**FAST_LGBM, "n_trees": 9}}, "n_trees"),
    ({"folds": {"train": -250, "validation": 100, "test": 100}}, "folds.train"),
    ({"folds": {"train": 250, "validation": 100, "test": 100, "purge": 1}}, "purge"),
    ({"folds": {"train": 900, "validation": 100, "test": 100}}, "n: 930 bars hold no fold"),
    ({"folds": {"validation": 60, "mode": "combinatorial", "test_groups": 2}}, "folds.groups: needed"),
    ({"folds": {"validation": 60, "mode": "combinatorial", "groups": 6, "test_groups": 6}}, "folds.test_groups"),
    ({"folds": {"validation": 60, "mode": "combinatorial", "groups": 10**6, "test_groups": 2}}, "folds.groups"),
    ({"folds": {"validation": 60, "mode": "combinatorial", "groups": 20, "test_groups": 10}}, "splits"),
    ({"folds": {"train": 250, "validation": 60, "test": 60, "mode": "combinatorial", "groups": 6,
                "test_groups": 2}}, "folds.train: not used"),
    ({"folds": {"train": 250, "validation": 60, "test": 60, "groups": 6}}, "folds.groups: only for"),
    ({"folds": {"validation": 60, "mode": "combinatorial", "groups": "six", "test_groups": 2}}, "folds.groups"),
    ({"features": ["ret1", "volume"]}, "features"),
    ({"features": ["empty"]}, "features"),
    ({"threads": 0}, "threads"),
    ({"dataset": "nowhere"}, "dataset"),
    ({"symbol": "AAA"}, "symbol"),
    ({"surprise": 1}, "surprise"),
])
def test_hostile_requests_are_refused_naming_the_field_and_nothing_is_recorded(datasets, change, field):
    with pytest.raises(RunError, match=field):
        Runs(datasets).run({**REQUEST, **change})
    assert [r.kind for r in datasets.records.list(include_deleted=True)] == ["dataset"]
    assert datasets.measurements.list() == ["walk"]


CPCV = {**REQUEST, "folds": {"validation": 60, "embargo": 5, "mode": "combinatorial", "groups": 5,
                             "test_groups": 2}}


def test_a_combinatorial_run_is_recorded_with_its_paths(datasets):
    runs = Runs(datasets)
    outcome = runs.run(CPCV, created_by="ana")
    record = runs.get(outcome.name)
    assert len(record["folds"]) == 20 and {f["path"] for f in record["folds"]} == {0, 1, 2, 3}
    assert all(set(f) >= {"split", "excluded", "times"} and f["times"]["trained"] for f in record["folds"])
    assert [p["path"] for p in record["summary"]["paths"]] == [0, 1, 2, 3] and record["audit"]["passed"]
    [row] = runs.summaries()
    assert row["fold_mode"] == "combinatorial" and row["folds"] == 20
    kept = runs.predictions(outcome.name)
    assert (kept["band"] == "test").sum() == 4 * 930  # every bar tested once on each of the four paths
