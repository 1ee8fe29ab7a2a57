"""Board chrome that follows the market: feed banner, source badge, VN clock and phase, index strip,
breadth bar, top movers and the board version they were computed from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash_mantine_components as dmc
from dash import html

from backend.access.user_settings import localised

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


def source_badge(status: dict[str, Any] | None) -> dmc.Badge | None:
    """A visible "Simulated market" badge when the prices come from the simulator; nothing for real feeds.

    While the simulator replays the session so far (faster than real time, before it goes live)
    the badge says so: the prices move fast and are not yet the simulated market's "now".
    """
    if not status or not status.get("simulated"):
        return None
    title = "Prices on this server come from the market simulator, not an exchange feed"
    if status.get("catching_up"):
        return dmc.Badge("Simulated market · catching up", color="orange", variant="filled", radius="sm",
                         className="board-source board-source-catching-up",
                         attributes={"title": title + "; it is replaying the session so far before it goes live"})
    return dmc.Badge("Simulated market", color="orange", variant="filled", radius="sm", className="board-source",
                     attributes={"title": title})


def status_key(status: dict[str, Any] | None) -> str | None:
    """What a screen remembers of the feed status to know when its banner and badge must be redrawn."""
    if not status:
        return None
    return f"{status.get('state')}:catching_up" if status.get("catching_up") else status.get("state")


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
    counts = {k: counts.get(k, 0) for k in ("ceiling", "up", "ref", "down", "floor")}
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


def breadth_text(counts: dict[str, int], *, short: bool = False) -> str:
    """Advancers, unchanged and decliners; ``short`` names ceiling and floor counts only when there are any."""
    c = {k: counts.get(k, 0) for k in ("up", "ceiling", "ref", "down", "floor")}
    if short:
        ceil = f" ({c['ceiling']} ceil)" if c["ceiling"] else ""
        floor = f" ({c['floor']} floor)" if c["floor"] else ""
        return f"▲{c['up'] + c['ceiling']}{ceil} ■{c['ref']} ▼{c['down'] + c['floor']}{floor}"
    return (f"▲{c['up'] + c['ceiling']} ({c['ceiling']} ceil) "
            f"■{c['ref']} ▼{c['down'] + c['floor']} ({c['floor']} floor)")


def movers_line(movers: dict[str, list[dict[str, Any]]]) -> list[Any]:
    def item(m: dict[str, Any], cls: str) -> html.Span:
        return html.Span(f"{m['symbol']} {_signed(m['change_pct'], 2)}%", className=f"board-mover {cls}")

    parts: list[Any] = [html.B("Top ▲ ")]
    parts += [item(m, "board-up") for m in movers.get("gainers", ())] or [html.Span("—", className="board-mover")]
    parts.append(html.B(" ▼ "))
    parts += [item(m, "board-down") for m in movers.get("losers", ())] or [html.Span("—", className="board-mover")]
    return parts


def _signed(value: float | None, digits: int) -> str:
    return "" if value is None else localised(f"{value:+,.{digits}f}")


def index_strip_view(items: list[dict[str, Any]]) -> list[html.Div]:
    """VNINDEX, VN30 and the futures contract: value, change and change % in VN colours.

    Indices show two decimals and futures one (index points); an item the feed has not
    sent yet shows a dash.
    """
    out = []
    for item in items:
        digits = 1 if item["kind"] == "future" else 2
        value = item.get("value")
        parts: list[Any] = [html.Span(item["id"], className="board-index-name")]
        if value is None:
            parts.append(html.Span("—", className="board-index-value"))
        else:
            pct = item.get("change_pct")
            parts += [
                html.Span(localised(f"{value:,.{digits}f}"), className="board-index-value"),
                html.Span(_signed(item.get("change"), digits), className="board-index-change"),
                html.Span("" if pct is None else f"({_signed(pct, 2)}%)", className="board-index-pct"),
            ]
            if item.get("basis") is not None:
                parts.append(html.Span(f"basis {_signed(item['basis'], 1)}", className="board-index-basis",
                                       title="futures minus VN30, index points"))
        tone = item.get("tone")
        out.append(html.Div(parts, className="board-index" + (f" board-{tone}" if tone else ""),
                            **{"data-id": item["id"]}))
    return out


def snapshot_label(version: int | None, as_of: float | None = None) -> html.Span:
    """When the grid, breadth and top movers were last updated (they always share one board version).

    "as of HH:MM:SS" on the VN clock: the feed's time of the latest change to the screen's rows
    (``as_of``, so it reads on the same clock as the header's), else the time the board version
    was published (versions are the server's wall clock in ms). The version itself is in the
    tooltip and ``data-version``.
    """
    when = as_of if as_of is not None else None if version is None else version / 1000
    text = "—" if when is None else "as of " + (datetime.fromtimestamp(when, UTC) + _VN).strftime("%H:%M:%S")
    title = "VN time of the latest market update the grid, breadth and top movers show" + (
        "" if version is None else f"; board version {version}")
    return html.Span(text, className="board-version", title=title,
                     **{"data-version": "" if version is None else str(version)})


def board_summary(counts: dict[str, int], movers: dict[str, list[dict[str, Any]]], version: int | None,
                  as_of: float | None = None) -> list[Any]:
    """Breadth, top movers and the board version they were computed from, as one part of the page.

    One part, so a tick updates one thing on the screen instead of four.
    """
    return [
        html.Div(breadth_bar(counts), id="board-breadth", className="board-breadth", title="breadth of this list"),
        html.Span(breadth_text(counts, short=True), id="board-breadth-text", className="board-breadth-text"),
        html.Div(movers_line(movers), id="board-movers", className="board-movers"),
        html.Div(snapshot_label(version, as_of), id="board-version"),
    ]
