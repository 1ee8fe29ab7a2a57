"""/board: the live price board for a watchlist (VN30 with its front-month futures by default).

The layout already carries the rows of the shared board snapshot, so the first paint
has prices. Then every screen polls the snapshot twice a second and applies only the
rows changed since its version as a grid transaction; the breadth and top movers of
an answer come from the same snapshot as its rows. A poll leaves only once the
previous answer has landed, so a slow answer is drawn rather than superseded by the
next request.

The view lives in the URL: ``?watchlist=ID``, ``?sort=COLUMN:asc|desc``,
``?pin=FPT,HPG`` (kept at the top), ``?symbol=FPT`` (its detail drawer), ``?kiosk=1``
(wall display: large type, no inputs), ``?embed=1``. A bad value gets a notice and
the default, never an error.

The flash of a changed cell is AG Grid's; its colour (green up, red down against the
value on screen) and the cells' VN colours are decided in the browser (``assets/board.js``).
"""

from __future__ import annotations

import time
from typing import Any

import dash
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.dependencies import ClientsideFunction
from dash.exceptions import PreventUpdate

from backend.access.current import current_principal, link_view
from backend.access.permissions import MARKET_RULES_EDIT
from backend.access.user_settings import default_watchlist
from backend.market.board import BoardState
from backend.market.board_view import clean_symbols, one_value, parse_pins, parse_symbol, screen_tick
from backend.market.reference import VN30_SYMBOLS
from backend.market.service import MarketService, current_market_service
from backend.market.symbol_detail import SymbolDetail, detail_day, symbol_detail
from backend.market.watchlists import VN30_ID, UserDataError
from backend.stores import current_stores
from components.board_detail import detail_drawer, detail_ids, detail_parts
from components.board_grid import SORTABLE, board_grid
from components.board_status import (
    board_summary,
    feed_banner,
    index_strip_view,
    phase_badge,
    source_badge,
    vn_clock,
)
from components.shell import may_open

dash.register_page(__name__, path="/board", title="Board", name="Board", order=2)

TICK_MS = 500
DETAIL_MS = 2_000


class ids:
    GRID = "board-grid"
    TICK = "board-tick"
    SLOW_TICK = "board-slow-tick"
    DETAIL_TICK = "board-detail-tick"
    CLIENT = "board-client"
    POLL = "board-poll"
    ACK = "board-ack"
    DETAIL_POLL = "board-detail-poll"
    DETAIL_ACK = "board-detail-ack"
    SYMBOLS = "board-symbols"
    PINS = "board-pins"
    DETAIL = "board-detail"
    URL_SYNC = "board-url-sync"
    FOUND = "board-found"
    WATCHLIST = "board-watchlist"
    SEARCH = "board-search"
    PIN = "board-pin"
    OPEN = "board-open-detail"
    BANNER = "board-banner"
    CLOCK = "board-clock"
    PHASE = "board-phase"
    SOURCE = "board-source"
    STRIP = "board-strip"
    SUMMARY = "board-summary"  # breadth, top movers and the board version (see board_summary)
    NEW_NAME = "board-new-name"
    NEW_SYMBOLS = "board-new-symbols"
    SAVE = "board-save"
    DELETE = "board-delete"
    MESSAGE = "board-message"


def _parse_sort(raw: str | None) -> tuple[str, str] | None:
    col, _, direction = (raw or "").partition(":")
    return (col, direction) if col in SORTABLE and direction in ("asc", "desc") else None


def _watchlists() -> tuple[list[dict[str, str]], Any]:
    service = current_market_service()
    data = service.userdata if service is not None else None
    lists = data.watchlists() if data is not None else []
    return [{"value": w.id, "label": w.name} for w in lists] or [{"value": VN30_ID, "label": "VN30"}], data


