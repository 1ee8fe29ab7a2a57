"""The trading simulator: bars and signals in, equity and trades out.

``Simulator(...)`` takes every rule as a keyword and refuses a bad one at once (a ``ValueError``
naming the value); ``run(bars, ...)`` checks the bars and signals the same way, then hands the
arrays to the compiled kernel (``kernel.py``, whose docstring holds the fill rules). Inputs are
boolean signals (``entries``, ``exits``, optional ``short_entries``, ``short_exits``), target
positions (+1 long, 0 flat, −1 short), or predictions with long/short thresholds; each may
have one column, or many (a parameter grid, or many assets) with an account per column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from backend.research.simulator import kernel

FILLS: Final = ("next_open", "close")
SIZINGS: Final = ("all_in", "fraction", "units")
PRICE_COLUMNS: Final = ("open", "high", "low", "close")
MAX_ACCOUNTS: Final = 10_000
Signal = np.ndarray | pd.Series | pd.DataFrame | Sequence[bool]


def _number(name: str, value: object, *, low: float, high: float = math.inf, low_open: bool = False,
            high_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name}: a number, got {str(value)[:40]!r}")  # noqa: TRY004 (every bad input is a ValueError)
    number = float(value)
    if not math.isfinite(number) or number < low or (low_open and number == low) or number > high \
            or (high_open and number == high):
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name}: {number!r} is outside {lo}{low:g}, {high:g}{hi}")
    return number


@dataclass(frozen=True)
class Bars:
    """OHLC prices as (bars, assets) float arrays, with their UTC times and asset names."""

    timestamps: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    assets: tuple[str, ...] = ("asset",)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, asset: str = "asset") -> Bars:
        """One asset's bars: a ``timestamp`` column (or a DatetimeIndex) and open/high/low/close."""
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"bars: a DataFrame, got {type(frame).__name__}")  # noqa: TRY004
        if "timestamp" in frame.columns:
            times = frame["timestamp"]
        elif isinstance(frame.index, pd.DatetimeIndex):
            times = frame.index.to_series()
        else:
            raise ValueError("bars: a 'timestamp' column is needed")
        missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"bars: no {missing[0]!r} column")
        try:
            stamps = pd.DatetimeIndex(times if isinstance(times.dtype, pd.DatetimeTZDtype)
                                      or times.dtype.kind == "M" else pd.to_datetime(times, utc=True))
            stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
        except (ValueError, TypeError):
            raise ValueError("bars: the timestamp column holds values that are not times") from None
        arrays = {}
        for name in PRICE_COLUMNS:
            try:
                arrays[name] = np.asarray(frame[name].to_numpy(dtype="float64", na_value=np.nan)).reshape(-1, 1)
            except (ValueError, TypeError):
                raise ValueError(f"bars: column {name!r} is not numeric") from None
        return cls(stamps, arrays["open"], arrays["high"], arrays["low"], arrays["close"], (asset,)).checked()

    def checked(self) -> Bars:
        """Refuse prices a fill could not be made at: missing, infinite, zero or negative, or a bar
        whose open or close lies outside its low–high range. Each message names the first bar."""
        n = len(self.timestamps)
        if n == 0:
            raise ValueError("bars: no rows")
        if self.timestamps.hasnans:
            raise ValueError("bars: a timestamp is missing")
        if not self.timestamps.is_monotonic_increasing or not self.timestamps.is_unique:
            raise ValueError("bars: timestamps must be increasing, each bar once")
        for name in PRICE_COLUMNS:
            values = getattr(self, name)
            if values.ndim != 2 or values.shape[0] != n or values.shape[1] != len(self.assets):
                raise ValueError(f"bars: {name} has shape {values.shape}, expected ({n}, {len(self.assets)})")
            bad = ~np.isfinite(values) | (values <= 0)
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise ValueError(f"bars: {name} at {self.timestamps[row]} is {values[bad][0]!r} "
                                 "(prices must be positive numbers)")
        # a tolerance of a part in 10⁹ for prices rounded a little differently by the source
        tol = 1e-9 * self.high
        wrong = (self.low > self.high) | (self.open > self.high + tol) | (self.open < self.low - tol) \
            | (self.close > self.high + tol) | (self.close < self.low - tol)
        if wrong.any():
            row = int(np.argwhere(wrong)[0][0])
            raise ValueError(f"bars: the bar at {self.timestamps[row]} has its open or close outside its "
                             "low–high range")
        return self


