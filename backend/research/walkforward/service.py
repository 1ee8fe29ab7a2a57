"""Walk-forward runs as the research tools see them: a request run end to end on a dataset (or
one of its indicator versions) and kept as ``<dataset>_run<n>``.

The measurement holds one row per predicted bar and band — ``timestamp``, ``fold``, ``band``
(validation or test), ``prediction``, ``target``, ``forward_return``, and on test rows the
stitched out-of-sample ``equity`` and ``position``. Validation rows of one fold share their
times with the test rows of an earlier one, so rows are told apart by (fold, band), not time.

The record holds what the run was made of — the request, the code version and library
versions, a hash of the bars and feature columns read, the seed and thread count — and what it
found: every fold's ranges, thresholds, metrics and importances, the summary, and the leakage
audit. The same request on the same bars gives the same predictions.

Everything in a request is checked before a model is fitted (``prepare`` checks without fitting),
and a run is recorded only once it has finished: a refused or failed request leaves nothing behind.
A run given a checkpoint folder keeps each finished fold there as it goes, and one given the folder
of an interrupted run of the same request takes its folds up (``checkpoints``).

Each record also carries a flat summary (``run_summary``) that listings of thousands of runs read
without the record's inputs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from backend.measurements.frames import TIMESTAMP, to_pandas
from backend.measurements.names import MeasurementNameError, parse_name
from backend.research.dataset_service import Datasets
from backend.research.simulation_service import data_hash, periods_per_year
from backend.research.simulator.engine import Bars
from backend.research.walkforward.audit import audit
from backend.research.walkforward.checkpoints import Checkpoints, run_key
from backend.research.walkforward.engine import (
    ProgressFn,
    WalkForwardResult,
    check_features,
    check_run,
    walk_forward,
)
from backend.research.walkforward.folds import Fold, make_folds
from backend.research.walkforward.requests import FoldSpec, RunError, WalkForwardRequest, parse_request
from backend.validation import safe_name

SYMBOL = "symbol"


@cache
def code_version() -> str:
    """A digest of the walk-forward and simulator sources: the record's numbers came from this code."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*here.glob("*.py"), *(here.parent / "simulator").glob("*.py")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return "wf-" + digest.hexdigest()[:16]


