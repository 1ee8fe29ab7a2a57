"""Write a generated data set as a folder of Parquet files that the warehouse loader reads.

    OUT/instruments.parquet
    OUT/constituents.parquet
    OUT/trades_1d/part-00000.parquet, part-00001.parquet, ...

``rows`` counts all rows written, look-through rows included: each block stops
at the first position whose fund rows reach its share, so the total is ``rows``
plus at most (largest fund's constituent count) rows per block of ``BLOCK_ROWS``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from pathlib import Path

from backend.datagen.arrow import write_reference, write_trades
from backend.datagen.block import build_block
from backend.datagen.limits import DEFAULT_CHUNK_ROWS, ID_SPAN, chunk_targets, validate_arguments
from backend.datagen.lookups import EXPOSURE_TYPES
from backend.datagen.market import market_path
from backend.datagen.reference import constituents_table, instruments_table

# Rows built at a time. Small blocks keep the working set to ~100 MB that the allocator
# reuses block after block; touching fresh memory costs seconds per GB on a VM.
BLOCK_ROWS = 256 * 1024
# Below this, starting worker interpreters costs more than it saves.
PARALLEL_MIN_ROWS = 1_000_000


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


def _retain_freed_memory() -> None:
    """Keep freed heap memory in the process instead of returning it to the OS (glibc only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
        libc.mallopt(_M_MMAP_THRESHOLD, 64 << 20)
    except (OSError, AttributeError):
        pass


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _run(job: _Job) -> tuple[int, dict[int, int]]:
    path = market_path(job.start, job.end, job.seed)
    rows = 0
    totals = dict.fromkeys(range(len(EXPOSURE_TYPES)), 0)

    def blocks() -> Iterator[dict]:
        nonlocal rows
        for b, target in enumerate(chunk_targets(job.target_rows, BLOCK_ROWS)):
            block = build_block(
                (job.seed, job.index, b),
                target_rows=target,
                first_id=job.index * ID_SPAN + 1 + rows,
                path=path,
                explode=job.explode,
            )
            rows += block.positions + block.constituents
            for code, count in block.by_exposure.items():
                totals[code] += count
            yield block.columns

    write_trades(blocks(), job.path)
    return rows, totals


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
    if workers is None:
        workers = (os.cpu_count() or 1) if rows >= PARALLEL_MIN_ROWS else 1
    workers = min(len(jobs), workers)
    if workers > 1:
        # Fresh interpreters, never forks: a fork of a process that has the embedded
        # warehouse open hangs on the engine's locks.
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("spawn"), initializer=_retain_freed_memory
        ) as pool:
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
