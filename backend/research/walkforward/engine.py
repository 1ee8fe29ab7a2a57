"""The walk-forward loop: per fold, fit on the training window, predict validation and test,
choose thresholds on validation, judge on test.

``walk_forward(frame, *, features, target, model, folds, threshold_rule, seed, threads)`` reads a
frame of bars (``timestamp``, ``open``, ``high``, ``low``, ``close``) with feature columns. For
each fold:

- the model is fitted on the training rows (less embargoed bars) whose label is known;
- thresholds come from the validation predictions alone — their quantiles, or the quantile pair
  whose thresholded strategy has the best Sharpe ratio on the validation bars — so nothing in a
  test window moves them;
- on the test window: the information coefficient (Spearman correlation of predictions and the
  realised forward return), the hit rate (of the bars with a position, the share whose forward
  return had the position's sign), AUC (classifiers) or RMSE (regressors), and the thresholded
  strategy's return and Sharpe ratio through the simulator;
- the feature importances.

The strategy is flat when a test window starts and closes its position at the open after the
window's last bar (the signal of that last bar is not acted on), so the folds' curves chain into one
out-of-sample equity curve with nothing carried across a fold boundary. The last fold's position,
with no bar after it, is valued at the last close.

Combinatorial folds (``Fold.split`` set) are fitted once per split: the folds of a split share its
model, validation predictions and thresholds. Their equity chains path by path — each backtest
path starts from the initial cash — and the run's summary is the paths' average, with each path's
own figures beside it.

``progress(share, words)`` is called after every fold; whatever it raises (a cancelled job) stops
the run there. ``on_fold`` receives each finished fold first, so an interrupted run can be taken up
again from its last finished fold (``done``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.research.simulator.engine import Bars, SimulationResult, targets_from_predictions
from backend.research.simulator.requests import Costs
from backend.research.simulator.stats import compute_stats, sharpe_per_bar
from backend.research.walkforward.folds import Fold
from backend.research.walkforward.models import SpecBase, fit, parse_model, predict
from backend.research.walkforward.targets import TargetSpec, forward_return

ProgressFn = Callable[[float, str], None]
PRICES: Final = ("open", "high", "low", "close")
MIN_TRAIN_ROWS: Final = 10
SEED_MAX: Final = 2**31 - 1
THREADS_MAX: Final = 64
FOLD_STATS: Final = ("return_pct", "sharpe", "max_drawdown_pct", "trades", "exposure_pct")


class ThresholdRule(BaseModel):
    """``quantile``: long above the ``long_quantile`` of the validation predictions, short below the
    ``1 − long_quantile`` one; ``sharpe``: of the ``candidates`` quantiles, the one whose strategy
    has the best Sharpe ratio on the validation bars. ``short`` off trades long only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["quantile", "sharpe"] = "quantile"
    long_quantile: float = Field(0.7, gt=0.5, lt=1.0, allow_inf_nan=False)
    short: bool = True
    candidates: tuple[float, ...] = Field((0.55, 0.6, 0.7, 0.8, 0.9), min_length=1, max_length=50)

    @field_validator("candidates")
    @classmethod
    def _quantiles(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not (0.5 < q < 1.0) for q in value):
            raise ValueError("each candidate quantile is above 0.5 and below 1")
        return value


@dataclass(frozen=True)
class WalkForwardResult:
    """What a run made: one row per (fold, band, bar) predicted, one dict per fold, the stitched
    out-of-sample curve and its statistics."""

    predictions: pd.DataFrame  # timestamp, row, fold, band, prediction, target, forward_return
    folds: list[dict[str, Any]]
    equity: pd.DataFrame  # timestamp, row, fold, equity, position — test bars only
    summary: dict[str, Any]


@dataclass(frozen=True)
class FoldOutcome:
    """One finished fold: all a run needs of it to go on without fitting it again."""

    index: int
    rows: pd.DataFrame  # its predictions: timestamp, row, fold, band, prediction, target, forward_return
    curve: pd.DataFrame  # timestamp, row, fold, equity, position — its test bars, on the chained capital
    trades: pd.DataFrame
    record: dict[str, Any]
    capital: float  # the chained capital after the fold


FoldFn = Callable[[FoldOutcome], None]