@dataclass(frozen=True)
class SimulationResult:
    """Equity (bars, accounts), exposure per account, the trades of all accounts, and the bars."""

    bars: Bars
    price_col: np.ndarray
    equity: np.ndarray
    position: np.ndarray | None
    exposure: np.ndarray
    trades: pd.DataFrame
    init_cash: float

    @property
    def accounts(self) -> int:
        return int(self.equity.shape[1])

    def equity_frame(self, account: int = 0) -> pd.DataFrame:
        """One account's curve: timestamp, equity, the traded asset's close and the position."""
        close = self.bars.close[:, self.price_col[account]]
        position = (self.position[:, account] if self.position is not None
                    else np.full(len(close), np.nan))
        return pd.DataFrame({"timestamp": self.bars.timestamps, "equity": self.equity[:, account],
                             "close": close, "position": position})

    def trades_frame(self, account: int = 0) -> pd.DataFrame:
        frame = self.trades[self.trades["column"] == account]
        return frame.drop(columns="column").reset_index(drop=True)


class Simulator:
    """One set of trading rules; ``run`` applies them to bars and signals."""

    def __init__(self, *, fill: Literal["next_open", "close"] = "next_open", fees: float = 0.0,
                 fixed_fee: float = 0.0, slippage_bps: float = 0.0, init_cash: float = 100_000.0,
                 sizing: Literal["all_in", "fraction", "units"] = "all_in", size: float = 1.0,
                 fractional: bool = False, lot: int = 1, stop_loss: float | None = None,
                 take_profit: float | None = None) -> None:
        """``fees`` a fraction of traded value; ``fixed_fee`` per order in the account's currency;
        ``slippage_bps`` against the trader; ``size`` the fraction of equity (``fraction``) or the
        units (``units``); ``lot`` the unit multiple (100 on HOSE), ignored when ``fractional``;
        ``stop_loss``/``take_profit`` fractions of the entry price (0.05 = 5 %)."""
        if fill not in FILLS:
            raise ValueError(f"fill: one of {', '.join(FILLS)}, got {str(fill)[:40]!r}")
        if sizing not in SIZINGS:
            raise ValueError(f"sizing: one of {', '.join(SIZINGS)}, got {str(sizing)[:40]!r}")
        if not isinstance(fractional, bool):
            raise ValueError(f"fractional: true or false, got {str(fractional)[:40]!r}")  # noqa: TRY004
        self.fill = fill
        self.fees = _number("fees", fees, low=0.0, high=0.5)
        self.init_cash = _number("init_cash", init_cash, low=0.0, low_open=True, high=1e15)
        self.fixed_fee = _number("fixed_fee", fixed_fee, low=0.0, high=self.init_cash)
        self.slippage_bps = _number("slippage_bps", slippage_bps, low=0.0, high=5_000.0)
        self.sizing = sizing
        if sizing == "fraction":
            self.size = _number("size", size, low=0.0, high=1.0, low_open=True, high_open=False)
        elif sizing == "units":
            self.size = _number("size", size, low=0.0, high=1e12, low_open=True)
        else:
            self.size = 1.0
        if isinstance(lot, bool) or not isinstance(lot, int | np.integer) or not 1 <= lot <= 1_000_000:
            raise ValueError(f"lot: a whole number from 1 to 1,000,000, got {str(lot)[:40]!r}")
        self.fractional = fractional
        self.lot = int(lot)
        self.stop_loss = None if stop_loss is None else _number("stop_loss", stop_loss, low=0.0, high=1.0,
                                                                 low_open=True)
        self.take_profit = None if take_profit is None else _number("take_profit", take_profit, low=0.0,
                                                                     high=100.0, low_open=True)

    def settings(self) -> dict[str, Any]:
        """The rules as plain values, for the record of a simulation."""
        return {"fill": self.fill, "fees": self.fees, "fixed_fee": self.fixed_fee,
                "slippage_bps": self.slippage_bps, "init_cash": self.init_cash, "sizing": self.sizing,
                "size": self.size, "fractional": self.fractional, "lot": self.lot,
                "stop_loss": self.stop_loss, "take_profit": self.take_profit}

    def run(self, bars: Bars | pd.DataFrame, *, entries: Signal | None = None, exits: Signal | None = None,
            short_entries: Signal | None = None, short_exits: Signal | None = None,
            targets: Signal | None = None, predictions: Signal | None = None,
            long_threshold: float | None = None, short_threshold: float | None = None,
            keep_position: bool = True) -> SimulationResult:
        """Simulate every signal column. With one asset all columns trade it; with as many assets
        as columns, column ``j`` trades asset ``j``. ``keep_position`` off saves (bars × accounts)
        floats on a large grid (the exposure is still reported)."""
        if not isinstance(bars, Bars):
            bars = Bars.from_frame(bars)
        n = len(bars.timestamps)
        given = [x is not None for x in (entries, targets, predictions)]
        if sum(given) != 1:
            raise ValueError("give one of: entries (with exits), targets, or predictions with thresholds")
        if targets is not None:
            entries, exits, short_entries, short_exits = signals_from_targets(_matrix("targets", targets, n,
                                                                                      float))
        elif predictions is not None:
            entries, exits, short_entries, short_exits = signals_from_targets(targets_from_predictions(
                _matrix("predictions", predictions, n, float), long_threshold=long_threshold,
                short_threshold=short_threshold))
        entry = _matrix("entries", entries, n, bool)
        exit_ = _matrix("exits", exits if exits is not None else np.zeros_like(entry), n, bool)
        accounts = max(entry.shape[1], exit_.shape[1])
        shorts = [None if s is None else _matrix(name, s, n, bool)
                  for name, s in (("short_entries", short_entries), ("short_exits", short_exits))]
        if shorts[0] is None and shorts[1] is None:
            short_in = short_out = np.zeros((0, 0), dtype=bool)
        else:
            short_in = shorts[0] if shorts[0] is not None else np.zeros((n, 1), dtype=bool)
            short_out = shorts[1] if shorts[1] is not None else np.zeros((n, 1), dtype=bool)
            accounts = max(accounts, short_in.shape[1], short_out.shape[1])
        if accounts > MAX_ACCOUNTS:
            raise ValueError(f"at most {MAX_ACCOUNTS:,} signal columns, got {accounts:,}")
        entry, exit_ = _widen("entries", entry, accounts), _widen("exits", exit_, accounts)
        if short_in.shape[0]:
            short_in, short_out = _widen("short_entries", short_in, accounts), _widen("short_exits", short_out,
                                                                                        accounts)
        assets = len(bars.assets)
        if assets == 1:
            price_col = np.zeros(accounts, dtype=np.int64)
        elif assets == accounts:
            price_col = np.arange(accounts, dtype=np.int64)
        else:
            raise ValueError(f"{assets} assets and {accounts} signal columns: give one asset, or a column per asset")
        capacity = int(np.count_nonzero(entry)) + (int(np.count_nonzero(short_in)) if short_in.shape[0] else 0)

        def each(value: float, dtype: Any = np.float64) -> np.ndarray:
            return np.full(accounts, value, dtype=dtype)

        mode = {"all_in": kernel.ALL_IN, "fraction": kernel.FRACTION, "units": kernel.UNITS}[self.sizing]
        (equity, position, exposure, count, *fields) = kernel.simulate(
            bars.open, bars.high, bars.low, bars.close, price_col, entry, exit_, short_in, short_out,
            each(self.init_cash), each(self.fees), each(self.fixed_fee), each(self.slippage_bps / 10_000.0),
            each(mode, np.int64), each(self.size), each(0.0 if self.fractional else float(self.lot)),
            each(self.stop_loss or 0.0), each(self.take_profit or 0.0), self.fill == "close", keep_position,
            capacity)
        return SimulationResult(bars, price_col, equity, position if keep_position else None, exposure,
                                _trades(bars, price_col, count, fields), self.init_cash)


