"""The walk-forward loop and its audit on a random walk: leaky folds and a planted look-ahead
feature are caught while honest features pass, thresholds never read the test window, the same
seed and thread count give the same predictions, and bad inputs are refused by name before any
model is fitted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.research.walkforward.audit import audit
from backend.research.walkforward.engine import ThresholdRule, walk_forward
from backend.research.walkforward.folds import make_folds
from backend.research.walkforward.targets import TargetSpec

from .conftest import BARS, FAST_LGBM, HORIZON

TARGET = TargetSpec(kind="return", horizon=HORIZON)


def folds(n: int = BARS, **more):
    return make_folds(n=n, train=250, validation=100, test=100, horizon=HORIZON, embargo=5, **more)


def run(frame, features=("ret1", "ret5"), model=None, rule=None, **more):
    arguments = {"target": TARGET, "model": model or FAST_LGBM, "folds": folds(len(frame)),
                 "threshold_rule": rule or ThresholdRule(), "seed": 7, "threads": 1, **more}
    return walk_forward(frame, features=list(features), **arguments)


def test_every_fold_records_its_ranges_thresholds_metrics_and_importances(frame):
    seen = []
    result = run(frame, progress=lambda share, words: seen.append(share))
    assert len(result.folds) == len(folds()) == 6 and seen[-1] == 1.0 and len(seen) == 6
    first = result.folds[0]
    assert (first["train"], first["validation"], first["test"]) == ([0, 250], [255, 355], [360, 460])
    assert first["times"]["test"] == [str(frame["timestamp"][360].isoformat()), frame["timestamp"][460].isoformat()]
    assert first["thresholds"]["from"] == {"band": "validation", "range": [255, 355]}
    assert first["thresholds"]["long"] >= first["thresholds"]["short"]
    assert set(first["metrics"]) >= {"ic", "hit_rate", "rmse", "return_pct", "sharpe", "trades"}
    assert set(first["importances"]) == {"ret1", "ret5"}
    test_rows = result.predictions[result.predictions["band"] == "test"]
    assert test_rows["row"].tolist() == list(range(360, BARS))  # the test windows tile the rest, once each
    assert result.summary["test_bars"] == BARS - 360 and result.summary["ic"] is not None
    # the curve chains fold to fold: each fold starts from where the last one closed, flat
    assert result.equity.groupby("fold")["position"].first().eq(0).all()
    assert result.summary["final_equity"] == pytest.approx(result.summary["return_pct"] / 100 * 1e5 + 1e5)


def test_the_input_frame_is_left_untouched(frame):
    before = frame.copy()
    run(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_the_audit_flags_label_windows_reaching_validation_and_test_when_purge_is_below_the_horizon(frame):
    leaky = make_folds(n=BARS, train=250, validation=100, test=100, horizon=HORIZON, purge=2, allow_leaky=True)
    result = run(frame, folds=leaky)
    report = audit(result.folds, pooled_ic=result.summary["ic"])
    assert not report.passed
    checks = {(p.check, p.fold) for p in report.problems}
    assert checks == {("label_overlap", f.index) for f in leaky}
    assert "inside the validation window [252, 352)" in report.problems[0].detail
    assert any("inside the test window" in p.detail for p in report.problems)
    honest = run(frame)
    assert audit(honest.folds, pooled_ic=honest.summary["ic"]).passed


def test_the_audit_reads_the_ranges_alone_and_catches_thresholds_from_elsewhere():
    recorded = [{**f.ranges(), "thresholds": {"from": {"band": "validation", "range": list(f.validation)}}}
                for f in folds()]
    assert audit(recorded, pooled_ic=0.01).passed
    recorded[2]["thresholds"]["from"] = {"band": "test", "range": recorded[2]["test"]}
    report = audit(recorded, pooled_ic=0.01)
    assert [(p.check, p.fold) for p in report.problems] == [("thresholds_source", 2)]


def test_a_planted_look_ahead_feature_is_flagged_and_honest_features_are_not(frame):
    cheat = run(frame, features=("ret1", "ret5", "leak"))
    flagged = audit(cheat.folds, pooled_ic=cheat.summary["ic"])
    assert cheat.summary["ic"] > 0.9
    assert [f.check for f in flagged.flags] == ["implausible_skill"] and flagged.passed  # ranges are fine
    assert max(cheat.folds[0]["importances"], key=cheat.folds[0]["importances"].get) == "leak"
    honest = run(frame)
    assert abs(honest.summary["ic"]) < 0.3
    assert audit(honest.folds, pooled_ic=honest.summary["ic"]).flags == ()


@pytest.mark.parametrize("rule", [ThresholdRule(), ThresholdRule(kind="sharpe", candidates=(0.6, 0.8))])
def test_thresholds_never_depend_on_the_test_window(frame, rule):
    base = run(frame, rule=rule)
    fold = folds()[2]
    changed = frame.copy()
    start, stop = fold.test
    # every price of fold 2's test window scaled up: its targets move, features are left as they were
    changed.loc[start:stop - 1, ["open", "high", "low", "close"]] *= 1.5
    moved = run(changed, rule=rule)
    for k in range(3):
        assert moved.folds[k]["thresholds"] == base.folds[k]["thresholds"]
    before, after = (r.predictions.query("fold == 2 and band == 'test'")["target"].to_numpy() for r in (base, moved))
    assert not np.allclose(before, after, equal_nan=True)
    assert moved.folds[2]["metrics"] != base.folds[2]["metrics"]


@pytest.mark.parametrize("model", [
    {**FAST_LGBM, "subsample": 0.7, "subsample_freq": 1, "colsample_bytree": 0.5},
    {"kind": "xgboost_regressor", "n_estimators": 20, "max_depth": 3, "subsample": 0.7, "colsample_bytree": 0.5},
])
def test_the_same_seed_and_threads_give_identical_predictions(frame, model):
    features = ("ret1", "ret5", "leak")
    first = run(frame, features=features, model=model, threads=2)
    again = run(frame, features=features, model=model, threads=2)
    np.testing.assert_array_equal(first.predictions["prediction"], again.predictions["prediction"])
    other = run(frame, features=features, model=model, threads=2, seed=8)
    assert not np.array_equal(first.predictions["prediction"], other.predictions["prediction"])


@pytest.mark.parametrize(("model", "target", "rule"), [
    ({"kind": "xgboost_classifier", "n_estimators": 10}, TargetSpec(kind="sign", horizon=HORIZON), ThresholdRule()),
    ({"kind": "hist_gradient_boosting_classifier", "max_iter": 10}, TargetSpec(kind="quantile", horizon=HORIZON),
     ThresholdRule(kind="sharpe", short=False)),
    ({"kind": "hist_gradient_boosting_regressor", "max_iter": 10}, TARGET, ThresholdRule()),
    ({"kind": "ridge"}, TARGET, ThresholdRule()),
    ({"kind": "logistic"}, TargetSpec(kind="sign", horizon=HORIZON), ThresholdRule()),
    ({"kind": "lightgbm_classifier", "n_estimators": 10}, TargetSpec(kind="quantile", horizon=HORIZON, classes=4),
     ThresholdRule()),
])
def test_every_model_on_the_whitelist_runs(frame, model, target, rule):
    result = run(frame, model=model, target=target, rule=rule, features=("ret1", "ret5"))
    metrics = result.folds[0]["metrics"]
    assert ("auc" in metrics) == (target.task == "classification")
    assert result.predictions["prediction"].notna().all()
    if rule.short is False:
        assert all(f["thresholds"]["short"] is None for f in result.folds)


@pytest.mark.parametrize(("change", "field"), [
    ({"model": {"kind": "random_forest"}}, "model.kind"),
    ({"model": {"kind": "lightgbm_regressor", "n_trees": 5}}, "n_trees"),
    ({"model": {"kind": "lightgbm_regressor", "learning_rate": -1}}, "learning_rate"),
    ({"model": {"kind": "logistic"}}, "target"),
    ({"features": ["nope"]}, "features"),
    ({"features": ["empty"]}, "features"),
    ({"features": []}, "features"),
    ({"seed": -1}, "seed"),
    ({"threads": 0}, "threads"),
    ({"folds": folds(2000)}, "folds"),
    ({"folds": make_folds(n=BARS, train=250, validation=100, test=100, horizon=2)}, "folds"),
])
def test_hostile_inputs_are_refused_naming_the_field(frame, change, field):
    arguments = {"features": ["ret1"], "target": TARGET, "model": FAST_LGBM, "folds": folds(),
                 "threshold_rule": ThresholdRule(), "seed": 1, "threads": 1, **change}
    fitted = []
    with pytest.raises(ValueError, match=field):
        walk_forward(frame, progress=lambda share, words: fitted.append(share), **arguments)
    assert fitted == []


# -- combinatorial purged cross-validation --------------------------------------------------------

def cpcv_folds(n: int = BARS, **more):
    arguments = {"n": n, "validation": 60, "horizon": HORIZON, "embargo": 5, "mode": "combinatorial",
                 "groups": 6, "test_groups": 2, **more}
    return make_folds(**arguments)


def test_combinatorial_folds_fit_once_per_split_and_chain_each_path_from_the_initial_cash(frame):
    layout = cpcv_folds()
    result = run(frame, folds=layout)
    assert len(result.folds) == 30 and {f["path"] for f in result.folds} == set(range(5))
    by_split: dict[int, list] = {}
    for record in result.folds:
        by_split.setdefault(record["split"], []).append(record)
    for records in by_split.values():
        # one model per split: the same validation predictions and thresholds for its two test groups
        assert len(records) == 2 and records[0]["thresholds"] == records[1]["thresholds"]
        validation = [result.predictions.query(f"fold == {r['index']} and band == 'validation'")["prediction"]
                      .to_numpy() for r in records]
        np.testing.assert_array_equal(*validation)
    curve = result.equity
    path_of = {r["index"]: r["path"] for r in result.folds}
    firsts = curve.groupby("fold").head(1).assign(path=lambda d: d["fold"].map(path_of))
    # every path starts flat from the initial cash; within a path each fold starts where the last ended
    assert firsts.groupby("path")["equity"].first().eq(1e5).all()
    for path in range(5):
        tested = curve[curve["fold"].map(path_of) == path]
        assert tested["row"].tolist() == list(range(BARS))  # each path tests every bar once, in time order
    paths = result.summary["paths"]
    assert [p["path"] for p in paths] == list(range(5))
    # the summary is the paths' average, the worst drawdown of any path
    assert result.summary["sharpe"] == pytest.approx(np.mean([p["sharpe"] for p in paths]))
    assert result.summary["return_pct"] == pytest.approx(np.mean([p["return_pct"] for p in paths]))
    assert result.summary["max_drawdown_pct"] == min(p["max_drawdown_pct"] for p in paths)
    for p in paths:
        assert p["return_pct"] == pytest.approx((p["final_equity"] / 1e5 - 1) * 100)
    assert audit(result.folds, pooled_ic=result.summary["ic"]).passed


def test_a_combinatorial_run_trains_on_neither_its_test_groups_nor_their_purges_and_embargoes(frame):
    result = run(frame, folds=cpcv_folds())
    for record in result.folds:
        fold = cpcv_folds()[record["index"]]
        trained = set(fold.train_rows().tolist())
        same_split = [f for f in cpcv_folds() if f.split == fold.split]
        for other in same_split:
            start, stop = other.test
            assert not trained & set(range(start - HORIZON, stop + HORIZON + 5))
        v_start, v_stop = fold.validation
        assert not trained & set(range(v_start - HORIZON, v_stop))
        assert record["training_bars"] <= len(trained)


def test_the_audit_catches_combinatorial_training_that_reaches_a_test_group(frame):
    recorded = [{**f.ranges(), "thresholds": {"from": {"band": "validation", "range": list(f.validation)}}}
                for f in cpcv_folds()]
    assert audit(recorded, pooled_ic=0.01).passed
    # split 4 as a naive cross-validation would train it: every bar but its test groups and its
    # validation band — through the purges before and the embargoes after its test groups
    split = [r for r in recorded if r["split"] == 4]
    held = sorted([r["test"] for r in split] + [[split[0]["purge_validation"][0], split[0]["validation"][1]]])
    for record in split:
        record["train"], record["excluded"] = [0, BARS], held
    problems = audit(recorded, pooled_ic=0.01).problems
    assert {(p.check, p.fold) for p in problems} >= {(c, r["index"]) for r in split for c in ("label_overlap", "embargo")}
    assert {p.fold for p in problems} == {r["index"] for r in split}
    leaky = run(frame, folds=cpcv_folds(purge=2, allow_leaky=True))
    assert {p.check for p in audit(leaky.folds, pooled_ic=leaky.summary["ic"]).problems} == {"label_overlap"}


def test_a_planted_look_ahead_feature_is_flagged_under_combinatorial_folds_too(frame):
    cheat = run(frame, features=("ret1", "ret5", "leak"), folds=cpcv_folds())
    report = audit(cheat.folds, pooled_ic=cheat.summary["ic"])
    assert [f.check for f in report.flags] == ["implausible_skill"] and report.passed


def test_combinatorial_runs_are_deterministic(frame):
    model = {**FAST_LGBM, "subsample": 0.7, "subsample_freq": 1}
    first, again = (run(frame, model=model, folds=cpcv_folds(), threads=2) for _ in range(2))
    np.testing.assert_array_equal(first.predictions["prediction"], again.predictions["prediction"])
    assert first.summary == again.summary


def test_the_audit_catches_walk_forward_training_inside_an_earlier_embargo():
    recorded = [{**f.ranges(), "thresholds": {"from": {"band": "validation", "range": list(f.validation)}}}
                for f in folds(mode="expanding")]
    assert audit(recorded, pooled_ic=0.01).passed
    recorded[3]["embargoed"] = []  # fold 3 trained on the bars after fold 0's test window
    assert [(p.check, p.fold) for p in audit(recorded, pooled_ic=0.01).problems] == [("embargo", 3)]