def walk_forward(frame: pd.DataFrame, *, features: Sequence[str], target: TargetSpec, model: SpecBase | dict[str, Any],
                 folds: Sequence[Fold], threshold_rule: ThresholdRule, seed: int, threads: int,
                 costs: Costs | None = None, periods_per_year: float = 252.0,
                 progress: ProgressFn | None = None, done: Sequence[FoldOutcome] = (),
                 on_fold: FoldFn | None = None) -> WalkForwardResult:
    """Run every fold; a ``ValueError`` naming the argument or column when anything cannot be used
    (everything is checked before the first model is fitted).

    ``done``: the outcomes of the first folds from an earlier, interrupted run of the same inputs;
    they are taken as they are and the run goes on from the next fold. Fits are seeded, so the
    result equals an uninterrupted run's. ``on_fold`` receives each fold fitted here as soon as it
    is finished (before ``progress``, which may stop the run)."""
    spec = check_run(model, target, folds, len(frame), seed, threads)
    names = check_features(frame, features)
    bars = _bars(frame)
    outcomes = _check_done(done, folds)
    costs = costs or Costs()
    report = progress or (lambda share, words: None)
    x = np.array(frame[names].to_numpy(dtype=np.float64, na_value=np.nan), copy=True)  # ours to clean
    x[~np.isfinite(x)] = np.nan
    close = bars.close[:, 0]
    returns = forward_return(close, target.horizon)
    capital = outcomes[-1].capital if outcomes else costs.init_cash
    last_use = {f.split: k for k, f in enumerate(folds)}  # a split's model is dropped after its last fold
    shared: dict[int | None, _Split] = {}
    for k in range(len(outcomes), len(folds)):
        fold = folds[k]
        if k and fold.path != folds[k - 1].path:
            capital = costs.init_cash  # a new backtest path
        split = shared.get(fold.split) if fold.split is not None else None
        if split is None:
            split = _fit_split(fold, x=x, bars=bars, close=close, target=target, spec=spec, rule=threshold_rule,
                               seed=seed, threads=threads, costs=costs)
            if fold.split is not None:
                shared[fold.split] = split
        outcome = _run_fold(fold, split, x=x, names=names, bars=bars, returns=returns, target=target,
                            rule=threshold_rule, threads=threads, costs=costs, periods=periods_per_year,
                            capital=capital)
        if last_use.get(fold.split) == k:
            shared.pop(fold.split, None)
        capital = outcome.capital
        outcomes.append(outcome)
        if on_fold is not None:
            on_fold(outcome)
        report((k + 1) / len(folds), f"fold {k + 1} of {len(folds)}")
    predictions = pd.concat([o.rows for o in outcomes], ignore_index=True)
    equity = pd.concat([o.curve for o in outcomes], ignore_index=True)
    trades = [o.trades for o in outcomes]
    paths = [-1 if f.path is None else f.path for f in folds]
    finals = {paths[o.index]: o.capital for o in outcomes}  # each path's capital after its last fold
    return WalkForwardResult(predictions, [o.record for o in outcomes], equity,
                             _summary(predictions, equity, trades, close, periods_per_year, costs.init_cash, paths,
                                      finals))


@dataclass(frozen=True)
class _Split:
    """What the folds of one split share: the model, its training rows and labels, the validation
    predictions and the thresholds chosen on them."""

    fitted: Any
    trained: int
    labels: np.ndarray
    v_rows: np.ndarray
    v_pred: np.ndarray
    long_t: float
    short_t: float | None
    tried: list[dict[str, Any]]


def _fit_split(fold: Fold, *, x: np.ndarray, bars: Bars, close: np.ndarray, target: TargetSpec, spec: SpecBase,
               rule: ThresholdRule, seed: int, threads: int, costs: Costs) -> _Split:
    train = fold.train_rows()
    labels = target.labels(close, train)
    train = train[np.isfinite(labels[train])]
    if len(train) < MIN_TRAIN_ROWS:
        raise ValueError(f"folds: fold {fold.index} has {len(train)} labelled training bars, fewer than "
                         f"{MIN_TRAIN_ROWS}")
    fitted = fit(spec, x[train], labels[train], seed=seed, threads=threads)
    v_rows = np.arange(*fold.validation)
    v_pred = predict(fitted, x[v_rows], threads=threads)
    long_t, short_t, tried = choose_thresholds(v_pred, bars, fold.validation, rule, costs)
    return _Split(fitted, len(train), labels, v_rows, v_pred, long_t, short_t, tried)


