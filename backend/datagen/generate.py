"""Write a generated data set as a folder of Parquet files that the warehouse loader reads.

    OUT/instruments.parquet
    OUT/constituents.parquet
    OUT/trades_1d/part-00000.parquet, part-00001.parquet, ...

``rows`` counts all rows written, look-through rows included: each chunk stops
at the first position whose fund rows reach its share, so the total is
``rows`` plus at most a few rows per chunk.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from pathlib import Path

from backend.datagen.arrow import trades_table, write_parquet, write_reference
from backend.datagen.chunk import MAX_CHUNK_ROWS, build_chunk
from backend.datagen.lookups import EXPOSURE_TYPES
from backend.datagen.market import market_path
from backend.datagen.reference import constituents_table, instruments_table

DEFAULT_CHUNK_ROWS = 2_000_000
MAX_ROWS = 200_000_000


@dataclass(frozen=True)
class GenerateReport:
    folder: Path
    files: tuple[Path, ...]
    rows: int
    by_exposure: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Job:
    index: int
    target_rows: int
    seed: int
    start: date
    end: date
    explode: bool
    path: Path


def validate_arguments(*, rows: int, start: date, end: date, chunk_rows: int) -> None:
    if rows <= 0:
        raise ValueError(f"rows must be positive, got {rows}")
    if rows > MAX_ROWS:
        raise ValueError(f"rows must be at most {MAX_ROWS:,}, got {rows:,}")
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    if not 0 < chunk_rows <= MAX_CHUNK_ROWS:
        raise ValueError(f"chunk_rows must be in 1..{MAX_CHUNK_ROWS:,}, got {chunk_rows:,}")


def chunk_targets(rows: int, chunk_rows: int) -> list[int]:
    """Split ``rows`` into near-equal chunk targets of at most ``chunk_rows``."""
    n = -(-rows // chunk_rows)
    return [rows // n + (1 if k < rows % n else 0) for k in range(n)]


def _run(job: _Job) -> tuple[int, dict[int, int]]:
    path = market_path(job.start, job.end, job.seed)
    chunk = build_chunk(job.index, seed=job.seed, target_rows=job.target_rows, path=path, explode=job.explode)
    write_parquet(trades_table(chunk.columns), job.path)
    return chunk.positions + chunk.constituents, chunk.by_exposure


def generate_to_folder(
    out: Path,
    *,
    rows: int,
    start: date,
    end: date,
    seed: int,
    explode: bool = True,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int | None = None,
) -> GenerateReport:
    """Generate about ``rows`` trades between ``start`` and ``end`` into ``out`` (replacing it).

    The same arguments give byte-identical files whatever ``workers`` is.
    """
    validate_arguments(rows=rows, start=start, end=end, chunk_rows=chunk_rows)
    market_path(start, end, seed)  # fail on an empty date range before touching the folder
    started = time.perf_counter()
    out = Path(out)
    trades_dir = out / "trades_1d"
    if trades_dir.exists():
        shutil.rmtree(trades_dir)
    trades_dir.mkdir(parents=True)
    write_reference(instruments_table(), out / "instruments.parquet")
    write_reference(constituents_table(), out / "constituents.parquet")

    jobs = [
        _Job(k, target, seed, start, end, explode, trades_dir / f"part-{k:05d}.parquet")
        for k, target in enumerate(chunk_targets(rows, chunk_rows))
    ]
    workers = min(len(jobs), workers if workers is not None else (os.cpu_count() or 1))
    if workers > 1:
        # Fresh interpreters, never forks: a fork of a process that has the embedded
        # warehouse open hangs on the engine's locks.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_run, jobs))
    else:
        results = [_run(job) for job in jobs]

    totals = [0] * len(EXPOSURE_TYPES)
    for _, by_exposure in results:
        for code, count in by_exposure.items():
            totals[code] += count
    return GenerateReport(
        folder=out,
        files=tuple(job.path for job in jobs),
        rows=sum(r for r, _ in results),
        by_exposure={name: totals[k] for k, name in enumerate(EXPOSURE_TYPES)},
        seconds=time.perf_counter() - started,
    )
