"""Targets from the close: forward returns, their sign, and quantile classes whose boundaries come
from the training window only."""

from __future__ import annotations

import numpy as np
import pytest

from backend.research.walkforward.targets import TargetSpec, forward_return, quantile_classes, sign_of


def test_forward_return_looks_horizon_bars_ahead_and_leaves_the_end_unknown():
    close = np.array([100.0, 110.0, 99.0, 99.0, 120.0])
    np.testing.assert_allclose(forward_return(close, 2), [-0.01, -0.1, 120 / 99 - 1, np.nan, np.nan])
    np.testing.assert_array_equal(sign_of(forward_return(close, 2)), [0.0, 0.0, 1.0, np.nan, np.nan])


def test_quantile_boundaries_come_from_the_training_rows_only():
    returns = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 10.0, -10.0, np.nan])
    training = np.arange(6)
    labels = quantile_classes(returns, training=training, classes=3)
    # training tertiles at ≈0.0267 and ≈0.0433: the extreme later returns change nothing in them
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2, 2, 0, np.nan])
    moved = returns.copy()
    moved[6:8] = [-99.0, 99.0]
    np.testing.assert_array_equal(quantile_classes(moved, training=training, classes=3)[:6], labels[:6])


def test_a_target_spec_is_checked_and_says_its_task():
    assert TargetSpec(kind="return").task == "regression"
    assert TargetSpec(kind="quantile", classes=4).task == "classification"
    with pytest.raises(ValueError, match="horizon"):
        TargetSpec(horizon=0)
    with pytest.raises(ValueError, match="extra"):
        TargetSpec(kind="sign", lookahead=3)
