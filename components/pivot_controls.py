"""The pivot page's left panel: hierarchy, column split, metrics, exposure, dates, filters."""

from __future__ import annotations

from typing import Any

import dash_mantine_components as dmc
from dash import html

from backend.access.current import current_principal
from backend.access.permissions import PIVOT_EXPORT
from backend.pivot.catalog import DIMENSIONS, MAX_COLUMN_DIMENSIONS, MAX_DIMENSIONS, METRICS
from backend.pivot.view_state import EXPOSURE_TYPES, FILTERABLE, ViewState, types_for


class ids:
    ROWS = "pivot-rows"
    ROW_LIST = "pivot-row-list"
    COLS = "pivot-cols"
    METRICS = "pivot-metrics"
    EXPOSURE = "pivot-exposure"
    TYPES = "pivot-types"
    TYPES_REFUSED = "pivot-types-refused"
    DATES = "pivot-dates"
    STOCKS = "pivot-stocks"
    FILTER_DIM = "pivot-filter-dim"
    FILTER_VALUES = "pivot-filter-values"
    ACTIVE_FILTERS = "pivot-active-filters"

    @staticmethod
    def move(dim: str, step: str) -> dict[str, str]:
        return {"type": "pivot-row-move", "dim": dim, "step": step}

    @staticmethod
    def clear_filter(dim: str) -> dict[str, str]:
        return {"type": "pivot-filter-clear", "dim": dim}


def export_controls(export_id: str, raw_id: str, raw_href: str) -> list[Any]:
    """The toolbar's CSV exports. Without ``pivot.export`` they are there but hidden: the view's
    callbacks still write the link's address, and no control offers what the server would refuse."""
    hidden = None if current_principal().can(PIVOT_EXPORT) else {"display": "none"}
    return [
        dmc.Button("Export CSV", id=export_id, variant="light", size="compact-sm", style=hidden),
        html.A("Raw trades CSV", id=raw_id, href=raw_href, className="pivot-raw-link pivot-phone-hide", download="",
               style=hidden),
    ]


def _options(names: Any, labels: Any) -> list[dict[str, str]]:
    return [{"value": n, "label": labels[n].label} for n in names]


def row_list(rows: tuple[str, ...]) -> list[Any]:
    """The hierarchy in order, each level with move-up, move-down and remove buttons."""
    items = []
    for i, dim in enumerate(rows):
        buttons = [
            dmc.ActionIcon("↑", id=ids.move(dim, "up"), variant="subtle", size="sm", disabled=i == 0,
                           **{"aria-label": f"Move {DIMENSIONS[dim].label} up"}),
            dmc.ActionIcon("↓", id=ids.move(dim, "down"), variant="subtle", size="sm", disabled=i == len(rows) - 1,
                           **{"aria-label": f"Move {DIMENSIONS[dim].label} down"}),
            dmc.ActionIcon("×", id=ids.move(dim, "remove"), variant="subtle", size="sm", color="red",
                           disabled=len(rows) == 1, **{"aria-label": f"Remove {DIMENSIONS[dim].label}"}),
        ]
        items.append(
            html.Div([html.Span(f"{i + 1}. {DIMENSIONS[dim].label}", className="pivot-row-name"),
                      dmc.Group(buttons, gap=2)], className="pivot-row-item", **{"data-dim": dim})
        )
    return items


def active_filters(state: ViewState) -> list[Any]:
    chips = []
    for dim, values in sorted(state.filters.items()):
        shown = ", ".join(values[:3]) + (f" +{len(values) - 3}" if len(values) > 3 else "")
        chips.append(
            dmc.Badge(
                [f"{DIMENSIONS[dim].label}: {shown} ",
                 html.Button("×", id=ids.clear_filter(dim), className="pivot-filter-clear",
                             title=f"Remove the {DIMENSIONS[dim].label} filter")],
                variant="light", className="pivot-filter-badge", **{"data-dim": dim},
            )
        )
    return chips


def controls_panel(state: ViewState) -> html.Div:
    dims = [d for d in DIMENSIONS if d != "trade_date"] + ["trade_date"]
    return html.Div(
        [
            dmc.MultiSelect(
                id=ids.ROWS, label="Rows (in order)", data=_options(dims, DIMENSIONS), value=list(state.rows),
                searchable=True, maxValues=MAX_DIMENSIONS, clearable=False, size="xs",
            ),
            html.Div(row_list(state.rows), id=ids.ROW_LIST, className="pivot-row-list"),
            dmc.MultiSelect(
                id=ids.COLS, label="Split columns by", data=_options(dims, DIMENSIONS), value=list(state.cols),
                searchable=True, maxValues=MAX_COLUMN_DIMENSIONS, clearable=True, size="xs",
            ),
            dmc.MultiSelect(
                id=ids.METRICS, label="Metrics", data=_options(METRICS, METRICS), value=list(state.metrics),
                searchable=True, clearable=False, size="xs",
            ),
            dmc.Text("Exposure", size="xs", fw=500, mt="xs"),
            dmc.SegmentedControl(
                id=ids.EXPOSURE, value=state.exposure, fullWidth=True, size="xs",
                data=[{"value": "as_held", "label": "As held"}, {"value": "look_through", "label": "Look-through"},
                      {"value": "custom", "label": "Types"}],
            ),
            dmc.ChipGroup(
                [dmc.Chip(t, value=t, size="xs") for t in EXPOSURE_TYPES],
                id=ids.TYPES, value=list(types_for(state)), multiple=True,
            ),
            html.Div(id=ids.TYPES_REFUSED, role="alert", className="pivot-types-refused"),
            dmc.DatePickerInput(
                id=ids.DATES, label="Trade date (one day or a range)", type="range", allowSingleDateInRange=True,
                value=[d.isoformat() for d in (state.date_from, state.date_to) if d is not None],
                valueFormat="YYYY-MM-DD", size="xs", clearable=False,
            ),
            dmc.Text("Positions over a range", size="xs", fw=500),
            dmc.SegmentedControl(
                id=ids.STOCKS, value=state.stocks, fullWidth=True, size="xs",
                data=[{"value": "last", "label": "Last date"}, {"value": "average", "label": "Average"}],
                attributes={"title": "Exposure, market value and other positions over a date range: as of the "
                                     "last date with data, or the average over the dates with data"},
            ),
            dmc.Select(
                id=ids.FILTER_DIM, label="Filter", data=_options(FILTERABLE, DIMENSIONS), value="desk",
                searchable=True, size="xs", allowDeselect=False,
            ),
            dmc.MultiSelect(
                # Values load when the list opens or a search is typed; the chosen ones are known already.
                id=ids.FILTER_VALUES, placeholder="Search values…", data=list(state.filters.get("desk", ())),
                value=list(state.filters.get("desk", ())),
                searchable=True, clearable=True, size="xs", limit=200, maxDropdownHeight=260,
            ),
            dmc.Group(active_filters(state), id=ids.ACTIVE_FILTERS, gap=4),
        ],
        className="pivot-controls",
    )