def _selection(watchlist: str | None) -> dict[str, Any]:
    """The chosen list: its id, symbols, and whether the front-month futures row goes with it."""
    service = current_market_service()
    found = service.userdata.watchlist(watchlist) if service is not None and service.userdata else None
    if found is None:
        return {"id": VN30_ID, "symbols": sorted(VN30_SYMBOLS), "futures": True}
    return {"id": found.id, "symbols": list(found.symbols), "futures": found.id == VN30_ID}


def _market() -> tuple[MarketService | None, Any, dict[str, Any]]:
    service = current_market_service()
    if service is None:
        return None, BoardState().snapshot(), {}
    return service, service.board.snapshot(), service.summary


def _tick(selection: dict[str, Any], client: dict[str, Any] | None = None):
    """One poll: the screen's list and what it holds come from the browser, so both are cleaned first."""
    _service, snapshot, summary = _market()
    fresh = not isinstance(client, dict) or client.get("list") != selection.get("id")
    return screen_tick(snapshot, summary, clean_symbols(selection.get("symbols")),
                       with_futures=selection.get("futures") is True,
                       since=None if fresh else client.get("v"), known=None if fresh else clean_symbols(client.get("known")),
                       strip_key=None if fresh else client.get("strip"))


def _trades() -> bool:
    """Whether the viewer trades on paper: the book's prices then open the ticket."""
    return may_open(current_principal(), "/portfolio")


def _detail(symbol: str | None) -> SymbolDetail | None:
    service, snapshot, summary = _market()
    if symbol is None or service is None:
        return None
    row = snapshot.row(symbol)
    return symbol_detail(symbol, row, service.store, detail_day(row, summary, time.time()))


def _lists_menu(options: list[dict[str, str]], all_symbols: list[str]) -> dmc.Popover:
    return dmc.Popover(
        [
            dmc.PopoverTarget(dmc.Button("Lists…", size="compact-xs", variant="subtle", id="board-lists-button")),
            dmc.PopoverDropdown(dmc.Stack([
                dmc.TextInput(id=ids.NEW_NAME, placeholder="New list name", size="xs", label="New watchlist"),
                dmc.MultiSelect(id=ids.NEW_SYMBOLS, data=all_symbols, placeholder="Symbols", searchable=True,
                                size="xs", maxValues=300, label="Symbols", comboboxProps={"withinPortal": False}),
                dmc.Group([dmc.Button("Save list", id=ids.SAVE, size="xs", variant="light"),
                           dmc.Button("Delete list", id=ids.DELETE, size="xs", variant="subtle", color="red")],
                          gap="xs"),
                dmc.Text(id=ids.MESSAGE, size="xs", c="dimmed"),
            ], gap=6, w=280)),
        ],
        position="bottom-start", withArrow=True, shadow="md", trapFocus=False,
    )


def _toolbar(options: list[dict[str, str]], chosen: str, shown: list[str]) -> html.Div:
    all_symbols = sorted(set(VN30_SYMBOLS) | set(_market()[1].rows))
    return html.Div(
        [
            dmc.Select(id=ids.WATCHLIST, data=options, value=chosen, w=120, size="xs", allowDeselect=False,
                       comboboxProps={"withinPortal": True}, attributes={"aria-label": "Watchlist"}),
            dmc.Select(id=ids.SEARCH, data=shown, value=None, placeholder="Find symbol", searchable=True,
                       clearable=True, w=125, size="xs", comboboxProps={"withinPortal": True},
                       attributes={"aria-label": "Find a symbol on the board"}),
            dmc.Button("☆ Pin", id=ids.PIN, size="compact-xs", variant="light",
                       attributes={"title": "Pin the symbol found to the top"}),
            dmc.Button("Details", id=ids.OPEN, size="compact-xs", variant="light",
                       attributes={"title": "Open the detail of the symbol found"}),
            # editing watchlists needs market.rules.edit: without it, no editor (whose callbacks would be refused)
            _lists_menu(options, all_symbols) if current_principal().can(MARKET_RULES_EDIT) else None,
        ],
        className="board-toolbar db-kiosk-hide",
    )


