"""The price board grid: VN colour conventions, flash on change, live row transactions.

Colours and number formats are computed in the browser by the functions in
``assets/board.js`` so a tick only ships changed rows, never styling.
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag

# Sortable by default; prices show in thousands of VND (futures in points).
_PRICE = {"valueFormatter": {"function": "boardPrice(params)"}, "type": "rightAligned", "width": 78}
_VOLUME = {"valueFormatter": {"function": "boardVolume(params)"}, "type": "rightAligned", "width": 86}


TONES = ("up", "down", "ref", "ceiling", "floor")


def tone_rules(field: str) -> dict[str, str]:
    """cellClassRules colouring a cell by the tone of ``field``'s price (re-evaluated on every update)."""
    return {f"board-{t}": f"boardToneClass(params, '{field}') === 'board-{t}'" for t in TONES}


def _price(field: str, header: str, tone_of: str | None = None, **extra: Any) -> dict[str, Any]:
    tone = tone_of or field
    styling = {"cellClass": f"board-{tone}"} if tone in ("ref", "ceiling", "floor") else {"cellClassRules": tone_rules(tone)}
    return {"field": field, "headerName": header, **_PRICE, **styling, **extra}


def _volume(field: str, header: str, **extra: Any) -> dict[str, Any]:
    return {"field": field, "headerName": header, **_VOLUME, **extra}


def _book_side(prefix: str, label: str) -> dict[str, Any]:
    """Three price/volume levels, best level next to the matched price."""
    levels = (3, 2, 1) if prefix == "bid" else (1, 2, 3)
    children = []
    for level in levels:
        tone = tone_rules(f"{prefix}{level}")
        children += [_price(f"{prefix}{level}", f"P{level}"),
                     _volume(f"{prefix}{level}_vol", f"V{level}", cellClassRules=tone)]
    return {"headerName": label, "children": children}


def board_columns() -> list[dict[str, Any]]:
    return [
        {"field": "symbol", "headerName": "Symbol", "pinned": "left", "width": 92, "sort": None,
         "cellClass": "board-symbol"},
        {"headerName": "Prices", "children": [
            _price("ref", "Ref", tone_of="ref"),
            _price("ceiling", "Ceil", tone_of="ceiling"),
            _price("floor", "Floor", tone_of="floor"),
        ]},
        _book_side("bid", "Bids"),
        {"headerName": "Matched", "children": [
            _price("last", "Price", tone_of="last"),
            _volume("last_vol", "Vol", cellClassRules=tone_rules("last")),
            {"field": "change", "headerName": "+/-", **_PRICE, "cellClassRules": tone_rules("last")},
            {"field": "change_pct", "headerName": "%", "type": "rightAligned", "width": 74,
             "valueFormatter": {"function": "boardPct(params)"}, "cellClassRules": tone_rules("last")},
        ]},
        _book_side("ask", "Asks"),
        _volume("total_vol", "Total vol", width=104),
        {"headerName": "Session", "children": [
            _price("high", "High"),
            _price("low", "Low"),
            {"colId": "avg", "headerName": "Avg", **_PRICE,
             "valueGetter": {"function": "boardAverage(params)"}, "cellClassRules": tone_rules("avg")},
        ]},
        {"headerName": "Foreign", "children": [
            _volume("f_buy_vol", "Buy"),
            _volume("f_sell_vol", "Sell"),
            _volume("f_room", "Room", width=104),
        ]},
        {"colId": "active", "headerName": "Active B/S", "width": 120, "sortable": True,
         "valueGetter": {"function": "boardBuyShare(params)"},
         "cellRenderer": "BoardSplitBar"},
    ]


def board_grid(grid_id: str | dict[str, Any], *, kiosk: bool = False, sort: tuple[str, str] | None = None) -> dag.AgGrid:
    columns = board_columns()
    if sort is not None:
        _apply_sort(columns, *sort)
    return dag.AgGrid(
        id=grid_id,
        className="ag-theme-quartz-dark board-grid" if kiosk else "ag-theme-quartz board-grid",
        columnDefs=columns,
        rowData=[],
        defaultColDef={"sortable": True, "resizable": True, "enableCellChangeFlash": True,
                       "suppressHeaderMenuButton": True, "filter": False},
        getRowId="params.data.symbol",
        # The symbol takes the colour of the matched price; row classes follow every data change.
        rowClassRules={f"board-row-{t}": f"boardToneClass(params, 'last') === 'board-{t}'" for t in TONES},
        eventListeners={"sortChanged": ["boardSortChanged(params)"]},
        dashGridOptions={
            "rowHeight": 40 if kiosk else 28,
            "headerHeight": 34 if kiosk else 28,
            "groupHeaderHeight": 28 if kiosk else 24,
            "animateRows": False,
            "suppressColumnVirtualisation": True,
            "suppressCellFocus": True,
            "cellFlashDuration": 400,
            "cellFadeDuration": 600,
        },
        style={"height": "calc(100vh - 190px)" if not kiosk else "calc(100vh - 110px)", "width": "100%"},
    )


SORTABLE = {c.get("field") or c.get("colId") for group in board_columns()
            for c in (group.get("children") or [group])}


def _apply_sort(columns: list[dict[str, Any]], col_id: str, direction: str) -> None:
    for group in columns:
        for col in group.get("children") or [group]:
            if (col.get("field") or col.get("colId")) == col_id:
                col["sort"] = direction
