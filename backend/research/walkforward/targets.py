"""What a model learns to predict, from the close: the forward return over ``horizon`` bars, its
sign, or its quantile class.

The label of bar ``i`` is made from ``close[i]`` and ``close[i + horizon]``: it is known only
``horizon`` bars later, which is why folds purge ``horizon`` bars between bands. The last
``horizon`` bars have no label (NaN).

Quantile classes take their boundaries from the training window alone
(``quantile_classes(returns, training=rows)``): boundaries taken from the whole series would tell
the model where the test period's returns lie.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

KINDS: Final = ("return", "sign", "quantile")


class TargetSpec(BaseModel):
    """``return``: the forward return (regression); ``sign``: 1 when it is above 0, else 0
    (classification); ``quantile``: its class among ``classes`` quantiles of the training window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["return", "sign", "quantile"] = "return"
    horizon: int = Field(1, ge=1, le=10_000)
    classes: int = Field(3, ge=2, le=10)  # read by a quantile target only

    @property
    def task(self) -> Literal["regression", "classification"]:
        return "regression" if self.kind == "return" else "classification"

    def labels(self, close: np.ndarray, training: np.ndarray) -> np.ndarray:
        """The label of every bar (NaN where unknown); ``training`` — the training rows — is read
        only by a quantile target, for its boundaries."""
        returns = forward_return(close, self.horizon)
        if self.kind == "return":
            return returns
        if self.kind == "sign":
            return sign_of(returns)
        return quantile_classes(returns, training=training, classes=self.classes)


def forward_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """``close[i + horizon] / close[i] − 1``; NaN for the last ``horizon`` bars."""
    values = np.asarray(close, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"close: one-dimensional, got shape {values.shape}")
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon: a whole number of at least 1, got {str(horizon)[:40]!r}")
    out = np.full(len(values), np.nan)
    if horizon < len(values):
        out[:-horizon] = values[horizon:] / values[:-horizon] - 1.0
    return out


def sign_of(returns: np.ndarray) -> np.ndarray:
    """1.0 above 0, 0.0 at or below it, NaN where the return is unknown."""
    return np.where(np.isnan(returns), np.nan, (returns > 0).astype(np.float64))


def quantile_boundaries(train_returns: np.ndarray, classes: int) -> np.ndarray:
    """The ``classes − 1`` inner quantiles of the training window's known returns."""
    known = train_returns[np.isfinite(train_returns)]
    if len(known) < classes:
        raise ValueError(f"target: {len(known)} known returns in the training window, fewer than {classes} classes")
    return np.quantile(known, np.arange(1, classes) / classes)


def quantile_classes(returns: np.ndarray, *, training: np.ndarray, classes: int) -> np.ndarray:
    """Each bar's class 0 … ``classes − 1``, with boundaries from ``returns[training]`` only."""
    bounds = quantile_boundaries(returns[training], classes)
    labels = np.searchsorted(bounds, returns, side="right").astype(np.float64)
    labels[np.isnan(returns)] = np.nan
    return labels


__all__ = ["KINDS", "TargetSpec", "forward_return", "quantile_boundaries", "quantile_classes", "sign_of"]
