"""The pivot page's view, read back from the URL query string.

Everything an analyst sets on the pivot page round-trips through the query
string, so a copied link restores the view exactly and back/forward work::

    rows=portfolio_manager_id,asset_class,symbol    row hierarchy (1..6)
    cols=exposure_type                              column split (0..2)
    m=notional,pnl                                  metrics
    f.desk=Equities&f.desk=Rates                    filters, one key per value
    date=2024-01-15  |  date=2024-01-02..2024-01-15 one day or a range
    exposure=as_held | look_through | custom        with types=Direct,ETF for custom
    sort=-pnl                                       metric or row dimension; '-' = descending
    sortcol=ETF&sortcol=Equity                      with a column split: sort by that split column
                                                    (one value per column dimension, in order)
    stocks=last | average                           stock measures over a range: as of the last
                                                    date with data, or averaged over the dates
    depth=1&open=<id>&closed=<id>                   expansion (see ``Expansion``)
    view=table | chart, by=<dimension>, top=10      chart/table and chart settings
    limit=1000                                      children kept under each parent
    embed=1, kiosk=1                                display modes, kept as given

Parsing never raises: anything unknown, malformed, oversized or hostile is
dropped, the rest of the view is kept, and a short notice says what was ignored.
The view itself (``ViewState``) and its writer (``to_query``) are in
``backend.pivot.view_model``; this module re-exports them, so pages import one module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError

from backend.pivot.catalog import (
    DIMENSIONS,
    MAX_COLUMN_DIMENSIONS,
    MAX_DIMENSIONS,
    MAX_LIMIT,
    MAX_VALUE_CHARS,
    METRICS,
    STOCK_MODES,
)
from backend.pivot.tree_view import MAX_EXPANDED_IDS, Expansion, grid_rows, group_levels, visible_rows
from backend.pivot.view_model import (
    DEFAULT_CHART_BY,
    DEFAULT_METRICS,
    DEFAULT_ROWS,
    DEFAULT_TOP,
    EXPOSURE_TYPES,
    FILTERABLE,
    ExposureMode,
    ViewState,
    exposure_conflict,
    to_query,
    types_for,
)

__all__ = ["DEFAULT_CHART_BY", "DEFAULT_METRICS", "DEFAULT_ROWS", "DEFAULT_TOP", "EXPOSURE_TYPES", "FILTERABLE",
           "MAX_EXPANDED_IDS", "Expansion", "ExposureMode", "ParsedView", "ViewState", "exposure_conflict",
           "grid_rows", "group_levels", "narrowed", "parse_view", "revise", "to_query", "types_for",
           "visible_rows"]

MAX_QUERY_CHARS: Final = 32_768
MAX_VALUES_PER_FILTER: Final = 200
MAX_ID_CHARS: Final = 600
MAX_NOTICES: Final = 8
MIN_YEAR, MAX_YEAR = 1990, 2100

_SINGLE_KEYS: Final = frozenset(
    {"rows", "cols", "m", "date", "exposure", "types", "sort", "depth", "view", "by", "top", "limit",
     "embed", "kiosk", "stocks"}
)
_LIST_KEYS: Final = frozenset({"open", "closed", "sortcol"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ParsedView(BaseModel):
    state: ViewState
    notices: list[str]



# -- parsing -----------------------------------------------------------------------
class _Notes:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if len(self.items) < MAX_NOTICES:
            self.items.append(text)
        elif len(self.items) == MAX_NOTICES:
            self.items.append("…and more problems in the link were ignored.")


def _shown(text: str, limit: int = 40) -> str:
    """A bad value as it may be quoted back to the user: short, no control characters."""
    clean = _CONTROL.sub("?", text)
    return repr(clean[:limit] + ("…" if len(clean) > limit else ""))


def _names(raw: str, known: Iterable[str], what: str, notes: _Notes, cap: int) -> tuple[str, ...]:
    known_set = set(known)
    out: list[str] = []
    for name in (p.strip() for p in raw.split(",")):
        if not name:
            continue
        if name not in known_set:
            notes.add(f"Unknown {what} {_shown(name)} was ignored.")
        elif name in out:
            notes.add(f"{what.capitalize()} {name} was listed twice; kept once.")
        elif len(out) >= cap:
            notes.add(f"At most {cap} {what}s; {name} was ignored.")
        else:
            out.append(name)
    return tuple(out)


def _parse_date(raw: str) -> date | None:
    if len(raw) != 10 or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if MIN_YEAR <= day.year <= MAX_YEAR else None


def _parse_dates(raw: str, notes: _Notes) -> tuple[date, date] | None:
    parts = raw.split("..")
    if len(parts) > 2:
        notes.add(f"Date {_shown(raw)} is not a date or a range; showing the latest day.")
        return None
    days = [_parse_date(p.strip()) for p in parts]
    if any(d is None for d in days):
        notes.add(f"Date {_shown(raw)} is not a date (YYYY-MM-DD or FROM..TO); showing the latest day.")
        return None
    lo, hi = days[0], days[-1]
    assert lo is not None and hi is not None
    if hi < lo:
        notes.add("The date range ended before it started; the dates were swapped.")
        lo, hi = hi, lo
    return lo, hi


def _parse_int(raw: str, lo: int, hi: int, what: str, notes: _Notes) -> int | None:
    if not re.fullmatch(r"\d{1,6}", raw):
        notes.add(f"{what} {_shown(raw)} is not a number; the default was used.")
        return None
    value = int(raw)
    if not lo <= value <= hi:
        notes.add(f"{what} must be between {lo} and {hi}; the default was used.")
        return None
    return value


def _clean_value(raw: str) -> str | None:
    if not raw or len(raw) > MAX_VALUE_CHARS or _CONTROL.search(raw):
        return None
    return raw


def _pairs(query: str, notes: _Notes) -> list[tuple[str, str]]:
    query = query.removeprefix("?")
    if len(query) > MAX_QUERY_CHARS:
        notes.add(f"The link is too long ({len(query):,} characters); the default view is shown.")
        return []
    try:
        return parse_qsl(query, keep_blank_values=True, max_num_fields=2_000)
    except ValueError:
        notes.add("The link has too many parameters; the default view is shown.")
        return []


def _grouped(pairs: Sequence[tuple[str, str]], notes: _Notes) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        if key in _SINGLE_KEYS:
            if key in single and single[key] != value:
                notes.add(f"Parameter {key} was given more than once; the first one was used.")
                continue
            single.setdefault(key, value)
        elif key in _LIST_KEYS or key.startswith("f."):
            multi.setdefault(key, []).append(value)
        else:
            notes.add(f"Unknown parameter {_shown(key)} was ignored.")
    return single, multi


def _filters(multi: Mapping[str, list[str]], notes: _Notes) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, values in multi.items():
        if not key.startswith("f."):
            continue
        dim = key[2:]
        if dim not in FILTERABLE:
            notes.add(f"Filter on unknown dimension {_shown(dim)} was ignored.")
            continue
        kept: list[str] = []
        for value in values:
            clean = _clean_value(value)
            if clean is None:
                notes.add(f"A {DIMENSIONS[dim].label} filter value {_shown(value)} was not valid and was ignored.")
            elif clean not in kept:
                kept.append(clean)
        if len(kept) > MAX_VALUES_PER_FILTER:
            notes.add(f"At most {MAX_VALUES_PER_FILTER} values per filter; the rest were ignored.")
            kept = kept[:MAX_VALUES_PER_FILTER]
        if kept:
            out[dim] = tuple(kept)
    return out


def _exposure(single: Mapping[str, str], notes: _Notes) -> tuple[ExposureMode, tuple[str, ...]]:
    mode = single.get("exposure", "as_held")
    if mode in ("as_held", "look_through"):
        return mode, ()  # type: ignore[return-value]
    if mode != "custom":
        notes.add(f"Exposure {_shown(mode)} is unknown; showing as held.")
        return "as_held", ()
    types = _names(single.get("types", ""), EXPOSURE_TYPES, "exposure type", notes, len(EXPOSURE_TYPES))
    problem = exposure_conflict(types)
    if problem:
        notes.add(f"{problem} Showing as held instead.")
        return "as_held", ()
    return "custom", tuple(t for t in EXPOSURE_TYPES if t in types)


def _ids(values: list[str] | None, notes: _Notes) -> tuple[str, ...]:
    out: list[str] = []
    for value in values or []:
        if not value or len(value) > MAX_ID_CHARS or _CONTROL.search(value):
            notes.add("An expanded row in the link was not valid and was ignored.")
        elif value not in out:
            out.append(value)
    if len(out) > MAX_EXPANDED_IDS:
        notes.add(f"At most {MAX_EXPANDED_IDS} rows can be expanded one by one; the rest were ignored.")
    return tuple(out[:MAX_EXPANDED_IDS])


def parse_view(query: str, *, latest_date: date | None = None) -> ParsedView:
    """The view a query string asks for, and what in it was ignored; never raises."""
    notes = _Notes()
    single, multi = _grouped(_pairs(query or "", notes), notes)
    base = ViewState()

    rows = _names(single["rows"], DIMENSIONS, "dimension", notes, MAX_DIMENSIONS) if "rows" in single else base.rows
    if not rows:
        notes.add("No valid row dimension was given; the default rows are shown.")
        rows = base.rows
    cols = _names(single.get("cols", ""), DIMENSIONS, "column dimension", notes, MAX_COLUMN_DIMENSIONS)
    if set(cols) & set(rows):
        notes.add("A dimension cannot split rows and columns at once; it was removed from the columns.")
        cols = tuple(c for c in cols if c not in rows)
    metrics = _names(single["m"], METRICS, "metric", notes, len(METRICS)) if "m" in single else base.metrics
    if not metrics:
        notes.add("No valid metric was given; the default metrics are shown.")
        metrics = base.metrics

    span = _parse_dates(single["date"], notes) if "date" in single else None
    lo, hi = span if span else (latest_date, latest_date)
    exposure, types = _exposure(single, notes)

    sort_field, sort_desc = _sort(single.get("sort"), rows, metrics, notes)
    asked = single.get("sort", "").removeprefix("-") or None
    # A sort that fell back to the default (noticed above) takes no split column with it.
    sort_column = _sort_column(multi.get("sortcol"), sort_field, metrics, cols, notes) \
        if "sort" not in single or asked == sort_field else ()
    stocks = single.get("stocks", "last")
    if stocks not in STOCK_MODES:
        notes.add(f"Stocks {_shown(stocks)} is unknown (use last or average); showing the last date.")
        stocks = "last"
    depth = _parse_int(single["depth"], 0, MAX_DIMENSIONS, "Depth", notes) if "depth" in single else None
    view = single.get("view", "table")
    if view not in ("table", "chart"):
        notes.add(f"View {_shown(view)} is unknown; showing the table.")
        view = "table"
    chart_by = single.get("by", base.chart_by)
    if chart_by not in FILTERABLE:
        notes.add(f"Chart dimension {_shown(chart_by)} is unknown; using {DIMENSIONS[base.chart_by].label}.")
        chart_by = base.chart_by
    top = _parse_int(single["top"], 1, 50, "Top N", notes) if "top" in single else None
    limit = _parse_int(single["limit"], 1, MAX_LIMIT, "Limit", notes) if "limit" in single else None

    state = ViewState(
        rows=rows,
        cols=cols,
        metrics=metrics,
        filters=_filters(multi, notes),
        date_from=lo,
        date_to=hi,
        exposure=exposure,
        types=types,
        sort_field=sort_field,
        sort_desc=sort_desc,
        sort_column=sort_column,
        stocks=stocks,  # type: ignore[arg-type]
        expansion=Expansion(
            depth=min(depth if depth is not None else 0, len(rows) - 1),
            open=_ids(multi.get("open"), notes),
            closed=_ids(multi.get("closed"), notes),
        ),
        view=view,  # type: ignore[arg-type]
        chart_by=chart_by,
        top=top if top is not None else base.top,
        limit=limit if limit is not None else base.limit,
        embed=single.get("embed") == "1",
        kiosk=single.get("kiosk") == "1",
    )
    return ParsedView(state=state, notices=notes.items)


def _sort(
    raw: str | None, rows: tuple[str, ...], metrics: tuple[str, ...], notes: _Notes
) -> tuple[str | None, bool]:
    default = ("pnl", True) if "pnl" in metrics else (metrics[0], True)
    if raw is None:
        return default
    if raw == "":
        return None, True
    desc = raw.startswith("-")
    field = raw[1:] if desc else raw
    if field in metrics or field in rows:
        return field, desc
    notes.add(f"Sort by {_shown(field)} is not possible in this view; sorting by {default[0]} instead.")
    return default


def _sort_column(
    raw: list[str] | None, field: str | None, metrics: tuple[str, ...], cols: tuple[str, ...], notes: _Notes
) -> tuple[str, ...]:
    """The split column a metric sort reads, or () for the metric's total; bad ones fall back to the total."""
    if not raw:
        return ()
    fallback = f"sorting by the total {METRICS[field].label}" if field in METRICS else "sorting by the total"
    if field not in metrics:
        notes.add("A split column sort needs a metric to sort by; the split column was ignored.")
        return ()
    if len(raw) != len(cols):
        notes.add(f"The sorted split column has {len(raw)} value(s) but the view splits columns by "
                  f"{len(cols)} dimension(s); {fallback} instead.")
        return ()
    for value in raw:
        # A split value may be blank (a trade without, say, a parent fund), unlike a filter value.
        if len(value) > MAX_VALUE_CHARS or _CONTROL.search(value):
            notes.add(f"The sorted split column {_shown(value)} is not a valid value; {fallback} instead.")
            return ()
    return tuple(raw)


