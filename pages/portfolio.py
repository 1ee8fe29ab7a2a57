"""/portfolio: a paper portfolio on the live board — holdings with their P&L moving with the
board, the order ticket (checked against the band and the tick as it is typed, confirmed with its
cost, fee and tax), working orders with cancel, every fill with the P&L it realised, and the
alert rules (price levels, foreign flow accelerating) with the alerts they raised today.

The address keeps the view: ``?p=<portfolio id>``, and ``symbol``, ``side`` and ``price`` fill
the ticket (the board opens it that way).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from backend.access.current import current_principal
from backend.access.permissions import MARKET_RULES_EDIT, MARKET_VIEW
from backend.access.user_settings import current_prefs
from backend.market.service import current_market_service
from backend.market.watchlists import CONDITION_WORDS, UserDataError
from backend.paper.engine import StrategyBook
from backend.paper.ledger import DEFAULT_CASH, PortfolioNotFound
from backend.paper.money import Charges
from backend.paper.orders import OrderError
from backend.paper.runtime import board_price, board_quote, board_symbols, current_ledger
from backend.paper.ticket import preview, ticket_order
from components.admin_nav import notice
from components.alert_rules import RULE_DELETE, condition_text, rule_alerts_table, rules_table
from components.paper_charts import equity_figure

dash.register_page(__name__, path="/portfolio", title="Portfolio", name="Portfolio", order=5)

TICK_MS: Final = 1_000
CHART_MS: Final = 60_000  # the curve gains a point a minute at most (the value snapshots)
MONEY: Final = "params.value == null ? '' : d3.format(',.0f')(params.value)"
SIGNED: Final = "params.value == null ? '' : d3.format('+,.0f')(params.value)"
TONE: Final = {"paper-up": "params.value > 0", "paper-down": "params.value < 0"}


class ids:
    CHOICE = "paper-choice"
    NEW_NAME = "paper-new-name"
    NEW_CASH = "paper-new-cash"
    CREATE = "paper-create"
    SUMMARY = "paper-summary"
    HOLDINGS = "paper-holdings"
    ORDERS = "paper-orders"
    FILLS = "paper-fills"
    CANCEL = "paper-cancel"
    NOTICES = "paper-notices"
    TICK = "paper-tick"
    SYMBOL = "paper-symbol"
    SIDE = "paper-side"
    LOTS = "paper-lots"
    TYPE = "paper-type"
    LIMIT = "paper-limit"
    STOP = "paper-stop"
    TIF = "paper-tif"
    BAND = "paper-band"
    REVIEW = "paper-review"
    CONFIRM = "paper-confirm"
    CONFIRM_TEXT = "paper-confirm-text"
    PLACE = "paper-place"
    URL = "paper-url"
    EQUITY = "paper-equity"
    STRATEGIES = "paper-strategies"
    SIGNALS = "paper-signals"
    STRATEGY_KIND = "paper-strategy-kind"
    STRATEGY_SYMBOLS = "paper-strategy-symbols"
    STRATEGY_ADD = "paper-strategy-add"
    STRATEGY_TOGGLE = "paper-strategy-toggle"
    FIGURES = "paper-figures"
    SLOW_TICK = "paper-slow-tick"
    RULES = "paper-rules"
    RULE_SYMBOL = "paper-rule-symbol"
    RULE_KIND = "paper-rule-kind"
    RULE_PRICE = "paper-rule-price"
    RULE_ADD = "paper-rule-add"
    RULE_MESSAGE = "paper-rule-message"
    RULE_ALERTS = "paper-rule-alerts"
    RULE_ALERTS_SEEN = "paper-rule-alerts-seen"


def _money(field: str, name: str, signed: bool = False, width: int = 130) -> dict[str, Any]:
    column = {"field": field, "headerName": name, "type": "rightAligned", "width": width,
              "valueFormatter": {"function": SIGNED if signed else MONEY}}
    if signed:
        column["cellClassRules"] = TONE
    return column


HOLDING_COLUMNS: Final = [
    {"field": "symbol", "headerName": "Symbol", "width": 100, "pinned": "left"},
    _money("quantity", "Quantity", width=110), _money("sellable_quantity", "Sellable", width=105),
    _money("avg_price", "Avg price", width=115), _money("market_price", "Last", width=105),
    _money("market_value", "Market value", width=150), _money("unrealized_pnl", "Unrealised P&L", True, 150),
    _money("realized_pnl", "Realised P&L", True, 140),
]
ORDER_COLUMNS: Final = [
    {"field": "id", "headerName": "#", "width": 80, "checkboxSelection": True},
    {"field": "symbol", "headerName": "Symbol", "width": 95}, {"field": "side", "headerName": "Side", "width": 75},
    {"field": "type", "headerName": "Type", "width": 95}, _money("quantity", "Quantity", width=105),
    _money("filled_quantity", "Filled", width=95), _money("limit_price", "Limit", width=105),
    _money("stop_price", "Stop", width=95), {"field": "status", "headerName": "Status", "width": 130},
    {"field": "session", "headerName": "Session", "width": 110},
    {"field": "reason", "headerName": "Note", "flex": 1, "minWidth": 200},
]
STRATEGY_COLUMNS: Final = [
    {"field": "id", "headerName": "#", "width": 80, "checkboxSelection": True},
    {"field": "kind", "headerName": "Strategy", "width": 150},
    {"field": "parameters_text", "headerName": "Parameters", "width": 220},
    {"field": "symbols_text", "headerName": "Symbols", "flex": 1, "minWidth": 160},
    {"field": "active", "headerName": "On", "width": 80, "cellDataType": "text",
     "valueFormatter": {"function": "params.value ? 'on' : 'off'"}},
    {"field": "auto_execute", "headerName": "Trades itself", "width": 120, "cellDataType": "text",
     "valueFormatter": {"function": "params.value ? 'yes' : 'no'"}},
]
SIGNAL_COLUMNS: Final = [
    {"field": "at", "headerName": "Time", "width": 170},
    {"field": "strategy_id", "headerName": "Strategy", "width": 100}, {"field": "symbol", "headerName": "Symbol",
                                                                       "width": 95},
    {"field": "side", "headerName": "Side", "width": 75}, _money("price", "Price", width=105),
    {"field": "reason", "headerName": "Why", "flex": 1, "minWidth": 220},
    {"field": "outcome", "headerName": "Order", "width": 220},
]
FILL_COLUMNS: Final = [
    {"field": "at", "headerName": "Time", "width": 170},
    {"field": "symbol", "headerName": "Symbol", "width": 95}, {"field": "side", "headerName": "Side", "width": 75},
    _money("quantity", "Quantity", width=105), _money("price", "Price", width=105),
    _money("gross", "Gross", width=140), _money("fee", "Fee", width=110), _money("tax", "Tax", width=100),
    _money("cash", "Cash", True, 150), _money("realized_pnl", "Realised P&L", True, 140),
]


def _grid(grid_id: str, columns: list[dict[str, Any]], height: int, row_id: str,
          rows: list[dict[str, Any]] | None = None, **more: Any) -> dag.AgGrid:
    # rows keep their identity across refreshes, so a selection and the scroll position survive them
    return dag.AgGrid(id=grid_id, columnDefs=columns, rowData=rows or [], className="ag-theme-quartz paper-grid",
                      defaultColDef={"sortable": True, "resizable": True}, style={"height": height},
                      getRowId=f"params.data.{row_id}", **more)


def _owner() -> str:
    return current_principal().id


def _first(value: Any, limit: int = 20) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and len(value) <= limit else None


def _chosen(p: Any, portfolios: list[dict[str, Any]]) -> int | None:
    text = _first(p)
    ids_ = [row["id"] for row in portfolios]
    if text and text.isdigit() and int(text) in ids_:
        return int(text)
    return ids_[0] if ids_ else None


def _ticket(symbol: str | None, side: str, price: int | None) -> dmc.Paper:
    symbols = board_symbols()
    return dmc.Paper([
        dmc.Title("Order ticket", order=5, mb=6),
        dmc.Group([
            dmc.Select(id=ids.SYMBOL, label="Symbol", data=symbols, value=symbol if symbol in symbols else None,
                       searchable=True, w=130, placeholder="VCB"),
            dmc.SegmentedControl(id=ids.SIDE, value=side, data=[{"value": "buy", "label": "Buy"},
                                                                {"value": "sell", "label": "Sell"}], mt="xl"),
            dmc.NumberInput(id=ids.LOTS, label="Lots of 100", value=1, min=1, max=5_000, w=120, allowDecimal=False),
            dmc.Select(id=ids.TYPE, label="Type", value="limit" if price else "market", w=130, allowDeselect=False,
                       data=[{"value": v, "label": v.replace("_", " ")} for v in ("market", "limit", "stop",
                                                                                  "stop_limit")]),
            dmc.NumberInput(id=ids.LIMIT, label="Limit price", value=price, w=140, thousandSeparator=",",
                            allowDecimal=False, min=0),
            dmc.NumberInput(id=ids.STOP, label="Stop price", w=130, thousandSeparator=",", allowDecimal=False, min=0),
            dmc.Select(id=ids.TIF, label="Time in force", value="day", w=120, allowDeselect=False,
                       data=[{"value": "day", "label": "day"}, {"value": "gtc", "label": "until cancelled"}]),
            dmc.Button("Review order", id=ids.REVIEW, mt="xl", disabled=True),
        ], align="flex-start"),
        dmc.Text(id=ids.BAND, size="sm", c="dimmed", mt=6, className="paper-band"),
    ], withBorder=True, p="sm", radius="md", mb="sm", className="db-kiosk-hide")


def layout(p: Any = None, symbol: Any = None, side: Any = None, price: Any = None, **_query: Any) -> html.Div:
    ledger = current_ledger()
    portfolios = ledger.portfolios(_owner())
    chosen = _chosen(p, portfolios)
    price_text = _first(price, 12)
    prefill_price = int(price_text) if price_text and price_text.isdigit() else None
    creator = dmc.Group([
        dmc.TextInput(id=ids.NEW_NAME, placeholder="New portfolio", w=180, inputProps={"maxLength": 80}),
        dmc.NumberInput(id=ids.NEW_CASH, value=DEFAULT_CASH, min=0, thousandSeparator=",", w=170,
                        allowDecimal=False, suffix=" ₫"),
        dmc.Button("Create", id=ids.CREATE, variant="light"),
    ], gap="xs", className="db-kiosk-hide")
    first = _book_parts(str(chosen) if chosen else None)
    return html.Div(className="paper-page", children=[
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        dmc.Group([
            dmc.Title("Paper portfolio", order=2),
            dmc.Group([
                dmc.Select(id=ids.CHOICE, data=[{"value": str(r["id"]), "label": r["name"]} for r in portfolios],
                           value=str(chosen) if chosen else None, w=220, allowDeselect=False,
                           placeholder="no portfolio yet"),
                creator,
            ]),
        ], justify="space-between", mb="sm"),
        html.Div(id=ids.NOTICES, children=None if first["notices"] is no_update else first["notices"]),
        html.Div(first["summary"], id=ids.SUMMARY, className="paper-summary"),
        _ticket(_first(symbol), "sell" if _first(side) == "sell" else "buy", prefill_price),
        dmc.Title("Holdings", order=4, mt="sm", mb=4),
        _grid(ids.HOLDINGS, HOLDING_COLUMNS, 220, "symbol", rows=first["holdings"]),
        dmc.Group([dmc.Title("Working orders", order=4), dmc.Button("Cancel selected", id=ids.CANCEL, size="xs",
                                                                     variant="light", color="red",
                                                                     className="db-kiosk-hide")],
                  mt="md", mb=4),
        _grid(ids.ORDERS, ORDER_COLUMNS, 200, "id", rows=first["orders"], dashGridOptions={"rowSelection": "multiple"}),
        dmc.Title("Fills", order=4, mt="md", mb=4),
        _grid(ids.FILLS, _zoned(FILL_COLUMNS), 260, "id", rows=first["fills"]),
        dmc.Group([dmc.Title("Strategies", order=4), dmc.Group([
            dmc.Select(id=ids.STRATEGY_KIND, w=190, allowDeselect=False, value="ma_cross", data=[
                {"value": "ma_cross", "label": "moving-average cross"},
                {"value": "vwap_deviation", "label": "VWAP deviation"},
                {"value": "volume_spike", "label": "volume spike"}]),
            dmc.MultiSelect(id=ids.STRATEGY_SYMBOLS, data=board_symbols(), w=260, searchable=True,
                            placeholder="every stock", maxValues=50),
            dmc.Button("Switch on", id=ids.STRATEGY_ADD, size="xs", variant="light"),
            dmc.Button("On / off selected", id=ids.STRATEGY_TOGGLE, size="xs", variant="light")],
            className="db-kiosk-hide")], mt="md", mb=4),
        _grid(ids.STRATEGIES, STRATEGY_COLUMNS, 160, "id", dashGridOptions={"rowSelection": "multiple"}),
        dmc.Title("Signals", order=5, mt="xs", mb=4),
        _grid(ids.SIGNALS, _zoned(SIGNAL_COLUMNS), 200, "id"),
        dmc.Group([dmc.Title("Equity and drawdown", order=4), dmc.Text(id=ids.FIGURES, size="sm", c="dimmed")],
                  mt="md", mb=4),
        # the chart (and Plotly's bundle) arrives after the numbers have been drawn
        html.Div(id=ids.EQUITY, style={"minHeight": 320}),
        _rules_section(),
        dcc.Interval(id=ids.SLOW_TICK, interval=CHART_MS),
        dmc.Modal(id=ids.CONFIRM, title="Confirm the order", children=[
            html.Div(id=ids.CONFIRM_TEXT),
            dmc.Group([dmc.Button("Place order", id=ids.PLACE)], justify="flex-end", mt="md"),
        ]),
        dcc.Interval(id=ids.TICK, interval=TICK_MS),
    ])


def _rules_section() -> html.Div | None:
    """The alert rules and what they raised today; the form and Delete buttons for who may edit."""
    principal, market = current_principal(), current_market_service()
    if not principal.can(MARKET_VIEW):
        return None
    if market is None:
        return html.Div([dmc.Title("Alert rules", order=4, mt="md", mb=4),
                         dmc.Text("The live market is not running on this server.", c="dimmed", size="sm")])
    edits = principal.can(MARKET_RULES_EDIT)
    form = dmc.Group([
        dmc.Select(id=ids.RULE_SYMBOL, label="Symbol", data=sorted(r["symbol"] for r in market.board.rows()),
                   searchable=True, w=140, placeholder="HPG"),
        dmc.Select(id=ids.RULE_KIND, label="Condition", value="price_above", w=240, allowDeselect=False,
                   data=[{"value": k, "label": words} for k, words in CONDITION_WORDS.items()]),
        dmc.NumberInput(id=ids.RULE_PRICE, label="Price (₫; points for futures)", w=190, thousandSeparator=",",
                        min=0, decimalScale=1),
        dmc.Button("Add rule", id=ids.RULE_ADD, mt="xl", variant="light"),
    ], align="flex-start", gap="xs", className="db-kiosk-hide") if edits else None
    rules = market.rules()
    return html.Div([
        dmc.Title("Alert rules", order=4, mt="md", mb=4), form,
        dmc.Text(id=ids.RULE_MESSAGE, size="sm", c="dimmed", className="paper-rule-message db-kiosk-hide"),
        html.Div(rules_table(rules, editable=edits), id=ids.RULES),
        dmc.Title("Raised today", order=5, mt="xs", mb=4),
        html.Div(rule_alerts_table(market.rule_alerts(limit=50), rules), id=ids.RULE_ALERTS),
        dcc.Store(id=ids.RULE_ALERTS_SEEN, data=market.alerts_revision),
    ], className="paper-alert-rules")


def _card(label: str, value: int | None, signed: bool = False) -> dmc.Paper:
    text = "—" if value is None else (f"{value:+,}" if signed else f"{value:,}")
    tone = "" if not signed or not value else (" paper-up" if value > 0 else " paper-down")
    return dmc.Paper([dmc.Text(label, size="xs", c="dimmed"), dmc.Text(text + " ₫", fw=600, className="paper-figure" + tone)],
                     withBorder=True, p="xs", radius="md", className="paper-card")


@callback(output={"summary": Output(ids.SUMMARY, "children"), "holdings": Output(ids.HOLDINGS, "rowData"),
                  "orders": Output(ids.ORDERS, "rowData"), "fills": Output(ids.FILLS, "rowData"),
                  "notices": Output(ids.NOTICES, "children", allow_duplicate=True)},
          inputs=[Input(ids.TICK, "n_intervals"), Input(ids.CHOICE, "value")], prevent_initial_call=True)
def refresh(_tick: int | None, choice: str | None) -> dict[str, Any]:
    return _book_parts(choice)


def _book_parts(choice: str | None) -> dict[str, Any]:
    """The summary cards and the holdings, working orders and fills of portfolio ``choice``: drawn
    with the page (the numbers come with the first paint) and again every second."""
    if not choice or not choice.isdigit():
        return {"summary": dmc.Text("Create a portfolio to start trading on paper.", c="dimmed"), "holdings": [],
                "orders": [], "fills": [], "notices": no_update}
    ledger, pid = current_ledger(), int(choice)
    try:
        book = ledger.positions(pid, _owner(), board_price)
        orders = ledger.orders(pid, _owner(), working=True)
        fills = _local_times(ledger.history(pid, _owner())[::-1])
    except PortfolioNotFound as exc:
        return {"summary": None, "holdings": [], "orders": [], "fills": [], "notices": notice(str(exc))}
    cards = dmc.SimpleGrid([
        _card("Equity", book["equity"]), _card("Cash", book["cash"]), _card("Market value", book["market_value"]),
        _card("Unrealised P&L", book["unrealized_pnl"], True), _card("Realised P&L", book["realized_pnl"], True),
        _card("Fees and taxes", book["fees"] + book["taxes"]),
    ], cols={"base": 2, "sm": 3, "lg": 6}, spacing="xs")
    return {"summary": cards, "holdings": book["positions"], "orders": orders, "fills": fills, "notices": no_update}


def _chart(figure: dict[str, Any]) -> dcc.Graph:
    return dcc.Graph(figure=figure, config={"displaylogo": False}, style={"height": 320})


@callback(Output(ids.EQUITY, "children"), Output(ids.FIGURES, "children"), Input(ids.SLOW_TICK, "n_intervals"),
          Input(ids.CHOICE, "value"), Input("shell-scheme", "data"))
def draw_equity(_tick: int | None, choice: str | None, scheme: str | None) -> tuple[Any, Any]:
    if not choice or not choice.isdigit():
        return _chart(equity_figure([], dark=scheme == "dark")), ""
    try:
        seen = current_ledger().performance(int(choice), _owner(), board_price)
    except PortfolioNotFound:
        return no_update, ""

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:+.2f} %"

    words = (f"{seen['days']} trading day{'s' if seen['days'] != 1 else ''} · return {pct(seen['return_pct'])} · "
             f"max drawdown {pct(seen['max_drawdown_pct'])} · Sharpe "
             f"{'—' if seen['sharpe'] is None else format(seen['sharpe'], '.2f')} · win rate "
             f"{'—' if seen['win_rate_pct'] is None else format(seen['win_rate_pct'], '.0f') + ' %'}")
    return _chart(equity_figure(seen["curve"], dark=scheme == "dark")), words


def _strategy_rows(pid: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    book = StrategyBook(current_ledger().meta)
    rows = [{**s, "parameters_text": ", ".join(f"{k} {v}" for k, v in s["parameters"].items()) or "defaults",
             "symbols_text": ", ".join(s["symbols"]) or "every stock"} for s in book.strategies(_owner(), pid)]
    return rows, _local_times(book.portfolio_signals(pid, _owner(), 200))


def _zoned(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``columns`` with the time column naming the zone its times are shown in."""
    zone = current_prefs().time_zone
    return [{**c, "headerName": f"Time ({zone})", "width": 215} if c["field"] == "at" else c for c in columns]


