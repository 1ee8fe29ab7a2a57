"""Alert rules on /portfolio: the rules (symbol, condition, created, delete) and the alerts they
raised today. Prices are in đồng, as the page's ticket shows them (index points for futures)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import dash_mantine_components as dmc
from dash import html

from backend.market.reference import is_vn30_future
from backend.market.watchlists import CONDITION_WORDS, StoredRule, shown_price

RULE_DELETE: Final = "paper-rule-delete"
VN: Final = timedelta(hours=7)


def condition_text(rule: StoredRule, *, in_dong: bool = True) -> str:
    """``trades at or above 131,000`` / ``foreign selling accelerating``."""
    words = CONDITION_WORDS.get(rule.condition, rule.condition.replace("_", " "))
    if rule.price is None:
        return words
    if in_dong and not is_vn30_future(rule.symbol):
        return f"{words} {rule.price:,.0f} ₫"
    return f"{words} {shown_price(rule.symbol, rule.price)}"


def _vn(moment: datetime | float | None, form: str) -> str:
    if moment is None:
        return ""
    when = datetime.fromtimestamp(moment, UTC) if isinstance(moment, int | float) else moment
    return (when.astimezone(UTC) + VN).strftime(form)


def rules_table(rules: list[StoredRule], *, editable: bool) -> Any:
    """The rules, by symbol; with a Delete button each where the user may edit them."""
    if not rules:
        return dmc.Text("No alert rules yet.", size="sm", c="dimmed", className="paper-no-rules")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Symbol", "Condition", "Note", "Created (VN)", "")]))
    rows = [html.Tr([
        html.Td(html.B(rule.symbol)), html.Td(condition_text(rule)), html.Td(rule.note, className="paper-rule-note"),
        html.Td(_vn(rule.created, "%Y-%m-%d %H:%M")),
        html.Td(dmc.Button("Delete", id={"type": RULE_DELETE, "id": rule.id}, size="compact-xs", variant="subtle",
                           color="red", className="db-kiosk-hide") if editable else None),
    ], key=rule.id, className="paper-rule", **{"data-rule-id": rule.id}) for rule in rules]
    return dmc.Table([head, html.Tbody(rows)], fz="sm", highlightOnHover=True, className="paper-rules-table")


def rule_alerts_table(alerts: Iterable[dict[str, Any]], rules: Iterable[StoredRule]) -> Any:
    """Today's alerts raised by rules, newest first, each with the rule's condition."""
    by_id = {rule.id: rule for rule in rules}
    items = list(alerts)
    if not items:
        return dmc.Text("No rule has fired today.", size="sm", c="dimmed", className="paper-no-rule-alerts")
    head = html.Thead(html.Tr([html.Th(h) for h in ("VN time", "Symbol", "Rule", "Latest", "")]))
    rows = []
    for alert in items:
        rule = by_id.get(alert.get("rule_id") or "")
        count = alert.get("count") or 1
        rows.append(html.Tr([
            html.Td(_vn(alert["ts"], "%H:%M:%S")), html.Td(html.B(alert["symbol"])),
            html.Td(condition_text(rule) if rule else "a deleted rule"), html.Td(alert["message"]),
            html.Td(dmc.Badge(f"×{count}", color="gray", variant="outline", size="sm") if count > 1 else None),
        ], key=alert["id"], className="paper-rule-alert"))
    return dmc.Table([head, html.Tbody(rows)], fz="sm", striped=True, className="paper-rule-alerts-table")
