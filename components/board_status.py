"""Board chrome that follows the market: feed banner, VN clock and phase, breadth bar, top movers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash_mantine_components as dmc
from dash import html

_VN = timedelta(hours=7)
PHASES = {
    "pre_open": "Pre-open", "ato": "ATO", "continuous": "Continuous", "lunch": "Lunch break",
    "atc": "ATC", "put_through": "Put-through", "closed": "Closed",
}


def feed_banner(status: dict[str, Any] | None) -> tuple[Any, bool]:
    """(banner content, hidden?) for the feed state; live feeds show nothing."""
    if status is None:
        return _alert("red", "Live market service is not running on this server."), False
    state = status.get("state")
    if state == "live":
        return None, True
    if state == "stale":
        age = status.get("age_seconds") or 0
        text = f"Feed stale: no market data for {age:.0f} s — prices may be out of date."
        return _alert("yellow", text, "board-banner-stale"), False
    if state == "starting":
        return _alert("blue", "Connecting to the market feed…"), False
    reason = status.get("error") or "the feed is not connected"
    return _alert("red", f"Feed disconnected: {reason}. Prices are frozen at the last update.",
                  "board-banner-disconnected"), False


def _alert(color: str, text: str, class_name: str = "") -> dmc.Alert:
    return dmc.Alert(text, color=color, variant="filled", radius="sm", p=6, className=f"board-banner {class_name}")


def vn_clock(market_ts: float | None) -> str:
    """The feed's clock on the VN wall (UTC+7); the real VN time when the feed has none."""
    when = datetime.fromtimestamp(market_ts, UTC) if market_ts else datetime.now(UTC)
    return (when + _VN).strftime("%H:%M:%S") + " VN"


def phase_badge(phase: str | None) -> dmc.Badge:
    label = PHASES.get(phase or "closed", phase or "Closed")
    color = {"continuous": "green", "ato": "orange", "atc": "orange", "lunch": "gray"}.get(phase or "", "gray")
    return dmc.Badge(label, color=color, variant="light", className="board-phase")


def breadth_bar(counts: dict[str, int]) -> list[Any]:
    total = sum(counts.values())
    if not total:
        return [html.Span(className="b-empty", style={"width": "100%"})]
    labels = {"ceiling": "ceiling", "up": "up", "ref": "unchanged", "down": "down", "floor": "floor"}
    return [
        html.Span(className=f"b-{key}", style={"width": f"{counts[key] / total * 100:.2f}%"},
                  title=f"{counts[key]} {labels[key]}", **{"data-count": counts[key]})
        for key in ("ceiling", "up", "ref", "down", "floor")
        if counts[key]
    ]


def breadth_text(counts: dict[str, int]) -> str:
    return (f"▲{counts['up'] + counts['ceiling']} ({counts['ceiling']} ceil) "
            f"■{counts['ref']} ▼{counts['down'] + counts['floor']} ({counts['floor']} floor)")


def movers_line(movers: dict[str, list[dict[str, Any]]]) -> list[Any]:
    def item(m: dict[str, Any], cls: str) -> html.Span:
        return html.Span(f"{m['symbol']} {m['change_pct']:+.2f}%", className=f"board-mover {cls}")

    parts: list[Any] = [html.B("Top ▲ ")]
    parts += [item(m, "board-up") for m in movers["gainers"]] or [html.Span("—", className="board-mover")]
    parts.append(html.B(" ▼ "))
    parts += [item(m, "board-down") for m in movers["losers"]] or [html.Span("—", className="board-mover")]
    return parts
