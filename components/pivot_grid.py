"""The pivot grid: a server-computed tree drawn with AG Grid Community features only.

Group rows carry a chevron (``PivotTreeCell`` in assets/pivot_grid.js); which
rows show is decided in the browser from the tree and the expansion, so a click
needs no round trip. Sorting is done by the engine within each parent: the
header click is reported through ``sortChanged`` and the grid's own comparator
keeps the server's order. With a column split the hierarchy is pinned left and
the totals right, so neither scrolls away; the grand total is a pinned bottom row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import dash_ag_grid as dag

from backend.pivot.catalog import DIMENSIONS, METRICS

HEAT_METRICS = ("pnl", "realized_pnl", "unrealized_pnl", "pnl_pct_gross")
EMPTY_TEXT = "No trades match this view."
# Width of a header label at the grid's header font (px per character, generous) and the header's padding
# and sort icon: the hierarchy column is never narrower than its longest dimension label.
LABEL_PX, HEADER_PAD_PX = 8, 48


def is_stock(metric: str) -> bool:
    """A position at a point in time (exposure, market value…), not a flow that adds up over days."""
    return getattr(METRICS[metric], "kind", "flow") == "stock"


def split_index(col_id: str) -> tuple[str, int | None]:
    """``("pnl", 3)`` for the grid column ``pnl__c3``; ``("pnl", None)`` for a total column."""
    metric, _, index = col_id.partition("__c")
    return metric, (int(index) if index.isdigit() and len(index) < 6 else None)


def metric_fields(metrics: Sequence[str], column_dims: Sequence[str],
                  column_values: Sequence[Sequence[Any]]) -> list[tuple[str, str]]:
    """``(field, header)`` of every number column, in grid order (splits, then totals)."""
    fields: list[tuple[str, str]] = []
    for i, values in enumerate(column_values if column_dims else []):
        label = " / ".join("—" if v in (None, "") else str(v) for v in values)
        fields += [(f"{m}__c{i}", f"{label} · {METRICS[m].label}") for m in metrics]
    fields += [(m, ("Total · " if column_dims else "") + METRICS[m].label) for m in metrics]
    return fields


def _max_abs(rows: Sequence[Mapping[str, Any]], field: str) -> float:
    values = [abs(v) for r in rows if r.get("_kind") == "leaf"
              for v in [r.get(field)] if isinstance(v, (int, float)) and math.isfinite(v)]
    return max(values, default=0.0)


def _number_col(field: str, header: str, metric: str, sort: str | None, heat: float,
                as_of: str | None = None) -> dict[str, Any]:
    spec = METRICS[metric]
    col: dict[str, Any] = {
        "field": field,
        "colId": field,
        "headerName": header,
        "wrapHeaderText": True,
        "autoHeaderHeight": True,
        "type": "rightAligned",
        "sortable": True,
        "sortingOrder": ["desc", "asc"],
        "comparator": {"function": "pivotKeepOrder"},
        "valueFormatter": {"function": f"pivotNumber(params.value, '{spec.format}')"},
        "cellClassRules": {"num-neg": {"function": "params.value < 0"}},
        "minWidth": 110,
    }
    if as_of and is_stock(metric):
        col["headerName"] = f"{header} · as of {as_of}"
        col["headerTooltip"] = f"{spec.label} is a position: taken as of {as_of}, not summed over the days"
    if metric in HEAT_METRICS and heat > 0:
        col["cellStyle"] = {"function": f"pivotHeat(params, {heat!r})"}
    if sort:
        col["sort"] = sort
    return col


def column_defs(
    dimensions: Sequence[str],
    column_dims: Sequence[str],
    metrics: Sequence[str],
    column_values: Sequence[Sequence[Any]],
    tree: Sequence[Mapping[str, Any]],
    sort_field: str | None,
    sort_desc: bool,
    sort_column: Sequence[str] = (),
    as_of: str | None = None,
    tree_width: int = 170,
) -> list[dict[str, Any]]:
    """Hierarchy column, then one group per split column value, then the totals.

    ``sort_column`` marks the split column the rows are sorted by (else the
    total); ``as_of`` is the date stock measures are taken at, shown in their
    headers when the view spans more than one day. ``tree_width`` is the hierarchy
    column's least width (wider for a kiosk's large type).
    """
    sort_dir = "desc" if sort_desc else "asc"
    sorted_split = next((i for i, v in enumerate(column_values) if sort_column and list(v) == list(sort_column)),
                        None)
    labels = [DIMENSIONS[d].label for d in dimensions]
    tree_col = {
        "colId": "_tree",
        "headerName": " › ".join(labels),
        "headerTooltip": " › ".join(labels),
        # A deep hierarchy's name is longer than the column on a laptop: it wraps onto more
        # header lines rather than being cut, and the column is never narrower than one label.
        "wrapHeaderText": True,
        "autoHeaderHeight": True,
        "valueGetter": {"function": "pivotLabel(params)"},
        "cellRenderer": "PivotTreeCell",
        "pinned": "left",
        "minWidth": max(tree_width, LABEL_PX * max((len(t) for t in labels), default=0) + HEADER_PAD_PX),
        "flex": 2,
        "sortable": False,
    }
    defs: list[dict[str, Any]] = [tree_col]
    fields = metric_fields(metrics, column_dims, column_values)
    by_field = {f: h for f, h in fields}
    if column_dims:
        for i, values in enumerate(column_values):
            label = " / ".join("—" if v in (None, "") else str(v) for v in values)
            children = [
                _number_col(f"{m}__c{i}", METRICS[m].label, m, sort_dir if m == sort_field and i == sorted_split
                            else None, _max_abs(tree, f"{m}__c{i}"), as_of)
                for m in metrics
            ]
            defs.append({"headerName": label, "groupId": f"split-{i}", "children": children,
                         "headerClass": "pivot-split-header"})
        total_sorted = sorted_split is None
        totals = [
            _number_col(m, METRICS[m].label, m, sort_dir if m == sort_field and total_sorted else None,
                        _max_abs(tree, m), as_of)
            for m in metrics
        ]
        for col in totals:
            col["pinned"] = "right"  # the totals stay in view however far the splits scroll
        defs.append({"headerName": "Total", "groupId": "split-total", "children": totals})
    else:
        defs += [
            _number_col(m, by_field[m], m, sort_dir if m == sort_field else None, _max_abs(tree, m), as_of)
            for m in metrics
        ]
    return defs


def total_row(totals: Mapping[str, Any]) -> dict[str, Any]:
    return {**totals, "_id": "__total__", "_kind": "total", "_path": [], "_level": 0}


def pivot_grid(grid_id: str, row_data: list[dict[str, Any]] | None = None,
               defs: list[dict[str, Any]] | None = None, totals: Mapping[str, Any] | None = None,
               empty_text: str = EMPTY_TEXT) -> dag.AgGrid:
    """The grid, drawn with its first answer when the page has one (no empty first frame)."""
    return dag.AgGrid(
        id=grid_id,
        rowData=row_data or [],
        columnDefs=defs or [],
        getRowId="params.data._id",
        defaultColDef={"resizable": True, "suppressHeaderMenuButton": True},
        dashGridOptions={
            "animateRows": False,
            "suppressMultiSort": True,
            "rowHeight": 30,
            "headerHeight": 34,
            "pinnedBottomRowData": [total_row(totals)] if totals is not None else [],
            "suppressCellFocus": False,
            "tooltipShowDelay": 300,
            "localeText": {"noRowsToShow": empty_text},
        },
        rowClassRules={
            # dash-ag-grid blocks bare strings that AG Grid would evaluate; functions are allowed.
            "pivot-row-group": {"function": "params.data && params.data._kind === 'group'"},
            "pivot-row-other": {"function": "params.data && params.data._kind === 'other'"},
            "pivot-row-total": {"function": "params.node.rowPinned === 'bottom'"},
        },
        eventListeners={"sortChanged": ["pivotSortChanged(params, setEventData)"]},
        columnSize="responsiveSizeToFit",
        className="pivot-grid",
        style={"height": "100%", "width": "100%"},
    )
