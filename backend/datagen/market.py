"""Closing prices and FX rates per business day, shared by every chunk of one run.

Prices follow a one-factor random walk (each instrument's beta to a common market
return plus its own noise, scaled to its annual volatility), so funds, stocks and
commodities move together the way a desk expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from backend.datagen.reference import INSTRUMENTS

TRADING_DAYS = 252
MARKET_VOL = 0.15

# USD per unit of currency at the start of the walk, and annual volatility.
FX_BASE: dict[str, tuple[float, float]] = {
    "USD": (1.0, 0.0),
    "EUR": (1.08, 0.07),
    "GBP": (1.27, 0.08),
    "CHF": (1.13, 0.07),
    "JPY": (0.0068, 0.10),
    "HKD": (0.128, 0.005),
    "TWD": (0.031, 0.05),
    "AUD": (0.66, 0.10),
}
CURRENCIES: tuple[str, ...] = tuple(FX_BASE)


def business_days(start: date, end: date) -> np.ndarray:
    """Monday-to-Friday dates in [start, end] as ``datetime64[D]``."""
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1, dtype="datetime64[D]")
    return days[np.is_busday(days)]


@dataclass(frozen=True)
class MarketPath:
    dates: np.ndarray  # datetime64[D], business days
    close: np.ndarray  # (n_dates, n_instruments) closing price in instrument currency
    fx: np.ndarray  # (n_dates, n_currencies) USD per unit
    settle: np.ndarray  # (n_dates, max_lag + 1) settlement date (days since epoch) for lag k


def market_path(start: date, end: date, seed: int) -> MarketPath:
    dates = business_days(start, end)
    if len(dates) == 0:
        raise ValueError(f"no business days between {start} and {end}")
    rng = np.random.default_rng([seed, 0xC105E])
    n = len(dates)
    vol = np.array([i.volatility for i in INSTRUMENTS])
    beta = np.array([i.beta for i in INSTRUMENTS])
    own = np.sqrt(np.maximum(vol**2 - (beta * MARKET_VOL) ** 2, (0.3 * vol) ** 2))
    market = rng.standard_normal(n) * MARKET_VOL / np.sqrt(TRADING_DAYS)
    noise = rng.standard_normal((n, len(INSTRUMENTS))) * own / np.sqrt(TRADING_DAYS)
    returns = market[:, None] * beta + noise - 0.5 * (vol**2) / TRADING_DAYS
    returns[0] = 0.0
    base = np.array([i.base_price for i in INSTRUMENTS])
    close = base * np.exp(np.cumsum(returns, axis=0))

    fx_base = np.array([FX_BASE[c][0] for c in CURRENCIES])
    fx_vol = np.array([FX_BASE[c][1] for c in CURRENCIES])
    fx_ret = rng.standard_normal((n, len(CURRENCIES))) * fx_vol / np.sqrt(TRADING_DAYS)
    fx_ret[0] = 0.0
    fx = fx_base * np.exp(np.cumsum(fx_ret, axis=0))

    max_lag = max(i.settle_lag for i in INSTRUMENTS)
    settle = np.stack([np.busday_offset(dates, k, roll="forward") for k in range(max_lag + 1)], axis=1)
    return MarketPath(dates=dates, close=close, fx=fx, settle=settle.astype("int64"))
