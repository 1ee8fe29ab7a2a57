"""The price board grid: VN colour conventions, direction flash on changed cells, live row transactions.

Colours, number formats and the flash are computed in the browser by the functions
in ``assets/board.js`` so a tick only ships changed rows, never styling. The flash is
AG Grid's own cell flash (only cells whose value changed flash). One ``cellStyle``
function per cell (``boardCellStyle`` in board.js) gives both the VN colour of its
text and the colour of its flash (green when the value rose against the one shown
before, red when it fell): dash-ag-grid interprets every rule of a column on every
change, so one function instead of seven class rules is most of the page's drawing
time on a busy board. Columns
share the grid's width (``flex``) above a minimum that fits their compact text, so
every column is visible without horizontal scrolling from 1366 px up. The kiosk wall
(``?kiosk=1``) fits any screen from 1366×768 up without scrolling: its type grows with
the screen's width (``assets/board.css``) as the columns do (they keep the same minimums
and all share the width, the symbol too), and its rows take the screen's height
(``boardKioskRowHeight`` in board.js).
"""

from __future__ import annotations

from typing import Any, Final

import dash_ag_grid as dag

TONES: Final = ("up", "down", "ref", "ceiling", "floor")

# Minimum widths (px) at the normal 12 px Arial-metric type, 3 px padding each side and no side
# borders (board.css): a price "139.10" or futures "2080.5" (37 px of text), a compact volume
# "12.3K" / "1.23M" (34), a change "-10.40" (34), a percentage "+6.94%" (41), a star and "VN30F2612".
# The kiosk keeps them: its type is 12 px × (the grid's width / these widths' sum) at most, so
# text and columns grow together.
_WIDTHS: Final[dict[str, int]] = {"price": 44, "volume": 40, "change": 40, "pct": 47, "symbol": 88, "split": 40}


def _width(kind: str) -> int:
    return _WIDTHS[kind]


def cell_style(tone_field: str | None) -> dict[str, str]:
    """The text colour of ``tone_field``'s price against the bands (none when None) and the flash colour."""
    return {"function": f"boardCellStyle(params, {repr(tone_field) if tone_field else 'null'})"}


class _Columns:
    """Column definitions for one grid (normal or kiosk widths)."""

    def __init__(self, kiosk: bool) -> None:
        self.kiosk = kiosk

    def _sized(self, kind: str) -> dict[str, Any]:
        width = _width(kind)
        return {"minWidth": width, "width": width, "flex": width}

    def price(self, field: str, header: str, tone_of: str | None = None, **extra: Any) -> dict[str, Any]:
        tone = tone_of or field
        fixed = tone in ("ref", "ceiling", "floor")  # set once a day: coloured, never flashed
        styling = {"cellClass": f"board-{tone}"} if fixed else {"cellStyle": cell_style(tone)}
        return {"field": field, "headerName": header, "type": "rightAligned", **self._sized("price"),
                "valueFormatter": {"function": "boardPrice(params)"}, **styling, **extra}

    def volume(self, field: str, header: str, tone_of: str | None = None, **extra: Any) -> dict[str, Any]:
        """A volume in compact form (12.3K, 1.23M); the exact figure is the cell's tooltip."""
        return {"field": field, "headerName": header, "type": "rightAligned", **self._sized("volume"),
                "valueFormatter": {"function": "boardVolume(params)"},
                "tooltipValueGetter": {"function": "boardExactVolume(params)"},
                "cellStyle": cell_style(tone_of), **extra}

    def book_side(self, prefix: str, label: str) -> dict[str, Any]:
        """Three price/volume levels, best level next to the matched price."""
        levels = (3, 2, 1) if prefix == "bid" else (1, 2, 3)
        children = []
        for level in levels:
            children += [self.price(f"{prefix}{level}", f"P{level}"),
                         self.volume(f"{prefix}{level}_vol", f"V{level}", tone_of=f"{prefix}{level}")]
        return {"headerName": label, "children": children}

    def all(self) -> list[dict[str, Any]]:
        return [
            # Pinned while the grid may scroll sideways; the wall never does, and there the symbol
            # grows with the other columns.
            {"field": "symbol", "headerName": "Symbol",
             **(self._sized("symbol") if self.kiosk else {"pinned": "left", "width": _width("symbol")}),
             "cellClass": "board-symbol", "cellRenderer": "BoardSymbol", "cellRendererParams": {"kiosk": self.kiosk}},
            {"headerName": "Prices", "children": [
                self.price("ref", "Ref", tone_of="ref"),
                self.price("ceiling", "Ceil", tone_of="ceiling"),
                self.price("floor", "Floor", tone_of="floor"),
            ]},
            self.book_side("bid", "Bid"),
            {"headerName": "Matched", "children": [
                self.price("last", "Price", tone_of="last"),
                self.volume("last_vol", "Vol", tone_of="last"),
                {"field": "change", "headerName": "+/-", "type": "rightAligned", **self._sized("change"),
                 "valueFormatter": {"function": "boardChange(params)"}, "cellStyle": cell_style("last")},
                {"field": "change_pct", "headerName": "%", "type": "rightAligned", **self._sized("pct"),
                 "valueFormatter": {"function": "boardPct(params)"}, "cellStyle": cell_style("last")},
            ]},
            self.book_side("ask", "Ask"),
            self.volume("total_vol", "Total"),
            {"headerName": "Session", "children": [
                self.price("high", "High"),
                self.price("low", "Low"),
                {**self.price("avg", "Avg"), "field": None, "colId": "avg",
                 "valueGetter": {"function": "boardAverage(params)"}, "cellStyle": cell_style("avg")},
            ]},
            {"headerName": "Foreign", "children": [
                self.volume("f_buy_vol", "Buy"),
                self.volume("f_sell_vol", "Sell"),
                {**self.volume("f_room", "Room"), "valueFormatter": {"function": "boardRoom(params)"}},
            ]},
            {"colId": "active", "headerName": "B/S", "headerTooltip": "Active buy share of classified volume",
             **self._sized("split"), "sortable": True, "valueGetter": {"function": "boardBuyShare(params)"},
             "enableCellChangeFlash": False,
             "cellRenderer": "BoardSplitBar"},
        ]


