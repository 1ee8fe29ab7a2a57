"""Argument limits of the generator, checked before any heavy import or file is touched."""

from __future__ import annotations

from datetime import date

DEFAULT_CHUNK_ROWS = 2_000_000
MAX_ROWS = 200_000_000
# Trade ids of chunk k start at k * ID_SPAN + 1; a chunk never holds more than half of it.
ID_SPAN = 100_000_000
MAX_CHUNK_ROWS = ID_SPAN // 2


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
    """Split ``rows`` into near-equal targets of at most ``chunk_rows``."""
    n = -(-rows // chunk_rows)
    return [rows // n + (1 if k < rows % n else 0) for k in range(n)]
