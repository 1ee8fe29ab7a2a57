"""Simulations as the research pages, the API, jobs and the command line see them.

A simulation runs one strategy on one dataset (one symbol of a panel) and is kept as
``<dataset>_sim<n>``: its record holds what it was made of — the request, the code version, a
hash of the bars it read, the number of strategy variants tried on that dataset so far — and
its statistics; its measurement holds one row per bar (equity, buy-and-hold, position,
drawdown) with, on the bar where each trade opened, that trade. A re-run of the record's
request on the same bars gives the same numbers, and the record says whether the bars changed.

A sweep is a grid of variants run in one call; its record keeps every cell's statistics (the
heatmap) and counts every cell as a trial. Opening a cell records it as a simulation of its
own, made from the cell's strategy (and counted once: the sweep already counted it).

Trials (for the deflated Sharpe ratio) are taken when a simulation is created, from every
simulation and sweep ever recorded on the same base dataset, deleted ones included: a variant
that was tried and thrown away was still tried.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from backend.measurements.frames import TIMESTAMP, to_pandas
from backend.measurements.names import MeasurementNameError, parse_name
from backend.measurements.records import Record
from backend.research.dataset_service import DatasetError, Datasets
from backend.research.simulator import requests as requests_module
from backend.research.simulator.engine import Bars, SimulationResult
from backend.research.simulator.requests import SimulationRequest, SweepRequest
from backend.research.simulator.stats import STAT_KEYS, Trials, compute_stats, sharpe_per_bar, stats_json
from backend.research.simulator.strategies import Threshold, grid_cells, signals, sweep_signals
from backend.validation import safe_name

SYMBOL: Final = "symbol"
TRADE_PREFIX: Final = "trade_"
TRADE_COLUMNS: Final = ("direction", "exit_time", "entry_price", "exit_price", "size", "fees", "pnl", "return_pct",
                        "duration_bars", "mae_pct", "mfe_pct", "is_open")
TRADES_PAGE_MAX: Final = 1_000
HEATMAP_KEYS: Final = ("return_pct", "sharpe", "sortino", "calmar", "max_drawdown_pct", "trades", "win_rate_pct",
                       "profit_factor", "expectancy_pct", "sqn", "exposure_pct", "cagr_pct", "psr", "dsr", "sharpe_bar")
ProgressFn = Callable[[float, str], None]


class SimulationError(ValueError):
    """A simulation that cannot be made or found; the message can be shown."""


@cache
def code_version() -> str:
    """A digest of the simulator's source: the numbers of a record were made by exactly this code."""
    folder = Path(__file__).parent / "simulator"
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return "sim-" + digest.hexdigest()[:16]


def data_hash(bars: Bars, extra: Sequence[np.ndarray] = ()) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(bars.timestamps.as_unit("ns").asi8).tobytes())
    for values in (bars.open, bars.high, bars.low, bars.close, *extra):
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()


def periods_per_year(stamps: pd.DatetimeIndex, time_zone: str = "UTC") -> float:
    """Bars in a year, from the bars' own spacing: monthly 12, weekly 52, daily 252, and intraday
    252 × the typical number of bars in a trading day."""
    if len(stamps) < 2:
        return 252.0
    spacing = float(np.median(np.diff(stamps.as_unit("ns").asi8))) / 86_400e9
    if spacing >= 25:
        return 12.0
    if spacing >= 5:
        return 52.0
    if spacing >= 0.9:
        return 252.0
    days = stamps.tz_convert(time_zone).normalize() if stamps.tz is not None else stamps.normalize()
    per_day = pd.Series(1, index=days).groupby(level=0).size()
    return 252.0 * float(per_day.median())


@dataclass(frozen=True)
class Loaded:
    bars: Bars
    columns: dict[str, np.ndarray]
    base: str
    time_zone: str


@dataclass(frozen=True)
class Workload:
    bars: int
    cells: int
    large: bool  # over the limits a request is answered within: run it as a job


@dataclass(frozen=True)
class SimulationOutcome:
    name: str | None
    stats: dict[str, Any]
    equity: pd.DataFrame
    trades: pd.DataFrame
    inputs: dict[str, Any]


