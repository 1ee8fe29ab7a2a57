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

Everything in a request is checked before a model is fitted, and a run is recorded only once it
has finished: a refused or failed request leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.measurements.frames import TIMESTAMP, to_pandas
from backend.measurements.names import MeasurementNameError, parse_name
from backend.research.dataset_service import Datasets
from backend.research.simulation_service import data_hash, periods_per_year
from backend.research.simulator.engine import Bars
from backend.research.simulator.requests import Costs, first_error
from backend.research.walkforward.audit import IC_LIMIT, audit
from backend.research.walkforward.engine import (
    SEED_MAX,
    THREADS_MAX,
    ProgressFn,
    ThresholdRule,
    WalkForwardResult,
    check_features,
    walk_forward,
)
from backend.research.walkforward.folds import BARS_MAX, make_folds
from backend.research.walkforward.models import ModelSpec
from backend.research.walkforward.targets import TargetSpec

SYMBOL = "symbol"
FEATURES_MAX = 200


class RunError(ValueError):
    """A run that cannot be made or found; the message names what is wrong and can be shown."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FoldSpec(_Model):
    """Sizes in bars (``make_folds``' keywords; the horizon is the target's)."""

    train: int = Field(ge=1, le=BARS_MAX)
    validation: int = Field(ge=1, le=BARS_MAX)
    test: int = Field(ge=1, le=BARS_MAX)
    purge: int | None = Field(None, ge=0, le=BARS_MAX)  # None: the label horizon
    embargo: int = Field(0, ge=0, le=BARS_MAX)
    mode: Literal["rolling", "expanding"] = "rolling"
    min_test: int | None = Field(None, ge=1, le=BARS_MAX)


class WalkForwardRequest(_Model):
    dataset: str = Field(min_length=1, max_length=60)  # a dataset or an indicator version (spx_2)
    symbol: str | None = Field(None, min_length=1, max_length=40)
    start: datetime | None = None
    end: datetime | None = None
    features: tuple[str, ...] = Field(min_length=1, max_length=FEATURES_MAX)
    target: TargetSpec = TargetSpec()
    model: ModelSpec
    folds: FoldSpec
    threshold_rule: ThresholdRule = ThresholdRule()
    costs: Costs = Costs()
    seed: int = Field(0, ge=0, le=SEED_MAX)
    threads: int = Field(1, ge=1, le=THREADS_MAX)
    periods_per_year: float | None = Field(None, gt=0.0, le=1e7, allow_inf_nan=False)
    ic_limit: float = Field(IC_LIMIT, gt=0.0, lt=1.0)


def parse_request(raw: Any) -> WalkForwardRequest:
    """``raw`` as a request, or a ``RunError`` whose message names each field that is wrong."""
    if isinstance(raw, WalkForwardRequest):
        return raw
    try:
        return WalkForwardRequest.model_validate(raw)
    except ValidationError as exc:
        raise RunError(first_error(exc)) from None


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
        except MeasurementNameError as exc:
            raise RunError(f"dataset: {exc}") from None
        record = self.records.get(parsed.name)
        if record is None or record.kind not in ("dataset", "indicators"):
            raise RunError(f"dataset: there is no dataset {request.dataset!r}")
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
                raise RunError(f"symbol: {parsed.name} has no symbol {chosen[:40]!r}")
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

    def run(self, raw: WalkForwardRequest | dict[str, Any], *, created_by: str = "", record: bool = True,
            progress: ProgressFn | None = None) -> RunOutcome:
        """Run ``raw`` and, with ``record``, keep it as ``<dataset>_run<n>``."""
        request = parse_request(raw)
        frame, base, zone = self.load(request)
        try:
            check_features(frame, request.features)
            folds = make_folds(n=len(frame), horizon=request.target.horizon,
                               **request.folds.model_dump())
            bars = Bars.from_frame(frame)
            periods = request.periods_per_year or periods_per_year(bars.timestamps, zone)
            result = walk_forward(frame, features=list(request.features), target=request.target,
                                  model=request.model, folds=folds, threshold_rule=request.threshold_rule,
                                  seed=request.seed, threads=request.threads, costs=request.costs,
                                  periods_per_year=periods, progress=progress)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        report = audit(result.folds, pooled_ic=result.summary["ic"], ic_limit=request.ic_limit)
        features = [frame[f].to_numpy(dtype=np.float64, na_value=np.nan) for f in request.features]
        inputs = {"type": "walkforward", "request": request.model_dump(mode="json"), "dataset": request.dataset,
                  "symbol": request.symbol, "code_version": code_version(), "libraries": library_versions(),
                  "data_hash": data_hash(bars, features), "seed": request.seed, "threads": request.threads,
                  "bars": len(frame), "folds": result.folds, "summary": result.summary, "audit": report.public()}
        name = self._keep(base, created_by, inputs, measurement(result)) if record else None
        return RunOutcome(name, result, inputs)

    def _keep(self, base: str, created_by: str, inputs: dict[str, Any], frame: pd.DataFrame) -> str:
        name = self.records.allocate(base, "run", store=self.datasets.store, created_by=created_by,
                                     inputs=inputs).name
        try:
            self.datasets.measurements.write(name, frame)
        except BaseException:
            self.records.remove(name)
            self.datasets.measurements.delete(name)
            raise
        return name

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


def measurement(result: WalkForwardResult) -> pd.DataFrame:
    """The rows a run keeps: its predictions, with the stitched curve on the test rows."""
    rows = result.predictions
    curve = result.equity[["row", "fold", "equity", "position"]].assign(band="test")
    frame = rows.merge(curve, on=["row", "fold", "band"], how="left", validate="one_to_one")
    frame = frame.drop(columns="row")
    frame["fold"] = frame["fold"].astype("int64")
    frame["band"] = frame["band"].astype("string")
    return frame[[TIMESTAMP, "fold", "band", "prediction", "target", "forward_return", "equity", "position"]]


__all__ = ["FoldSpec", "RunError", "RunOutcome", "Runs", "WalkForwardRequest", "code_version", "measurement",
           "parse_request"]