def layout(watchlist: Any = None, sort: Any = None, kiosk: Any = None, pin: Any = None, symbol: Any = None,
           **_: Any) -> html.Div:
    is_kiosk = kiosk == "1"
    notes: list[str] = []
    linked = link_view()
    if linked is not None:  # a signed link's screen shows the link's board, as it was shared
        watchlist, sort, pin, symbol = (linked.get(k) for k in ("watchlist", "sort", "pin", "symbol"))
    if watchlist is None:  # no watchlist in the URL: the user's default (a link's own list always wins)
        watchlist = default_watchlist(current_stores().meta)
    wanted, more = one_value("watchlist", watchlist)
    notes += more
    selection = _selection(wanted)
    if wanted and wanted != selection["id"]:
        notes.append(f"There is no watchlist {wanted[:40]!r}; showing VN30.")
    sort_text, more = one_value("sort", sort)
    notes += more
    if sort_text and _parse_sort(sort_text) is None:
        notes.append(f"Cannot sort by {sort_text[:40]!r} (use COLUMN:asc or COLUMN:desc).")
    first = _tick(selection)
    shown = first.symbols
    pins, more = parse_pins(pin, set(shown))
    notes += more
    service, snapshot, summary = _market()
    detail_symbol, more = parse_symbol(symbol, set(shown) | set(snapshot.rows))
    notes += more
    status = service.status() if service is not None else None
    banner, banner_hidden = feed_banner(status)
    options, _data = _watchlists()
    up = first.update
    client = {"v": up.version, "known": up.known, "list": selection["id"], "strip": first.strip_key}
    # Line 1: the market (clock, phase, source, indices, breadth); line 2: the controls, then the
    # top movers and the board version they share with the grid.
    strip_row = html.Div(
        [
            html.Span(vn_clock(summary.get("clock") or None), id=ids.CLOCK, className="board-clock"),
            html.Div(phase_badge(summary.get("phase")), id=ids.PHASE),
            html.Div(source_badge(status), id=ids.SOURCE),
            html.Div(index_strip_view(first.strip or []), id=ids.STRIP, className="board-strip"),
        ],
        className="board-topline",
    )
    market_row = html.Div(
        [
            _toolbar(options, selection["id"], shown),
            html.Div(board_summary(first.breadth or {}, first.movers or {}, up.version, first.as_of), id=ids.SUMMARY,
                     className="board-summary"),
        ],
        className="board-toolbar",
    )
    return html.Div(
        [
            html.Div(banner, id=ids.BANNER, hidden=banner_hidden),
            *(dmc.Alert(n, color="yellow", variant="light", p=6, className="board-url-note") for n in notes),
            strip_row,
            market_row,
            html.Div(board_grid(ids.GRID, rows=list(up.rows), kiosk=is_kiosk, sort=_parse_sort(sort_text)),
                     className="board-grid-box"),
            detail_drawer(_detail(detail_symbol), _trades()),
            dcc.Store(id=ids.CLIENT, data=client),
            dcc.Store(id=ids.SYMBOLS, data=selection),
            dcc.Store(id=ids.PINS, data=pins),
            dcc.Store(id=ids.DETAIL, data=detail_symbol),
            dcc.Store(id=ids.POLL),
            dcc.Store(id=ids.ACK),
            dcc.Store(id=ids.DETAIL_POLL),
            dcc.Store(id=ids.DETAIL_ACK),
            dcc.Store(id=ids.URL_SYNC),
            dcc.Store(id=ids.FOUND),
            dcc.Interval(id=ids.TICK, interval=TICK_MS),
            dcc.Interval(id=ids.SLOW_TICK, interval=1000),
            dcc.Interval(id=ids.DETAIL_TICK, interval=DETAIL_MS, disabled=detail_symbol is None),
        ],
        className="board-page" + (" board-kiosk" if is_kiosk else ""),
    )