class Simulations:
    def __init__(self, datasets: Datasets) -> None:
        self.datasets = datasets
        self.records = datasets.records

    # -- running -------------------------------------------------------------------------------

    def load(self, request: SimulationRequest) -> Loaded:
        """The bars a request reads: its dataset (or indicator version), one symbol, its time range."""
        try:
            parsed = parse_name(request.dataset)
        except MeasurementNameError as exc:
            raise SimulationError(f"dataset: {exc}") from None
        record = self.records.get(parsed.name)
        if record is None or record.kind not in ("dataset", "indicators"):
            raise SimulationError(f"dataset: there is no dataset {request.dataset!r}")
        try:
            table = self.datasets.measurements.read(parsed.name, start=request.start, end=request.end)
        except (ValueError, KeyError) as exc:
            raise SimulationError(f"dataset: {exc}") from None
        if SYMBOL in table.column_names:
            symbols = sorted({s for s in table.column(SYMBOL).to_pylist() if s is not None})
            if request.symbol is None:
                if len(symbols) != 1:
                    raise SimulationError(f"symbol: {parsed.name} holds {len(symbols)} symbols; choose one")
                chosen = symbols[0]
            elif request.symbol not in symbols:
                raise SimulationError(f"symbol: {parsed.name} has no symbol {request.symbol[:40]!r}")
            else:
                chosen = request.symbol
            mask = pa.compute.equal(table.column(SYMBOL), chosen)
            table = table.filter(mask)
        elif request.symbol is not None:
            raise SimulationError(f"symbol: {parsed.name} holds one series; leave the symbol out")
        if table.num_rows == 0:
            raise SimulationError("the dataset has no bars in that time range")
        frame = to_pandas(table)
        columns = {c: frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in frame.columns
                   if c not in (TIMESTAMP, SYMBOL) and (frame[c].dtype.kind in "iufb"
                                                       or str(frame[c].dtype) in ("Int64", "boolean"))}
        # bars with a missing price are left out: no fill can be made on them
        keep = np.logical_and.reduce([np.isfinite(columns[c]) for c in ("open", "high", "low", "close")
                                      if c in columns])
        try:
            bars = Bars(pd.DatetimeIndex(frame[TIMESTAMP][keep]),
                        *(columns[c][keep].reshape(-1, 1) for c in ("open", "high", "low", "close")),
                        assets=(request.symbol or parsed.base,)).checked()
        except KeyError as exc:
            raise SimulationError(f"the dataset has no {exc.args[0]!r} column") from None
        except ValueError as exc:
            raise SimulationError(str(exc)) from None
        return Loaded(bars, {c: v[keep] for c, v in columns.items()}, parsed.base,
                      str(record.inputs.get("time_zone", "UTC")))

    def workload(self, request: SimulationRequest) -> Workload:
        """How much a request would simulate — about, from the dataset's description, without
        reading its bars — and whether that is too much to answer at once. The dataset, symbol and
        column it names are checked here too, so a job is never queued only to fail."""
        try:
            info = self.datasets.info(request.dataset)
        except (DatasetError, MeasurementNameError, KeyError):
            raise SimulationError(f"dataset: there is no dataset {safe_name(request.dataset)!r}") from None
        if request.symbol is not None and request.symbol not in info.symbols:
            raise SimulationError(f"symbol: {info.name} has no symbol {safe_name(request.symbol)!r}")
        if isinstance(request.strategy, Threshold) and request.strategy.column not in info.columns:
            raise SimulationError(f"strategy.column: {info.name} has no column {request.strategy.column!r}")
        # a panel's symbols share its rows: one symbol is about its share
        bars = info.rows // len(info.symbols) if info.symbols and request.symbol is not None else info.rows
        if isinstance(request, SweepRequest):
            cells = len(request.grid.x.values) * (len(request.grid.y.values) if request.grid.y else 1)
            return Workload(bars, cells, bars * cells > requests_module.DIRECT_CELLS_BARS_MAX)
        return Workload(bars, 1, bars > requests_module.DIRECT_BARS_MAX)

    def run(self, request: SimulationRequest, *, created_by: str = "", record: bool = True,
            progress: ProgressFn | None = None, weight: int = 1, extra: dict[str, Any] | None = None
            ) -> SimulationOutcome:
        """Simulate ``request``; with ``record`` keep it as ``<dataset>_sim<n>``. ``weight`` is the
        number of trials it adds (0 for a sweep's cell, which its sweep counted)."""
        loaded = self.load(request)
        report = progress or (lambda share, words: None)
        report(0.1, "bars read")
        try:
            made = signals(request.strategy, loaded.columns)
            result = request.costs.simulator().run(loaded.bars, **made)
        except ValueError as exc:
            raise SimulationError(str(exc)) from None
        report(0.6, "simulated")
        periods = request.periods_per_year or periods_per_year(loaded.bars.timestamps, loaded.time_zone)
        outcome = self.finish(loaded.base, loaded.bars, result, request=request.model_dump(mode="json"),
                              label=request.strategy.label(), periods=periods, created_by=created_by,
                              record=record, weight=weight,
                              extra={"dataset": request.dataset, "symbol": request.symbol, **(extra or {})})
        if outcome.name:
            report(1.0, f"recorded as {outcome.name}")
        return outcome

    def finish(self, base: str, bars: Bars, result: SimulationResult, *, request: dict[str, Any], label: str,
               periods: float, created_by: str = "", record: bool = True, weight: int = 1,
               extra: dict[str, Any] | None = None, frame_columns: dict[str, np.ndarray] | None = None
               ) -> SimulationOutcome:
        """The statistics of a one-account result, with the trials on ``base`` so far, and its record."""
        init_cash = result.init_cash
        trials = self.trials(base, adding=[sharpe_per_bar(result.equity[:, 0], init_cash=init_cash)] * weight)
        equity, trades = result.equity_frame(0), result.trades_frame(0)
        stats = stats_json(compute_stats(trades, equity, periods_per_year=periods, trials=trials,
                                         init_cash=init_cash))
        inputs = {"type": "simulation", "request": request, "label": label, "dataset": base, "symbol": None,
                  "periods_per_year": periods, "code_version": code_version(), "data_hash": data_hash(bars),
                  "trials": {"count": trials.count, "sharpe_variance": _finite(trials.sharpe_variance)},
                  "weight": weight, **(extra or {}), "stats": stats}
        name = None
        if record:
            frame = _frame(result, init_cash)
            for column, values in (frame_columns or {}).items():
                frame[column] = values
            name = self.datasets.keep_series(base, "sim", frame, created_by=created_by, inputs=inputs)
        return SimulationOutcome(name, stats, equity, trades, inputs)

    def sweep(self, request: SweepRequest, *, created_by: str = "", record: bool = True,
              progress: ProgressFn | None = None) -> dict[str, Any]:
        """Every cell of the grid in one simulator call; the statistics of each cell, and the
        record (``<dataset>_sim<n>`` of type sweep) that keeps them."""
        loaded = self.load(request)
        report = progress or (lambda share, words: None)
        report(0.05, "bars read")
        try:
            made, strategies, reasons = sweep_signals(request.strategy, request.grid, loaded.columns)
        except ValueError as exc:
            raise SimulationError(str(exc)) from None
        report(0.3, f"signals for {len(strategies)} cells")
        try:
            result = request.costs.simulator().run(loaded.bars, keep_position=False, **made)
        except ValueError as exc:
            raise SimulationError(str(exc)) from None
        report(0.6, "simulated")
        periods = request.periods_per_year or periods_per_year(loaded.bars.timestamps, loaded.time_zone)
        init_cash = request.costs.init_cash
        valid = [k for k, reason in enumerate(reasons) if reason is None]
        sharpes = [sharpe_per_bar(result.equity[:, k], init_cash=init_cash) for k in valid]
        trials = self.trials(loaded.base, adding=sharpes)
        cells = []
        full: dict[int, dict[str, Any]] = {}
        for k, ((x, y), reason) in enumerate(zip(grid_cells(request.grid), reasons, strict=True)):
            cell: dict[str, Any] = {"index": k, "x": x, "y": y}
            if reason is not None:
                cell["reason"] = reason
            else:
                stats = stats_json(compute_stats(_account_trades(result, k), _account_equity(result, k),
                                                 periods_per_year=periods, trials=trials, init_cash=init_cash))
                full[k] = stats
                cell["stats"] = {key: stats.get(key) for key in HEATMAP_KEYS}
                cell["label"] = strategies[k].label()
            cells.append(cell)
            if k % 50 == 49:
                report(0.6 + 0.35 * k / len(strategies), f"statistics of {k + 1} cells")
        inputs = {"type": "sweep", "request": request.model_dump(mode="json"), "label": request.strategy.label(),
                  "dataset": request.dataset, "symbol": request.symbol, "periods_per_year": periods,
                  "code_version": code_version(), "data_hash": data_hash(loaded.bars),
                  "trials": {"count": trials.count, "sharpe_variance": _finite(trials.sharpe_variance)},
                  "weight": len(valid), "cell_sharpes": [_finite(s) for s in sharpes], "cells": cells}
        best = _best(cells)
        # the list shows a sweep by its best cell: every statistic of it, its deflated Sharpe
        # discounted by all the cells tried
        inputs["stats"] = full[best] if best is not None else {}
        inputs["best_cell"] = best
        if record:
            frame = _frame(result, init_cash, account=best if best is not None else 0, with_position=False)
            inputs["name"] = self.datasets.keep_series(loaded.base, "sim", frame, created_by=created_by, inputs=inputs)
            report(1.0, f"recorded as {inputs['name']}")
        return inputs

    def open_cell(self, sweep: str, index: int, *, created_by: str = "") -> str:
        """The simulation of one sweep cell, recorded the first time it is opened."""
        record = self._record(sweep)
        if record.inputs.get("type") != "sweep":
            raise SimulationError(f"{sweep} is not a sweep")
        cells = record.inputs.get("cells") or []
        if not isinstance(index, int) or not 0 <= index < len(cells):
            raise SimulationError(f"cell: from 0 to {len(cells) - 1}")
        cell = cells[index]
        if cell.get("simulation") and self.records.get(cell["simulation"]) is not None:
            return str(cell["simulation"])
        if "reason" in cell:
            raise SimulationError(f"that cell was not simulated: {cell['reason']}")
        request = SweepRequest.model_validate(record.inputs["request"])
        strategy = request.strategy
        from backend.research.simulator.strategies import _with

        strategy = _with(strategy, request.grid.x.param, cell["x"])
        if request.grid.y is not None:
            strategy = _with(strategy, request.grid.y.param, cell["y"])
        single = SimulationRequest.model_validate({**request.model_dump(exclude={"grid"}),
                                                   "strategy": strategy.model_dump()})
        outcome = self.run(single, created_by=created_by, weight=0, extra={"sweep": sweep, "cell": index})
        cells = [dict(c) for c in cells]
        cells[index]["simulation"] = outcome.name
        self.records.update_inputs(sweep, cells=cells)
        return str(outcome.name)

    def trials(self, base: str, *, adding: Sequence[float] = ()) -> Trials:
        """Trials on ``base`` so far (deleted ones too), with ``adding`` — the new simulation's."""
        sharpes: list[float] = list(adding)
        for record in self.records.list(base, include_deleted=True):
            if record.kind != "sim":
                continue
            if record.inputs.get("type") == "sweep":
                sharpes.extend(s for s in record.inputs.get("cell_sharpes") or [] if s is not None)
            elif int(record.inputs.get("weight", 1)) > 0:
                sharpe = (record.inputs.get("stats") or {}).get("sharpe_bar")
                if sharpe is not None:
                    sharpes.append(sharpe)
        finite = [s for s in sharpes if s is not None and math.isfinite(s)]
        count = max(len(sharpes), 1)
        variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
        return Trials(count=count, sharpe_variance=variance)

    # -- reading -------------------------------------------------------------------------------

    def _record(self, name: str) -> Record:
        try:
            parsed = parse_name(name)
        except MeasurementNameError as exc:
            raise SimulationError(str(exc)) from None
        record = self.records.get(parsed.name)
        if record is None or record.kind != "sim":
            raise SimulationError(f"there is no simulation {name[:60]!r}")
        return record

    def get(self, name: str) -> dict[str, Any]:
        record = self._record(name)
        return {"name": record.name, "dataset": record.base, "created_by": record.created_by,
                "created_at": record.created_at.isoformat(), **record.inputs}

    def summaries(self) -> list[dict[str, Any]]:
        """One row per simulation and sweep: what it ran and every statistic (the browser's grid)."""
        rows = []
        for record in self.records.list():
            if record.kind != "sim":
                continue
            inputs = record.inputs
            stats = inputs.get("stats") or {}
            request = inputs.get("request") or {}
            rows.append({"name": record.name, "type": inputs.get("type", "simulation"), "dataset": inputs.get("dataset"),
                         "symbol": inputs.get("symbol"), "strategy": inputs.get("label"),
                         "kind": (request.get("strategy") or {}).get("kind"),
                         "created_at": record.created_at.isoformat(), "created_by": record.created_by,
                         "trials": (inputs.get("trials") or {}).get("count"),
                         **{key: stats.get(key) for key in STAT_KEYS}})
        return rows

    def equity(self, name: str) -> pd.DataFrame:
        """The bar rows: timestamp, equity, benchmark, close, position, drawdown_pct."""
        record = self._record(name)
        wanted = ["equity", "benchmark", "close", "position", "drawdown_pct"]
        have = self.datasets.measurements.schema(record.name).names
        return to_pandas(self.datasets.measurements.read(record.name, columns=[c for c in wanted if c in have]))

    def trades(self, name: str) -> pd.DataFrame:
        """Every trade of a simulation, in time order."""
        record = self._record(name)
        if record.inputs.get("type") == "sweep":
            raise SimulationError(f"{name} is a sweep: open one of its cells for trades")
        columns = [TIMESTAMP, *(TRADE_PREFIX + c for c in TRADE_COLUMNS)]
        frame = to_pandas(self.datasets.measurements.read(record.name, columns=columns))
        frame = frame[frame[TRADE_PREFIX + "direction"].notna()].reset_index(drop=True)
        frame.columns = ["entry_time", *TRADE_COLUMNS]
        frame["exit_time"] = pd.to_datetime(frame["exit_time"].astype("int64"), utc=True)
        frame["duration_bars"] = frame["duration_bars"].astype("int64")
        frame["is_open"] = frame["is_open"].astype(bool)
        return frame

    def trades_page(self, name: str, *, offset: int = 0, limit: int = 100, sort: str | None = None,
                    descending: bool = False) -> tuple[list[dict[str, Any]], int]:
        if not 0 <= offset <= 10**9 or not 1 <= limit <= TRADES_PAGE_MAX:
            raise SimulationError(f"offset ≥ 0 and limit from 1 to {TRADES_PAGE_MAX}")
        frame = self.trades(name)
        if sort is not None:
            if sort not in frame.columns:
                raise SimulationError(f"sort: one of {', '.join(frame.columns)}")
            frame = frame.sort_values(sort, ascending=not descending, kind="stable")
        page = frame.iloc[offset:offset + limit].copy()
        for column in ("entry_time", "exit_time"):
            page[column] = page[column].map(lambda t: t.isoformat())
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                for row in page.to_dict("records")]
        return rows, len(frame)

    def remove(self, name: str) -> bool:
        record = self._record(name)
        return self.records.remove(record.name)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _best(cells: list[dict[str, Any]]) -> int | None:
    scored = [(c["stats"].get("sharpe"), c["index"]) for c in cells if "stats" in c
              and c["stats"].get("sharpe") is not None]
    return max(scored)[1] if scored else None


