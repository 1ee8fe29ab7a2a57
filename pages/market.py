"""/market: VN30 and VNINDEX intraday with breadth, foreign flow, futures basis and alerts.

The view lives in the URL: ``?date=YYYY-MM-DD`` shows an earlier day's alerts
from history; ``?kiosk=1`` and ``?embed=1`` as everywhere.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from backend.market.market_view import basis_view, foreign_leaders, index_view, rule_price
from backend.market.reference import VN30_SYMBOLS
from backend.market.service import current_market_service
from backend.market.watchlists import UserDataError
from components import market_charts as charts
from components.board_status import breadth_bar, feed_banner
from components.market_alerts import ACK, RULE_DELETE, alerts_table, rules_list

dash.register_page(__name__, path="/market", title="Market", name="Market", order=3)


class ids:
    TICK = "market-tick"
    ALERT_TICK = "market-alert-tick"
    BANNER = "market-banner"
    VN30 = "market-vn30"
    VNINDEX = "market-vnindex"
    VN30_BREADTH = "market-vn30-breadth"
    VNINDEX_BREADTH = "market-vnindex-breadth"
    FOREIGN_SPEED = "market-foreign-speed"
    FOREIGN_LEADERS = "market-foreign-leaders"
    BASIS = "market-basis"
    ALERTS = "market-alerts"
    ALERT_DAY = "market-alert-day"
    UNACKED = "market-unacked"
    RULES = "market-rules"
    RULE_SYMBOL = "market-rule-symbol"
    RULE_OP = "market-rule-op"
    RULE_PRICE = "market-rule-price"
    RULE_ADD = "market-rule-add"
    RULE_MESSAGE = "market-rule-message"


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw and len(raw) == 10 else None
    except ValueError:
        return None


def _graph(graph_id: str) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=charts.empty_figure(""), config={"displayModeBar": False})


def _card(*children: Any) -> dmc.Paper:
    return dmc.Paper(list(children), withBorder=True, p="xs", radius="sm")


def _rule_form() -> dmc.Group:
    symbols = sorted(VN30_SYMBOLS)
    service = current_market_service()
    if service is not None:
        symbols = sorted({*symbols, *(r["symbol"] for r in service.board.rows())})
    return dmc.Group([
        dmc.Select(id=ids.RULE_SYMBOL, data=symbols, searchable=True, placeholder="Symbol", size="xs", w=130,
                   comboboxProps={"withinPortal": True}),
        dmc.SegmentedControl(id=ids.RULE_OP, data=["above", "below"], value="above", size="xs"),
        dmc.NumberInput(id=ids.RULE_PRICE, placeholder="price as on the board", size="xs", w=170, min=0,
                        decimalScale=2),
        dmc.Button("Add rule", id=ids.RULE_ADD, size="xs", variant="light"),
        dmc.Text(id=ids.RULE_MESSAGE, size="xs", c="dimmed"),
    ], gap="xs", className="db-kiosk-hide")


def layout(date: str | None = None, kiosk: str | None = None, **_: Any) -> html.Div:
    is_kiosk = kiosk == "1"
    day = _day(date)
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
    return html.Div([
        html.Div(id=ids.BANNER, hidden=True),
        note,
        dmc.SimpleGrid([
            _card(_graph(ids.VN30), html.Div(id=ids.VN30_BREADTH, className="board-breadth")),
            _card(_graph(ids.VNINDEX), html.Div(id=ids.VNINDEX_BREADTH, className="board-breadth")),
            _card(_graph(ids.FOREIGN_SPEED)),
            _card(_graph(ids.FOREIGN_LEADERS)),
            _card(_graph(ids.BASIS)),
            _card(alerts_controls, html.Div(id=ids.ALERTS, className="market-alerts"),
                  None if is_kiosk else html.Div([dmc.Title("Price rules", order=6, mt="sm"), _rule_form(),
                                                  html.Div(id=ids.RULES)])),
        ], cols={"base": 1, "md": 2}, spacing="xs"),
        dcc.Store(id="market-day", data=day.isoformat() if day else None),
        dcc.Interval(id=ids.TICK, interval=2000),
        dcc.Interval(id=ids.ALERT_TICK, interval=1000),
    ], className="market-page" + (" board-kiosk" if is_kiosk else ""))


@callback(
    Output(ids.VN30, "figure"), Output(ids.VNINDEX, "figure"),
    Output(ids.VN30_BREADTH, "children"), Output(ids.VNINDEX_BREADTH, "children"),
    Output(ids.FOREIGN_SPEED, "figure"), Output(ids.FOREIGN_LEADERS, "figure"), Output(ids.BASIS, "figure"),
    Output(ids.BANNER, "children"), Output(ids.BANNER, "hidden"),
    Input(ids.TICK, "n_intervals"),
)
def refresh_charts(_n: int | None):
    service = current_market_service()
    banner, hidden = feed_banner(service.status() if service is not None else None)
    if service is None:
        empty = charts.empty_figure("")
        return empty, empty, [], [], empty, empty, empty, banner, hidden
    summary = service.summary
    vn30, vnindex = index_view(summary, "VN30"), index_view(summary, "VNINDEX")
    series = service.pipeline.series.foreign if service.pipeline is not None else []
    return (charts.index_figure(vn30, "VN30"), charts.index_figure(vnindex, "VNINDEX"),
            _breadth(vn30), _breadth(vnindex), charts.foreign_speed_figure(series),
            charts.foreign_leaders_figure(foreign_leaders(service.board.rows())),
            charts.basis_figure(basis_view(summary)), banner, hidden)


def _breadth(view: dict[str, Any] | None) -> list[Any]:
    b = (view or {}).get("breadth") or {}
    return breadth_bar({"ceiling": b.get("ceilings", 0), "up": b.get("advances", 0), "ref": b.get("unchanged", 0),
                        "down": b.get("declines", 0), "floor": b.get("floors", 0)})


@callback(
    Output(ids.ALERTS, "children"),
    Input(ids.ALERT_TICK, "n_intervals"), Input(ids.UNACKED, "checked"), Input({"type": ACK, "id": ALL}, "n_clicks"),
    State("market-day", "data"),
)
def refresh_alerts(_n: int | None, unacked: bool | None, _acks: list[int | None], day: str | None):
    service = current_market_service()
    if service is None:
        return no_update
    trigger = ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == ACK and any(_acks):
        service.acknowledge(str(trigger["id"]), by="board user")
    alerts = service.alerts(day=_day(day), unacked=bool(unacked), limit=100)
    return alerts_table(alerts, today=day is None)


@callback(
    Output(ids.RULES, "children"), Output(ids.RULE_MESSAGE, "children"),
    Input(ids.RULE_ADD, "n_clicks"), Input({"type": RULE_DELETE, "id": ALL}, "n_clicks"),
    State(ids.RULE_SYMBOL, "value"), State(ids.RULE_OP, "value"), State(ids.RULE_PRICE, "value"),
)
def edit_rules(_add: int | None, _deletes: list[int | None], symbol: str | None, op: str | None,
               price: float | str | None):
    service = current_market_service()
    if service is None:
        return no_update, "The live market service is not running."
    message = ""
    trigger = ctx.triggered_id
    try:
        if trigger == ids.RULE_ADD:
            if not symbol or not isinstance(price, int | float):
                raise UserDataError("choose a symbol and type a price")
            rule = service.add_rule(symbol, op or "above", rule_price(symbol, price))
            message = f"Alert when {rule.symbol} trades {rule.op} {price}."
        elif isinstance(trigger, dict) and any(_deletes):
            service.delete_rule(str(trigger["id"]))
            message = "Rule deleted."
    except (UserDataError, ValueError) as exc:
        message = str(exc)
    return rules_list(service.rules()), message
