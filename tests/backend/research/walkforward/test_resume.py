"""Runs taken up from their finished folds: a run interrupted after some folds and resumed from its
checkpoints has exactly the predictions, records and summary of one that ran straight through; folds
of another request are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.research.walkforward.service import RunError, Runs

from .test_runs import CPCV, REQUEST


class Stop(Exception):
    pass


def _stop_after(folds: int):
    def progress(share: float, words: str) -> None:
        if words.startswith(f"fold {folds} of"):
            raise Stop

    return progress


def test_a_resumed_run_equals_one_that_ran_straight_through(datasets, tmp_path: Path):
    runs = Runs(datasets)
    straight = runs.run(REQUEST, record=False)
    with pytest.raises(Stop):
        runs.run(REQUEST, checkpoint=tmp_path / "first", progress=_stop_after(2))
    assert len(list((tmp_path / "first").glob("fold-*.json"))) == 2
    fitted = []
    resumed = runs.run(REQUEST, checkpoint=tmp_path / "second", resume_from=tmp_path / "first",
                       progress=lambda share, words: fitted.append(words))
    assert fitted == [f"fold {k} of 6" for k in range(3, 7)]  # the first two were taken up, not fitted
    assert resumed.inputs["resumed_folds"] == 2
    pd.testing.assert_frame_equal(resumed.result.predictions, straight.result.predictions)
    pd.testing.assert_frame_equal(resumed.result.equity, straight.result.equity)
    assert resumed.result.summary == straight.result.summary
    assert runs.get(resumed.name)["folds"] == runs.get(runs.run(REQUEST).name)["folds"]
    np.testing.assert_array_equal(runs.predictions(resumed.name)["prediction"], straight.result.predictions["prediction"])


def test_folds_of_another_request_are_not_taken_up(datasets, tmp_path: Path):
    runs = Runs(datasets)
    with pytest.raises(Stop):
        runs.run(REQUEST, checkpoint=tmp_path / "first", progress=_stop_after(1))
    with pytest.raises(RunError, match="resume_from: that job ran another request"):
        runs.run({**REQUEST, "seed": 4}, resume_from=tmp_path / "first")
    assert [r.kind for r in datasets.records.list()] == ["dataset"]


def test_a_run_keeps_a_flat_summary_for_listings(datasets):
    runs = Runs(datasets)
    runs.run(REQUEST, created_by="ana")
    [row] = runs.summaries()
    assert row["name"] == "walk_run1" and row["created_by"] == "ana" and row["base"] == "walk"
    assert (row["dataset"], row["model"], row["target"], row["folds"], row["seed"]) == (
        "walk", "lightgbm_regressor", "return 5", 6, 3)
    assert row["param.n_estimators"] == 20 and row["audit"] == "passed"
    assert {"metric.ic", "metric.hit_rate", "metric.rmse", "metric.return_pct", "metric.sharpe"} <= set(row)
    assert all(not isinstance(v, dict | list) for v in row.values())


def test_a_combinatorial_run_resumed_in_the_middle_of_a_path_equals_one_straight_through(datasets, tmp_path: Path):
    runs = Runs(datasets)
    straight = runs.run(CPCV, record=False)
    with pytest.raises(Stop):  # fold 7 is the second of path 1: resumed, it chains on the first one
        runs.run(CPCV, checkpoint=tmp_path / "first", progress=_stop_after(7))
    resumed = runs.run(CPCV, record=False, resume_from=tmp_path / "first")
    assert resumed.inputs["resumed_folds"] == 7
    pd.testing.assert_frame_equal(resumed.result.predictions, straight.result.predictions)
    pd.testing.assert_frame_equal(resumed.result.equity, straight.result.equity)
    assert resumed.result.summary == straight.result.summary
