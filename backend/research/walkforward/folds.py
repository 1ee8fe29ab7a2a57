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

**Combinatorial purged cross-validation** (``mode="combinatorial"``, López de Prado's CPCV, split
by skfolio's ``CombinatorialPurgedCV``): the bars are cut into ``groups`` contiguous groups; each
split tests ``test_groups`` of them and trains on the rest, less ``purge`` bars before every test
group (training labels reaching it) and ``purge + embargo`` bars after it. A split's test groups
recombine into backtest *paths*: each path tests every group once, so one configuration gives
several full out-of-sample histories instead of one. Here one fold is one (split, test group):
the folds of a split share one model and one pair of thresholds. The validation band of a split
is the last ``validation`` bars of its longest stretch of training bars (the latest when two are
as long), with ``purge`` bars before it taken out of training too; the bars the model trains on
are ``Fold.train`` less ``Fold.excluded``. Folds are ordered path by path, each path in time order,
so a path's equity chains fold after fold like a walk-forward run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from math import comb
from typing import Any, Final, Literal

import numpy as np

Range = tuple[int, int]
MODES: Final = ("rolling", "expanding", "combinatorial")
BARS_MAX: Final = 100_000_000
GROUPS_MAX: Final = 50
SPLITS_MAX: Final = 252  # one model per split: C(10, 5)


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
    # combinatorial folds only: what inside ``train`` is held out (the split's test groups, their
    # purges and embargoes, the validation band and its purge), the split and the backtest path
    excluded: tuple[Range, ...] = ()
    split: int | None = None
    path: int | None = None

    def train_rows(self) -> np.ndarray:
        """The bars the model trains on: the training window less the embargoed and excluded ranges."""
        rows = np.arange(*self.train)
        keep = np.ones(len(rows), dtype=bool)
        for start, stop in (*self.embargoed, *self.excluded):
            keep &= (rows < start) | (rows >= stop)
        return rows[keep]

    def trained(self) -> tuple[Range, ...]:
        """The bars trained on as ranges."""
        return runs(self.train_rows())

    def band(self, name: str) -> Range:
        return getattr(self, name)  # type: ignore[no-any-return]

    def ranges(self) -> dict[str, Any]:
        """The bands as JSON: what a run records and what the audit reads back."""
        return {"index": self.index, "train": list(self.train), "purge_validation": list(self.purge_validation),
                "validation": list(self.validation), "purge_test": list(self.purge_test),
                "test": list(self.test), "embargo": list(self.embargo),
                "embargoed": [list(r) for r in self.embargoed], "horizon": self.horizon,
                **({"split": self.split, "path": self.path, "excluded": [list(r) for r in self.excluded]}
                   if self.split is not None else {})}


def runs(rows: np.ndarray) -> tuple[Range, ...]:
    """Sorted distinct bar indices as half-open ranges of consecutive bars."""
    if len(rows) == 0:
        return ()
    breaks = np.flatnonzero(np.diff(rows) != 1)
    starts = np.concatenate(([rows[0]], rows[breaks + 1]))
    stops = np.concatenate((rows[breaks] + 1, [rows[-1] + 1]))
    return tuple((int(a), int(b)) for a, b in zip(starts, stops, strict=True))


def _whole(name: str, value: object, *, low: int, high: int = BARS_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}: a whole number, got {str(value)[:40]!r}")  # noqa: TRY004 (bad input is a ValueError)
    if not low <= int(value) <= high:
        raise ValueError(f"{name}: {int(value)} is outside [{low}, {high}]")
    return int(value)


def make_folds(*, n: int, validation: int, horizon: int, train: int | None = None, test: int | None = None,
               purge: int | None = None, embargo: int = 0,
               mode: Literal["rolling", "expanding", "combinatorial"] = "rolling", min_test: int | None = None,
               groups: int | None = None, test_groups: int | None = None,
               allow_leaky: bool = False) -> tuple[Fold, ...]:
    """The folds over ``n`` bars. Every argument is checked first (a ``ValueError`` naming it);
    ``purge`` defaults to ``horizon`` and below it is refused — ``allow_leaky`` lets it through,
    for the audit's own test of leaky folds only. Rolling and expanding folds need ``train`` and
    ``test``; combinatorial ones ``groups`` and ``test_groups`` instead."""
    n = _whole("n", n, low=1)
    validation = _whole("validation", validation, low=1)
    horizon = _whole("horizon", horizon, low=1, high=100_000)
    purge = horizon if purge is None else _whole("purge", purge, low=0)
    embargo = _whole("embargo", embargo, low=0)
    if mode not in MODES:
        raise ValueError(f"mode: one of {', '.join(MODES)}, got {str(mode)[:40]!r}")
    if not isinstance(allow_leaky, bool):
        raise ValueError(f"allow_leaky: true or false, got {str(allow_leaky)[:40]!r}")  # noqa: TRY004
    if purge < horizon and not allow_leaky:
        raise ValueError(f"purge: {purge} bars is below the label horizon of {horizon} bars: training labels "
                         "would reach into the validation and test windows")
    if mode == "combinatorial":
        for name, value in (("train", train), ("test", test), ("min_test", min_test)):
            if value is not None:
                raise ValueError(f"{name}: not used by combinatorial folds (groups and test_groups set the sizes)")
        if groups is None or test_groups is None:
            raise ValueError(f"{'groups' if groups is None else 'test_groups'}: needed for combinatorial folds")
        groups = _whole("groups", groups, low=3, high=GROUPS_MAX)
        test_groups = _whole("test_groups", test_groups, low=2, high=groups - 1)
        return _combinatorial(n=n, groups=groups, test_groups=test_groups, validation=validation, horizon=horizon,
                              purge=purge, embargo=embargo)
    for name, value in (("groups", groups), ("test_groups", test_groups)):
        if value is not None:
            raise ValueError(f"{name}: only for combinatorial folds")
    if train is None or test is None:
        raise ValueError(f"{'train' if train is None else 'test'}: needed for {mode} folds")
    train = _whole("train", train, low=1)
    test = _whole("test", test, low=1)
    min_test = max(1, test // 2) if min_test is None else _whole("min_test", min_test, low=1, high=test)
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


def _combinatorial(*, n: int, groups: int, test_groups: int, validation: int, horizon: int, purge: int,
                   embargo: int) -> tuple[Fold, ...]:
    """The combinatorial folds (the module's docstring says how they are cut)."""
    splits = comb(groups, test_groups)
    if splits > SPLITS_MAX:
        raise ValueError(f"test_groups: {groups} groups taken {test_groups} at a time make {splits} splits, "
                         f"each fitted once; at most {SPLITS_MAX}")
    if n // groups < 2 * purge + embargo + 1:
        raise ValueError(f"n: {n} bars in {groups} groups leave {n // groups} bars per group, too few around a "
                         f"purge of {purge} and an embargo of {embargo}")
    from skfolio.model_selection import CombinatorialPurgedCV  # a second or more to import: only when asked for

    cv = CombinatorialPurgedCV(n_folds=groups, n_test_folds=test_groups, purged_size=purge, embargo_size=embargo)
    paths = cv.get_path_ids()
    made: list[Fold] = []
    for s, (train_rows, tests) in enumerate(cv.split(np.empty((n, 1)))):
        stretches = runs(np.sort(np.asarray(train_rows)))
        longest = max(stretches, key=lambda r: (r[1] - r[0], r[0]))
        if longest[1] - longest[0] < validation + purge + 1:
            raise ValueError(f"validation: split {s}'s longest stretch of training bars is {longest[1] - longest[0]} "
                             f"bars, too few for {validation} validation bars after a purge of {purge}")
        v_start = longest[1] - validation
        kept = np.asarray(train_rows)
        kept = np.sort(kept[(kept < v_start - purge) | (kept >= longest[1])])
        span = (int(kept[0]), int(kept[-1]) + 1)
        excluded = tuple((a[1], b[0]) for a, b in pairwise(runs(kept)))  # the gaps between trained stretches
        for j, group in enumerate(tests):
            t_start, t_stop = int(np.min(group)), int(np.max(group)) + 1
            made.append(Fold(index=0, train=span, purge_validation=(v_start - purge, v_start),
                             validation=(v_start, longest[1]), purge_test=(max(0, t_start - purge), t_start),
                             test=(t_start, t_stop), embargo=(t_stop, min(t_stop + purge + embargo, n)),
                             embargoed=(), horizon=horizon, excluded=excluded, split=s, path=int(paths[s][j])))
    made.sort(key=lambda f: (f.path, f.test[0]))
    return tuple(Fold(**{**f.__dict__, "index": i}) for i, f in enumerate(made))


__all__ = ["GROUPS_MAX", "MODES", "SPLITS_MAX", "Fold", "Range", "make_folds", "runs"]