def library_versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for package in ("lightgbm", "xgboost-cpu", "scikit-learn", "numpy", "scipy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


@dataclass(frozen=True)
class Prepared:
    request: WalkForwardRequest
    frame: pd.DataFrame
    base: str
    folds: tuple[Fold, ...]
    periods: float
    data_hash: str


@dataclass(frozen=True)
class RunOutcome:
    name: str | None
    result: WalkForwardResult
    inputs: dict[str, Any]


class Runs:
    def __init__(self, datasets: Datasets) -> None:
        self.datasets = datasets
        self.records = datasets.records

    def load(self, request: WalkForwardRequest) -> tuple[pd.DataFrame, str, str]:
        """The bars (one symbol, the time range, bars with every price) as a frame; the base
        dataset's name; its time zone."""
        try:
            parsed = parse_name(request.dataset)
        except MeasurementNameError:
            raise RunError(f"dataset: there is no dataset {safe_name(request.dataset[:60])!r}") from None
        record = self.records.get(parsed.name)
        if record is None or record.kind not in ("dataset", "indicators"):
            raise RunError(f"dataset: there is no dataset {safe_name(request.dataset[:60])!r}")
        try:
            frame = to_pandas(self.datasets.measurements.read(parsed.name, start=request.start, end=request.end))
        except (ValueError, KeyError) as exc:
            raise RunError(f"dataset: {exc}") from None
        if SYMBOL in frame.columns:
            symbols = sorted(s for s in frame[SYMBOL].dropna().unique())
            chosen = request.symbol if request.symbol is not None else (symbols[0] if len(symbols) == 1 else None)
            if chosen is None:
                raise RunError(f"symbol: {parsed.name} holds {len(symbols)} symbols; choose one")
            if chosen not in symbols:
                raise RunError(f"symbol: {parsed.name} has no symbol {safe_name(chosen[:40])!r}")
            frame = frame[frame[SYMBOL] == chosen].drop(columns=SYMBOL)
        elif request.symbol is not None:
            raise RunError(f"symbol: {parsed.name} holds one series; leave the symbol out")
        missing = [c for c in ("open", "high", "low", "close") if c not in frame.columns]
        if missing:
            raise RunError(f"dataset: no {missing[0]!r} column")
        # bars with a missing price are left out: no fill can be made on them
        prices = frame[["open", "high", "low", "close"]].to_numpy(dtype=np.float64, na_value=np.nan)
        frame = frame[np.isfinite(prices).all(axis=1)].reset_index(drop=True)
        if frame.empty:
            raise RunError("dataset: no bars in that time range")
        return frame, parsed.base, str(record.inputs.get("time_zone", "UTC"))

    def prepare(self, raw: WalkForwardRequest | dict[str, Any]) -> Prepared:
        """Everything a run of ``raw`` reads, checked — the dataset, symbol, features, folds, and that
        the model suits the target — without fitting a model; a ``RunError`` naming the field."""
        request = parse_request(raw)
        frame, base, zone = self.load(request)
        unknown = next((f for f in request.features if f not in frame.columns or f == TIMESTAMP), None)
        if unknown is not None:  # named back only when it looks like a name: never markup
            raise RunError(f"features: there is no column {safe_name(unknown[:60])!r}")
        try:
            check_features(frame, request.features)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        try:
            folds = make_folds(n=len(frame), horizon=request.target.horizon, **request.folds.model_dump())
        except ValueError as exc:
            text = str(exc)
            raise RunError(f"folds: {text}" if text.startswith("n:") else f"folds.{text}") from None
        try:
            check_run(request.model, request.target, folds, len(frame), request.seed, request.threads)
            bars = Bars.from_frame(frame)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        periods = request.periods_per_year or periods_per_year(bars.timestamps, zone)
        features = [frame[f].to_numpy(dtype=np.float64, na_value=np.nan) for f in request.features]
        return Prepared(request, frame, base, folds, periods, data_hash(bars, features))

    def run(self, raw: WalkForwardRequest | dict[str, Any], *, created_by: str = "", record: bool = True,
            progress: ProgressFn | None = None, checkpoint: Path | None = None,
            resume_from: Path | None = None) -> RunOutcome:
        """Run ``raw`` and, with ``record``, keep it as ``<dataset>_run<n>``.

        ``checkpoint``: a folder where each finished fold is kept as the run goes; ``resume_from``:
        the folder of an interrupted run of the same request, whose finished folds are taken up (a
        ``RunError`` when they are of another request, other bars or other code)."""
        ready = self.prepare(raw)
        request = ready.request
        key = run_key(request, ready.data_hash, code_version())
        done = Checkpoints(resume_from, key).load() if resume_from is not None else []
        keep = Checkpoints(checkpoint, key) if checkpoint is not None else None
        if keep is not None:
            for outcome in done:  # so that this run, interrupted in turn, can be taken up as well
                keep.save(outcome)
        try:
            result = walk_forward(ready.frame, features=list(request.features), target=request.target,
                                  model=request.model, folds=ready.folds, threshold_rule=request.threshold_rule,
                                  seed=request.seed, threads=request.threads, costs=request.costs,
                                  periods_per_year=ready.periods, progress=progress, done=done,
                                  on_fold=keep.save if keep is not None else None)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        report = audit(result.folds, pooled_ic=result.summary["ic"], ic_limit=request.ic_limit)
        inputs = {"type": "walkforward", "request": request.model_dump(mode="json"), "dataset": request.dataset,
                  "symbol": request.symbol, "code_version": code_version(), "libraries": library_versions(),
                  "data_hash": ready.data_hash, "seed": request.seed, "threads": request.threads,
                  "bars": len(ready.frame), "folds": result.folds, "summary": result.summary,
                  "audit": report.public(), "resumed_folds": len(done)}
        name = (self.datasets.keep_series(ready.base, "run", measurement(result), created_by=created_by,
                                           inputs=inputs, summary=run_summary(request, inputs))
                if record else None)
        return RunOutcome(name, result, inputs)

    def summaries(self, base: str | None = None) -> list[dict[str, Any]]:
        """Every run as its flat summary (``run_summary``) with name, base, created_at and created_by,
        oldest first; the records' inputs are not read."""
        return self.records.summaries("run", base)

    def get(self, name: str) -> dict[str, Any]:
        try:
            parsed = parse_name(name)
        except MeasurementNameError as exc:
            raise RunError(str(exc)) from None
        record = self.records.get(parsed.name)
        if record is None or record.kind != "run":
            raise RunError(f"there is no run {name[:60]!r}")
        return {"name": record.name, "base": record.base, "created_by": record.created_by,
                "created_at": record.created_at.isoformat(), **record.inputs}

    def predictions(self, name: str) -> pd.DataFrame:
        """The run's rows as kept, in the order written (fold, then band, then time)."""
        return to_pandas(self.datasets.measurements.read(self.get(name)["name"]))


def run_summary(request: WalkForwardRequest, inputs: dict[str, Any]) -> dict[str, Any]:
    """A run in flat scalars, for listing thousands: what it ran (``model``, ``target``, every
    hyperparameter as ``param.<name>``) and what it found (every fold-averaged metric as
    ``metric.<name>``, ``audit``: passed, flagged or failed)."""
    model = request.model.model_dump(mode="json")
    folds: list[dict[str, Any]] = inputs["folds"]
    audit_report = inputs["audit"]
    out: dict[str, Any] = {"dataset": request.dataset, "symbol": request.symbol, "model": model.pop("kind"),
                           "target": f"{request.target.kind} {request.target.horizon}", "folds": len(folds),
                           "fold_mode": request.folds.mode,
                           "seed": request.seed, "features": len(request.features),
                           "audit": ("failed" if not audit_report["passed"] else
                                     "flagged" if audit_report["flags"] else "passed")}
    out.update({f"param.{key}": _scalar(value) for key, value in sorted(model.items())})
    names = dict.fromkeys(key for fold in folds for key in fold["metrics"])
    for key in names:
        values = [float(v) for fold in folds if isinstance(v := fold["metrics"].get(key), int | float)
                  and not isinstance(v, bool) and math.isfinite(v)]
        out[f"metric.{key}"] = sum(values) / len(values) if values else None
    return out


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return orjson.dumps(value).decode()  # a list or object hyperparameter, as its JSON text


def measurement(result: WalkForwardResult) -> pd.DataFrame:
    """The rows a run keeps: its predictions, with the stitched curve on the test rows."""
    rows = result.predictions
    curve = result.equity[["row", "fold", "equity", "position"]].assign(band="test")
    frame = rows.merge(curve, on=["row", "fold", "band"], how="left", validate="one_to_one")
    frame = frame.drop(columns="row")
    frame["fold"] = frame["fold"].astype("int64")
    frame["band"] = frame["band"].astype("string")
    return frame[[TIMESTAMP, "fold", "band", "prediction", "target", "forward_return", "equity", "position"]]


__all__ = ["FoldSpec", "Prepared", "RunError", "RunOutcome", "Runs", "WalkForwardRequest", "code_version",
           "measurement", "parse_request", "run_summary"]