def _matrix(name: str, values: Any, n: int, dtype: type) -> np.ndarray:
    if isinstance(values, pd.DataFrame | pd.Series):
        values = values.to_numpy()
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: not an array") from None
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] != n or array.shape[1] == 0:
        raise ValueError(f"{name}: {array.shape[0] if array.ndim else 0} rows for {n} bars "
                         "(signals need one row per bar)")
    if dtype is bool:
        if array.dtype != np.bool_:
            if array.dtype.kind not in "iuf" or not np.isin(array[~pd.isna(array)], (0, 1)).all() \
                    or pd.isna(array).any():
                raise ValueError(f"{name}: true/false values only")
            array = array.astype(bool)
        return _by_column(array)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name}: numbers only")
    return _by_column(array.astype(np.float64, copy=False))


def _by_column(array: np.ndarray) -> np.ndarray:
    """The kernel walks each account down its bars: a column stored in one run of memory reads
    fastest. One column is both layouts at once; a grid built column by column is kept as it is."""
    return array if array.flags.f_contiguous else np.asfortranarray(array)


def _widen(name: str, array: np.ndarray, accounts: int) -> np.ndarray:
    if array.shape[1] == accounts:
        return array
    if array.shape[1] == 1:
        return np.asfortranarray(np.broadcast_to(array, (array.shape[0], accounts)))
    raise ValueError(f"{name}: {array.shape[1]} columns where the other signals have {accounts}")