def narrowed(state: ViewState, cells: Sequence[tuple[str, Any]]) -> ViewState | str:
    """The view whose filters select exactly the trades under ``cells`` ((dimension, value) pairs).

    Used to point the raw-trades CSV at one drilled cell. Returns why not when a
    value cannot be said in a link (the export would then hold other trades).
    """
    changes: dict[str, Any] = {"filters": dict(state.filters)}
    for dim, value in cells:
        label = DIMENSIONS[dim].label if dim in DIMENSIONS else "A dimension"
        if dim == "trade_date":
            day = _parse_date(str(value)[:10]) if isinstance(value, str) else None
            lo, hi = state.date_from, state.date_to or state.date_from
            if day is None or lo is None or hi is None or not lo <= day <= hi:
                return f"the trade date {_shown(str(value))} is not a day of this view"
            changes["date_from"] = changes["date_to"] = day
        elif dim == "exposure_type":
            if value not in types_for(state):
                return f"exposure type {_shown(str(value))} is not part of this view"
            changes["exposure"], changes["types"] = "custom", (value,)
        elif dim in FILTERABLE:
            clean = _clean_value(value) if isinstance(value, str) else None
            if clean is None:
                return f"a blank or unusual {label} cannot be put in a link"
            current = state.filters.get(dim)
            if current and clean not in current:
                return f"{label} {_shown(clean)} is outside the current filter"
            changes["filters"][dim] = (clean,)
        else:
            return f"{label} cannot be put in a link"
    return state.model_copy(update=changes)


def revise(state: ViewState, **changes: Any) -> ParsedView:
    """``state`` with ``changes`` applied, checked exactly as a link would be."""
    if ("rows" in changes and tuple(changes["rows"]) != state.rows) or (
        "cols" in changes and tuple(changes["cols"]) != state.cols
    ):
        # Group ids are paths of the old hierarchy; they mean nothing in a new one.
        changes.setdefault("expansion", Expansion())
    if "cols" in changes and tuple(changes["cols"]) != state.cols:
        changes.setdefault("sort_column", ())  # the sorted split column is gone with its split
    try:
        # Validated, not copied: controls send text (dates as "YYYY-MM-DD", lists for tuples).
        changed = ViewState.model_validate({**state.model_dump(), **changes})
    except ValidationError:
        return ParsedView(state=state, notices=["That change could not be applied; the view is unchanged."])
    return parse_view(to_query(changed), latest_date=state.date_from)
