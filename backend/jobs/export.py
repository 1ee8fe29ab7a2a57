"""The raw-trades CSV export as a job: every trade of a pivot view, written to a file.

The rows come from the same bounded queries as the streamed download
(``backend.pivot.export.stream_trades_csv``: whole trade days, or hash buckets of
a large day), so the warehouse is never held for the whole export and memory
stays bounded by one chunk. The file is written under a temporary name and
renamed when complete: a half-written export is never offered for download.
Progress is rows written of the total the same filters select. Chunks are sized so
that an export reports about ``PROGRESS_STEPS`` times whatever its size (never more
rows per query than asked, never fewer than ``MIN_CHUNK_ROWS``: each query has a
fixed cost, and chunks of 10k rows made a million-row export about twice as slow).
Every query reads only the rows of the submitter's data scope, carried in the
job's parameters (a worker has no request, so the scope travels with the job).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any, Final

from backend.jobs.context import JobContext
from backend.jobs.params import TradesCsvParams
from backend.jobs.states import JobError
from backend.pivot.drill import DrillError, DrillScope, drill_scope
from backend.pivot.engine import latest_trade_date
from backend.pivot.export import export_chunks, stream_trades_csv
from backend.pivot.view_state import parse_view
from backend.warehouse import Warehouse

PROGRESS_STEPS: Final = 20
MIN_CHUNK_ROWS: Final = 20_000


def _scope(wh: Warehouse, params: TradesCsvParams) -> tuple[DrillScope, list[str]]:
    if params.scope is None:
        # Never "every row" by omission: a job without its submitter's scope does not run.
        raise JobError("the export carries no data scope; start it again")
    data = params.scope.data_scope()
    try:
        if params.view is not None:
            parsed = parse_view(params.view.removeprefix("?"), latest_date=latest_trade_date(wh, data))
            if parsed.state.date_from is None:
                raise JobError("there is no data in the warehouse yet")
            return drill_scope(parsed.state.to_request(), [], scope=data), list(parsed.notices)
        return drill_scope(params.request or {}, params.path, params.column_path, scope=data), []
    except DrillError as exc:
        raise JobError(str(exc)) from None


def _day_counts(wh: Warehouse, scope: DrillScope) -> list[tuple[date, int]]:
    cond, values = scope.where(wh)
    rows = wh.query_rows(
        f"SELECT trade_date, count() FROM {{db}}.trades_1d WHERE {cond} GROUP BY trade_date ORDER BY trade_date",
        values,
    )
    return [(day, int(count)) for day, count in rows]


def _chunk_rows(chunks: list[dict[str, Any]], days: list[tuple[date, int]]) -> list[float]:
    """Rows each chunk holds: exact for date spans, an even share of its day for a hash bucket."""
    sizes = []
    for chunk in chunks:
        inside = sum(count for day, count in days if chunk["x_lo"] <= day <= chunk["x_hi"])
        sizes.append(inside / chunk["x_k"])
    return sizes


def _file_name(days: list[tuple[date, int]]) -> str:
    if not days:
        return "trades-empty.csv"
    first, last = days[0][0], days[-1][0]
    return f"trades-{first.isoformat()}.csv" if first == last else f"trades-{first.isoformat()}-to-{last.isoformat()}.csv"


def chunk_size(total: int, asked: int) -> int:
    """Rows per query: about ``PROGRESS_STEPS`` progress reports, at most ``asked`` rows a query."""
    return min(asked, max(MIN_CHUNK_ROWS, math.ceil(total / PROGRESS_STEPS)))


def run_trades_csv(ctx: JobContext, params: TradesCsvParams) -> dict[str, Any]:
    wh = ctx.warehouse()
    scope, notices = _scope(wh, params)
    days = _day_counts(wh, scope)
    total = sum(count for _, count in days)
    chunk_rows = chunk_size(total, params.chunk_rows)
    sizes = _chunk_rows(export_chunks(wh, scope, chunk_rows), days)
    ctx.log(f"{total:,} rows over {len(days)} trade dates in {len(sizes)} chunks")
    ctx.progress(0.0, f"0 of {total:,} rows", force=True)
    name = _file_name(days)
    folder = ctx.result_dir()
    partial = folder / (name + ".part")
    done = 0.0
    with partial.open("wb") as out:
        pieces = stream_trades_csv(wh, scope, chunk_rows=chunk_rows)
        out.write(next(pieces))  # the header line
        for index, piece in enumerate(pieces):
            out.write(piece)
            done += sizes[index] if index < len(sizes) else 0
            rows = min(total, round(done))
            ctx.progress(rows / total if total else 1.0, f"{rows:,} of {total:,} rows")
    partial.rename(folder / name)
    size = (folder / name).stat().st_size
    as_of = days[-1][0].isoformat() if days else None
    ctx.log(f"wrote {name}: {total:,} rows, {size:,} bytes")
    return {
        "file": name, "media_type": "text/csv", "rows": total, "bytes": size, "as_of": as_of,
        "notices": notices, "summary": f"{total:,} rows ({size / 1e6:,.1f} MB)",
    }
