"""Alerts panel for /market: the day's alert rows with acknowledgement, and the users' alert rules.

An Ack button carries its row's id (and the newest alert the row showed) in ``data-`` attributes;
``assets/market.js`` reads them from the button that was clicked, so an acknowledgement acts on
the row under the pointer even if the list changed between drawing and clicking. Rows are keyed
by id, so the browser moves rows rather than re-using one row's elements for another alert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash_mantine_components as dmc
from dash import html

from backend.market.watchlists import CONDITION_WORDS, StoredRule, shown_price

RULE_DELETE = "market-rule-delete"
_SEVERITY = {"critical": "red", "warning": "orange", "info": "blue"}
_KINDS = {"foreign_buy_acceleration": "foreign buying", "foreign_sell_acceleration": "foreign selling",
          "basis_premium": "premium", "basis_discount": "discount", "breadth_extreme": "breadth",
          "price_rule": "price rule"}


def _vn_time(ts: float) -> str:
    return (datetime.fromtimestamp(ts, UTC) + timedelta(hours=7)).strftime("%H:%M:%S")


def _when(a: dict[str, Any]) -> str:
    if (a.get("count") or 1) > 1 and a.get("first_ts"):
        return f"{_vn_time(a['first_ts'])}–{_vn_time(a['ts'])}"
    return _vn_time(a["ts"])


def _action(a: dict[str, Any], today: bool, readonly: bool) -> Any:
    if a.get("acked_at"):
        return dmc.Text(f"acked by {a.get('acked_by') or '—'}", size="xs", c="dimmed")
    if not today or readonly:
        return dmc.Text("open", size="xs", c="orange")
    button = dmc.Button("Ack", size="compact-xs", variant="light", className="market-ack")
    return html.Span(button, className="market-ack-target",
                     **{"data-ack-id": a["id"], "data-ack-upto": a.get("last_id") or a["id"]})


def alerts_table(alerts: list[dict[str, Any]], *, today: bool, readonly: bool = False) -> Any:
    """The alert rows; ``readonly`` (a kiosk) shows no Ack buttons."""
    if not alerts:
        return dmc.Text("No alerts.", size="sm", c="dimmed", className="market-no-alerts")
    rows = []
    for a in alerts:
        count = a.get("count") or 1
        kind = dmc.Text(_KINDS.get(a["kind"], a["kind"].replace("_", " ")), c=_SEVERITY.get(a["severity"], "gray"),
                        size="xs", fw=700, tt="uppercase", className="market-alert-kind")
        repeats = html.Span(
            dmc.Badge(f"×{count}", color="gray", variant="outline", size="sm"), className="market-alert-count",
            title=f"{count} alerts of this condition, folded into one row") if count > 1 else None
        rows.append(html.Tr(
            [html.Td(_when(a)), html.Td(html.B(a["symbol"])), html.Td([kind, repeats]), html.Td(a["message"]),
             html.Td(_action(a, today, readonly))],
            key=a["id"], className="market-alert" + (" market-alert-acked" if a.get("acked_at") else ""),
            **{"data-alert-id": a["id"], "data-count": count},
        ))
    head = html.Thead(html.Tr([html.Th(h) for h in ("VN time", "Symbol", "Kind", "Latest", "")]))
    return dmc.Table([head, html.Tbody(rows)], striped=True, highlightOnHover=True, fz="sm",
                     className="market-alerts-table")


def rule_text(rule: StoredRule) -> str:
    """``FPT above 131.00`` (as the board shows prices), ``HPG foreign selling accelerating``."""
    if rule.price is None:
        return f"{rule.symbol} {CONDITION_WORDS.get(rule.condition, rule.condition.replace('_', ' '))}"
    return f"{rule.symbol} {rule.op} {shown_price(rule.symbol, rule.price)}"


def rules_list(rules: list[StoredRule]) -> Any:
    if not rules:
        return dmc.Text("No alert rules yet.", size="sm", c="dimmed")
    return dmc.Stack([
        dmc.Group([
            dmc.Text(rule_text(r), size="sm", className="market-rule"),
            dmc.Text(r.note, size="xs", c="dimmed"),
            dmc.Button("Delete", id={"type": RULE_DELETE, "id": r.id}, size="compact-xs", variant="subtle",
                       color="red"),
        ], gap="xs")
        for r in rules
    ], gap=2)
