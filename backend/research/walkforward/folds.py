"""Walk-forward folds over ``n`` bars: where each model trains, chooses its thresholds and is tested.

Every band is a half-open range of bar indices ``(start, stop)``. One fold reads, in time order::

    train | purge | validation | purge | test | embargo

- ``train`` is ``train`` bars long (rolling) or runs from bar 0 (expanding);
- each ``purge`` is ``purge`` bars that belong to no band: a label looks ``horizon`` bars ahead,
  so with ``purge >= horizon`` no training label reaches a validation bar and no validation label
  reaches a test bar;
- ``validation`` (``validation`` bars) is where thresholds are chosen;
- ``test`` (``test`` bars) is what the fold is judged on; the next fold's test starts where this
  one stops (the step is the test size), so the test windows tile the data without overlap;
- ``embargo`` is the ``embargo`` bars after the test window. They are taken out of every later
  fold's training window (``Fold.embargoed``): bars just after a test window share its information
  (serial correlation, indicators looking back over it), so no model learns from them.

The last fold may have a shorter test window: it is kept when it holds at least ``min_test`` bars
(by default half a test window, at least one bar), so the end of the data is tested unless too
little is left to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

Range = tuple[int, int]
MODES: Final = ("rolling", "expanding")
BARS_MAX: Final = 100_000_000


@dataclass(frozen=True)
class Fold:
    """One fold's bands as half-open bar ranges, and the label horizon they were built for."""

    index: int
    train: Range
    purge_validation: Range
    validation: Range
    purge_test: Range
    test: Range
    embargo: Range
    embargoed: tuple[Range, ...]  # earlier folds' embargoes inside ``train``: not trained on
    horizon: int

    def train_rows(self) -> np.ndarray:
        """The bars the model trains on: the training window less the embargoed ranges."""
        rows = np.arange(*self.train)
        keep = np.ones(len(rows), dtype=bool)
        for start, stop in self.embargoed:
            keep &= (rows < start) | (rows >= stop)
        return rows[keep]

    def band(self, name: str) -> Range:
        return getattr(self, name)  # type: ignore[no-any-return]

    def ranges(self) -> dict[str, Any]:
        """The bands as JSON: what a run records and what the audit reads back."""
        return {"index": self.index, "train": list(self.train), "purge_validation": list(self.purge_validation),
                "validation": list(self.validation), "purge_test": list(self.purge_test),
                "test": list(self.test), "embargo": list(self.embargo),
                "embargoed": [list(r) for r in self.embargoed], "horizon": self.horizon}


def _whole(name: str, value: object, *, low: int, high: int = BARS_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}: a whole number, got {str(value)[:40]!r}")  # noqa: TRY004 (bad input is a ValueError)
    if not low <= int(value) <= high:
        raise ValueError(f"{name}: {int(value)} is outside [{low}, {high}]")
    return int(value)


def make_folds(*, n: int, train: int, validation: int, test: int, horizon: int, purge: int | None = None,
               embargo: int = 0, mode: Literal["rolling", "expanding"] = "rolling", min_test: int | None = None,
               allow_leaky: bool = False) -> tuple[Fold, ...]:
    """The folds over ``n`` bars. Every argument is checked first (a ``ValueError`` naming it);
    ``purge`` defaults to ``horizon`` and below it is refused — ``allow_leaky`` lets it through,
    for the audit's own test of leaky folds only."""
    n = _whole("n", n, low=1)
    train = _whole("train", train, low=1)
    validation = _whole("validation", validation, low=1)
    test = _whole("test", test, low=1)
    horizon = _whole("horizon", horizon, low=1, high=100_000)
    purge = horizon if purge is None else _whole("purge", purge, low=0)
    embargo = _whole("embargo", embargo, low=0)
    if mode not in MODES:
        raise ValueError(f"mode: one of {', '.join(MODES)}, got {str(mode)[:40]!r}")
    min_test = max(1, test // 2) if min_test is None else _whole("min_test", min_test, low=1, high=test)
    if not isinstance(allow_leaky, bool):
        raise ValueError(f"allow_leaky: true or false, got {str(allow_leaky)[:40]!r}")  # noqa: TRY004
    if purge < horizon and not allow_leaky:
        raise ValueError(f"purge: {purge} bars is below the label horizon of {horizon} bars: training labels "
                         "would reach into the validation and test windows")
    first_test = train + 2 * purge + validation
    if n - first_test < min_test:
        raise ValueError(f"n: {n} bars hold no fold: one needs {first_test + min_test} "
                         f"(train {train} + 2 × purge {purge} + validation {validation} + min_test {min_test})")
    folds: list[Fold] = []
    embargoes: list[Range] = []
    start = first_test
    while n - start >= min_test:
        stop = min(start + test, n)
        v_start = start - purge - validation
        t_stop = v_start - purge
        t_start = 0 if mode == "expanding" else t_stop - train
        inside = tuple((max(a, t_start), min(b, t_stop)) for a, b in embargoes if a < t_stop and b > t_start)
        folds.append(Fold(index=len(folds), train=(t_start, t_stop), purge_validation=(t_stop, v_start),
                          validation=(v_start, v_start + validation), purge_test=(v_start + validation, start),
                          test=(start, stop), embargo=(stop, min(stop + embargo, n)), embargoed=inside,
                          horizon=horizon))
        if embargo:
            embargoes.append((stop, min(stop + embargo, n)))
        start = stop
    return tuple(folds)


__all__ = ["MODES", "Fold", "Range", "make_folds"]
