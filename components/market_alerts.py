"""Alerts panel for /market: the day's alerts with acknowledgement, and the user's price rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash_mantine_components as dmc
from dash import html

ACK = "market-ack"
RULE_DELETE = "market-rule-delete"
_SEVERITY = {"critical": "red", "warning": "orange", "info": "blue"}


def _vn_time(ts: float) -> str:
    return (datetime.fromtimestamp(ts, UTC) + timedelta(hours=7)).strftime("%H:%M:%S")


def alerts_table(alerts: list[dict[str, Any]], *, today: bool) -> Any:
    if not alerts:
        return dmc.Text("No alerts.", size="sm", c="dimmed", className="market-no-alerts")
    rows = []
    for a in alerts:
        acked = a.get("acked_at")
        action: Any = (dmc.Text(f"acked by {a.get('acked_by') or '—'}", size="xs", c="dimmed") if acked else
                       dmc.Button("Ack", id={"type": ACK, "id": a["id"]}, size="compact-xs", variant="light")
                       if today else dmc.Text("open", size="xs", c="orange"))
        rows.append(html.Tr(
            [html.Td(_vn_time(a["ts"])), html.Td(html.B(a["symbol"])),
             html.Td(dmc.Badge(a["kind"].replace("_", " "), color=_SEVERITY.get(a["severity"], "gray"),
                               variant="light", size="sm")),
             html.Td(a["message"]), html.Td(action)],
            className="market-alert" + (" market-alert-acked" if acked else ""), **{"data-alert-id": a["id"]},
        ))
    head = html.Thead(html.Tr([html.Th(h) for h in ("VN time", "Symbol", "Kind", "Message", "")]))
    return dmc.Table([head, html.Tbody(rows)], striped=True, highlightOnHover=True, fz="sm",
                     className="market-alerts-table")


def rules_list(rules: list[Any]) -> Any:
    if not rules:
        return dmc.Text("No price rules yet.", size="sm", c="dimmed")
    return dmc.Stack([
        dmc.Group([
            dmc.Text(f"{r.symbol} {r.op} {_shown_price(r.symbol, r.price)}", size="sm", className="market-rule"),
            dmc.Text(r.note, size="xs", c="dimmed"),
            dmc.Button("Delete", id={"type": RULE_DELETE, "id": r.id}, size="compact-xs", variant="subtle",
                       color="red"),
        ], gap="xs")
        for r in rules
    ], gap=2)


def _shown_price(symbol: str, price: float) -> str:
    return f"{price:,.1f}" if symbol.startswith("VN30F") else f"{price / 1000:,.2f}"
