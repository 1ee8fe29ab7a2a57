"""Fold construction against hand-worked layouts: rolling and expanding windows, both purges, the
embargo taken out of later training windows, a last partial test window, and every bad argument
refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from backend.research.walkforward.folds import Fold, make_folds


def bands(fold: Fold) -> tuple:
    return (fold.train, fold.purge_validation, fold.validation, fold.purge_test, fold.test, fold.embargo,
            fold.embargoed)


def test_rolling_folds_step_by_the_test_size_with_both_purges():
    # train 10 | purge 2 | validation 4 | purge 2 | test 5 | embargo 1; the third test window (28, 31)
    # holds 3 bars, which min_test=3 keeps
    folds = make_folds(n=31, train=10, validation=4, test=5, horizon=2, purge=2, embargo=1, min_test=3)
    assert [bands(f) for f in folds] == [
        ((0, 10), (10, 12), (12, 16), (16, 18), (18, 23), (23, 24), ()),
        ((5, 15), (15, 17), (17, 21), (21, 23), (23, 28), (28, 29), ()),
        ((10, 20), (20, 22), (22, 26), (26, 28), (28, 31), (31, 31), ()),
    ]
    assert [f.index for f in folds] == [0, 1, 2] and all(f.horizon == 2 for f in folds)


def test_a_last_test_window_shorter_than_min_test_is_dropped():
    folds = make_folds(n=30, train=10, validation=4, test=5, horizon=2, purge=2, min_test=3)
    assert [f.test for f in folds] == [(18, 23), (23, 28)]  # (28, 30) has 2 bars < 3


def test_expanding_folds_train_from_the_start_less_earlier_embargoes():
    folds = make_folds(n=40, train=10, validation=4, test=5, horizon=2, purge=2, embargo=1, mode="expanding")
    assert [bands(f) for f in folds] == [
        ((0, 10), (10, 12), (12, 16), (16, 18), (18, 23), (23, 24), ()),
        ((0, 15), (15, 17), (17, 21), (21, 23), (23, 28), (28, 29), ()),
        ((0, 20), (20, 22), (22, 26), (26, 28), (28, 33), (33, 34), ()),
        ((0, 25), (25, 27), (27, 31), (31, 33), (33, 38), (38, 39), ((23, 24),)),
        # the default min_test is half a test window (2 bars): the last 2 bars make a fold
        ((0, 30), (30, 32), (32, 36), (36, 38), (38, 40), (40, 40), ((23, 24), (28, 29))),
    ]
    np.testing.assert_array_equal(folds[4].train_rows(), [*range(23), *range(24, 28), 29])


def test_purge_defaults_to_the_horizon():
    fold = make_folds(n=50, train=10, validation=5, test=5, horizon=3)[0]
    assert (fold.purge_validation, fold.purge_test) == ((10, 13), (18, 21))


def test_purge_below_the_horizon_is_refused_unless_leaky_folds_are_asked_for():
    with pytest.raises(ValueError, match=r"purge: 1 bars is below the label horizon of 3"):
        make_folds(n=60, train=10, validation=4, test=5, horizon=3, purge=1)
    leaky = make_folds(n=60, train=10, validation=4, test=5, horizon=3, purge=1, allow_leaky=True)
    assert leaky[0].validation == (11, 15)


@pytest.mark.parametrize(("change", "field"), [
    ({"train": -5}, "train"), ({"validation": 0}, "validation"), ({"test": -1}, "test"), ({"horizon": 0}, "horizon"),
    ({"purge": -1}, "purge"), ({"embargo": -2}, "embargo"), ({"mode": "sliding"}, "mode"),
    ({"min_test": 9}, "min_test"), ({"train": 2.5}, "train"), ({"train": True}, "train"), ({"n": 19}, "n"),
    ({"allow_leaky": "yes"}, "allow_leaky"),
])
def test_bad_arguments_are_refused_naming_the_field(change, field):
    arguments = {"n": 60, "train": 10, "validation": 4, "test": 5, "horizon": 2, **change}
    with pytest.raises(ValueError, match=rf"^{field}:"):
        make_folds(**arguments)


def test_make_folds_is_keyword_only():
    with pytest.raises(TypeError):
        make_folds(60, 10, 4, 5, 2)  # type: ignore[misc]


# -- combinatorial purged cross-validation --------------------------------------------------------

def cpcv(**more):
    arguments = {"n": 50, "validation": 4, "horizon": 2, "purge": 2, "embargo": 3, "mode": "combinatorial",
                 "groups": 5, "test_groups": 2, **more}
    return make_folds(**arguments)


def expected_training(n: int, tests: list[tuple[int, int]], purge: int, embargo: int,
                      validation: int) -> tuple[set[int], tuple[int, int]]:
    """The rule written out bar by bar: every bar less the split's test groups, ``purge`` bars before
    each, ``purge + embargo`` after each; then the validation band at the end of the longest stretch
    left (the latest of equals) and ``purge`` bars before it."""
    bars = set(range(n))
    for start, stop in tests:
        bars -= set(range(start - purge, stop + purge + embargo))
    stretches, run = [], []
    for i in sorted(bars):
        if run and i != run[-1] + 1:
            stretches.append(run)
            run = []
        run.append(i)
    stretches.append(run)
    longest = max(stretches, key=lambda r: (len(r), r[0]))
    v_stop = longest[-1] + 1
    v_start = v_stop - validation
    return bars - set(range(v_start - purge, v_stop)), (v_start, v_stop)


def test_combinatorial_folds_hand_worked():
    # 50 bars in 5 groups of 10; split 0 tests groups 0 and 1 ([0, 20)): training is [25, 50) — 20..24
    # are the purge (2) and embargo (3) after the test — less the validation band at its end [46, 50)
    # and the purge before it [44, 46)
    folds = cpcv()
    first = folds[0]
    assert (first.split, first.path, first.test, first.validation, first.purge_validation) == \
        (0, 0, (0, 10), (46, 50), (44, 46))
    assert first.trained() == ((25, 44),) and first.embargo == (10, 15)
    # split 5 tests groups 1 and 3 ([10, 20), [30, 40)): what is left is [0, 8), [25, 28), [45, 50);
    # the longest stretch is [0, 8): validation [4, 8), its purge [2, 4), training [0, 2) ∪ [25, 28) ∪ [45, 50)
    split5 = [f for f in folds if f.split == 5]
    assert sorted(f.test for f in split5) == [(10, 20), (30, 40)]
    assert all(f.validation == (4, 8) and f.trained() == ((0, 2), (25, 28), (45, 50)) for f in split5)


def test_every_combinatorial_fold_follows_the_rule_bar_by_bar():
    for arguments in ({}, {"n": 97, "groups": 6, "test_groups": 3, "purge": 3, "embargo": 0, "horizon": 3},
                      {"n": 120, "groups": 4, "test_groups": 2, "validation": 7}):
        folds = cpcv(**arguments)
        n = arguments.get("n", 50)
        by_split: dict[int, list] = {}
        for fold in folds:
            by_split.setdefault(fold.split, []).append(fold)
        for split in by_split.values():
            tests = sorted(f.test for f in split)
            trained, validation = expected_training(n, tests, split[0].horizon if "purge" not in arguments
                                                    else arguments["purge"], arguments.get("embargo", 3),
                                                    arguments.get("validation", 4))
            for fold in split:
                assert set(fold.train_rows().tolist()) == trained
                assert fold.validation == validation


def test_each_backtest_path_tests_every_bar_once_in_time_order():
    folds = cpcv(n=60, groups=6, test_groups=2)
    paths: dict[int, list] = {}
    for fold in folds:
        paths.setdefault(fold.path, []).append(fold.test)
    assert len(folds) == 15 * 2 and len(paths) == 5  # C(6, 2) splits, C(5, 1) paths
    for tests in paths.values():
        assert tests == sorted(tests) and [b for t in tests for b in range(*t)] == list(range(60))
    assert [f.index for f in folds] == list(range(30))
    assert [f.path for f in folds] == sorted(f.path for f in folds)  # ordered path by path


@pytest.mark.parametrize(("change", "field"), [
    ({"groups": None}, "groups"), ({"test_groups": None}, "test_groups"), ({"groups": 2}, "groups"),
    ({"test_groups": 5}, "test_groups"), ({"test_groups": 1}, "test_groups"), ({"groups": 51}, "groups"),
    ({"train": 10}, "train"), ({"test": 5}, "test"), ({"groups": 12, "test_groups": 6, "n": 1200}, "test_groups"),
    ({"validation": 30}, "validation"), ({"n": 20}, "n"), ({"groups": "5"}, "groups"),
])
def test_bad_combinatorial_arguments_are_refused_naming_the_field(change, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        cpcv(**change)


def test_groups_belong_to_combinatorial_folds_only():
    with pytest.raises(ValueError, match=r"^groups: only for combinatorial folds"):
        make_folds(n=60, train=10, validation=4, test=5, horizon=2, groups=5)
    with pytest.raises(ValueError, match=r"^train: needed for rolling folds"):
        make_folds(n=60, validation=4, test=5, horizon=2)
