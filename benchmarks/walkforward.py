"""Walk-forward speed: a whole run with LightGBM and with XGBoost beside the same model's bare fits,
and the run browser's sorted, filtered list over many runs.

    .venv/bin/python -m benchmarks.walkforward [--bars 100000] [--folds 10] [--features 30] [--trees 200]
                                               [--runs 10000] [--threads 2] [--quiet]
                                               [--only lightgbm|xgboost|runs]

- **lightgbm**: ``walk_forward`` over ``--bars`` minute bars × ``--features`` features in ``--folds``
  folds, LightGBM regressor with ``--trees`` trees, max depth 6 (31 leaves, the default), learning
  rate 0.05, ``--threads`` threads. The whole call is timed once: every fold's fit, the validation
  and test predictions, the thresholds, the test window's simulation and statistics, the metrics,
  and the stitched curve and summary. Target ≤ 60 s.
- **xgboost**: the same with XGBoost (``--trees`` trees, max depth 6, eta 0.05, ``hist``).
  Target ≤ 60 s.
- **runs**: the run browser's list (``GET /api/v1/research/runs?model=lightgbm_regressor&dataset=spx
  &sort=metric.sharpe&order=desc&limit=100``) over ``--runs`` recorded runs, through Flask's test
  client on an app built as the API tests build it (``create_app``, embedded warehouse, SQLite
  records store, in a temporary folder; sign-in off and request logging off); p50 and p95 of 30
  requests after one warm-up. The runs are recorded as the service records one
  (``MeasurementRecords.allocate`` with the inputs — ten folds with thresholds, metrics and 30
  importances, about 20 KB — and ``run_summary``'s flat summary, widened with ``metric.extra_*``
  keys to 100 keys a row), over four datasets and four models, without fitting. Target p95 < 1 s.

Beside each walk-forward figure: the time each phase took (``fit``, ``predict``, ``thresholds`` —
the validation predictions' quantiles and the validation simulation of each candidate —,
``simulate`` — the test window's simulation and statistics —, ``metrics``, and the rest: feature
checks, frames, the summary), and the reference: the same estimator (same hyperparameters,
seed, threads and determinism settings) fitted once, straight through the library, on the first
fold's training rows; the ratio is the walk-forward's time over folds × that fit, what the
machinery costs on top of the fits it must make.

Folds are rolling: training 40 % of the bars, validation 5 %, a purge of the label horizon
(5 bars) after each, and test windows that tile the rest in ``--folds`` parts (100,000 bars:
train 40,000, validation 5,000, test 5,500, the last 5,498). The target is the 5-bar forward
return; thresholds use the Sharpe rule (the best of five quantile pairs on validation, the
costlier of the two rules), long and short, with fees of 10 bp.

Data: a seeded random walk of minute bars with volume; the features are lagged and trailing
returns, rolling volatilities, distances from moving averages and TA-Lib indicators (RSI, NATR,
ADX, CCI, Williams %R, MFI, ROC, Bollinger %B, MACD histogram), computed here and untimed.
Nothing is written but numba's cache and the run browser's temporary folder, and nothing is fetched.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import logging
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import talib

from backend.research.simulator.requests import Costs
from backend.research.walkforward import engine
from backend.research.walkforward.engine import ThresholdRule, walk_forward
from backend.research.walkforward.folds import Fold, make_folds
from backend.research.walkforward.models import SpecBase, parse_model
from backend.research.walkforward.targets import TargetSpec

SECTIONS = ("lightgbm", "xgboost", "runs")
HORIZON = 5
TRAIN_SHARE = 0.40
VALIDATION_SHARE = 0.05
# minute bars around the clock, as generated
PERIODS_PER_YEAR = 365.25 * 24 * 60
COSTS = Costs(fees=0.001)
RULE = ThresholdRule(kind="sharpe")
SEED = 7
BUDGET_RUN_S = 60.0
BUDGET_LIST_P95_S = 1.0
LIST_REQUESTS = 30
PHASES = ("fit", "predict", "thresholds", "simulate", "metrics")


# -- data ---------------------------------------------------------------------------------------

def market(n: int, seed: int = 11) -> pd.DataFrame:
    """Seeded random-walk minute bars with volume; volatility drifts slowly so the rolling
    volatilities carry something."""
    rng = np.random.default_rng(seed)
    sigma = 0.0008 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)).clip(-1.5, 1.5))
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1.0, n) * sigma))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 0.0002, n))
    reach = rng.uniform(0.0, 1.5, n) * sigma
    return pd.DataFrame({"timestamp": pd.date_range("2021-01-04", periods=n, freq="min", tz="UTC"),
                         "open": open_, "high": np.maximum(open_, close) * (1 + reach),
                         "low": np.minimum(open_, close) * (1 - reach), "close": close,
                         "volume": rng.lognormal(6.0, 0.8, n)})


def feature_columns(frame: pd.DataFrame, count: int) -> dict[str, np.ndarray]:
    """``count`` features, all looking back only: the first 30 a fixed mix; beyond that, further
    lags of the one-bar return."""
    h, lo, c, v = (frame[k].to_numpy(dtype=np.float64) for k in ("high", "low", "close", "volume"))
    close = pd.Series(c)
    r1 = np.log(close).diff()
    out: dict[str, np.ndarray] = {}
    for lag in range(10):
        out[f"ret_lag{lag + 1}"] = r1.shift(lag).to_numpy()
    for window in (5, 20, 60, 240):
        out[f"ret_{window}"] = close.pct_change(window).to_numpy()
    for window in (10, 30, 60, 240):
        out[f"vol_{window}"] = r1.rolling(window).std().to_numpy()
    for window in (10, 30, 100):
        out[f"sma_gap_{window}"] = c / talib.SMA(c, timeperiod=window) - 1.0
    upper, _, lower = talib.BBANDS(c, timeperiod=20)
    _, _, hist = talib.MACD(c)
    out.update({"rsi_14": talib.RSI(c, timeperiod=14), "natr_14": talib.NATR(h, lo, c, timeperiod=14),
                "adx_14": talib.ADX(h, lo, c, timeperiod=14), "cci_20": talib.CCI(h, lo, c, timeperiod=20),
                "willr_14": talib.WILLR(h, lo, c, timeperiod=14), "mfi_14": talib.MFI(h, lo, c, v, timeperiod=14),
                "roc_10": talib.ROC(c, timeperiod=10), "bb_pct_20": (c - lower) / (upper - lower),
                "macd_hist": hist / c})
    names = list(out)[:count]
    lag = 11
    while len(names) < count:
        out[f"ret_lag{lag}"] = r1.shift(lag - 1).to_numpy()
        names.append(f"ret_lag{lag}")
        lag += 1
    return {name: out[name] for name in names}


def with_features(n: int, count: int) -> tuple[pd.DataFrame, list[str]]:
    frame = market(n)
    columns = feature_columns(frame, count)
    return pd.concat([frame, pd.DataFrame(columns)], axis=1), list(columns)


def fold_plan(n: int, folds: int) -> tuple[Fold, ...]:
    """Rolling folds: 40 % train, 5 % validation, the rest tiled by ``folds`` test windows."""
    train, validation = int(n * TRAIN_SHARE), max(int(n * VALIDATION_SHARE), 10)
    rest = n - train - validation - 2 * HORIZON
    return make_folds(n=n, train=train, validation=validation, test=math.ceil(rest / folds), horizon=HORIZON,
                      mode="rolling")


def model_spec(kind: str, trees: int) -> SpecBase:
    if kind == "lightgbm":
        return parse_model({"kind": "lightgbm_regressor", "n_estimators": trees, "max_depth": 6,
                            "learning_rate": 0.05})
    return parse_model({"kind": "xgboost_regressor", "n_estimators": trees, "max_depth": 6, "learning_rate": 0.05})


# -- timing ---------------------------------------------------------------------------------------

@dataclass
class PhaseClock:
    """Seconds per phase of a walk-forward run, each call counted once: a simulation made inside
    the threshold search counts as thresholds, not again as simulate."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    depth: int = 0

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            self.depth += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.seconds[phase] += time.perf_counter() - started

        return timed_call

    @contextmanager
    def installed(self) -> Iterator[None]:
        # the engine calls these through its own module's names, so patching them there times each
        # phase without touching the engine
        # (a name the engine no longer has is left out, and its time falls into the rest)
        patches = {"fit": "fit", "predict": "predict", "choose_thresholds": "thresholds", "_simulate": "simulate",
                   "compute_stats": "simulate", "_metrics": "metrics"}
        with mock.patch.multiple(engine, **{name: self.wrap(phase, getattr(engine, name))
                                            for name, phase in patches.items() if hasattr(engine, name)}):
            yield


