"""What a pivot control asks of the view, and what the view puts back on the controls.

The page's reducer callback names its inputs and outputs (Dash named outputs);
this module speaks the same names, so a change here reads as "the ``rows``
control asks for new rows", never as a position in a long tuple.

``changes`` turns one control's event into keyword changes for
``backend.pivot.view_state.revise`` (or a refusal message); ``view_values`` is
everything the view decides on screen, by output name; ``changed_values`` leaves
alone the controls that already show the view (re-rendering them costs the
browser time, and the root's class carries the panel's open/closed state).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dash_mantine_components as dmc
from dash import html, no_update

from backend.pivot.view_state import ViewState, exposure_conflict, to_query, types_for
from components import pivot_charts as charts
from components.pivot_controls import active_filters, row_list
from components.pivot_drill import RAW_CSV
from components.pivot_grid import split_index

# Pattern-matching inputs arrive with a dict id; its "type" names the input.
PATTERN_NAMES = {"pivot-row-move": "row_move", "pivot-filter-clear": "filter_clear"}
# Lists a view cannot be without: sent back to the control that changed, so an emptied
# list shows the view's value again. (Not the date picker: half a range is not a refusal.)
ECHO = {"rows": ("rows", "row_list"), "row_move": ("rows", "row_list"), "metrics": ("metrics",)}
_SIMPLE = ("rows", "cols", "metrics", "view", "chart_by", "stocks")


def notice_list(notices: list[str]) -> Any:
    if not notices:
        return None
    return dmc.Alert([html.Div(n) for n in notices], title="Parts of the link were not understood",
                     color="yellow", withCloseButton=True, className="pivot-notice")


def root_class(state: ViewState) -> str:
    return "pivot-page" + (" pivot-embed" if state.embed else "") + (" pivot-kiosk" if state.kiosk else "")


def view_values(state: ViewState, notices: list[str]) -> dict[str, Any]:
    """Everything the view decides, by the reducer's output names."""
    query = to_query(state)
    return {
        "state": state.model_dump(mode="json"), "request": state.to_request(), "query": query,
        "notices": notice_list(notices), "rows": list(state.rows), "row_list": row_list(state.rows),
        "cols": list(state.cols), "metrics": list(state.metrics), "exposure": state.exposure,
        "types": list(types_for(state)), "dates": [d.isoformat() for d in (state.date_from, state.date_to) if d],
        "stocks": state.stocks, "active_filters": active_filters(state), "view": state.view,
        "chart_by": state.chart_by, "raw_href": RAW_CSV + query, "tabs": state.view,
        "root_class": root_class(state), "kiosk_off": not state.kiosk,
    }


def _sources(state: ViewState) -> dict[str, Any]:
    """What each of ``view_values`` is drawn from; absent: always sent."""
    return {
        "rows": state.rows, "row_list": state.rows, "cols": state.cols, "metrics": state.metrics,
        "exposure": state.exposure, "types": types_for(state), "dates": (state.date_from, state.date_to),
        "stocks": state.stocks, "active_filters": tuple(sorted(state.filters.items())), "view": state.view,
        "chart_by": state.chart_by, "tabs": state.view, "root_class": (state.embed, state.kiosk),
        "kiosk_off": state.kiosk,
    }


def changed_values(old: ViewState, new: ViewState, notices: list[str], keep: Iterable[str] = ()) -> dict[str, Any]:
    """``view_values(new)`` with the controls whose source did not change left alone; ``keep`` always sent."""
    before, after, keep = _sources(old), _sources(new), set(keep)
    return {k: v if k in keep or k not in after or after[k] != before[k] else no_update
            for k, v in view_values(new, notices).items()}


def _moved(rows: tuple[str, ...], dim: str, step: str) -> tuple[str, ...]:
    out = list(rows)
    i = out.index(dim) if dim in out else -1
    if i < 0:
        return rows
    if step == "remove" and len(out) > 1:
        out.pop(i)
    elif step in ("up", "down"):
        j = i - 1 if step == "up" else i + 1
        if 0 <= j < len(out):
            out[i], out[j] = out[j], out[i]
    return tuple(out)


def _drill_chart(state: ViewState, dim: str, value: str | None, deeper: bool) -> dict[str, Any]:
    if value is None:
        return {}
    changes: dict[str, Any] = {"filters": {**state.filters, dim: (value,)}}
    if deeper and len(state.rows) > 1 and state.rows[0] == dim:
        changes["rows"] = state.rows[1:]
    return changes


def _sorted_by(event: Mapping[str, Any] | None, colvals: Mapping[str, Any] | None) -> dict[str, Any]:
    """A header click as a sort: ``pnl`` is the total, ``pnl__c3`` the third split column's."""
    sort = (event or {}).get("data") or {}
    if not isinstance(sort, dict) or not sort:
        return {}
    col_id = sort.get("colId")
    if not isinstance(col_id, str) or not col_id:
        return {"sort_field": None, "sort_column": ()}
    metric, index = split_index(col_id)
    column: tuple[str, ...] = ()
    if index is not None:
        values = (colvals or {}).get("values") or []
        if not 0 <= index < len(values):
            return {}  # a column of an answer that has since been replaced
        column = tuple("" if v is None else str(v) for v in values[index])
    return {"sort_field": metric, "sort_desc": sort.get("sort") != "asc", "sort_column": column}


def changes(name: str, trigger: Any, state: ViewState, values: Mapping[str, Any]) -> dict[str, Any] | str:
    """What the input ``name`` (id ``trigger``) asks for, or a refusal message for the exposure types.

    ``values`` are the reducer's inputs and states by name.
    """
    value = values.get(name)
    if name == "row_move" and isinstance(trigger, dict):
        return {"rows": _moved(state.rows, str(trigger.get("dim")), str(trigger.get("step")))}
    if name == "filter_clear" and isinstance(trigger, dict):
        return {"filters": {k: v for k, v in state.filters.items() if k != trigger.get("dim")}}
    if name in _SIMPLE:
        return {name: value or getattr(state, name)}
    if name == "exposure":
        return {"exposure": value, "types": tuple(types_for(state)) if value == "custom" else ()}
    if name == "types":
        problem = exposure_conflict(value or [])
        return problem if problem else {"exposure": "custom", "types": tuple(value)}
    if name == "dates":
        dates = [d for d in (value or []) if d]
        return {"date_from": dates[0][:10], "date_to": dates[-1][:10]} if len(dates) == 2 else {}
    if name == "filter_values":
        dim = values.get("filter_dim")
        chosen = tuple(value or ())
        rest = {k: v for k, v in state.filters.items() if k != dim}
        return {"filters": {**rest, dim: chosen} if chosen else rest}
    if name == "grid_sort":
        return _sorted_by(value, values.get("colvals"))
    if name in ("pnl_click", "gross_click"):
        return _drill_chart(state, state.rows[0], charts.clicked_value(value), deeper=True)
    if name == "pie_click":
        return _drill_chart(state, state.chart_by, charts.clicked_value(value), deeper=False)
    return {}
