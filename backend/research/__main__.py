"""Datasets and simulations from the command line.

    python -m backend.research import FILE --name NAME [--tz ZONE]
    python -m backend.research list
    python -m backend.research simulate --ohlcv FILE --signals FILE --out FILE.json [options]

``simulate`` runs the trading simulator on bars and signals from files (see
``backend.research.simulator.files``) and writes the statistics and trades as JSON (NaN and
infinity as null). With ``--record`` it is kept like a simulation made in the app: the bars
become dataset ``--dataset`` (or, when that dataset exists, must be exactly its bars) and the
signals are kept beside the curve, so the record can be traced back and re-run.

Reads the same settings as the app (``DESKBOARD_*``). With the embedded stores the file goes
into the Parquet measurements folder and the records store, both safe to write while the app
runs; with ``DESKBOARD_RESEARCH_MEASUREMENTS=clickhouse`` and the embedded warehouse the app
must be stopped (chDB lets one process open its folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.config import Settings, SettingsError, load_settings
from backend.measurements.names import MeasurementNameError
from backend.meta import open_meta
from backend.research.dataset_service import DatasetError, Datasets
from backend.research.datasets import DatasetFileError, read_file
from backend.research.runtime import open_datasets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.research", description="Research datasets.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("import", help="import a CSV or Parquet file of OHLCV bars as a dataset")
    add.add_argument("file", type=Path)
    add.add_argument("--name", required=True, help="dataset name: lowercase letters, digits and _ (40 at most)")
    add.add_argument("--tz", default="UTC", help="time zone of naive timestamps in the file (default UTC)")
    commands.add_parser("list", help="list the datasets")
    _simulate_arguments(commands.add_parser("simulate", help="simulate signals on bars and write the statistics"))
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return _simulate(args)
    opened = _datasets()
    if isinstance(opened, int):
        return opened
    datasets, settings = opened
    if args.command == "list":
        for info in datasets.list():
            print(f"{info.name:<24} {info.rows:>10,} bars  {info.frequency:>9}  {info.start} → {info.end}"
                  f"  {len(info.symbols) or 1} symbol(s)")
        return 0
    if not args.file.is_file():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    try:
        bars = read_file(args.file, time_zone=args.tz, max_bytes=settings.research.upload_max_mb * 1024 * 1024)
        info = datasets.add(args.name, bars, created_by="cli", source=args.file.name)
    except DatasetFileError as exc:
        print(f"{args.file.name} was not imported:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    except (DatasetError, MeasurementNameError) as exc:
        print(f"{args.file.name} was not imported: {exc}", file=sys.stderr)
        return 1
    print(f"imported {info.name}: {info.rows:,} bars, {info.frequency}, {info.start} → {info.end}")
    return 0


def _datasets() -> tuple[Datasets, Settings] | int:
    """The datasets the app's settings name (``DESKBOARD_*``), or the exit code of a bad setting."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    warehouse = None
    if settings.research.measurements == "clickhouse":
        from backend.warehouse import open_warehouse

        warehouse = open_warehouse(settings.warehouse_url, settings.warehouse_database)
    return open_datasets(settings, open_meta(settings.meta_database_url), warehouse), settings


def _simulate_arguments(sim: argparse.ArgumentParser) -> None:
    sim.add_argument("--ohlcv", type=Path, required=True, help="bars: CSV or Parquet with timestamp, open, high, low, close")
    sim.add_argument("--signals", type=Path, required=True,
                     help="signals: timestamp and entry, exit [, short_entry, short_exit], or target")
    sim.add_argument("--out", type=Path, required=True, help="where the JSON goes")
    sim.add_argument("--fill", choices=("next_open", "close"), default="next_open")
    sim.add_argument("--fees", type=float, default=0.0, help="fraction of traded value (0.001 = 0.1%%)")
    sim.add_argument("--fixed-fee", type=float, default=0.0, help="per order, in the account's currency")
    sim.add_argument("--slippage-bps", type=float, default=0.0)
    sim.add_argument("--init-cash", type=float, default=100_000.0)
    units = sim.add_mutually_exclusive_group()
    units.add_argument("--fractional", action="store_true", help="fractional units (default: whole units)")
    units.add_argument("--lot", type=int, default=1, help="units in lots of N (100 on HOSE)")
    sim.add_argument("--stop-loss", type=float, default=None, help="percent below (above, short) the entry")
    sim.add_argument("--take-profit", type=float, default=None, help="percent above (below, short) the entry")
    sim.add_argument("--periods-per-year", type=float, default=252.0)
    sim.add_argument("--tz", default="UTC", help="time zone of naive timestamps in both files")
    sim.add_argument("--record", action="store_true", help="keep it as a simulation, like one made in the app")
    sim.add_argument("--dataset", default=None, help="with --record: the dataset the bars are (default: the file's name)")


