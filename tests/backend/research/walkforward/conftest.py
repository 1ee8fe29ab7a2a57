"""Small synthetic markets for the walk-forward tests: a random walk (nothing to predict) with
honest trailing-return features, and a look-ahead feature planted beside them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.measurements.frames import as_table
from backend.measurements.parquet_store import ParquetMeasurements
from backend.measurements.records import MeasurementRecords
from backend.meta import open_meta
from backend.research.dataset_service import Datasets
from backend.research.datasets import Bars

HORIZON = 5
BARS = 930  # the last test window is 70 bars: a partial fold
FAST_LGBM = {"kind": "lightgbm_regressor", "n_estimators": 20, "num_leaves": 7, "min_child_samples": 10}


def market(n: int = BARS, seed: int = 1) -> pd.DataFrame:
    """Daily bars of a random walk, with ``ret1``/``ret5`` (trailing returns: honest) and ``leak``
    (the forward return over ``HORIZON`` bars: the target shifted into the features)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    frame = pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
                          "open": open_, "high": np.maximum(open_, close) * 1.002,
                          "low": np.minimum(open_, close) * 0.998, "close": close})
    frame["ret1"] = frame["close"].pct_change()
    frame["ret5"] = frame["close"].pct_change(5)
    frame["leak"] = frame["close"].shift(-HORIZON) / frame["close"] - 1
    frame["empty"] = np.nan
    return frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return market()


@pytest.fixture
def datasets(tmp_path: Path) -> Datasets:
    made = Datasets(ParquetMeasurements(tmp_path / "m"), MeasurementRecords(open_meta(f"sqlite:///{tmp_path}/meta.db")),
                    "parquet")
    made.add("walk", Bars(as_table(market()), "UTC"), source="a random walk")
    return made
