"""NumPy kernel: one block of trades (positions, then their constituent look-through rows).

Everything is drawn column-wise from one generator seeded by (seed, chunk, block),
so a block is reproducible on its own and chunks can be built in any order or
in parallel. String columns are integer codes into ``lookups().dictionaries``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.datagen.limits import MAX_CHUNK_ROWS
from backend.datagen.lookups import CONSTITUENT, Lookups, lookups
from backend.datagen.market import TRADING_DAYS, MarketPath

# Position ids live in their own range so they never look like trade ids.
POSITION_ID_BASE = 1_000_000_000_000

SHORT_PROBABILITY = 0.35
HEDGE_PROBABILITY = 0.12
MEDIAN_TICKET_USD = 400_000.0

# Money columns of a constituent row that are exactly parent value x weight.
WEIGHTED_COLUMNS: tuple[str, ...] = (
    "notional", "market_value", "cost_basis", "realized_pnl", "unrealized_pnl",
    "fees", "commission", "pnl", "delta", "gamma", "vega", "var_95", "dv01",
)  # fmt: skip

# Columns a constituent row copies from its fund row.
INHERITED_COLUMNS: tuple[str, ...] = (
    "trade_date", "trade_time", "settlement_date", "is_hedge",
    "portfolio_manager_id", "portfolio_manager_name", "desk", "book", "strategy", "trader",
    "account", "legal_entity", "order_type", "counterparty", "broker", "venue", "source_system",
)  # fmt: skip


@dataclass
class Block:
    columns: dict[str, np.ndarray]  # numeric values, or int32 codes for string columns
    positions: int
    constituents: int
    by_exposure: dict[int, int]  # exposure_type code -> rows


def _weighted(rng: np.random.Generator, cumulative: np.ndarray, n: int) -> np.ndarray:
    u = rng.random(n) * cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, u, side="right"), len(cumulative) - 1).astype(np.int32)


def _symbols(rng: np.random.Generator, lk: Lookups, pm: np.ndarray) -> np.ndarray:
    desk = lk.pm_desk[pm]
    u = rng.random(len(pm))
    sym = np.empty(len(pm), dtype=np.int64)
    for d in range(lk.desk_cumulative.shape[0]):
        mask = desk == d
        cum = lk.desk_cumulative[d]
        sym[mask] = np.minimum(np.searchsorted(cum, u[mask], side="right"), len(cum) - 1)
    return sym


def _positions(rng: np.random.Generator, lk: Lookups, path: MarketPath, pm: np.ndarray, sym: np.ndarray) -> dict:
    n = len(pm)
    d = rng.integers(0, len(path.dates), n)
    hedge = rng.random(n) < HEDGE_PROBABILITY
    short = rng.random(n) < np.where(hedge, 0.85, SHORT_PROBABILITY)
    sign = np.where(short, -1.0, 1.0)
    vol = lk.volatility[sym]
    daily = vol / np.sqrt(TRADING_DAYS)
    close = path.close[d, sym]
    tick = lk.tick[sym]
    price = np.maximum(np.round(close * np.exp(rng.standard_normal(n) * daily * 0.3) / tick) * tick, tick)
    fx = path.fx[d, lk.currency_index[sym]]
    ticket = lk.pm_size[pm] * MEDIAN_TICKET_USD * np.exp(rng.standard_normal(n) * 0.9)
    quantity = sign * np.maximum(1.0, np.round(ticket / (price * fx)))
    notional_local = quantity * price
    notional = notional_local * fx
    market_value = quantity * close * fx
    holding_days = rng.geometric(1 / 15, n)
    entry = price * np.exp(rng.standard_normal(n) * daily * np.sqrt(holding_days))
    cost_basis = quantity * entry * fx
    unrealized = market_value - cost_basis
    gross = np.abs(notional)
    realized = np.where(rng.random(n) < 0.3, gross * rng.standard_normal(n) * vol * 0.1, 0.0)
    fees = gross * lk.fee_bps[sym] * 1e-4
    broker = rng.integers(0, len(lk.broker_bps), n).astype(np.int32)
    commission = gross * lk.broker_bps[broker] * 1e-4
    # Hedges are option overlays: partial delta, with gamma and vega; other rows are cash lines.
    delta_ratio = np.where(hedge, rng.uniform(0.3, 0.7, n), 1.0)
    gamma = np.where(hedge, np.abs(market_value) * rng.uniform(0.001, 0.01, n), 0.0)
    vega = np.where(hedge, sign * np.abs(market_value) * vol * rng.uniform(0.01, 0.05, n), 0.0)
    trade_time = (
        path.dates[d].astype(np.int64) * 86_400
        + lk.session_open_s[sym]
        + (rng.random(n) * lk.session_len_s[sym]).astype(np.int64)
    )
    venue_pick = np.where(rng.random(n) < 0.6, 0, rng.integers(1, 4, n))
    cols = {
        "trade_date": path.dates[d].astype(np.int32),
        "trade_time": trade_time,
        "settlement_date": path.settle[d, lk.settle_lag[sym]].astype(np.int32),
        "book": (pm * 2 + rng.integers(0, 2, n)).astype(np.int32),
        "strategy": lk.strategy_by_pm[pm, rng.integers(0, 2, n)],
        "trader": lk.trader_by_pm[pm, rng.integers(0, 3, n)],
        "account": (pm * 2 + (rng.random(n) < 0.3)).astype(np.int32),
        "order_type": _weighted(rng, lk.order_type_cumulative, n),
        "counterparty": rng.integers(0, len(lk.dictionaries["counterparty"]), n).astype(np.int32),
        "broker": broker,
        "venue": lk.venue_by_symbol[sym, venue_pick],
        "source_system": _weighted(rng, lk.source_cumulative, n),
        "is_hedge": hedge.astype(np.uint8),
        "quantity": quantity,
        "price": price,
        "fx_rate": fx,
        "notional_local": notional_local,
        "notional": notional,
        "market_value": market_value,
        "cost_basis": cost_basis,
        "realized_pnl": realized,
        "unrealized_pnl": unrealized,
        "fees": fees,
        "commission": commission,
        "pnl": realized + unrealized - fees - commission,
        "delta": market_value * delta_ratio,
        "gamma": gamma,
        "vega": vega,
        "var_95": 1.645 * np.abs(market_value) * daily,
        "dv01": -market_value * lk.rate_duration[sym] * 1e-4,
    }
    for column, codes in lk.pm_codes.items():
        cols[column] = codes[pm]
    _instrument_columns(cols, lk, sym)
    cols["exposure_type"] = lk.exposure_code[sym]
    cols["parent_symbol"] = np.zeros(n, dtype=np.int32)
    cols["constituent_weight"] = np.ones(n)
    cols["_date_index"] = d
    return cols


def _instrument_columns(cols: dict, lk: Lookups, sym: np.ndarray) -> None:
    for column, codes in lk.symbol_codes.items():
        cols[column] = codes[sym]
    cols["beta"] = lk.beta[sym]
    cols["volatility"] = lk.volatility[sym]


def _explode(pos: dict, lk: Lookups, path: MarketPath, sym: np.ndarray) -> dict:
    """Constituent rows of every fund row: parent money x weight, constituent attributes."""
    fund_rows = np.flatnonzero(lk.n_constituents[sym] > 0)
    fanout = lk.n_constituents[sym[fund_rows]]
    parent = np.repeat(fund_rows, fanout)
    first = np.cumsum(fanout) - fanout
    slot = np.arange(len(parent)) - np.repeat(first, fanout)
    flat = np.repeat(lk.constituent_start[sym[fund_rows]], fanout) + slot
    csym = lk.constituent_symbol[flat]
    weight = lk.constituent_weight[flat]

    cols: dict[str, np.ndarray] = {name: pos[name][parent] for name in INHERITED_COLUMNS}
    for name in WEIGHTED_COLUMNS:
        cols[name] = pos[name][parent] * weight
    d = pos["_date_index"][parent]
    price = path.close[d, csym]
    fx = path.fx[d, lk.currency_index[csym]]
    cols["price"] = price
    cols["fx_rate"] = fx
    cols["notional_local"] = cols["notional"] / fx
    cols["quantity"] = cols["notional"] / (price * fx)
    _instrument_columns(cols, lk, csym)
    cols["exposure_type"] = np.full(len(parent), CONSTITUENT, dtype=np.int32)
    cols["parent_symbol"] = lk.fund_parent_code[sym[parent]]
    cols["constituent_weight"] = weight
    cols["_parent"] = parent
    return cols


def build_block(
    key: tuple[int, ...], *, target_rows: int, first_id: int, path: MarketPath, explode: bool
) -> Block:
    """About ``target_rows`` rows (never fewer; a fund's look-through rows are never split).

    ``key`` seeds the generator; trade ids run from ``first_id`` and each row's
    position id is ``POSITION_ID_BASE`` + its trade id.
    """
    if not 0 < target_rows <= MAX_CHUNK_ROWS:
        raise ValueError(f"block rows must be in 1..{MAX_CHUNK_ROWS}, got {target_rows}")
    lk = lookups()
    rng = np.random.default_rng(list(key))
    pm = _weighted(rng, np.cumsum(lk.pm_size), target_rows)
    sym = _symbols(rng, lk, pm)
    if explode:
        # Each fund row brings its constituent rows; stop once the block reaches its target.
        rows_so_far = np.cumsum(1 + lk.n_constituents[sym])
        keep = int(np.searchsorted(rows_so_far, target_rows, side="left")) + 1
        pm, sym = pm[:keep], sym[:keep]
    pos = _positions(rng, lk, path, pm, sym)
    n = len(pm)
    pos["parent_position_id"] = np.zeros(n, dtype=np.uint64)
    parts = [pos]
    if explode:
        cons = _explode(pos, lk, path, sym)
        cons["parent_position_id"] = np.uint64(POSITION_ID_BASE + first_id) + cons["_parent"].astype(np.uint64)
        parts.append(cons)
    names = [c for c in pos if not c.startswith("_")]
    columns = {c: np.concatenate([p[c] for p in parts]) if len(parts) > 1 else pos[c] for c in names}
    total = len(columns["parent_position_id"])
    columns["trade_id"] = np.arange(first_id, first_id + total, dtype=np.uint64)
    columns["position_id"] = columns["trade_id"] + np.uint64(POSITION_ID_BASE)
    columns["side"] = np.where(columns["quantity"] > 0, 0, 1).astype(np.int32)
    counts = np.bincount(columns["exposure_type"], minlength=4)
    return Block(
        columns=columns,
        positions=n,
        constituents=total - n,
        by_exposure={k: int(v) for k, v in enumerate(counts)},
    )
