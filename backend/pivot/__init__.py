"""Pivot engine: a validated request becomes one ClickHouse query and a tree of rows.

    from backend.pivot import PivotRequest, run_pivot
    result = run_pivot(wh, PivotRequest.model_validate(body), scope=current_scope())

``DIMENSIONS`` and ``METRICS`` are the whitelists (name -> spec with ``label`` and
``kind``: a flow adds up over a date range, a stock is read as of the range's last
date with data, or averaged); ``build_where`` is the filter + exposure-view clause
shared with drill-through and export. Every read takes the caller's ``DataScope``
(``scope=``; the unrestricted scope by default, for tools and tests) and adds it to
the engine's WHERE, so answers are over the rows the caller may see.
"""

from backend.pivot.catalog import DIMENSIONS, METRICS, DimensionSpec, MetricSpec
from backend.pivot.engine import choose_table, distinct_values, latest_trade_date, run_pivot
from backend.pivot.request import PivotRequest, PivotRequestError
from backend.pivot.result import PivotResult, tree_rows
from backend.pivot.where import FundCoverage, build_where, load_fund_coverage, view_columns

__all__ = [
    "DIMENSIONS",
    "METRICS",
    "DimensionSpec",
    "FundCoverage",
    "MetricSpec",
    "PivotRequest",
    "PivotRequestError",
    "PivotResult",
    "build_where",
    "choose_table",
    "distinct_values",
    "latest_trade_date",
    "load_fund_coverage",
    "run_pivot",
    "tree_rows",
    "view_columns",
]
