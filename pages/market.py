"""/market: VN30 and VNINDEX intraday with breadth, foreign flow, futures basis and alerts.

The page arrives with its figures already drawn from the shared market view. Then the
browser polls twice a second for what changed since its cursor — never with a request
still in flight, so no answer is thrown away — and extends the charts in place
(``assets/market.js``); the server answers from the view the pipeline built for this tick.

The view lives in the URL: ``?date=YYYY-MM-DD`` shows an earlier day's alerts from
history; ``?kiosk=1`` (dark, no inputs) and ``?embed=1`` as everywhere.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.dependencies import ClientsideFunction

from backend.access.current import current_principal
from backend.access.permissions import MARKET_ALERTS_ACK, MARKET_RULES_EDIT
from backend.market.reference import VN30_SYMBOLS
from backend.market.service import current_market_service
from backend.market.watchlists import UserDataError, shown_price
from components import market_charts as charts
from components.board_status import (
    breadth_bar,
    breadth_text,
    feed_banner,
    movers_line,
    phase_badge,
    source_badge,
    status_key,
)
from components.market_alerts import RULE_DELETE, alerts_table, rule_text, rules_list

dash.register_page(__name__, path="/market", title="Market", name="Market", order=3)


class ids:
    TICK = "market-tick"
    ALERT_TICK = "market-alert-tick"
    CONFIG = "market-config"
    REQUEST = "market-request"
    ANSWER = "market-answer"
    CURSOR = "market-cursor"
    BANNER = "market-banner"
    SOURCE = "market-source"
    CLOCK = "market-clock"
    PHASE = "market-phase"
    MOVERS = "market-movers"
    VN30, VNINDEX, FOREIGN_SPEED, FOREIGN_LEADERS, BASIS = charts.GRAPHS
    VN30_TITLE = "market-vn30-title"
    VNINDEX_TITLE = "market-vnindex-title"
    FOREIGN_TITLE = "market-foreign-title"
    LEADERS_TITLE = "market-leaders-title"
    BASIS_TITLE = "market-basis-title"
    VN30_BREADTH = "market-vn30-breadth"
    VNINDEX_BREADTH = "market-vnindex-breadth"
    ALERTS = "market-alerts"
    ALERTS_SEEN = "market-alerts-seen"
    ACK_REQUEST = "market-ack-request"
    ACK_DONE = "market-ack-done"
    ALERT_DAY = "market-alert-day"
    DAY = "market-day"
    UNACKED = "market-unacked"
    RULES = "market-rules"
    RULE_SYMBOL = "market-rule-symbol"
    RULE_OP = "market-rule-op"
    RULE_PRICE = "market-rule-price"
    RULE_ADD = "market-rule-add"
    RULE_MESSAGE = "market-rule-message"


GRAPHS = charts.GRAPHS  # the figure outputs, in the order assets/market.js returns them


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw and len(raw) == 10 else None
    except ValueError:
        return None


def _card(*children: Any) -> dmc.Paper:
    return dmc.Paper(list(children), withBorder=True, p="xs", radius="sm", className="market-card")


def _rule_form(symbols: list[str]) -> dmc.Group:
    return dmc.Group([
        dmc.Select(id=ids.RULE_SYMBOL, data=symbols, searchable=True, placeholder="Symbol", size="xs", w=130,
                   comboboxProps={"withinPortal": True}),
        dmc.SegmentedControl(id=ids.RULE_OP, value="above", size="xs", data=[
            {"value": "above", "label": "above"}, {"value": "below", "label": "below"},
            {"value": "foreign_buy_accelerating", "label": "foreign buying"},
            {"value": "foreign_sell_accelerating", "label": "foreign selling"}]),
        dmc.NumberInput(id=ids.RULE_PRICE, placeholder="price as on the board", size="xs", w=170, min=0,
                        decimalScale=2),
        dmc.Button("Add rule", id=ids.RULE_ADD, size="xs", variant="light"),
        dmc.Text(id=ids.RULE_MESSAGE, size="xs", c="dimmed", className="market-rule-message"),
    ], gap="xs", className="db-kiosk-hide")


def _breadth(part: dict[str, Any]) -> list[Any]:
    counts = part["breadth"]
    return [html.Div(breadth_bar(counts), className="board-breadth"), html.Span(breadth_text(counts))]


def _movers(part: dict[str, Any]) -> list[Any]:
    return movers_line({"gainers": part["up"], "losers": part["down"]})


def layout(date: str | None = None, kiosk: str | None = None, **_: Any) -> html.Div:
    is_kiosk = kiosk == "1"
    # Controls the principal may not use are left out, so none of their callbacks is ever asked.
    principal = current_principal()
    edits_rules, acks = principal.can(MARKET_RULES_EDIT), principal.can(MARKET_ALERTS_ACK)
    day = _day(date)
    service = current_market_service()
    view = service.view if service is not None else None
    status = service.status() if service is not None else None
    figures = charts.figures(view, "dark" if is_kiosk else "light") if view is not None else {}
    banner, hidden = feed_banner(status)

    def graph(graph_id: str) -> dcc.Graph:
        # Sized by the page (assets/market.css), not the figure: the kiosk fits the screen.
        return dcc.Graph(id=graph_id, figure=figures.get(graph_id, {"data": [], "layout": {}}),
                         config={"displayModeBar": False}, className="market-graph", responsive=True)

    def title(title_id: str, key: str) -> html.Div:
        part = view.parts[key] if view else {"title": ""}
        return html.Div(charts.chart_title(part), id=title_id, className=charts.title_class(part))

    def breadth_div(graph_id: str, key: str) -> html.Div:
        return html.Div(_breadth(view.parts[key]) if view else [], id=graph_id, className="market-breadth")

    alerts_controls = dmc.Group([
        dmc.Title("Alerts", order=5),
        dmc.Text("today" if day is None else day.isoformat(), id=ids.ALERT_DAY, size="xs", c="dimmed"),
        dmc.Switch(id=ids.UNACKED, label="open only", size="xs", className="db-kiosk-hide",
                   style={"display": "none"} if is_kiosk else None),
    ], gap="sm")
    note = None
    if date and day is None:
        note = dmc.Alert(f"{date[:40]!r} is not a date (YYYY-MM-DD); showing today's alerts.", color="yellow",
                         variant="light", p=6, className="market-url-note")
    symbols = sorted({*VN30_SYMBOLS, *(r["symbol"] for r in service.board.rows())} if service else VN30_SYMBOLS)
    clock = view.parts["clock"] if view else {"vn_time": None, "phase": "closed"}
    status_row = dmc.Group([
        html.Div(source_badge(status), id=ids.SOURCE),
        html.Span(f"{clock['vn_time'] or '--:--:--'} VN", id=ids.CLOCK, className="board-clock"),
        html.Div(phase_badge(clock["phase"]), id=ids.PHASE),
        html.Div(_movers(view.parts["movers"]) if view else [], id=ids.MOVERS, className="board-movers"),
    ], gap="md", align="center", wrap="wrap")
    return html.Div([
        html.Div(banner, id=ids.BANNER, hidden=hidden),
        note,
        status_row,
        dmc.SimpleGrid([
            _card(title(ids.VN30_TITLE, "vn30"), graph(ids.VN30), breadth_div(ids.VN30_BREADTH, "vn30")),
            _card(title(ids.VNINDEX_TITLE, "vnindex"), graph(ids.VNINDEX),
                  breadth_div(ids.VNINDEX_BREADTH, "vnindex")),
            _card(title(ids.FOREIGN_TITLE, "foreign"), graph(ids.FOREIGN_SPEED)),
            _card(title(ids.LEADERS_TITLE, "leaders"), graph(ids.FOREIGN_LEADERS)),
            _card(title(ids.BASIS_TITLE, "basis"), graph(ids.BASIS)),
            _card(alerts_controls, html.Div(id=ids.ALERTS, className="market-alerts"),
                  None if is_kiosk or not edits_rules else html.Div([dmc.Title("Alert rules", order=6, mt="sm"), _rule_form(symbols),
                                                  html.Div(rules_list(service.rules() if service else []),
                                                           id=ids.RULES)])),
        ], cols={"base": 1, "md": 2}, spacing="xs", className="market-grid"),
        dcc.Store(id=ids.DAY, data=day.isoformat() if day else None),
        dcc.Store(id=ids.CONFIG, data=charts.client_config(kiosk=is_kiosk)),
        dcc.Store(id=ids.REQUEST, data={"seq": 0, "cursor": None, "sent": 0}),
        dcc.Store(id=ids.ANSWER, data=None),
        dcc.Store(id=ids.CURSOR, data={"ack": 0, "cursor": view.cursor() if view else None,
                                       "status": status_key(status)}),
        dcc.Store(id=ids.ALERTS_SEEN, data=None),
        dcc.Store(id=ids.ACK_REQUEST, data=None) if acks else None,  # the Ack buttons write it
        dcc.Store(id=ids.ACK_DONE, data=None),
        dcc.Interval(id=ids.TICK, interval=500),
        dcc.Interval(id=ids.ALERT_TICK, interval=1000),
    ], className="market-page" + (" board-kiosk" if is_kiosk else ""),
        style={"display": "flex", "flexDirection": "column", "gap": "6px"})


# The browser asks only when its previous question was answered (assets/market.js).
clientside_callback(
    ClientsideFunction(namespace="market", function_name="poll"),
    Output(ids.REQUEST, "data"),
    Input(ids.TICK, "n_intervals"),
    State(ids.REQUEST, "data"),
    State(ids.CURSOR, "data"),
    prevent_initial_call=True,
)


TITLES = ((ids.VN30_TITLE, "vn30"), (ids.VNINDEX_TITLE, "vnindex"), (ids.FOREIGN_TITLE, "foreign"),
          (ids.BASIS_TITLE, "basis"))


# Named outputs: ``answer`` returns a dict by these names (the order is the order of the old
# positional outputs, so the callback's id is unchanged).
ANSWER_OUT = {
    "answer": Output(ids.ANSWER, "data"),
    **{f"{key}_{name}": Output(title_id, prop) for title_id, key in TITLES
       for name, prop in (("title", "children"), ("title_class", "className"))},
    "vn30_breadth": Output(ids.VN30_BREADTH, "children"), "vnindex_breadth": Output(ids.VNINDEX_BREADTH, "children"),
    "movers": Output(ids.MOVERS, "children"), "clock": Output(ids.CLOCK, "children"),
    "phase": Output(ids.PHASE, "children"), "banner": Output(ids.BANNER, "children"),
    "banner_hidden": Output(ids.BANNER, "hidden"), "source": Output(ids.SOURCE, "children"),
}


@callback(output=ANSWER_OUT, inputs=[Input(ids.REQUEST, "data")], prevent_initial_call=True)
def answer(request: dict[str, Any] | None) -> dict[str, Any]:
    service = current_market_service()
    if service is None or not isinstance(request, dict):
        return dict.fromkeys(ANSWER_OUT, no_update)
    changes = service.view.changes(request.get("cursor"))
    status = service.status()
    parts = changes["parts"]
    shown, key = request.get("status"), status_key(status)
    banner, hidden = feed_banner(status) if key != shown or status["state"] == "stale" else (no_update,) * 2
    clock = parts.get("clock")
    titles = {f"{part}_{name}": draw(parts[part]) if part in parts else no_update for _, part in TITLES
              for name, draw in (("title", charts.chart_title), ("title_class", charts.title_class))}
    seq = request.get("seq")
    return {
        "answer": {**changes,
                   "ack": seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq < 2**53 else None,
                   "status": key},
        **titles,
        "vn30_breadth": _breadth(parts["vn30"]) if "vn30" in parts else no_update,
        "vnindex_breadth": _breadth(parts["vnindex"]) if "vnindex" in parts else no_update,
        "movers": _movers(parts["movers"]) if "movers" in parts else no_update,
        "clock": f"{clock['vn_time'] or '--:--:--'} VN" if clock else no_update,
        "phase": phase_badge(clock["phase"]) if clock else no_update,
        "banner": banner,
        "banner_hidden": hidden,
        "source": source_badge(status) if key != shown else no_update,
    }


# Extends the figures with the answer and re-colours them when the theme changes.
clientside_callback(
    ClientsideFunction(namespace="market", function_name="apply"),
    *(Output(g, "figure") for g in GRAPHS),
    Output(ids.CURSOR, "data"),
    Input(ids.ANSWER, "data"),
    Input("shell-scheme", "data"),
    *(State(g, "figure") for g in GRAPHS),
    State(ids.CURSOR, "data"),
    State(ids.CONFIG, "data"),
)


@callback(
    Output(ids.ALERTS, "children"), Output(ids.ALERTS_SEEN, "data"),
    Input(ids.ALERT_TICK, "n_intervals"), Input(ids.UNACKED, "checked"), Input(ids.ACK_DONE, "data"),
    State(ids.DAY, "data"), State(ids.ALERTS_SEEN, "data"), State(ids.CONFIG, "data"),
)
def refresh_alerts(_n: int | None, unacked: bool | None, _done: Any, day: str | None, seen: Any,
                   config: dict[str, Any] | None):
    service = current_market_service()
    if service is None:
        return no_update, no_update
    # The list is drawn again only when it changed (or the filter did, or an ack was recorded).
    key = [service.alerts_revision, bool(unacked), day]
    if key == seen and ctx.triggered_id == ids.ALERT_TICK:
        return no_update, no_update
    alerts = service.alerts(day=_day(day), unacked=bool(unacked), limit=100)
    readonly = bool((config or {}).get("kiosk")) or not current_principal().can(MARKET_ALERTS_ACK)
    return alerts_table(alerts, today=day is None, readonly=readonly), key


@callback(
    Output(ids.ACK_DONE, "data"),
    Input(ids.ACK_REQUEST, "data"),
    prevent_initial_call=True,
)
def acknowledge(request: dict[str, Any] | None):
    service = current_market_service()
    if service is None or not isinstance(request, dict) or not isinstance(request.get("id"), str):
        return no_update
    upto = request.get("upto") if isinstance(request.get("upto"), str) else None
    principal = current_principal()  # the signed-in user; "market page" for the single local user
    done = service.acknowledge(request["id"][:100], by="market page" if principal.via == "local" else principal.id,
                               upto=upto)
    return {"id": request["id"][:100], "acked": done, "at": request.get("at")}


@callback(
    Output(ids.RULES, "children"), Output(ids.RULE_MESSAGE, "children"), Output(ids.RULE_MESSAGE, "c"),
    Input(ids.RULE_ADD, "n_clicks"), Input({"type": RULE_DELETE, "id": ALL}, "n_clicks"),
    State(ids.RULE_SYMBOL, "value"), State(ids.RULE_OP, "value"), State(ids.RULE_PRICE, "value"),
    prevent_initial_call=True,
)
def edit_rules(_add: int | None, _deletes: list[int | None], symbol: str | None, op: str | None, price: Any):
    service = current_market_service()
    if service is None:
        return no_update, "The live market service is not running.", "red"
    trigger = ctx.triggered_id
    clicked = bool(ctx.triggered and ctx.triggered[0].get("value"))
    if not clicked:  # new Delete buttons appearing are not clicks
        return no_update, no_update, no_update
    try:
        if trigger == ids.RULE_ADD:
            if not symbol:
                raise UserDataError("choose a symbol")
            op = op or "above"
            rule = service.add_rule(symbol, op, price if op in ("above", "below") else None, board_units=True)
            message = (f"Alert when {rule.symbol} trades {rule.op} {shown_price(rule.symbol, rule.price)}."
                       if rule.price is not None else f"Alert when {rule_text(rule)}.")
        elif isinstance(trigger, dict):
            service.delete_rule(str(trigger["id"]))
            message = "Rule deleted."
        else:
            return no_update, no_update, no_update
    except UserDataError as exc:
        return no_update, str(exc), "red"
    return rules_list(service.rules()), message, "dimmed"
