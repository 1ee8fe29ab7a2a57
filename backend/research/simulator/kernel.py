"""The simulator's hot loop: bars × accounts, NumPy arrays in and out, compiled by numba.

Each account (a column) trades one price column with its own cash. The rules, in the order
they are applied on every bar ``i`` of an account:

1. An order decided at the previous bar's close fills at this bar's **open** (``fill_close``
   off). Buys fill at ``price × (1 + slippage)``, sells at ``price × (1 − slippage)``, but never
   outside the bar's low–high range.
2. An open position is checked against its stop-loss and take-profit levels (set from the entry
   fill price) with the bar's high and low. An open beyond a level (a gap) fills there at the
   open; when both levels are touched inside one bar the worse one (the stop) is taken, since
   the order in which the bar reached them is unknown.
3. The bar's signals are read. Flat: an entry (and no exit on the same bar) opens long, a short
   entry (and no short exit) opens short, both at once do nothing. Long: a short entry closes
   and reverses, otherwise an exit closes (an exit beside an entry wins). Short: mirrored.
   With ``fill_close`` the order fills at this bar's close, otherwise at the next bar's open;
   signals on the last bar have no next bar and are dropped.
4. Equity at the close is cash plus the position marked at the close.

Sizing when a position opens (always from flat, so cash is the account's equity):
``all_in`` ``units = (cash − fixed fee) / (fill × (1 + fees))``; ``fraction`` the same with
``fraction × cash``; ``units`` a fixed count, cut to what all-in allows. Units are rounded
down to a multiple of ``lot`` (``lot`` 0 keeps fractions); an order of no units is skipped.
Fees are ``traded value × fees + fixed fee`` on every fill.

A trade's excursions (MAE, MFE) are measured over the prices at which it was held: its entry
fill, the low and high of every bar it was held through to the close, and its exit fill.
A position still open after the last bar is reported as an open trade marked at the last close.
"""

from __future__ import annotations

import numpy as np

from backend.research.simulator.cache import numba

ALL_IN, FRACTION, UNITS = 0, 1, 2
NONE, OPEN_LONG, OPEN_SHORT, CLOSE, REVERSE_LONG, REVERSE_SHORT = 0, 1, 2, 3, 4, 5
TRADE_FIELDS = ("column", "direction", "entry_bar", "exit_bar", "entry_price", "exit_price", "size", "fees",
                "pnl", "mae", "mfe", "is_open")


@numba.njit(cache=True, nogil=True)
def _fill(price: float, buy: bool, slippage: float, low: float, high: float) -> float:
    if buy:
        return min(price * (1.0 + slippage), high)
    return max(price * (1.0 - slippage), low)


@numba.njit(cache=True, nogil=True)
def _units(cash: float, fill: float, fees: float, fixed_fee: float, size_mode: int, size_value: float,
           lot: float) -> float:
    most = (cash - fixed_fee) / (fill * (1.0 + fees))
    if size_mode == FRACTION:
        units = (size_value * cash - fixed_fee) / (fill * (1.0 + fees))
    elif size_mode == UNITS:
        units = min(size_value, most)
    else:
        units = most
    if lot > 0.0:
        units = np.floor(units / lot + 1e-9) * lot
    return max(0.0, units)


@numba.njit(cache=True, nogil=True)
def _decide(position: float, entry: bool, exit_: bool, short_entry: bool, short_exit: bool) -> int:
    if position > 0.0:
        if short_entry:
            return REVERSE_SHORT
        if exit_:
            return CLOSE
    elif position < 0.0:
        if entry:
            return REVERSE_LONG
        if short_exit:
            return CLOSE
    else:
        go_long = entry and not exit_
        go_short = short_entry and not short_exit
        if go_long and not go_short:
            return OPEN_LONG
        if go_short and not go_long:
            return OPEN_SHORT
    return NONE


