"""Datasets from the command line.

    python -m backend.research import FILE --name NAME [--tz ZONE]
    python -m backend.research list

Reads the same settings as the app (``DESKBOARD_*``). With the embedded stores the file goes
into the Parquet measurements folder and the records store, both safe to write while the app
runs; with ``DESKBOARD_RESEARCH_MEASUREMENTS=clickhouse`` and the embedded warehouse the app
must be stopped (chDB lets one process open its folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.config import SettingsError, load_settings
from backend.measurements.names import MeasurementNameError
from backend.meta import open_meta
from backend.research.dataset_service import DatasetError
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
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    warehouse = None
    if settings.research.measurements == "clickhouse":
        from backend.warehouse import open_warehouse

        warehouse = open_warehouse(settings.warehouse_url, settings.warehouse_database)
    datasets = open_datasets(settings, open_meta(settings.meta_database_url), warehouse)
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


if __name__ == "__main__":
    sys.exit(main())