def _local_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fills and signals are stored in UTC; a trader reads them on their own clock (their
    settings' time zone, Vietnam's by default), as the board's times are."""
    zone = ZoneInfo(current_prefs().time_zone)
    return [{**row, "at": datetime.fromisoformat(row["at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")}
            for row in rows]


@callback(Output(ids.STRATEGIES, "rowData"), Output(ids.SIGNALS, "rowData"),
          Output(ids.NOTICES, "children", allow_duplicate=True),
          Input(ids.SLOW_TICK, "n_intervals"), Input(ids.CHOICE, "value"), Input(ids.STRATEGY_ADD, "n_clicks"),
          Input(ids.STRATEGY_TOGGLE, "n_clicks"), State(ids.STRATEGY_KIND, "value"),
          State(ids.STRATEGY_SYMBOLS, "value"), State(ids.STRATEGIES, "selectedRows"),
          prevent_initial_call="initial_duplicate")
def strategies(_tick: int | None, choice: str | None, _add: int | None, _toggle: int | None, kind: str | None,
               symbols: list[str] | None, selected: list[dict[str, Any]] | None) -> tuple[Any, Any, Any]:
    if not choice or not choice.isdigit():
        return [], [], no_update
    pid, book, said = int(choice), StrategyBook(current_ledger().meta), no_update
    try:
        if dash.ctx.triggered_id == ids.STRATEGY_ADD:
            book.add(pid, _owner(), kind or "", {}, symbols=list(symbols or []))
        elif dash.ctx.triggered_id == ids.STRATEGY_TOGGLE:
            for row in (selected or [])[:50]:
                book.change(int(row["id"]), _owner(), active=not row["active"])
        rows, signals = _strategy_rows(pid)
    except (ValueError, PortfolioNotFound, KeyError, TypeError) as exc:
        return no_update, no_update, notice(f"Not changed: {exc}")
    return rows, signals, said


@callback(Output(ids.BAND, "children"), Output(ids.REVIEW, "disabled"), Output(ids.LIMIT, "error"),
          Input(ids.SYMBOL, "value"), Input(ids.SIDE, "value"), Input(ids.LOTS, "value"), Input(ids.TYPE, "value"),
          Input(ids.LIMIT, "value"), Input(ids.STOP, "value"), Input(ids.TIF, "value"), State(ids.CHOICE, "value"))
def check_ticket(symbol: str | None, side: str, lots: Any, kind: str, limit: Any, stop: Any, tif: str,
                 choice: str | None) -> tuple[Any, bool, Any]:
    if not symbol:
        return "Choose a symbol on the board.", True, None
    fields = {"symbol": symbol, "side": side, "lots": lots, "type": kind, "limit_price": limit, "stop_price": stop,
              "time_in_force": tif}
    seen = _preview(fields, choice)
    problem = seen["problem"]
    price_problem = problem if problem and problem.startswith(("limit_price", "stop_price")) else None
    words = [seen["band"] or f"{symbol} is not on the board"]
    if problem:
        words.append(problem)
    elif seen["estimate"]["filled"]:
        est = seen["estimate"]
        words.append(f"now: {est['filled']:,} shares for {est['gross']:,} ₫, fee {est['fee']:,}, tax {est['tax']:,}")
    return " · ".join(words), bool(problem) or not choice, price_problem


def _preview(fields: dict[str, Any], choice: str | None) -> dict[str, Any]:
    ledger = current_ledger()
    try:
        charges = ledger.charges(int(choice), _owner()) if choice and choice.isdigit() else None
    except PortfolioNotFound:
        charges = None
    return preview(fields, board_quote(str(fields.get("symbol") or "")), charges or Charges())


@callback(Output(ids.CONFIRM, "opened"), Output(ids.CONFIRM_TEXT, "children"), Input(ids.REVIEW, "n_clicks"),
          State(ids.SYMBOL, "value"), State(ids.SIDE, "value"), State(ids.LOTS, "value"), State(ids.TYPE, "value"),
          State(ids.LIMIT, "value"), State(ids.STOP, "value"), State(ids.TIF, "value"), State(ids.CHOICE, "value"),
          prevent_initial_call=True)
def review(_n: int | None, symbol: str, side: str, lots: Any, kind: str, limit: Any, stop: Any, tif: str,
           choice: str | None) -> tuple[bool, Any]:
    fields = {"symbol": symbol, "side": side, "lots": lots, "type": kind, "limit_price": limit, "stop_price": stop,
              "time_in_force": tif}
    seen = _preview(fields, choice)
    if seen["problem"]:
        return False, no_update
    est, order = seen["estimate"], ticket_order(fields)
    lines = [f"{side.title()} {order['quantity']:,} {symbol}, {kind.replace('_', ' ')}"
             + (f" at {order['limit_price']:,}" if order.get("limit_price") else "")
             + (f", stop {order['stop_price']:,}" if order.get("stop_price") else "") + f" ({tif})"]
    if est["filled"]:
        lines += [f"At the board now: {est['filled']:,} shares, gross {est['gross']:,} ₫",
                  f"Fee {est['fee']:,} ₫ · tax {est['tax']:,} ₫ · cash {est['cash']:+,} ₫"]
    if est["resting"]:
        lines.append(f"{est['resting']:,} shares wait" + (f" at {est['resting_price']:,}" if est["resting_price"]
                                                            else " for their trigger"))
    return True, html.Ul([html.Li(line) for line in lines], className="paper-confirm-lines")


@callback(Output(ids.NOTICES, "children"), Output(ids.CONFIRM, "opened", allow_duplicate=True),
          Input(ids.PLACE, "n_clicks"), State(ids.SYMBOL, "value"), State(ids.SIDE, "value"),
          State(ids.LOTS, "value"), State(ids.TYPE, "value"), State(ids.LIMIT, "value"), State(ids.STOP, "value"),
          State(ids.TIF, "value"), State(ids.CHOICE, "value"), prevent_initial_call=True)
def place(_n: int | None, symbol: str, side: str, lots: Any, kind: str, limit: Any, stop: Any, tif: str,
          choice: str | None) -> tuple[Any, bool]:
    order = ticket_order({"symbol": symbol, "side": side, "lots": lots, "type": kind, "limit_price": limit,
                          "stop_price": stop, "time_in_force": tif})
    try:
        placed = current_ledger().place(int(choice or 0), _owner(), order, board_quote(str(symbol or "")))
    except (OrderError, PortfolioNotFound) as exc:
        return notice(f"Not placed: {exc}"), False
    filled = sum(f["quantity"] for f in placed.fills)
    text = f"Order {placed.order['id']}: {placed.order['status'].replace('_', ' ')}"
    if filled:
        text += f", {filled:,} shares filled"
    return notice(text, color="green"), False


@callback(Output(ids.NOTICES, "children", allow_duplicate=True), Input(ids.CANCEL, "n_clicks"),
          State(ids.ORDERS, "selectedRows"), State(ids.CHOICE, "value"), prevent_initial_call=True)
def cancel(_n: int | None, rows: list[dict[str, Any]] | None, choice: str | None) -> Any:
    if not rows or not choice:
        return notice("Tick the orders to cancel first.", color="yellow")
    done = []
    for row in rows[:100]:
        try:
            done.append(current_ledger().cancel(int(choice), _owner(), int(row["id"]))["id"])
        except (OrderError, PortfolioNotFound, KeyError, TypeError, ValueError) as exc:
            return notice(f"Not cancelled: {exc}")
    return notice(f"Cancelled {', '.join(f'#{i}' for i in done)}", color="green")


@callback(Output(ids.URL, "search"), Output(ids.NOTICES, "children", allow_duplicate=True),
          Input(ids.CREATE, "n_clicks"), State(ids.NEW_NAME, "value"), State(ids.NEW_CASH, "value"),
          prevent_initial_call=True)
def create(_n: int | None, name: str | None, cash: Any) -> tuple[Any, Any]:
    try:
        made = current_ledger().create(_owner(), name or "", cash if isinstance(cash, int) else DEFAULT_CASH)
    except OrderError as exc:
        return no_update, notice(f"Not created: {exc}")
    return f"?p={made['id']}", no_update


@callback(Output(ids.URL, "search", allow_duplicate=True), Input(ids.CHOICE, "value"), prevent_initial_call=True)
def choose(choice: str | None) -> Any:
    return f"?p={choice}" if choice and choice.isdigit() else no_update


@callback(Output(ids.RULE_PRICE, "display"), Input(ids.RULE_KIND, "value"))
def price_for_kind(kind: str | None) -> str:
    return "block" if str(kind or "").startswith("price_") else "none"


@callback(Output(ids.RULES, "children"), Output(ids.RULE_MESSAGE, "children"), Output(ids.RULE_MESSAGE, "c"),
          Input(ids.RULE_ADD, "n_clicks"), Input({"type": RULE_DELETE, "id": ALL}, "n_clicks"),
          State(ids.RULE_SYMBOL, "value"), State(ids.RULE_KIND, "value"), State(ids.RULE_PRICE, "value"),
          prevent_initial_call=True)
def edit_rules(_add: int | None, _deletes: list[int | None], symbol: str | None, kind: str | None,
               price: Any) -> tuple[Any, Any, Any]:
    market, trigger = current_market_service(), ctx.triggered_id
    if market is None:
        return no_update, "The live market is not running on this server.", "red"
    if not (ctx.triggered and ctx.triggered[0].get("value")):  # Delete buttons appearing are not clicks
        return no_update, no_update, no_update
    try:
        if trigger == ids.RULE_ADD:
            if not symbol:
                raise UserDataError("choose a symbol")
            wants_price = str(kind or "").startswith("price_")
            rule = market.add_rule(symbol, kind or "", price if wants_price else None)
            said = f"Alert when {rule.symbol}: {condition_text(rule)}."
        else:
            said = "Rule deleted." if market.delete_rule(str(trigger["id"])) else "That rule was already gone."
    except UserDataError as exc:
        return no_update, f"Not added: {exc}", "red"
    return rules_table(market.rules(), editable=True), said, "dimmed"


@callback(Output(ids.RULE_ALERTS, "children"), Output(ids.RULE_ALERTS_SEEN, "data"), Input(ids.TICK, "n_intervals"),
          State(ids.RULE_ALERTS_SEEN, "data"), prevent_initial_call=True)
def rule_alerts(_tick: int | None, seen: Any) -> tuple[Any, Any]:
    market = current_market_service()
    if market is None or market.alerts_revision == seen:  # drawn again only when the alerts changed
        return no_update, no_update
    return rule_alerts_table(market.rule_alerts(limit=50), market.rules()), market.alerts_revision