# Named outputs: the callbacks with many outputs return dicts by these names (in the order of
# the old positional outputs, so each callback keeps its id).
BOARD_OUT = {
    "rows": Output(ids.GRID, "rowData"), "transaction": Output(ids.GRID, "rowTransaction"),
    "client": Output(ids.CLIENT, "data"), "strip": Output(ids.STRIP, "children"),
    "summary": Output(ids.SUMMARY, "children"), "ack": Output(ids.ACK, "data"),
}
STATUS_OUT = {
    "banner": Output(ids.BANNER, "children"), "banner_hidden": Output(ids.BANNER, "hidden"),
    "clock": Output(ids.CLOCK, "children"), "phase": Output(ids.PHASE, "children"),
    "source": Output(ids.SOURCE, "children"),
}
DETAIL_OUT = {
    "opened": Output(detail_ids.DRAWER, "opened"), "title": Output(detail_ids.DRAWER, "title"),
    "head": Output(detail_ids.HEAD, "children"), "figure": Output(detail_ids.CHART, "figure"),
    "book": Output(detail_ids.BOOK, "children"), "trades": Output(detail_ids.TRADES, "children"),
    "foreign": Output(detail_ids.FOREIGN, "children"), "ack": Output(ids.DETAIL_ACK, "data"),
}
DETAIL_PARTS = ("head", "figure", "book", "trades", "foreign")  # detail_parts() after the title


@callback(
    output=BOARD_OUT,
    inputs=[Input(ids.POLL, "data"), Input(ids.SYMBOLS, "data"), State(ids.CLIENT, "data")],
    prevent_initial_call=True,  # the layout carries the rows of the current snapshot
)
def refresh_board(poll: int | None, selection: dict[str, Any] | None,
                  client: dict[str, Any] | None) -> dict[str, Any]:
    nothing = dict.fromkeys(BOARD_OUT, no_update)
    if current_market_service() is None or not isinstance(selection, dict):
        return {**nothing, "ack": poll}
    linked = link_view()
    if linked is not None:  # a link's list, whatever the browser asks for
        selection = _selection(linked.get("watchlist"))
    tick = _tick(selection, client)
    up = tick.update
    state = {"v": up.version, "known": up.known, "list": selection["id"], "strip": tick.strip_key}
    strip = no_update if tick.strip is None else index_strip_view(tick.strip)
    if up.empty:
        return {**nothing, "client": state if state != client else no_update, "strip": strip, "ack": poll}
    summary = board_summary(tick.breadth or {}, tick.movers or {}, up.version, tick.as_of)
    answer = {**nothing, "client": state, "strip": strip, "summary": summary, "ack": poll}
    if up.full:
        return {**answer, "rows": list(up.rows)}
    changes = {"add": up.add, "update": up.update, "remove": [{"symbol": s} for s in up.remove], "async": False}
    return {**answer, "transaction": changes}


@callback(
    output=STATUS_OUT,
    inputs=[Input(ids.SLOW_TICK, "n_intervals")],
    prevent_initial_call=True,  # the layout has them: nothing to ask while the page draws
)
def refresh_status(_n: int | None) -> dict[str, Any]:
    service, _snapshot, summary = _market()
    status = service.status() if service is not None else None
    banner, hidden = feed_banner(status)
    return {"banner": banner, "banner_hidden": hidden, "clock": vn_clock(summary.get("clock") or None),
            "phase": phase_badge(summary.get("phase")), "source": source_badge(status)}


@callback(
    Output(ids.SYMBOLS, "data"),
    Output(ids.SEARCH, "data"),
    Output(ids.SEARCH, "value"),
    Input(ids.WATCHLIST, "value"),
    prevent_initial_call=True,
)
def choose_watchlist(watchlist: str | None):
    if link_view() is not None:
        raise PreventUpdate  # a signed link shows its own list only
    selection = _selection(watchlist)
    return selection, _tick(selection).symbols, None