def board_columns(*, kiosk: bool = False) -> list[dict[str, Any]]:
    columns = _Columns(kiosk).all()
    for group in columns:  # drop the placeholder field of value-getter columns
        for col in group.get("children") or [group]:
            if col.get("field", "") is None:
                del col["field"]
    return columns


def board_grid(grid_id: str | dict[str, Any], *, rows: list[dict[str, Any]] | None = None, kiosk: bool = False,
               sort: tuple[str, str] | None = None) -> dag.AgGrid:
    """The grid, drawn with ``rows`` already in it (the first paint has prices)."""
    columns = board_columns(kiosk=kiosk)
    if sort is not None:
        _apply_sort(columns, *sort)
    options: dict[str, Any] = {
        "rowHeight": 26,
        "headerHeight": 26,
        "groupHeaderHeight": 22,
        "animateRows": False,
        "suppressColumnVirtualisation": True,
        "suppressCellFocus": True,
        "suppressDragLeaveHidesColumns": True,
        # Pinned symbols stay on top under any sort (pins live in the URL, see board.js).
        "postSortRows": {"function": "boardPostSort(params)"},
        # The symbol takes the colour of the matched price (re-applied on every change of the row).
        "getRowStyle": {"function": "boardRowStyle(params)"},
        # A blink, not a fade: a fading background repaints every changed cell on every frame,
        # which on a busy board costs more than everything else the page draws.
        "cellFlashDuration": 500,
        "cellFadeDuration": 0,
        "enableBrowserTooltips": True,  # the exact volume as the cell's title
    }
    if kiosk:
        options["domLayout"] = "autoHeight"  # the wall shows every row; no scrolling there
        # Rows share the height the screen leaves below the chrome (VN30 and its futures fit 768 px).
        options["getRowHeight"] = {"function": "boardKioskRowHeight(params)"}
    return dag.AgGrid(
        id=grid_id,
        className="board-grid board-grid-kiosk" if kiosk else "board-grid",
        columnDefs=columns,
        rowData=rows or [],
        defaultColDef={"sortable": True, "resizable": True, "suppressHeaderMenuButton": True, "filter": False,
                       "suppressMovable": True, "enableCellChangeFlash": True},
        getRowId="params.data.symbol",
        rowClassRules={"board-row-pinned": "boardIsPinned(params)", "board-row-found": "boardIsFound(params)",
                       "board-row-future": "params.data && params.data.kind === 'future'"},
        eventListeners={"sortChanged": ["boardSortChanged(params)"]},
        dashGridOptions=options,
        style={"height": "100%", "width": "100%"} if not kiosk else {"width": "100%"},
    )


SORTABLE = {c.get("field") or c.get("colId") for group in board_columns()
            for c in (group.get("children") or [group])}


def _apply_sort(columns: list[dict[str, Any]], col_id: str, direction: str) -> None:
    for group in columns:
        for col in group.get("children") or [group]:
            if (col.get("field") or col.get("colId")) == col_id:
                col["sort"] = direction