def _run_fold(fold: Fold, split: _Split, *, x: np.ndarray, names: list[str], bars: Bars, returns: np.ndarray,
              target: TargetSpec, rule: ThresholdRule, threads: int, costs: Costs, periods: float,
              capital: float) -> FoldOutcome:
    fitted, labels, v_rows, v_pred = split.fitted, split.labels, split.v_rows, split.v_pred
    long_t, short_t, tried = split.long_t, split.short_t, split.tried
    t_rows = np.arange(*fold.test)
    t_pred = predict(fitted, x[t_rows], threads=threads)
    result = _simulate(bars, t_pred, fold.test, long_t, short_t, costs)
    curve = result.equity_frame(0)
    fold_stats = compute_stats(result.trades_frame(0), curve, periods_per_year=periods, init_cash=costs.init_cash)
    inside = len(t_rows)
    chained = pd.DataFrame({"timestamp": curve["timestamp"][:inside], "row": t_rows, "fold": fold.index,
                            "equity": capital * curve["equity"].to_numpy()[:inside] / costs.init_cash,
                            "position": curve["position"].to_numpy()[:inside]})
    rows = pd.concat([pd.DataFrame({"timestamp": bars.timestamps[band_rows], "row": band_rows, "fold": fold.index,
                                    "band": band, "prediction": band_pred, "target": labels[band_rows],
                                    "forward_return": returns[band_rows]})
                      for band, band_rows, band_pred in (("validation", v_rows, v_pred), ("test", t_rows, t_pred))],
                     ignore_index=True)
    metrics = _metrics(fitted, x[t_rows], t_pred, labels[t_rows], returns[t_rows], long_t, short_t, target, threads)
    metrics.update({key: _finite(fold_stats[key]) for key in FOLD_STATS})
    metrics["trades"] = int(fold_stats["trades"]) + int(fold_stats["open_trades"])
    record = {**fold.ranges(), "times": _times(bars.timestamps, fold), "training_bars": split.trained,
              "thresholds": {"long": long_t, "short": short_t, "rule": rule.kind,
                             "from": {"band": "validation", "range": list(fold.validation)}, "tried": tried},
              "metrics": metrics, "importances": fitted.importances(names)}
    after = capital * float(curve["equity"].iloc[-1]) / costs.init_cash
    return FoldOutcome(fold.index, rows, chained, result.trades_frame(0), record, after)


def _check_done(done: Sequence[FoldOutcome], folds: Sequence[Fold]) -> list[FoldOutcome]:
    """``done`` as the outcomes of the first folds of ``folds``, each over the same bands."""
    if len(done) > len(folds):
        raise ValueError(f"done: {len(done)} finished folds, the run has {len(folds)}")
    for outcome, fold in zip(done, folds, strict=False):
        if not isinstance(outcome, FoldOutcome) or outcome.index != fold.index:
            raise ValueError(f"done: the finished folds are not the run's first {len(done)}")
        ranges = fold.ranges()
        if any(outcome.record.get(key) != value for key, value in ranges.items()):
            raise ValueError(f"done: fold {fold.index} was made over other bands")
    return list(done)


# -- checks ------------------------------------------------------------------------------------