def _account_equity(result: SimulationResult, account: int) -> pd.DataFrame:
    frame = result.equity_frame(account)
    if result.position is None:
        # a sweep keeps no positions: a trade holds its size from its entry bar's close up to
        # (not including) its exit bar's close, and an open trade to the last bar
        trades = result.trades_frame(account)
        n = len(frame)
        signed = np.where(trades["direction"] == "long", 1.0, -1.0) * trades["size"].to_numpy()
        ends = np.where(trades["is_open"], n, trades["exit_bar"].to_numpy())
        change = np.zeros(n + 1)
        np.add.at(change, trades["entry_bar"].to_numpy(), signed)
        np.add.at(change, ends, -signed)
        frame["position"] = np.cumsum(change[:-1])
    return frame


def _account_trades(result: SimulationResult, account: int) -> pd.DataFrame:
    return result.trades_frame(account)


def _frame(result: SimulationResult, init_cash: float, *, account: int = 0, with_position: bool = True) -> pd.DataFrame:
    """One row per bar: the curve, buy-and-hold from the same cash, drawdown, and the trades on the
    bars where they opened (a trade opens on a bar of its own: at most one per bar)."""
    equity = result.equity[:, account]
    close = result.bars.close[:, result.price_col[account]]
    peak = np.maximum.accumulate(np.maximum(equity, init_cash))
    frame = pd.DataFrame({TIMESTAMP: result.bars.timestamps, "equity": equity,
                          "benchmark": init_cash * close / close[0], "close": close,
                          "drawdown_pct": (equity / peak - 1.0) * 100.0})
    if with_position and result.position is not None:
        frame["position"] = result.position[:, account]
    trades = result.trades_frame(account)
    n = len(frame)
    at = trades["entry_bar"].to_numpy()
    for column in TRADE_COLUMNS:
        values = trades[column]
        if column == "direction":
            out = pd.Series([None] * n, dtype="string")
            out.iloc[at] = values.to_numpy()
        elif column == "exit_time":
            out = pd.Series(pd.array([None] * n, dtype="Int64"))
            out.iloc[at] = values.dt.as_unit("ns").astype("int64").to_numpy()
        elif column == "is_open":
            out = pd.Series(pd.array([None] * n, dtype="boolean"))
            out.iloc[at] = values.to_numpy()
        else:
            out = pd.Series(np.full(n, np.nan))
            out.iloc[at] = values.to_numpy(dtype=float)
        frame[TRADE_PREFIX + column] = out.to_numpy() if column not in ("direction", "exit_time", "is_open") \
            else out.array
    return frame


__all__ = ["DatasetError", "SimulationError", "SimulationOutcome", "Simulations", "code_version", "data_hash",
           "periods_per_year"]