def run_once(frame: pd.DataFrame, names: list[str], spec: SpecBase, folds: tuple[Fold, ...],
             threads: int) -> engine.WalkForwardResult:
    return walk_forward(frame, features=names, target=TargetSpec(kind="return", horizon=HORIZON), model=spec,
                        folds=folds, threshold_rule=RULE, seed=SEED, threads=threads, costs=COSTS,
                        periods_per_year=PERIODS_PER_YEAR)


def bare_fit(spec: SpecBase, frame: pd.DataFrame, names: list[str], fold: Fold, threads: int,
             **library: Any) -> float:
    """Median seconds of three fits of the library's estimator, as ``spec`` builds it (``library``
    overrides its settings), on ``fold``'s labelled training rows. On a shared two-core machine one
    multi-threaded fit can take several times another, so one fit is too few."""
    x = frame[names].to_numpy(dtype=np.float64)
    y = TargetSpec(kind="return", horizon=HORIZON).labels(frame["close"].to_numpy(), fold.train_rows())
    rows = fold.train_rows()
    rows = rows[np.isfinite(y[rows])]
    x, y = x[rows], y[rows]
    out = []
    for _ in range(3):
        estimator = spec.build(seed=SEED, threads=threads)
        if library:
            estimator.set_params(**library)
        gc.collect()
        started = time.perf_counter()
        estimator.fit(x, y)
        out.append(time.perf_counter() - started)
    return statistics.median(out)


