"""A paper portfolio's performance from its value snapshots and its fills.

One point per trading day: the day's last snapshot (today's point is the value now). Deposits
and withdrawals are not performance, so each day's return takes the day's net cash moved out
first — ``r_t = (E_t − (D_t − D_{t−1})) / E_{t−1} − 1`` with ``E`` the equity and ``D`` the net
deposits — and the curve judged is the growth of one đồng, ``Π (1 + r_t)`` (a time-weighted
return). Its statistics are the simulator's (``compute_stats``, 252 periods a year: Sharpe on
daily returns, the deepest drawdown); the win rate is over sell fills, each a trade whose P&L is
what it realised against the FIFO lots it closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd

from backend.research.simulator.stats import compute_stats

PERIODS_PER_YEAR: Final = 252
BASE: Final = 1_000_000.0  # the growth curve is scaled to a million for the statistics' sake


def daily_points(snapshots: Sequence[tuple[date, int, int]]) -> list[tuple[date, int, int]]:
    """``(trading day, equity, net deposits)`` at each day's last snapshot, in day order."""
    last: dict[date, tuple[date, int, int]] = {}
    for point in snapshots:
        last[point[0]] = point
    return [last[day] for day in sorted(last)]


def performance(snapshots: Sequence[tuple[date, int, int]], sells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return, drawdown, win rate, Sharpe and the daily curve; figures are None with fewer than
    two days (one day has no return)."""
    points = daily_points(snapshots)
    curve = [{"day": d.isoformat(), "equity": e, "net_deposits": n} for d, e, n in points]
    wins = [f for f in sells if f["realized_pnl"] > 0]
    win_rate = 100.0 * len(wins) / len(sells) if sells else None
    if len(points) < 2:
        return {"days": len(points), "return_pct": None, "max_drawdown_pct": None, "sharpe": None,
                "win_rate_pct": win_rate, "trades": len(sells), "curve": curve}
    equity = np.array([p[1] for p in points], dtype=np.float64)
    flows = np.diff(np.array([p[2] for p in points], dtype=np.float64))
    returns = (equity[1:] - flows) / equity[:-1] - 1.0
    growth = BASE * np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    frame = pd.DataFrame({"timestamp": pd.to_datetime([p[0] for p in points], utc=True), "equity": growth,
                          "close": growth, "position": np.ones(len(points))})
    trades = pd.DataFrame({"pnl": [float(f["realized_pnl"]) for f in sells],
                           "return_pct": [100.0 * f["realized_pnl"] / max(f["gross"] - f["realized_pnl"], 1)
                                          for f in sells],
                           "duration_bars": [0] * len(sells), "is_open": [False] * len(sells)})
    stats = compute_stats(trades, frame, periods_per_year=PERIODS_PER_YEAR)
    peak = np.maximum.accumulate(growth)
    for row, g, top in zip(curve, growth, peak, strict=True):
        row["growth"] = round(g / BASE, 8)
        row["drawdown_pct"] = round((g / top - 1.0) * 100, 6)

    def finite(value: Any) -> float | None:
        return float(value) if value is not None and np.isfinite(value) else None

    return {"days": len(points), "return_pct": finite(stats["return_pct"]),
            "max_drawdown_pct": finite(stats["max_drawdown_pct"]), "sharpe": finite(stats["sharpe"]),
            "win_rate_pct": win_rate, "trades": len(sells), "curve": curve}


__all__ = ["PERIODS_PER_YEAR", "daily_points", "performance"]
