"""Integer code tables behind every string column of the generated trades.

String columns are written as dictionary-encoded arrays: the generator only
draws integer codes, and each column's dictionary is fixed here, the same for
every chunk and every run, so files stay comparable and cheap to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from backend.datagen.desk import (
    ACCOUNT_SUFFIXES,
    ALTERNATIVE_VENUES,
    BOOK_SUFFIXES,
    BROKERS,
    COUNTERPARTIES,
    DESKS,
    ORDER_TYPES,
    PORTFOLIO_MANAGERS,
    SOURCE_SYSTEMS,
)
from backend.datagen.market import CURRENCIES
from backend.datagen.reference import CONSTITUENTS, INSTRUMENTS, SYMBOL_INDEX

EXPOSURE_TYPES: tuple[str, ...] = ("Direct", "ETF", "ETC", "Constituent")
CONSTITUENT = EXPOSURE_TYPES.index("Constituent")
SIDES: tuple[str, ...] = ("Buy", "Sell")

# Trade column <- Instrument attribute, for the columns the symbol determines.
SYMBOL_ATTRIBUTES: dict[str, str] = {
    "region": "region",
    "country": "country",
    "currency": "currency",
    "symbol": "symbol",
    "instrument_name": "name",
    "isin": "isin",
    "asset_class": "asset_class",
    "sector": "sector",
    "industry": "industry",
    "exchange": "exchange",
    "market_cap_bucket": "market_cap_bucket",
    "liquidity_bucket": "liquidity_bucket",
    "rating": "rating",
}

FEE_BPS_BY_REGION: dict[str, float] = {"North America": 0.3, "Europe": 1.0, "Asia Pacific": 1.5, "Global": 0.5}
RATE_DURATION_BY_CLASS: dict[str, float] = {"Equity": 4.0, "ETF": 4.0, "ETC": 1.0, "Commodity": 1.0}


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _codes(values: list[str], dictionary: tuple[str, ...]) -> np.ndarray:
    index = {v: k for k, v in enumerate(dictionary)}
    return np.array([index[v] for v in values], dtype=np.int32)


@dataclass(frozen=True)
class Lookups:
    dictionaries: dict[str, tuple[str, ...]]
    symbol_codes: dict[str, np.ndarray]  # trade column -> code per instrument
    exposure_code: np.ndarray  # per instrument
    currency_index: np.ndarray  # per instrument, index into market.CURRENCIES
    fund_parent_code: np.ndarray  # per instrument, code in parent_symbol ('' for non-funds)
    volatility: np.ndarray
    beta: np.ndarray
    settle_lag: np.ndarray
    session_open_s: np.ndarray
    session_len_s: np.ndarray
    tick: np.ndarray
    fee_bps: np.ndarray
    rate_duration: np.ndarray
    n_constituents: np.ndarray  # per instrument
    constituent_start: np.ndarray  # per instrument, offset into the constituent arrays
    constituent_symbol: np.ndarray
    constituent_weight: np.ndarray
    pm_size: np.ndarray
    pm_desk: np.ndarray  # desk index per manager
    desk_cumulative: np.ndarray  # (n_desks, n_instruments) cumulative symbol probabilities
    pm_codes: dict[str, np.ndarray]  # trade column -> code per manager
    strategy_by_pm: np.ndarray  # (n_pm, 2)
    trader_by_pm: np.ndarray  # (n_pm, 3)
    venue_by_symbol: np.ndarray  # (n_instruments, 4): own exchange, then alternatives
    order_type_cumulative: np.ndarray
    source_cumulative: np.ndarray
    broker_bps: np.ndarray


def _tick(price: float) -> float:
    return 0.0005 if price < 10 else 0.01 if price < 1000 else 0.1


@cache
def lookups() -> Lookups:
    dictionaries: dict[str, tuple[str, ...]] = {}
    symbol_codes: dict[str, np.ndarray] = {}
    for column, attr in SYMBOL_ATTRIBUTES.items():
        values = [getattr(i, attr) for i in INSTRUMENTS]
        dictionaries[column] = _unique(values)
        symbol_codes[column] = _codes(values, dictionaries[column])

    funds = [i.symbol for i in INSTRUMENTS if i.asset_class in ("ETF", "ETC")]
    dictionaries["parent_symbol"] = ("", *funds)
    dictionaries["exposure_type"] = EXPOSURE_TYPES
    dictionaries["side"] = SIDES
    exposure = [i.asset_class if i.asset_class in ("ETF", "ETC") else "Direct" for i in INSTRUMENTS]

    desk_index = {d.name: k for k, d in enumerate(DESKS)}
    pm_desk = np.array([desk_index[p.desk] for p in PORTFOLIO_MANAGERS], dtype=np.int32)
    pm_values = {
        "portfolio_manager_id": [p.id for p in PORTFOLIO_MANAGERS],
        "portfolio_manager_name": [p.name for p in PORTFOLIO_MANAGERS],
        "desk": [p.desk for p in PORTFOLIO_MANAGERS],
        "legal_entity": [DESKS[desk_index[p.desk]].legal_entity for p in PORTFOLIO_MANAGERS],
    }
    pm_codes = {}
    for column, values in pm_values.items():
        dictionaries[column] = _unique(values)
        pm_codes[column] = _codes(values, dictionaries[column])
    desk_codes = {d.name: d.code for d in DESKS}
    dictionaries["book"] = tuple(
        f"{desk_codes[p.desk]}-{p.id}-{s}" for p in PORTFOLIO_MANAGERS for s in BOOK_SUFFIXES
    )
    dictionaries["account"] = tuple(f"{p.id}-{s}" for p in PORTFOLIO_MANAGERS for s in ACCOUNT_SUFFIXES)
    dictionaries["strategy"] = _unique([s for d in DESKS for s in d.strategies])
    dictionaries["trader"] = _unique([t for d in DESKS for t in d.traders])
    strategy_by_pm = np.array(
        [_codes(list(DESKS[d].strategies), dictionaries["strategy"]) for d in pm_desk], dtype=np.int32
    )
    trader_by_pm = np.array(
        [_codes(list(DESKS[d].traders), dictionaries["trader"]) for d in pm_desk], dtype=np.int32
    )

    weights = np.zeros((len(DESKS), len(INSTRUMENTS)))
    for k, desk in enumerate(DESKS):
        for symbol, w in desk.universe:
            weights[k, SYMBOL_INDEX[symbol]] = w
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]

    venues = _unique([i.exchange for i in INSTRUMENTS] + [v for alts in ALTERNATIVE_VENUES.values() for v in alts])
    dictionaries["venue"] = venues
    venue_by_symbol = np.array(
        [_codes([i.exchange, *ALTERNATIVE_VENUES[i.region]], venues) for i in INSTRUMENTS], dtype=np.int32
    )
    dictionaries["order_type"] = tuple(name for name, _ in ORDER_TYPES)
    dictionaries["source_system"] = tuple(name for name, _ in SOURCE_SYSTEMS)
    dictionaries["counterparty"] = COUNTERPARTIES
    dictionaries["broker"] = tuple(name for name, _ in BROKERS)

    by_parent: dict[str, list[tuple[str, float]]] = {}
    for parent, child, weight in CONSTITUENTS:
        by_parent.setdefault(parent, []).append((child, weight))
    n_const = np.array([len(by_parent.get(i.symbol, [])) for i in INSTRUMENTS], dtype=np.int64)
    flat = [pair for i in INSTRUMENTS for pair in by_parent.get(i.symbol, [])]

    def arr(attr: str) -> np.ndarray:
        return np.array([getattr(i, attr) for i in INSTRUMENTS], dtype=np.float64)

    return Lookups(
        dictionaries=dictionaries,
        symbol_codes=symbol_codes,
        exposure_code=_codes(exposure, EXPOSURE_TYPES),
        currency_index=_codes([i.currency for i in INSTRUMENTS], CURRENCIES),
        fund_parent_code=_codes(
            [i.symbol if i.symbol in funds else "" for i in INSTRUMENTS], dictionaries["parent_symbol"]
        ),
        volatility=arr("volatility"),
        beta=arr("beta"),
        settle_lag=np.array([i.settle_lag for i in INSTRUMENTS], dtype=np.int64),
        session_open_s=np.array([i.session_utc[0] * 60 for i in INSTRUMENTS], dtype=np.int64),
        session_len_s=np.array([(i.session_utc[1] - i.session_utc[0]) * 60 for i in INSTRUMENTS], dtype=np.int64),
        tick=np.array([_tick(i.base_price) for i in INSTRUMENTS]),
        fee_bps=np.array([FEE_BPS_BY_REGION[i.region] for i in INSTRUMENTS]),
        rate_duration=np.array([RATE_DURATION_BY_CLASS[i.asset_class] for i in INSTRUMENTS]),
        n_constituents=n_const,
        constituent_start=np.concatenate([[0], np.cumsum(n_const)[:-1]]),
        constituent_symbol=np.array([SYMBOL_INDEX[c] for c, _ in flat], dtype=np.int64),
        constituent_weight=np.array([w for _, w in flat], dtype=np.float64),
        pm_size=np.array([p.size for p in PORTFOLIO_MANAGERS]),
        pm_desk=pm_desk,
        desk_cumulative=cumulative,
        pm_codes=pm_codes,
        strategy_by_pm=strategy_by_pm,
        trader_by_pm=trader_by_pm,
        venue_by_symbol=venue_by_symbol,
        order_type_cumulative=np.cumsum([w for _, w in ORDER_TYPES]),
        source_cumulative=np.cumsum([w for _, w in SOURCE_SYSTEMS]),
        broker_bps=np.array([bps for _, bps in BROKERS]),
    )
