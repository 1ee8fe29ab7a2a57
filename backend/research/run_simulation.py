"""A walk-forward run's predictions simulated as a trading strategy.

The simulator trades from a column of a dataset, and a run keeps no bars of its own. So the
run's out-of-sample signal is written beside the bars it was made on, as an indicator version of
the run's dataset (``<dataset>_<n>``, its record naming the run): on each fold's test bars +1
where the prediction is above that fold's long threshold, −1 below its short one, 0 between —
the thresholds each fold chose on its own validation window, as the run itself traded them —
and missing (flat) outside the test windows. A threshold strategy on that column (long above
0.5, short below −0.5) with the run's costs is then an ordinary simulation: its statistics,
trades and charts as any other. Unlike the run's own curve, which is flat at every fold's end,
the simulation keeps a position across a fold boundary when both sides of it hold the same one.

A combinatorial run tests every bar once on each of its backtest paths: one path is simulated
(the first unless another is asked for), its signal kept as its own column.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from backend.measurements.frames import as_table, to_pandas
from backend.research.dataset_service import Datasets
from backend.research.simulation_service import SimulationError, Simulations
from backend.research.simulator.engine import targets_from_predictions
from backend.research.simulator.requests import SimulationRequest, parse
from backend.research.walkforward.requests import RunError
from backend.research.walkforward.service import Runs

SYMBOL = "symbol"


def paths_of(record: dict[str, Any]) -> list[int]:
    """A combinatorial run's backtest paths; empty for a walk-forward run."""
    return sorted({int(f["path"]) for f in record.get("folds") or [] if isinstance(f.get("path"), int)})


def run_signal(record: dict[str, Any], predictions: pd.DataFrame, path: int | None = None) -> pd.DataFrame:
    """``timestamp`` and ``signal`` (+1, 0, −1) of every test bar, from each fold's thresholds; of
    a combinatorial run, of the folds on ``path`` (a ``RunError`` when it has no such path)."""
    parts = []
    test = predictions[predictions["band"] == "test"]
    paths = paths_of(record)
    if paths and path not in paths:
        raise RunError(f"path: {record.get('name')} has backtest paths {paths[0]} to {paths[-1]}, got {path!r}")
    if not paths and path is not None:
        raise RunError(f"path: {record.get('name')} is a walk-forward run, with one out-of-sample path")
    for fold in record.get("folds") or []:
        if paths and fold.get("path") != path:
            continue
        rows = test[test["fold"] == fold["index"]]
        chosen = fold.get("thresholds") or {}
        signal = targets_from_predictions(rows["prediction"].to_numpy(dtype=np.float64, na_value=np.nan),
                                          long_threshold=chosen.get("long"), short_threshold=chosen.get("short"))
        parts.append(pd.DataFrame({"timestamp": rows["timestamp"].to_numpy(), "signal": signal}))
    if not parts:
        return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"), "signal": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def _signal_version(datasets: Datasets, record: dict[str, Any], signal: pd.DataFrame, column: str,
                    created_by: str) -> str:
    """The indicator version holding the run's signal beside its bars (made once per run)."""
    request = record["request"]
    records = datasets.records
    base = record["base"]
    for existing in records.list(base):
        if (existing.kind == "indicators" and existing.inputs.get("run") == record["name"]
                and column in (existing.inputs.get("columns") or {})):  # one version per run and path
            return existing.name
    bars = to_pandas(datasets.measurements.read(request["dataset"]))
    keys = ["timestamp"]
    if SYMBOL in bars.columns:
        symbol = request.get("symbol") or bars[SYMBOL].dropna().iloc[0]
        signal = signal.assign(symbol=symbol)
        keys.append(SYMBOL)
    made = bars.merge(signal.rename(columns={"signal": column}), on=keys, how="left", validate="many_to_one")
    source = datasets.info(request["dataset"])
    zone = str((records.get(source.name) or records.get(base)).inputs.get("time_zone", "UTC"))  # type: ignore[union-attr]
    name = records.allocate(base, "indicators", store=datasets.store, created_by=created_by,
                            inputs={"run": record["name"], "dataset": request["dataset"], "time_zone": zone,
                                    "columns": {column: {"from": f"the out-of-sample signal of {record['name']}"}}})
    info = replace(source, name=name.name, columns=tuple(made.columns), source=f"signal of {record['name']}")
    records.update_inputs(name.name, info=info.public())
    try:
        datasets.measurements.write(name.name, as_table(made))
    except BaseException:
        records.remove(name.name)
        datasets.measurements.delete(name.name)
        raise
    return name.name


def simulate_run(datasets: Datasets, name: str, *, created_by: str = "", path: int | None = None) -> str:
    """Simulate run ``name``'s out-of-sample signal (of a combinatorial run, path ``path``, the
    first by default); the new simulation's name. A ``RunError`` when there is no such run or it
    cannot be simulated."""
    runs = Runs(datasets)
    record = runs.get(name)
    paths = paths_of(record)
    if paths and path is None:
        path = paths[0]
    signal = run_signal(record, runs.predictions(name), path)
    column = f"{record['name']}_signal" + (f"_path{path}" if paths else "")
    version = _signal_version(datasets, record, signal, column, created_by)
    request = parse(SimulationRequest, {
        "dataset": version, "symbol": record["request"].get("symbol"),
        "strategy": {"kind": "threshold", "column": column, "long_threshold": 0.5, "short_threshold": -0.5},
        "costs": record["request"].get("costs") or {}})
    try:
        return Simulations(datasets).run(request, created_by=created_by).name  # type: ignore[return-value]
    except SimulationError as exc:
        raise RunError(str(exc)) from None


__all__ = ["paths_of", "run_signal", "simulate_run"]