def targets_from_predictions(predictions: np.ndarray, *, long_threshold: float | None,
                             short_threshold: float | None) -> np.ndarray:
    """+1 where a prediction is above the long threshold, −1 below the short one, 0 between; a
    missing prediction is flat."""
    if long_threshold is None and short_threshold is None:
        raise ValueError("predictions need a long_threshold, a short_threshold, or both")
    up = None if long_threshold is None else _number("long_threshold", long_threshold, low=-math.inf)
    down = None if short_threshold is None else _number("short_threshold", short_threshold, low=-math.inf)
    if up is not None and down is not None and down > up:
        raise ValueError(f"short_threshold {down!r} is above long_threshold {up!r}")
    targets = np.zeros(predictions.shape)
    with np.errstate(invalid="ignore"):
        if up is not None:
            targets[predictions > up] = 1.0
        if down is not None:
            targets[predictions < down] = -1.0
    return targets


def signals_from_targets(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Entries and exits that move the position to each bar's target (+1, 0, −1; NaN is flat):
    a signal on every bar where the target differs from the previous bar's."""
    if np.isinf(targets).any() or not np.isin(targets[~np.isnan(targets)], (-1.0, 0.0, 1.0)).all():
        raise ValueError("targets: +1 (long), 0 (flat) or −1 (short) only")
    target = np.nan_to_num(targets, nan=0.0)
    before = np.vstack([np.zeros((1, target.shape[1])), target[:-1]])
    changed = target != before
    entries = changed & (target == 1.0)
    short_entries = changed & (target == -1.0)
    exits = changed & (before == 1.0) & (target != 1.0)
    short_exits = changed & (before == -1.0) & (target != -1.0)
    return entries, exits, short_entries, short_exits


def _trades(bars: Bars, price_col: np.ndarray, count: int, fields: list[np.ndarray]) -> pd.DataFrame:
    data = {name: array[:count] for name, array in zip(kernel.TRADE_FIELDS, fields, strict=True)}
    stamps = bars.timestamps
    entry_bar, exit_bar = data["entry_bar"], data["exit_bar"]
    size, entry_price = data["size"], data["entry_price"]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = data["pnl"] / (size * entry_price) * 100.0
    frame = pd.DataFrame({
        "column": data["column"],
        "direction": np.where(data["direction"] > 0, "long", "short"),
        "entry_bar": entry_bar, "exit_bar": exit_bar,
        "entry_time": stamps[entry_bar], "exit_time": stamps[exit_bar],
        "entry_price": entry_price, "exit_price": data["exit_price"], "size": size,
        "fees": data["fees"], "pnl": data["pnl"], "return_pct": returns,
        "duration_bars": exit_bar - entry_bar,
        "mae_pct": data["mae"] * 100.0, "mfe_pct": data["mfe"] * 100.0,
        "is_open": data["is_open"].astype(bool),
    })
    return frame  # the kernel writes accounts in order, each account's trades in time order