@numba.njit(cache=True, nogil=True)
def simulate(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, price_col: np.ndarray,
             entries: np.ndarray, exits: np.ndarray, short_entries: np.ndarray, short_exits: np.ndarray,
             init_cash: np.ndarray, fees: np.ndarray, fixed_fee: np.ndarray, slippage: np.ndarray,
             size_mode: np.ndarray, size_value: np.ndarray, lot: np.ndarray, stop_loss: np.ndarray,
             take_profit: np.ndarray, fill_close: bool, keep_position: bool, trade_capacity: int):
    """Prices are (bars, assets); signals (bars, accounts), or (0, 0) for short signals never given;
    every other array has one value per account. ``stop_loss``/``take_profit`` are fractions of
    the entry price, 0 for none. Returns equity (bars, accounts), position (bars, accounts, or
    (0, 0) when not kept), the share of bars with a position at the close per account, and the
    trades as one array per field of ``TRADE_FIELDS`` with the count of trades."""
    n = close.shape[0]
    m = price_col.shape[0]
    has_short = short_entries.shape[0] == n
    # Column-major outputs: each account is walked down its bars, so its column is one run of memory
    # (row-major, every step jumps a whole row: about 5× slower on 1 M bars × 100 accounts).
    equity = np.empty((m, n)).T
    position_out = np.empty((m, n)).T if keep_position else np.empty((0, 0)).T
    held_bars = np.zeros(m, dtype=np.int64)
    cap = max(trade_capacity, 1)
    t_col = np.empty(cap, dtype=np.int64)
    t_dir = np.empty(cap, dtype=np.int8)
    t_entry_bar = np.empty(cap, dtype=np.int64)
    t_exit_bar = np.empty(cap, dtype=np.int64)
    t_entry = np.empty(cap)
    t_exit = np.empty(cap)
    t_size = np.empty(cap)
    t_fees = np.empty(cap)
    t_pnl = np.empty(cap)
    t_mae = np.empty(cap)
    t_mfe = np.empty(cap)
    t_open = np.zeros(cap, dtype=np.bool_)
    count = 0

    for j in range(m):
        c = price_col[j]
        fee_rate = fees[j]
        fixed = fixed_fee[j]
        slip = slippage[j]
        sl = stop_loss[j]
        tp = take_profit[j]
        cash = init_cash[j]
        pos = 0.0
        pending = NONE
        entry_price = 0.0
        entry_fee = 0.0
        entry_bar = -1
        lowest = 0.0
        highest = 0.0
        for i in range(n):
            o = open_[i, c]
            h = high[i, c]
            lo = low[i, c]
            cl = close[i, c]
            # 1-3: an order at the open, the stops, then this bar's signals (filled at the close,
            # or left for the next open). Each step may close (and then open) a position.
            for step in range(3):
                action = NONE
                base = 0.0
                if step == 0:
                    if pending != NONE:
                        action = pending
                        base = o
                        pending = NONE
                elif step == 1:
                    if pos != 0.0 and (sl > 0.0 or tp > 0.0) and (i > entry_bar or not fill_close):
                        gap_open = i > entry_bar  # on its entry bar the open is where the trade began
                        if pos > 0.0:
                            stop_px = entry_price * (1.0 - sl)
                            take_px = entry_price * (1.0 + tp)
                            if gap_open and (sl > 0.0 and o <= stop_px or tp > 0.0 and o >= take_px):
                                action, base = CLOSE, o
                            elif sl > 0.0 and lo <= stop_px:
                                action, base = CLOSE, stop_px
                            elif tp > 0.0 and h >= take_px:
                                action, base = CLOSE, take_px
                        else:
                            stop_px = entry_price * (1.0 + sl)
                            take_px = entry_price * (1.0 - tp)
                            if gap_open and (sl > 0.0 and o >= stop_px or tp > 0.0 and o <= take_px):
                                action, base = CLOSE, o
                            elif sl > 0.0 and h >= stop_px:
                                action, base = CLOSE, stop_px
                            elif tp > 0.0 and lo <= take_px:
                                action, base = CLOSE, take_px
                else:
                    # excursions of a position held through to this close
                    if pos != 0.0:
                        lowest = min(lowest, lo)
                        highest = max(highest, h)
                    short_in = has_short and short_entries[i, j]
                    short_out = has_short and short_exits[i, j]
                    decided = _decide(pos, entries[i, j], exits[i, j], short_in, short_out)
                    if decided != NONE:
                        if fill_close:
                            action, base = decided, cl
                        elif i + 1 < n:
                            pending = decided
                if action == NONE:
                    continue
                if pos != 0.0 and action != OPEN_LONG and action != OPEN_SHORT:
                    long_pos = pos > 0.0
                    price = _fill(base, not long_pos, slip, lo, h)
                    units = abs(pos)
                    fee = units * price * fee_rate + fixed
                    if long_pos:
                        cash += units * price - fee
                        pnl = units * (price - entry_price) - entry_fee - fee
                    else:
                        cash -= units * price + fee
                        pnl = units * (entry_price - price) - entry_fee - fee
                    lowest = min(lowest, price)
                    highest = max(highest, price)
                    t_col[count] = j
                    t_dir[count] = 1 if long_pos else -1
                    t_entry_bar[count] = entry_bar
                    t_exit_bar[count] = i
                    t_entry[count] = entry_price
                    t_exit[count] = price
                    t_size[count] = units
                    t_fees[count] = entry_fee + fee
                    t_pnl[count] = pnl
                    if long_pos:
                        t_mae[count] = lowest / entry_price - 1.0
                        t_mfe[count] = highest / entry_price - 1.0
                    else:
                        t_mae[count] = 1.0 - highest / entry_price
                        t_mfe[count] = 1.0 - lowest / entry_price
                    count += 1
                    pos = 0.0
                if action == OPEN_LONG or action == REVERSE_LONG or action == OPEN_SHORT or action == REVERSE_SHORT:
                    buy = action == OPEN_LONG or action == REVERSE_LONG
                    price = _fill(base, buy, slip, lo, h)
                    units = _units(cash, price, fee_rate, fixed, size_mode[j], size_value[j], lot[j])
                    if units > 0.0 and count < cap:
                        fee = units * price * fee_rate + fixed
                        if buy:
                            cash -= units * price + fee
                            pos = units
                        else:
                            cash += units * price - fee
                            pos = -units
                        entry_price = price
                        entry_fee = fee
                        entry_bar = i
                        lowest = price
                        highest = price
            if pos != 0.0:
                held_bars[j] += 1
            equity[i, j] = cash + pos * cl
            if keep_position:
                position_out[i, j] = pos
        if pos != 0.0 and count < cap:
            # still open after the last bar: marked at the last close, with no exit fee
            cl = close[n - 1, c]
            t_col[count] = j
            t_dir[count] = 1 if pos > 0.0 else -1
            t_entry_bar[count] = entry_bar
            t_exit_bar[count] = n - 1
            t_entry[count] = entry_price
            t_exit[count] = cl
            t_size[count] = abs(pos)
            t_fees[count] = entry_fee
            t_pnl[count] = pos * (cl - entry_price) - entry_fee
            lowest = min(lowest, cl)
            highest = max(highest, cl)
            if pos > 0.0:
                t_mae[count] = lowest / entry_price - 1.0
                t_mfe[count] = highest / entry_price - 1.0
            else:
                t_mae[count] = 1.0 - highest / entry_price
                t_mfe[count] = 1.0 - lowest / entry_price
            t_open[count] = True
            count += 1
    exposure = held_bars.astype(np.float64) / max(n, 1)
    return (equity, position_out, exposure, count, t_col, t_dir, t_entry_bar, t_exit_bar, t_entry, t_exit,
            t_size, t_fees, t_pnl, t_mae, t_mfe, t_open)