@callback(
    Output(ids.WATCHLIST, "data"),
    Output(ids.WATCHLIST, "value"),
    Output(ids.MESSAGE, "children"),
    Input(ids.SAVE, "n_clicks"),
    Input(ids.DELETE, "n_clicks"),
    State(ids.NEW_NAME, "value"),
    State(ids.NEW_SYMBOLS, "value"),
    State(ids.WATCHLIST, "value"),
    prevent_initial_call=True,
)
def edit_watchlists(_save: int | None, _delete: int | None, name: str | None, symbols: list[str] | None,
                    current: str | None):
    _options, data = _watchlists()
    if data is None:
        return no_update, no_update, "Watchlists are not available on this server."
    try:
        if ctx.triggered_id == ids.SAVE:
            saved = data.save_watchlist(name or "", symbols or [])
            return _watchlists()[0], saved.id, f"Saved {saved.name} ({len(saved.symbols)} symbols)."
        data.delete_watchlist(current or VN30_ID)
        return _watchlists()[0], VN30_ID, "Deleted."
    except UserDataError as exc:
        return no_update, no_update, str(exc)


@callback(
    output=DETAIL_OUT,
    inputs=[Input(ids.DETAIL, "data"), Input(ids.DETAIL_POLL, "data"), State(ids.SYMBOLS, "data")],
    prevent_initial_call=True,
)
def show_detail(symbol: str | None, poll: int | None, selection: dict[str, Any] | None) -> dict[str, Any]:
    # Only a symbol of this board or of its list reaches the history query.
    listed = clean_symbols(selection.get("symbols")) if isinstance(selection, dict) else []
    known = set(_market()[1].rows) | set(listed)
    opened_now = ctx.triggered_id == ids.DETAIL
    if not isinstance(symbol, str) or symbol not in known:
        return {**dict.fromkeys(DETAIL_OUT, no_update), "opened": False if opened_now else no_update, "ack": poll}
    title, *parts = detail_parts(_detail(symbol), _trades())
    # A refresh leaves the drawer and its title alone: re-drawing them under the user's
    # pointer could swallow a click on the close button.
    return {"opened": True if opened_now else no_update, "title": title if opened_now else no_update,
            **dict(zip(DETAIL_PARTS, parts, strict=True)), "ack": poll}


# Polls are paced in the browser: a tick becomes a poll only when the previous poll's answer
# (its number echoed back) has landed, or after a few seconds without it.
# The first poll waits for the first tick: the layout already carries the current rows.
clientside_callback(ClientsideFunction(namespace="board", function_name="pace"),
                    Output(ids.POLL, "data"), Input(ids.TICK, "n_intervals"),
                    State(ids.POLL, "data"), State(ids.ACK, "data"), prevent_initial_call=True)
clientside_callback(ClientsideFunction(namespace="board", function_name="paceDetail"),
                    Output(ids.DETAIL_POLL, "data"), Input(ids.DETAIL_TICK, "n_intervals"),
                    State(ids.DETAIL_POLL, "data"), State(ids.DETAIL_ACK, "data"), prevent_initial_call=True)

clientside_callback(
    ClientsideFunction(namespace="board", function_name="syncView"),
    Output(ids.URL_SYNC, "data"),
    Input(ids.SYMBOLS, "data"),
    Input(ids.PINS, "data"),
    Input(ids.DETAIL, "data"),
)

clientside_callback(
    ClientsideFunction(namespace="board", function_name="act"),
    Output(ids.PINS, "data"),
    Output(ids.DETAIL, "data"),
    Input(ids.GRID, "cellRendererData"),
    Input(ids.PIN, "n_clicks"),
    Input(ids.OPEN, "n_clicks"),
    Input(detail_ids.DRAWER, "opened"),
    State(ids.SEARCH, "value"),
    State(ids.PINS, "data"),
    State(ids.DETAIL, "data"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="board", function_name="find"),
    Output(ids.FOUND, "data"),
    Input(ids.SEARCH, "value"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="board", function_name="detailTicking"),
    Output(ids.DETAIL_TICK, "disabled"),
    Input(ids.DETAIL, "data"),
    prevent_initial_call=True,
)
