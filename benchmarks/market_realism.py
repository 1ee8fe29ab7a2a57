"""Figures of the simulated market on the default seed: the ``realism`` section of benchmarks.market.

The same definitions as tests/backend/market/test_simulator_realism.py (which asserts the
bounds), printed: median quoted spread, closes within ±3%, limit touches, daily volatility
from 1-minute mid returns, the futures basis range and the alerts of the day through the
real core, plus the day's traded value.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pandas as pd

from backend.market.core import MarketCore
from backend.market.reference import VN30_SYMBOLS
from tests.backend.market.test_simulator_realism import BASIS_KINDS, daily_volatility, frame, grid_index, simulate


def realism_section(_day: object = None, seed: int = 7, density: float = 3.0) -> None:
    t = time.perf_counter()
    messages = simulate(seed, density)
    day = frame(messages)
    print(f"\n== simulated market, seed {seed}: one day at {density:g} events per simulated second "
          f"({len(messages):,} messages, {time.perf_counter() - t:.1f} s) ==")
    q = day[(day["channel"] == "X-QUOTE") & day["Symbol"].isin(VN30_SYMBOLS) & (day["TradingSession"] == "LO")]
    q = q[(q["BidPrice1"] > 0) & (q["AskPrice1"] > 0)]
    ticks = pd.Series(grid_index(q["AskPrice1"]) - grid_index(q["BidPrice1"]), index=q.index)
    print(f"VN30 quoted spread, continuous: median {ticks.median():.0f} tick, worst name's median "
          f"{ticks.groupby(q['Symbol']).median().max():.0f}; one tick {(ticks == 1).mean():.0%}, "
          f"two {(ticks == 2).mean():.0%} of quotes")
    t = day[(day["channel"] == "X-TRADE") & day["Symbol"].isin(VN30_SYMBOLS)]
    close = t.groupby("Symbol").last()
    change = close["LastPrice"] / close["RefPrice"] - 1
    touched = ((t["LastPrice"] >= t["Ceiling"]) | (t["LastPrice"] <= t["Floor"])).groupby(t["Symbol"]).any()
    print(f"closes within ±3% of reference: {(change.abs() <= 0.03).mean():.0%} (change sd {change.std():.2%},"
          f" range {change.min():+.2%} … {change.max():+.2%}); names touching ceiling/floor: {int(touched.sum())}")
    vol = daily_volatility(day)
    print(f"daily volatility from 1-minute mid returns: median {vol.median():.2%} (names {vol.min():.2%} … {vol.max():.2%})")
    mi = day[day["channel"] == "MI"].groupby("IndexId")
    print("indices: " + ", ".join(f"{k} prior {g['PriorIndexValue'].iloc[0]:,.2f} close {g['IndexValue'].iloc[-1]:,.2f}"
                                  for k, g in mi))
    core = MarketCore()
    core.process_many(messages)
    basis = np.array([p[1] for p in core.summary()["basis"]["series"]])
    kinds = Counter(a.kind.value for a in core.recent_alerts())
    print(f"futures basis (points, per minute): {basis.min():+.1f} … {basis.max():+.1f}, sd {basis.std():.1f};"
          f" basis alerts {sum(kinds[k] for k in BASIS_KINDS)}")
    print("alerts of the day through the core: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(f"VN30 traded value: {close['TotalVal'].sum() / 1e9:,.0f} bn VND")