def _simulate(args: argparse.Namespace) -> int:
    import json
    import math
    import re

    from backend.research.simulator.engine import Bars as SimBars
    from backend.research.simulator.engine import Simulator
    from backend.research.simulator.files import SignalFileError, read_signals
    from backend.research.simulator.stats import compute_stats, stats_json

    for path in (args.ohlcv, args.signals):
        if not path.is_file():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    if args.periods_per_year is None or not math.isfinite(args.periods_per_year) or args.periods_per_year <= 0:
        print("--periods-per-year: a positive number", file=sys.stderr)
        return 2
    try:
        simulator = Simulator(fill=args.fill, fees=args.fees, fixed_fee=args.fixed_fee,
                              slippage_bps=args.slippage_bps, init_cash=args.init_cash,
                              fractional=args.fractional, lot=args.lot,
                              stop_loss=None if args.stop_loss is None else args.stop_loss / 100.0,
                              take_profit=None if args.take_profit is None else args.take_profit / 100.0)
        read = read_file(args.ohlcv, time_zone=args.tz, max_bytes=2_000 * 1024 * 1024)
        if read.symbols:
            raise ValueError(f"{args.ohlcv.name}: holds {len(read.symbols)} symbols; give one symbol's bars")
        frame = read.table.to_pandas()
        bars = SimBars.from_frame(frame)
        made = read_signals(args.signals, bars.timestamps.as_unit("ns").asi8, time_zone=args.tz)
        result = simulator.run(bars, **made)
    except DatasetFileError as exc:
        print(f"{args.ohlcv.name}: " + "; ".join(exc.problems[:5]), file=sys.stderr)
        return 1
    except (SignalFileError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    settings_request = {"ohlcv": args.ohlcv.name, "signals": args.signals.name, **simulator.settings(),
                        "periods_per_year": args.periods_per_year}
    name = None
    if args.record:
        dataset = args.dataset or re.sub(r"[^a-z0-9_]", "_", args.ohlcv.stem.lower()).strip("_")[:40] or "bars"
        recorded = _record(dataset, read, bars, result, made, settings_request, args.periods_per_year)
        if isinstance(recorded, int):
            return recorded
        name, stats = recorded
    else:
        stats = stats_json(compute_stats(result.trades_frame(0), result.equity_frame(0),
                                         periods_per_year=args.periods_per_year, init_cash=args.init_cash))
    trades = result.trades_frame(0)
    rows = []
    for row in trades.to_dict("records"):
        rows.append({k: (v.isoformat() if hasattr(v, "isoformat") else
                         None if isinstance(v, float) and not math.isfinite(v) else
                         v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    out = {"simulation": name, "settings": settings_request, "stats": stats, "trades": rows}
    args.out.write_text(json.dumps(out, indent=1, allow_nan=False, default=str) + "\n", encoding="utf-8")
    print(f"{len(rows)} trades, return {stats['return_pct']:.2f}%, Sharpe "
          f"{stats['sharpe'] if stats['sharpe'] is None else round(stats['sharpe'], 3)}"
          + (f"; recorded as {name}" if name else "") + f" → {args.out}")
    return 0


def _record(dataset: str, read: object, bars: object, result: object, made: dict, request: dict,
            periods: float) -> tuple[str, dict] | int:
    from backend.research.simulation_service import SimulationError, Simulations, data_hash
    from backend.research.simulator.requests import SimulationRequest

    opened = _datasets()
    if isinstance(opened, int):
        return opened
    datasets, _settings = opened
    sims = Simulations(datasets)
    try:
        if datasets.records.get(dataset) is None:
            datasets.add(dataset, read, created_by="cli", source=request["ohlcv"])  # type: ignore[arg-type]
        else:
            # the dataset's own bars (the strategy is not read: any will do to name them)
            kept = sims.load(SimulationRequest.model_validate({"dataset": dataset,
                                                               "strategy": {"kind": "sma_cross"}})).bars
            if data_hash(kept) != data_hash(bars):  # type: ignore[arg-type]
                print(f"dataset {dataset!r} exists with other bars: choose another --dataset", file=sys.stderr)
                return 1
        columns = {f"signal_{key}": values for key, values in made.items()}
        outcome = sims.finish(dataset, bars, result, request={"signals": request}, periods=periods,  # type: ignore[arg-type]
                              label=f"signals from {request['signals']}", created_by="cli",
                              extra={"signals_hash": data_hash(bars, list(made.values()))},  # type: ignore[arg-type]
                              frame_columns=columns)
    except (DatasetError, MeasurementNameError, SimulationError) as exc:
        print(f"not recorded: {exc}", file=sys.stderr)
        return 1
    return str(outcome.name), outcome.stats


if __name__ == "__main__":
    sys.exit(main())