def duration(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


class Report:
    """Figure lines as they are measured; ``quiet`` leaves out everything else."""

    WIDTHS = (50, 10, 70)

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.verdicts: list[bool] = []
        w = self.WIDTHS
        print(f"{'figure':<{w[0]}}  {'ours':>{w[1]}}  {'beside':<{w[2]}}  budget", flush=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            print(f"  · {text}", flush=True)

    def row(self, figure: str, measured: str, beside: str, budget: str, ok: bool | None) -> None:
        if ok is not None:
            self.verdicts.append(ok)
        state = "not measured" if ok is None else "met" if ok else "missed"
        w = self.WIDTHS
        print(f"{figure:<{w[0]}}  {measured:>{w[1]}}  {beside:<{w[2]}}  {budget} · {state}", flush=True)

    def close(self) -> None:
        print(f"budgets met: {sum(self.verdicts)} of {len(self.verdicts)}", flush=True)


# -- the walk-forward figures ---------------------------------------------------------------------

@dataclass
class Workload:
    frame: pd.DataFrame
    names: list[str]
    folds: tuple[Fold, ...]


_WORKLOAD: dict[tuple[int, int, int], Workload] = {}


def workload(report: Report, args: argparse.Namespace) -> Workload:
    """The bars, features and folds, made once for both models."""
    key = (args.bars, args.features, args.folds)
    if key not in _WORKLOAD:
        started = time.perf_counter()
        frame, names = with_features(args.bars, args.features)
        folds = fold_plan(args.bars, args.folds)
        first = folds[0]
        report.note(f"{args.bars:,} bars × {len(names)} features made in {duration(time.perf_counter() - started)}; "
                    f"{len(folds)} rolling folds: train {first.train[1] - first.train[0]:,}, validation "
                    f"{first.validation[1] - first.validation[0]:,}, test {first.test[1] - first.test[0]:,} "
                    f"(last {folds[-1].test[1] - folds[-1].test[0]:,}), purge {HORIZON}")
        _WORKLOAD[key] = Workload(frame, names, folds)
    return _WORKLOAD[key]


def warm_up(spec: SpecBase, threads: int) -> None:
    """A small run first: the library's import, the simulator's compiled kernels (numba's cache)
    and scipy's statistics are loaded before the timed run."""
    frame, names = with_features(3_000, 5)
    run_once(frame, names, spec, fold_plan(3_000, 2), threads)


def walkforward_section(kind: str, report: Report, args: argparse.Namespace) -> None:
    label = "LightGBM" if kind == "lightgbm" else "XGBoost"
    spec = model_spec(kind, args.trees)
    try:
        warm_up(spec, args.threads)
    except ValueError as exc:  # the library is not installed: the engine says which package
        report.row(f"walk-forward, {label}", "—", str(exc)[:70], f"≤ {BUDGET_RUN_S:.0f} s", None)
        return
    work = workload(report, args)
    clock = PhaseClock()
    gc.collect()
    with clock.installed():
        started, cpu = time.perf_counter(), time.process_time()
        result = run_once(work.frame, work.names, spec, work.folds, args.threads)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
    rest = total - sum(clock.seconds.values())
    split = ", ".join(f"{phase} {duration(s)}" for phase, s in clock.seconds.items())
    # CPU seconds beside the wall time: on a busy machine the process waits for a core, and the
    # wall time says more about the neighbours than about the run
    report.note(f"{label} phases: {split}, rest {duration(rest)}; CPU {duration(cpu)} for {duration(total)} of "
                f"wall time, load average {os.getloadavg()[0]:.1f}; out of sample IC "
                f"{result.summary['ic'] or 0:.4f}, {result.summary['trades']:,} trades")
    single = bare_fit(spec, work.frame, work.names, work.folds[0], args.threads)
    if kind == "lightgbm":
        # the engine asks LightGBM for reproducible fits; the library's default is faster
        loose = bare_fit(spec, work.frame, work.names, work.folds[0], args.threads, deterministic=False,
                         force_row_wise=False)
        report.note(f"LightGBM bare fit without deterministic/force_row_wise: {duration(loose)} "
                    f"(with them {duration(single)})")
    folds = len(work.folds)
    ratio = total / (folds * single)
    report.row(f"walk-forward, {label}, {folds} folds × {args.bars:,} bars × {len(work.names)} f.", duration(total),
               f"fits {duration(clock.seconds['fit'])}; {folds} × bare fit {duration(single)} → ratio {ratio:.2f}",
               f"≤ {BUDGET_RUN_S:.0f} s", total <= BUDGET_RUN_S)


def lightgbm_section(report: Report, args: argparse.Namespace) -> None:
    walkforward_section("lightgbm", report, args)


def xgboost_section(report: Report, args: argparse.Namespace) -> None:
    walkforward_section("xgboost", report, args)


# -- the run browser's list -----------------------------------------------------------------------

def runs_missing() -> list[str]:
    """What the run browser's list needs that is not in the code (the figure waits for it)."""
    from backend.measurements.records import MeasurementRecords
    from backend.research.walkforward import service

    missing = []
    if not hasattr(MeasurementRecords, "summaries"):
        missing.append("MeasurementRecords.summaries")
    if not hasattr(service.Runs, "summaries") or not hasattr(service, "run_summary"):
        missing.append("Runs.summaries")
    try:
        importlib.import_module("backend.api.research_runs")
    except ImportError:
        missing.append("backend/api/research_runs.py")
    return missing


def warehouse_for(work: Path) -> tuple[str, str]:
    """The warehouse the app opens (its URL and database): an embedded one in ``work``."""
    return f"chdb://{work / 'warehouse'}", "bench"


def runs_app(work: Path) -> Any:
    """The app as the API tests build it, with sign-in off (the list is what is timed, not access)."""
    from app import create_app
    from backend.config import load_settings

    url, database = warehouse_for(work)
    settings = load_settings(data_dir=work / "data", warehouse_dsn=url, warehouse_database=database, demo_rows=0,
                             redis_url=None, auth="off")
    # the first start logs its set-up (schema upgrades, job runner): not part of the figures
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            app = create_app(settings, market=False)
    finally:
        logging.disable(logging.NOTSET)
    logging.getLogger().setLevel(logging.WARNING)  # the app logs every request at info
    return app


RUN_DATASETS = ("spx", "ndx", "btc", "eth")
RUN_MODELS = ({"kind": "lightgbm_regressor", "n_estimators": 200, "max_depth": 6},
              {"kind": "xgboost_regressor", "n_estimators": 200, "max_depth": 6},
              {"kind": "hist_gradient_boosting_regressor", "max_iter": 200},
              {"kind": "ridge", "alpha": 1.0})
SUMMARY_KEYS = 100
LIST_QUERY = "model=lightgbm_regressor&dataset=spx&sort=metric.sharpe&order=desc&limit=100"


def run_inputs(k: int, rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    """Run ``k``'s request and the inputs a finished run records: ten folds, each with its
    ranges, thresholds, a dozen metrics and thirty features' importances (what makes a record's
    inputs some kilobytes, kept in the same row as its summary)."""
    from backend.research.walkforward.requests import parse_request

    features = [f"f{i}" for i in range(30)]
    model = {**RUN_MODELS[k % len(RUN_MODELS)], "learning_rate": round(float(rng.choice([0.02, 0.05, 0.1])), 2)}
    if model["kind"] == "ridge":
        model = {"kind": "ridge", "alpha": float(rng.choice([0.1, 1.0, 10.0]))}
    elif model["kind"].startswith("hist"):
        model = {**model, "max_leaf_nodes": int(rng.integers(8, 64))}
    else:
        model = {**model, "max_depth": int(rng.integers(3, 9))}
    request = parse_request({"dataset": RUN_DATASETS[k % len(RUN_DATASETS)], "features": features,
                             "target": {"kind": "return", "horizon": 5}, "model": model, "seed": k,
                             "folds": {"train": 40_000, "validation": 5_000, "test": 5_500}})
    folds = []
    for f in range(10):
        start = 45_010 + f * 5_500
        metrics = {"ic": float(rng.normal(0, 0.02)), "hit_rate": float(rng.uniform(0.45, 0.55)), "test_bars": 5_500,
                   "labelled_bars": 5_495, "rmse": float(rng.uniform(0.001, 0.002)),
                   "return_pct": float(rng.normal(0, 3)), "sharpe": float(rng.normal(0, 1)),
                   "max_drawdown_pct": float(-rng.uniform(1, 20)), "trades": int(rng.integers(50, 600)),
                   "exposure_pct": float(rng.uniform(10, 90))}
        weights = rng.dirichlet(np.ones(len(features)))
        folds.append({"index": f, "train": [start - 45_010, start - 5_010], "validation": [start - 5_005, start - 5],
                      "test": [start, start + 5_500], "embargo": [start + 5_500, start + 5_500], "embargoed": [],
                      "horizon": 5, "training_bars": 39_995,
                      "thresholds": {"long": float(rng.normal(0, 1e-4)), "short": float(rng.normal(0, 1e-4)),
                                     "rule": "sharpe", "from": {"band": "validation", "range": [start - 5_005,
                                                                                                start - 5]},
                                     "tried": [{"quantile": q, "long": 0.0, "short": 0.0, "sharpe_bar": 0.0}
                                               for q in (0.55, 0.6, 0.7, 0.8, 0.9)]},
                      "metrics": metrics, "importances": dict(zip(features, weights.tolist(), strict=True))})
    problems = k % 10 == 0
    inputs = {"type": "walkforward", "request": request.model_dump(mode="json"), "dataset": request.dataset,
              "symbol": None, "seed": k, "threads": 2, "bars": 100_000, "folds": folds,
              "summary": {"ic": float(rng.normal(0, 0.02)), "sharpe": float(rng.normal(0, 1))},
              "audit": {"passed": not problems, "problems": [], "flags": []}}
    return request, inputs


def run_summary_row(k: int, rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``k``'s inputs and its summary as the service writes it (``run_summary``), widened with
    further ``metric.*`` keys to ``SUMMARY_KEYS`` keys: the engine's summary has some thirty today,
    and the browser is sized for about a hundred."""
    from backend.research.walkforward.service import run_summary

    request, inputs = run_inputs(k, rng)
    summary = run_summary(request, inputs)
    extra = SUMMARY_KEYS - len(summary) - 4  # name, base, created_at and created_by come from the record
    summary.update({f"metric.extra_{i:02d}": float(v) for i, v in enumerate(rng.normal(0, 1, max(extra, 0)))})
    return inputs, summary


def seed_runs(datasets: Any, count: int) -> int:
    """``count`` runs recorded as the service records one (``allocate`` with its inputs and
    summary), without fitting; the number of keys of a listed row."""
    records = datasets.records
    for name in RUN_DATASETS:
        records.register_dataset(name, store=datasets.store)
    rng = np.random.default_rng(3)
    for k in range(count):
        inputs, summary = run_summary_row(k, rng)
        records.allocate(str(inputs["dataset"]), "run", store=datasets.store, created_by=f"user{k % 7}",
                         inputs=inputs, summary=summary)
    return len(records.summaries("run")[0])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def runs_section(report: Report, args: argparse.Namespace) -> None:
    figure = f"run browser list, {args.runs:,} runs, sort + filter"
    budget = f"p95 < {BUDGET_LIST_P95_S * 1000:,.0f} ms"
    missing = runs_missing()
    if missing:
        report.row(figure, "—", f"not available yet (no {', '.join(missing)})", budget, None)
        return
    work = Path(tempfile.mkdtemp(prefix="deskboard-bench-runs-"))
    try:
        list_runs(report, args, work, figure, budget)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def list_runs(report: Report, args: argparse.Namespace, work: Path, figure: str, budget: str) -> None:
    from backend.jobs.runtime import EXTENSION_KEY as JOBS_KEY

    app = runs_app(work)
    try:
        time_list(report, args, app, work, figure, budget)
    finally:
        runner = app.server.extensions.get(JOBS_KEY)
        if runner is not None:
            runner.stop(5.0)


def time_list(report: Report, args: argparse.Namespace, app: Any, work: Path, figure: str, budget: str) -> None:
    from backend.research.runtime import EXTENSION_KEY
    from backend.research.walkforward.service import Runs

    datasets = app.server.extensions[EXTENSION_KEY]
    started = time.perf_counter()
    keys = seed_runs(datasets, args.runs)
    report.note(f"{args.runs:,} runs recorded in {duration(time.perf_counter() - started)} ({keys} keys a row), "
                f"records store {(work / 'data' / 'meta.sqlite3').stat().st_size / 2**20:,.0f} MB")
    client = app.server.test_client()
    url = f"/api/v1/research/runs?{LIST_QUERY}"
    first = client.get(url)
    if first.status_code != 200:
        report.row(figure, "—", f"the list answered {first.status_code}: {first.get_data(as_text=True)[:60]}",
                   budget, False)
        return
    body = first.get_json()
    times = []
    for _ in range(LIST_REQUESTS):
        gc.collect()
        t0 = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - t0)
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    # where the time goes: the records store's read of every summary, apart from the sort and the JSON
    runs = Runs(datasets)
    read = statistics.median(timed(runs.summaries) for _ in range(5))
    report.note(f"{LIST_QUERY}: {body['total']:,} of {args.runs:,} runs match, {len(body['runs'])} on the page, "
                f"{len(first.data) / 1024:,.0f} KB; Runs.summaries() alone {duration(read)}")
    report.row(figure, duration(p95), f"p95 of {LIST_REQUESTS} requests; p50 {duration(p50)}, max "
               f"{duration(max(times))}", budget, p95 < BUDGET_LIST_P95_S)


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


RUNNERS: dict[str, Callable[[Report, argparse.Namespace], None]] = {
    "lightgbm": lightgbm_section,
    "xgboost": xgboost_section,
    "runs": runs_section,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.walkforward", description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000, help="minute bars of the walk-forward runs")
    parser.add_argument("--folds", type=int, default=10, help="folds the test windows are tiled into")
    parser.add_argument("--features", type=int, default=30, help="feature columns the models read")
    parser.add_argument("--trees", type=int, default=200, help="trees of each LightGBM and XGBoost fit")
    parser.add_argument("--threads", type=int, default=2, help="threads each fit and prediction may use")
    parser.add_argument("--runs", type=int, default=10_000, help="run summaries in the run browser's list")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="measure only this figure (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="print the figure lines only")
    args = parser.parse_args(argv)
    if args.bars < 1_000 or args.folds < 1 or args.features < 1 or args.trees < 1 or args.runs < 1 or args.threads < 1:
        parser.error("--bars needs at least 1,000; --folds, --features, --trees, --runs and --threads at least 1")
    started = time.perf_counter()
    report = Report(args.quiet)
    report.note(f"numpy {np.__version__}, pandas {pd.__version__}; {args.threads} threads; load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name in SECTIONS:
        if not args.only or name in args.only:
            RUNNERS[name](report, args)
    report.close()
    report.note(f"took {time.perf_counter() - started:,.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
