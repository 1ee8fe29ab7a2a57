"""/board: the live price board for a watchlist (VN30 by default).

Every screen polls the one shared board snapshot twice a second and applies only
the rows changed since its version as a grid transaction. The view lives in the
URL: ``?watchlist=ID``, ``?sort=COLUMN:asc|desc``, ``?kiosk=1`` (wall display:
large type, no inputs), ``?embed=1``.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.dependencies import ClientsideFunction

from backend.market.board_view import breadth, client_update, top_movers
from backend.market.reference import VN30_SYMBOLS
from backend.market.service import current_market_service
from backend.market.watchlists import VN30_ID, UserDataError
from components.board_grid import SORTABLE, board_grid
from components.board_status import breadth_bar, breadth_text, feed_banner, movers_line, phase_badge, vn_clock

dash.register_page(__name__, path="/board", title="Board", name="Board", order=2)


class ids:
    GRID = "board-grid"
    TICK = "board-tick"
    SLOW_TICK = "board-slow-tick"
    CLIENT = "board-client"
    SYMBOLS = "board-symbols"
    WATCHLIST = "board-watchlist"
    URL_SYNC = "board-url-sync"
    BANNER = "board-banner"
    CLOCK = "board-clock"
    PHASE = "board-phase"
    BREADTH = "board-breadth"
    BREADTH_TEXT = "board-breadth-text"
    MOVERS = "board-movers"
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


def _symbols_of(watchlist: str | None) -> tuple[str, list[str]]:
    service = current_market_service()
    found = service.userdata.watchlist(watchlist) if service is not None and service.userdata else None
    if found is None:
        return VN30_ID, sorted(VN30_SYMBOLS)
    return found.id, list(found.symbols)


def _controls(options: list[dict[str, str]], chosen: str) -> dmc.Group:
    all_symbols = sorted(set(VN30_SYMBOLS) | {r["symbol"] for r in _board_rows()})
    return dmc.Group(
        [
            dmc.Select(id=ids.WATCHLIST, data=options, value=chosen, w=180, size="xs", allowDeselect=False,
                       label="Watchlist", comboboxProps={"withinPortal": True}),
            dmc.TextInput(id=ids.NEW_NAME, placeholder="New list name", size="xs", w=150, label="New watchlist"),
            dmc.MultiSelect(id=ids.NEW_SYMBOLS, data=all_symbols, placeholder="Symbols", searchable=True,
                            size="xs", w=260, maxValues=300, label="Symbols"),
            dmc.Button("Save list", id=ids.SAVE, size="xs", variant="light"),
            dmc.Button("Delete list", id=ids.DELETE, size="xs", variant="subtle", color="red"),
            dmc.Text(id=ids.MESSAGE, size="xs", c="dimmed"),
        ],
        gap="xs", align="flex-end", className="db-kiosk-hide board-controls",
    )


def _board_rows() -> list[dict[str, Any]]:
    service = current_market_service()
    return service.board.rows() if service is not None else []


def layout(watchlist: str | None = None, sort: str | None = None, kiosk: str | None = None, **_: Any) -> html.Div:
    is_kiosk = kiosk == "1"
    chosen, symbols = _symbols_of(watchlist)
    options, _data = _watchlists()
    status_row = dmc.Group(
        [
            html.Span(vn_clock(None), id=ids.CLOCK, className="board-clock"),
            html.Div(phase_badge(None), id=ids.PHASE),
            html.Div(id=ids.BREADTH, className="board-breadth", title="breadth of this list"),
            dmc.Text(id=ids.BREADTH_TEXT, size="xs"),
            html.Div(id=ids.MOVERS, className="board-movers"),
        ],
        gap="md", align="center", wrap="wrap",
    )
    notes = []
    if watchlist and watchlist != chosen:
        notes.append(f"There is no watchlist {watchlist[:40]!r}; showing VN30.")
    if sort and _parse_sort(sort) is None:
        notes.append(f"Cannot sort by {sort[:40]!r} (use COLUMN:asc or COLUMN:desc).")
    return html.Div(
        [
            html.Div(id=ids.BANNER, hidden=True),
            *(dmc.Alert(n, color="yellow", variant="light", p=6, className="board-url-note") for n in notes),
            status_row,
            None if is_kiosk else _controls(options, chosen),
            board_grid(ids.GRID, kiosk=is_kiosk, sort=_parse_sort(sort)),
            dcc.Store(id=ids.CLIENT, data=None),
            dcc.Store(id=ids.SYMBOLS, data={"id": chosen, "symbols": symbols}),
            dcc.Store(id=ids.URL_SYNC),
            dcc.Interval(id=ids.TICK, interval=500),
            dcc.Interval(id=ids.SLOW_TICK, interval=1000),
        ],
        className="board-page" + (" board-kiosk" if is_kiosk else ""),
        style={"display": "flex", "flexDirection": "column", "gap": "6px"},
    )


@callback(
    Output(ids.GRID, "rowData"),
    Output(ids.GRID, "rowTransaction"),
    Output(ids.CLIENT, "data"),
    Input(ids.TICK, "n_intervals"),
    Input(ids.SYMBOLS, "data"),
    State(ids.CLIENT, "data"),
)
def refresh_rows(_n: int | None, chosen: dict[str, Any] | None, client: dict[str, Any] | None):
    service = current_market_service()
    if service is None or not chosen:
        return no_update, no_update, no_update
    # A new watchlist (or a new screen) starts from the full board.
    fresh = client is None or client.get("list") != chosen["id"]
    held = None if fresh else client.get("known")
    up = client_update(service.board, None if fresh else client.get("v"), held, chosen["symbols"])
    state = {"v": up.version, "known": up.known, "list": chosen["id"]}
    if up.full:
        return list(up.rows), no_update, state
    if up.empty:
        return no_update, no_update, state if state != client else no_update
    return no_update, {"add": up.add, "update": up.update, "remove": [{"symbol": s} for s in up.remove]}, state


@callback(
    Output(ids.BANNER, "children"),
    Output(ids.BANNER, "hidden"),
    Output(ids.CLOCK, "children"),
    Output(ids.PHASE, "children"),
    Output(ids.BREADTH, "children"),
    Output(ids.BREADTH_TEXT, "children"),
    Output(ids.MOVERS, "children"),
    Input(ids.SLOW_TICK, "n_intervals"),
    State(ids.SYMBOLS, "data"),
)
def refresh_status(_n: int | None, chosen: dict[str, Any] | None):
    service = current_market_service()
    status = service.status() if service is not None else None
    banner, hidden = feed_banner(status)
    wanted = set((chosen or {}).get("symbols") or ())
    rows = [r for r in _board_rows() if r["symbol"] in wanted]
    counts = breadth(rows)
    summary = service.summary if service is not None else {}
    clock = summary.get("clock") or None
    return (banner, hidden, vn_clock(clock), phase_badge(summary.get("phase")), breadth_bar(counts),
            breadth_text(counts), movers_line(top_movers(rows, 3)))


@callback(Output(ids.SYMBOLS, "data"), Input(ids.WATCHLIST, "value"), prevent_initial_call=True)
def choose_watchlist(watchlist: str | None):
    chosen, symbols = _symbols_of(watchlist)
    return {"id": chosen, "symbols": symbols}


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


clientside_callback(
    ClientsideFunction(namespace="board", function_name="syncWatchlist"),
    Output(ids.URL_SYNC, "data"),
    Input(ids.SYMBOLS, "data"),
)
