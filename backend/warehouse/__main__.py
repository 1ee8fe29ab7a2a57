"""Warehouse CLI.

    python -m backend.warehouse load DIR   load a generator folder of Parquet files
    python -m backend.warehouse info       tables, row counts and the data version
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.config import SettingsError, load_settings
from backend.warehouse.client import WarehouseError, open_warehouse
from backend.warehouse.loader import load_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.warehouse")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="load a folder written by python -m backend.datagen")
    load.add_argument("folder", type=Path)
    sub.add_parser("info", help="print tables, row counts and the data version")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        wh = open_warehouse(settings.warehouse_url, settings.warehouse_database)
        if args.command == "load":
            report = load_folder(wh, args.folder)
            span = f"{report.dates[0]} .. {report.dates[1]}" if report.dates else "no trades"
            print(
                f"loaded {report.trades:,} trades ({span}), {report.instruments} instruments, "
                f"{report.constituents} constituents in {report.seconds:.1f} s; "
                f"data version {report.data_version}"
            )
        else:
            print(f"warehouse: {settings.warehouse_url} (database {wh.database})")
            print(f"schema version: {wh.schema_version()}")
            for name, count in wh.table_counts().items():
                print(f"  {name:<24} {count:>14,}")
            print(f"data version: {wh.data_version()}")
    except (SettingsError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
