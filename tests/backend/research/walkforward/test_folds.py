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