def check_features(frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """The feature names, each a numeric column of ``frame`` with at least one value."""
    if isinstance(features, str) or not isinstance(features, Sequence) or not features:
        raise ValueError("features: a list of one or more column names")
    names = [str(f) for f in features]
    if len(set(names)) != len(names):
        raise ValueError("features: a column is listed twice")
    for name in names:
        if name not in frame.columns or name == "timestamp":
            raise ValueError(f"features: there is no column {name[:60]!r}")
        column = frame[name]
        if column.dtype.kind not in "iufb" and str(column.dtype) not in ("Int64", "Float64", "boolean"):
            raise ValueError(f"features: column {name!r} is not numeric")
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(values).any():
            raise ValueError(f"features: column {name!r} has no values (all missing)")
    return names


def _bars(frame: pd.DataFrame) -> Bars:
    try:
        return Bars.from_frame(frame)
    except ValueError as exc:
        raise ValueError(f"frame: {exc}") from None


def check_run(model: SpecBase | dict[str, Any], target: TargetSpec, folds: Sequence[Fold], n: int, seed: int,
              threads: int) -> SpecBase:
    """The model spec, once it, the target, the folds over ``n`` bars, the seed and the thread count
    are known to make a run (a ``ValueError`` naming the one that does not)."""
    spec = parse_model(model)
    if not isinstance(target, TargetSpec):
        raise ValueError("target: a TargetSpec")  # noqa: TRY004 (every bad input is a ValueError)
    if spec.task != target.task:
        wanted = "a return target" if spec.task == "regression" else "a sign or quantile target"
        raise ValueError(f"target: model {getattr(spec, 'kind', '')} needs {wanted}, got {target.kind!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed: a whole number from 0 to {SEED_MAX}, got {str(seed)[:40]!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= THREADS_MAX:
        raise ValueError(f"threads: a whole number from 1 to {THREADS_MAX}, got {str(threads)[:40]!r}")
    if not folds or not all(isinstance(f, Fold) for f in folds):
        raise ValueError("folds: one or more folds (make_folds)")
    for fold in folds:
        if fold.horizon != target.horizon:
            raise ValueError(f"folds: built for a horizon of {fold.horizon} bars, the target's is {target.horizon}")
        if fold.test[1] > n:
            raise ValueError(f"folds: fold {fold.index} ends at bar {fold.test[1]}, the frame has {n} bars")
    return spec


# -- thresholds and simulation -----------------------------------------------------------------

def _pair(predictions: np.ndarray, q: float, short: bool) -> tuple[float, float | None]:
    known = predictions[np.isfinite(predictions)]
    if len(known) == 0:
        raise ValueError("model: no finite prediction on a validation window")
    long_t = float(np.quantile(known, q))
    return long_t, (float(np.quantile(known, 1.0 - q)) if short else None)


def choose_thresholds(predictions: np.ndarray, bars: Bars, validation: tuple[int, int], rule: ThresholdRule,
                      costs: Costs) -> tuple[float, float | None, list[dict[str, Any]]]:
    """The long and short thresholds from the validation predictions (and, for the Sharpe rule,
    the validation bars) only; with the candidates tried, for the record."""
    if rule.kind == "quantile":
        long_t, short_t = _pair(predictions, rule.long_quantile, rule.short)
        return long_t, short_t, []
    tried = []
    best: tuple[float, int] | None = None
    for i, q in enumerate(rule.candidates):
        long_t, short_t = _pair(predictions, q, rule.short)
        # no exit bar: the validation window's strategy must not read a price beyond it
        result = _simulate(bars, predictions, validation, long_t, short_t, costs, exit_bar=False)
        sharpe = sharpe_per_bar(result.equity[:, 0], init_cash=costs.init_cash)
        tried.append({"quantile": q, "long": long_t, "short": short_t, "sharpe_bar": _finite(sharpe)})
        score = sharpe if math.isfinite(sharpe) else -math.inf
        if best is None or score > best[0]:
            best = (score, i)
    assert best is not None  # candidates has at least one quantile
    chosen = tried[best[1]]
    return chosen["long"], chosen["short"], tried


def _simulate(bars: Bars, predictions: np.ndarray, window: tuple[int, int], long_t: float, short_t: float | None,
              costs: Costs, *, exit_bar: bool = True) -> SimulationResult:
    """The thresholded strategy over ``window``, flat at its start and flat again after its last bar
    (filled at the next bar's open when ``exit_bar`` and there is one)."""
    start, stop = window
    end = stop + 1 if exit_bar and stop < len(bars.timestamps) else stop
    targets = np.zeros(end - start)
    targets[:stop - start] = targets_from_predictions(predictions.reshape(-1, 1), long_threshold=long_t,
                                                      short_threshold=short_t)[:, 0]
    targets[stop - start - 1] = 0.0
    part = Bars(bars.timestamps[start:end], *(getattr(bars, c)[start:end] for c in PRICES), bars.assets)
    return costs.simulator().run(part, targets=targets)


# -- metrics -----------------------------------------------------------------------------------

def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def information_coefficient(predictions: np.ndarray, realised: np.ndarray) -> float | None:
    """Spearman's rank correlation of the predictions and the realised values, over the rows where
    both are known; None with fewer than three such rows or no spread."""
    from scipy.stats import spearmanr

    known = np.isfinite(predictions) & np.isfinite(realised)
    if known.sum() < 3 or np.ptp(predictions[known]) == 0 or np.ptp(realised[known]) == 0:
        return None
    return _finite(spearmanr(predictions[known], realised[known]).statistic)


def _metrics(fitted: Any, x: np.ndarray, pred: np.ndarray, labels: np.ndarray, returns: np.ndarray, long_t: float,
             short_t: float | None, target: TargetSpec, threads: int) -> dict[str, Any]:
    position = targets_from_predictions(pred.reshape(-1, 1), long_threshold=long_t, short_threshold=short_t)[:, 0]
    held = (position != 0) & np.isfinite(returns)
    hit = float(np.mean(np.sign(returns[held]) == position[held])) if held.any() else None
    out: dict[str, Any] = {"ic": information_coefficient(pred, returns), "hit_rate": hit,
                           "test_bars": len(pred), "labelled_bars": int(np.isfinite(labels).sum())}
    known = np.isfinite(labels)
    if target.task == "regression":
        out["rmse"] = (_finite(np.sqrt(np.mean((pred[known] - labels[known]) ** 2))) if known.any() else None)
    else:
        out["auc"] = _auc(fitted, x[known], pred[known], labels[known], threads)
    return out


def _auc(fitted: Any, x: np.ndarray, score: np.ndarray, labels: np.ndarray, threads: int) -> float | None:
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    present = np.unique(labels)
    if len(present) < 2:
        return None
    if len(fitted.classes) == 2:
        return _finite(roc_auc_score(labels == fitted.classes[1], score))
    if len(present) != len(fitted.classes):
        return None  # one-vs-rest needs every class in the window
    with threadpool_limits(limits=threads):
        proba = fitted.probabilities(x)
    return _finite(roc_auc_score(labels, proba, multi_class="ovr", labels=fitted.classes))


def _times(stamps: pd.DatetimeIndex, fold: Fold) -> dict[str, Any]:
    """Each band's first bar's time and the time of the bar after it (None past the end): the
    same half-open ranges in time."""
    n = len(stamps)

    def at(i: int) -> str | None:
        return stamps[i].isoformat() if i < n else None

    out: dict[str, Any] = {band: [at(start), at(stop)] for band in ("train", "validation", "test", "embargo")
                           for start, stop in [fold.band(band)]}
    if fold.split is not None:  # the training window has holes: each stretch trained on
        out["trained"] = [[at(start), at(stop), stop - start] for start, stop in fold.trained()]
    return out


def _summary(predictions: pd.DataFrame, equity: pd.DataFrame, trades: list[pd.DataFrame], close: np.ndarray,
             periods: float, init_cash: float, paths: list[int], finals: dict[int, float]) -> dict[str, Any]:
    """The run's figures: over the stitched curve, or for combinatorial folds the average over the
    backtest paths (the worst drawdown of any path), each path's own figures in ``paths``."""
    test = predictions[predictions["band"] == "test"]
    path_of = np.asarray(paths)
    fold_path = path_of[equity["fold"].to_numpy()]
    per_path = []
    for path in dict.fromkeys(path_of.tolist()):
        part = equity[fold_path == path]
        rows = part["row"].to_numpy()
        curve = pd.DataFrame({"timestamp": part["timestamp"], "equity": part["equity"], "close": close[rows],
                              "position": part["position"]})
        fold_trades = [t for t, p in zip(trades, path_of, strict=True) if p == path]
        stats = compute_stats(pd.concat(fold_trades, ignore_index=True), curve, periods_per_year=periods,
                              init_cash=init_cash)
        final = finals[path]
        per_path.append({"path": None if path < 0 else path, "final_equity": _finite(final),
                         "return_pct": _finite((final / init_cash - 1) * 100), "sharpe": _finite(stats["sharpe"]),
                         "max_drawdown_pct": _finite(stats["max_drawdown_pct"]),
                         "trades": int(stats["trades"]) + int(stats["open_trades"])})
    out: dict[str, Any] = {"ic": information_coefficient(test["prediction"].to_numpy(),
                                                         test["forward_return"].to_numpy()),
                           "test_bars": len(test), "periods_per_year": periods}
    if len(per_path) == 1:
        return {**out, **{k: v for k, v in per_path[0].items() if k != "path"}}

    def mean(key: str) -> float | None:
        known = [p[key] for p in per_path if p[key] is not None]
        return _finite(sum(known) / len(known)) if known else None

    drawdowns = [p["max_drawdown_pct"] for p in per_path if p["max_drawdown_pct"] is not None]
    return {**out, "final_equity": mean("final_equity"), "return_pct": mean("return_pct"), "sharpe": mean("sharpe"),
            "max_drawdown_pct": min(drawdowns) if drawdowns else None,  # the deepest (drawdowns are negative)
            "trades": round(sum(p["trades"] for p in per_path) / len(per_path)), "paths": per_path}


__all__ = ["FoldOutcome", "ThresholdRule", "WalkForwardResult", "check_features", "check_run", "choose_thresholds",
           "information_coefficient", "walk_forward"]
