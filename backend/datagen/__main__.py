"""Trade data generator CLI.

    python -m backend.datagen --rows 20000000 --start 2024-01-02 --end 2024-06-28 --seed 7 --out data/gen --load
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from backend.datagen.limits import DEFAULT_CHUNK_ROWS, MAX_ROWS, validate_arguments


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _count(text: str) -> int:
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend.datagen",
        description="Generate daily desk trades with ETF/ETC look-through rows as Parquet files "
        "(OUT/instruments.parquet, OUT/constituents.parquet, OUT/trades_1d/part-NNNNN.parquet).",
    )
    parser.add_argument(
        "--rows",
        type=_count,
        required=True,
        help=f"total rows to write, constituent look-through rows included (1..{MAX_ROWS:,}); "
        "the result can exceed it by up to 6 rows per 262,144 because a fund's look-through rows "
        "are never split",
    )
    parser.add_argument("--start", type=_iso_date, required=True, help="first trade date, YYYY-MM-DD")
    parser.add_argument("--end", type=_iso_date, required=True, help="last trade date, YYYY-MM-DD")
    parser.add_argument("--seed", type=int, default=7, help="random seed; same arguments, same files (default 7)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (its trades_1d/ is replaced)")
    parser.add_argument("--no-explode", action="store_true", help="write no Constituent look-through rows")
    parser.add_argument("--load", action="store_true", help="then load the folder into the configured warehouse")
    parser.add_argument("--chunk-rows", type=_count, default=DEFAULT_CHUNK_ROWS, help="rows per Parquet file")
    parser.add_argument("--workers", type=int, default=None, help="generator processes (default: CPU count)")
    return parser


def _load(out: Path) -> int:
    from backend.config import SettingsError, load_settings
    from backend.warehouse import WarehouseError, WarehouseLockedError, open_warehouse
    from backend.warehouse.loader import load_folder

    try:
        settings = load_settings()
        wh = open_warehouse(settings.warehouse_url, settings.warehouse_database)
        report = load_folder(wh, out)
    except WarehouseLockedError as exc:
        print(f"not loaded: {exc}", file=sys.stderr)
        print(f"the generated files are in {out}; load them later with: python -m backend.warehouse load {out}",
              file=sys.stderr)
        return 1
    except (SettingsError, WarehouseError) as exc:
        print(f"not loaded: {exc}", file=sys.stderr)
        return 1
    print(f"loaded {report.trades:,} trades into {settings.warehouse_url} (database {wh.database}) "
          f"in {report.seconds:.1f} s; data version {report.data_version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    try:
        validate_arguments(rows=args.rows, start=args.start, end=args.end, chunk_rows=args.chunk_rows)
        from backend.datagen.generate import generate_to_folder

        report = generate_to_folder(
            args.out,
            rows=args.rows,
            start=args.start,
            end=args.end,
            seed=args.seed,
            explode=not args.no_explode,
            chunk_rows=args.chunk_rows,
            workers=args.workers,
        )
    except ValueError as exc:
        parser.error(str(exc))
    kinds = ", ".join(f"{name} {count:,}" for name, count in report.by_exposure.items())
    print(f"wrote {report.rows:,} rows ({kinds}) in {len(report.files)} files to {report.folder} "
          f"in {report.seconds:.1f} s")
    return _load(args.out) if args.load else 0


if __name__ == "__main__":
    sys.exit(main())
