"""The walk-forward benchmark runs end to end at toy sizes: both models' figure lines, their phase
split and reference, and the run browser's line (measured, or said to be not available yet). No
timing is judged here; the budgets are for the full sizes on the benchmark machine."""

from __future__ import annotations

import itertools
import uuid

import pytest

from benchmarks import walkforward

pytest.importorskip("lightgbm")
pytest.importorskip("xgboost")

# one thread: two OpenMP threads on a busy two-core test machine wait on each other for seconds
TOY = ["--bars", "3000", "--folds", "2", "--features", "8", "--trees", "5", "--runs", "40", "--threads", "1"]


def test_the_folds_tile_the_bars_after_the_first_training_window() -> None:
    folds = walkforward.fold_plan(100_000, 10)
    assert len(folds) == 10
    assert folds[0].train == (0, 40_000) and folds[0].validation == (40_005, 45_005)
    assert folds[-1].test[1] == 100_000
    assert all(a.test[1] == b.test[0] for a, b in itertools.pairwise(folds))


def test_features_look_back_only_and_come_in_the_number_asked() -> None:
    frame, names = walkforward.with_features(2_000, 34)
    assert len(names) == len(set(names)) == 34
    # a feature looking back only is unchanged when later bars are cut off
    cut = walkforward.feature_columns(walkforward.market(2_000).iloc[:1_500], 34)
    for name in names:
        assert frame[name].iloc[:1_500].to_numpy() == pytest.approx(cut[name], nan_ok=True), name


@pytest.mark.slow
def test_the_script_prints_every_figure_at_toy_sizes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                     warehouse_url: str) -> None:
    # the session's embedded warehouse: one process opens one chDB folder
    monkeypatch.setattr(walkforward, "warehouse_for", lambda work: (warehouse_url, f"bench_{uuid.uuid4().hex[:8]}"))
    assert walkforward.main(TOY) == 0
    out = capsys.readouterr().out
    assert "walk-forward, LightGBM, 2 folds × 3,000 bars × 8 f." in out
    assert "walk-forward, XGBoost, 2 folds × 3,000 bars × 8 f." in out
    assert out.count("bare fit") >= 2 and "→ ratio" in out
    for phase in ("fit ", "predict ", "thresholds ", "simulate ", "metrics ", "rest "):
        assert phase in out, phase
    assert "run browser list, 40 runs, sort + filter" in out
    assert "budgets met:" in out


def test_quiet_prints_the_figure_lines_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert walkforward.main([*TOY, "--quiet", "--only", "lightgbm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not any(line.startswith("  · ") for line in lines)
    assert len(lines) == 3 and lines[0].startswith("figure") and lines[-1].startswith("budgets met:")


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(SystemExit):
        walkforward.main(["--bars", "10"])
