"""What the /market page draws, computed from the core's summary and the board rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Row = Mapping[str, Any]


def index_view(summary: Mapping[str, Any], index_id: str) -> dict[str, Any] | None:
    """An index's minute series, level, change and breadth; None until the feed has sent it."""
    state = (summary.get("indices") or {}).get(index_id)
    if not state:
        return None
    series = state.get("series") or []
    return {
        "id": index_id,
        "times": [p[0] for p in series],
        "values": [p[1] for p in series],
        "value": state.get("value"),
        "prior": state.get("prior"),
        "change": state.get("change"),
        "change_pct": state.get("change_pct"),
        "breadth": {k: state.get(k) or 0 for k in ("ceilings", "advances", "unchanged", "declines", "floors")},
    }


def basis_view(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Futures against VN30 by minute: the futures line is the index plus the basis of that minute."""
    basis = summary.get("basis") or {}
    index = index_view(summary, "VN30")
    series = basis.get("series") or []
    if not series or index is None:
        return None
    at_minute = dict(zip(index["times"], index["values"], strict=True))
    times, futures, spot, gaps = [], [], [], []
    for minute, value in series:
        level = at_minute.get(minute)
        if level is None:
            continue
        times.append(minute)
        spot.append(level)
        futures.append(level + value)
        gaps.append(value)
    return {"symbol": basis.get("active"), "times": times, "futures": futures, "index": spot, "basis": gaps,
            "last_basis": basis.get("basis"), "basis_pct": basis.get("basis_pct"), "stance": basis.get("stance")}


def foreign_leaders(rows: Iterable[Row], n: int = 8) -> dict[str, list[dict[str, Any]]]:
    """Top foreign net buyers and net sellers by value today."""
    flows = [
        {"symbol": r["symbol"], "net_val": r["f_net_val"], "buy_val": r.get("f_buy_val") or 0.0,
         "sell_val": r.get("f_sell_val") or 0.0}
        for r in rows if r.get("f_net_val")
    ]
    buyers = sorted((f for f in flows if f["net_val"] > 0), key=lambda f: (-f["net_val"], f["symbol"]))
    sellers = sorted((f for f in flows if f["net_val"] < 0), key=lambda f: (f["net_val"], f["symbol"]))
    return {"buyers": buyers[:n], "sellers": sellers[:n]}


def rule_price(symbol: str, shown: float) -> float:
    """A price typed as the board shows it (thousands of VND; index points for futures) in feed units."""
    from backend.market.reference import is_vn30_future

    return float(shown) if is_vn30_future(symbol) else round(float(shown) * 1000)
