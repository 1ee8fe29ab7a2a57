"""What the pivot page says about its view in words: freshness line, kiosk title, errors, drill columns.

Stock measures (exposure, market value, …) are positions: over a date range they
are taken as of the last date with data, or averaged, never summed. Whenever a
view spans more than one day the page says which, and as of when.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from backend.pivot.catalog import DIMENSIONS, METRICS
from backend.pivot.drill import DRILL_COLUMNS, DRILL_FORMATS, DRILL_LABELS, LOOK_THROUGH_FACTOR
from backend.pivot.request import PivotRequestError
from backend.pivot.view_state import ViewState
from backend.validation import describe_validation
from components.pivot_grid import is_stock

EXPOSURE_WORDS = {"as_held": "As held", "look_through": "Look-through", "custom": "Chosen exposure types"}


def spans_days(state: ViewState) -> bool:
    return state.date_from is not None and state.date_to is not None and state.date_from != state.date_to


def date_text(state: ViewState) -> str:
    if state.date_from is None:
        return "all dates"
    if spans_days(state):
        return f"{state.date_from:%Y-%m-%d} to {state.date_to:%Y-%m-%d}"
    return f"{state.date_from:%Y-%m-%d}"


def as_of(state: ViewState, meta: Mapping[str, Any]) -> str | None:
    """The date stock columns are taken at, when the view spans days and the answer says it."""
    if not spans_days(state) or meta.get("stocks", state.stocks) != "last":
        return None
    value = meta.get("as_of")
    return str(value)[:10] if value else None


def stock_words(state: ViewState, meta: Mapping[str, Any]) -> str | None:
    """How the view's stock measures were taken over its range, in a phrase (None on one day)."""
    if not spans_days(state) or not any(is_stock(m) for m in state.metrics):
        return None
    mode = meta.get("stocks", state.stocks)
    if mode == "average":
        days = meta.get("stock_days")
        over = f"{int(days):,} dates with data" if isinstance(days, int) else "the dates with data"
        return f"positions averaged over {over}"
    when = as_of(state, meta)
    return f"positions as of {when}, the last date with data" if when else "positions as of the last date with data"


def freshness(state: ViewState, meta: Mapping[str, Any]) -> str:
    parts = [
        f"Data version {str(meta.get('data_version', '?'))[:8]}",
        f"{'cached' if meta.get('cached') else 'computed'} in {meta.get('response_ms', 0):,.0f} ms",
        f"{meta.get('leaf_rows', 0):,} rows from {meta.get('source', '?')}",
    ]
    stocks = stock_words(state, meta)
    if stocks:
        parts.append(stocks[0].upper() + stocks[1:])
    return " · ".join(parts)


def error_text(exc: Exception) -> str:
    """A failed answer in words: the engine's refusal as it is, anything else without internals."""
    if isinstance(exc, PivotRequestError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return describe_validation(exc)
    return "The query failed on the server; your selections are kept. Try again or change the view."


def view_title(state: ViewState, meta: Mapping[str, Any]) -> list[str]:
    """Kiosk heading: what is measured, by what; and the line under it: when and how."""
    measures = ", ".join(METRICS[m].label for m in state.metrics)
    by = " › ".join(DIMENSIONS[d].label for d in state.rows)
    split = f", split by {' / '.join(DIMENSIONS[c].label for c in state.cols)}" if state.cols else ""
    filters = "; ".join(f"{DIMENSIONS[d].label}: {', '.join(v[:3])}{'…' if len(v) > 3 else ''}"
                        for d, v in sorted(state.filters.items()))
    when = [date_text(state), EXPOSURE_WORDS[state.exposure]]
    stocks = stock_words(state, meta)
    if stocks:
        when.append(stocks)
    if filters:
        when.append(filters)
    return [f"{measures} by {by}{split}", " · ".join(when)]


def zone_label(zone: str) -> str:
    """A time zone as a column header names it: its city ("America/New_York" → "New York")."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def drill_columns(exposure: str, zone: str = "UTC") -> list[dict[str, Any]]:
    """Column definitions of the trades grid: readable headers, numbers formatted, times as text
    on the wall clock of ``zone``, which the time column's header names."""
    names: Sequence[str] = (*DRILL_COLUMNS, LOOK_THROUGH_FACTOR) if exposure == "look_through" else DRILL_COLUMNS
    defs: list[dict[str, Any]] = []
    for name in names:
        header = f"{DRILL_LABELS[name]} ({zone_label(zone)})" if name == "trade_time" else DRILL_LABELS[name]
        col: dict[str, Any] = {"field": name, "colId": name, "headerName": header, "sortable": True,
                               "width": _WIDTHS.get(name, 130)}
        fmt = DRILL_FORMATS.get(name)
        if fmt:
            col |= {"type": "rightAligned", "valueFormatter": {"function": f"pivotNumber(params.value, '{fmt}')"},
                    "cellClassRules": {"num-neg": {"function": "params.value < 0"}}}
        if name == "side":
            col["cellClassRules"] = {"pivot-side-sell": {"function": "params.value === 'Sell'"},
                                     "pivot-side-buy": {"function": "params.value === 'Buy'"}}
        defs.append(col)
    return defs


_WIDTHS = {"side": 76, "quantity": 110, "price": 100, "pnl": 120, "symbol": 100, "trade_time": 170,
           "trade_date": 112, "instrument_name": 220, "exposure_type": 120, "portfolio_manager_id": 110,
           "constituent_weight": 120, "trade_id": 110, "position_id": 150}
