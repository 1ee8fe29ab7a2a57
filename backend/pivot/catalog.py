"""What a pivot can group by and what it can measure.

``DIMENSIONS`` and ``METRICS`` are the whitelists: a request may name nothing
else, and SQL identifiers are taken only from here. Every metric is rebuilt from
a small set of additive *base sums* (the same sums the rollup table keeps), so a
subtotal, a total or an "Other" bucket is always computed from sums at its own
level and ratio metrics (average price, P&L % of gross) stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

import numpy as np

from backend.warehouse.schema import ROLLUP_DIMENSIONS, ROLLUP_SUMS, TRADES_COLUMN_NAMES

Format = Literal["money", "qty", "count", "pct", "price"]


@dataclass(frozen=True)
class DimensionSpec:
    name: str
    label: str
    in_rollup: bool


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    format: Format
    additive: bool
    sums: tuple[str, ...]  # base sums the metric is computed from
    compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]


_DIMENSION_LABELS: Final[dict[str, str]] = {
    "trade_date": "Trade date",
    "portfolio_manager_id": "Portfolio manager",
    "portfolio_manager_name": "PM name",
    "desk": "Desk",
    "book": "Book",
    "strategy": "Strategy",
    "trader": "Trader",
    "account": "Account",
    "legal_entity": "Legal entity",
    "region": "Region",
    "country": "Country",
    "currency": "Currency",
    "asset_class": "Asset class",
    "sector": "Sector",
    "industry": "Industry",
    "symbol": "Symbol",
    "instrument_name": "Instrument",
    "exchange": "Exchange",
    "market_cap_bucket": "Market cap",
    "liquidity_bucket": "Liquidity",
    "rating": "Rating",
    "exposure_type": "Exposure type",
    "parent_symbol": "Parent fund",
    "side": "Side",
    "order_type": "Order type",
    "counterparty": "Counterparty",
    "broker": "Broker",
    "venue": "Venue",
    "source_system": "Source system",
}
assert set(_DIMENSION_LABELS) <= set(TRADES_COLUMN_NAMES)

DIMENSIONS: Final[Mapping[str, DimensionSpec]] = MappingProxyType(
    {
        name: DimensionSpec(name=name, label=label, in_rollup=name in ROLLUP_DIMENSIONS)
        for name, label in _DIMENSION_LABELS.items()
    }
)

# Additive sums every metric is rebuilt from; the names are the rollup table's columns.
BASE_SUMS: Final[tuple[str, ...]] = tuple(ROLLUP_SUMS)


def _ratio(num: np.ndarray, den: np.ndarray, scale: float = 1.0) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num * scale / den
    return np.where(den == 0, np.nan, out)


def _sum(name: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    return lambda s: s[name]


def _additive(name: str, label: str, fmt: Format, base: str) -> MetricSpec:
    return MetricSpec(name, label, fmt, True, (base,), _sum(base))


_METRIC_LIST: Final[tuple[MetricSpec, ...]] = (
    _additive("notional", "Notional", "money", "sum_notional"),
    _additive("pnl", "P&L", "money", "sum_pnl"),
    _additive("quantity", "Quantity", "qty", "sum_quantity"),
    _additive("market_value", "Market value", "money", "sum_market_value"),
    _additive("realized_pnl", "Realized P&L", "money", "sum_realized_pnl"),
    _additive("unrealized_pnl", "Unrealized P&L", "money", "sum_unrealized_pnl"),
    _additive("fees", "Fees & commission", "money", "sum_fees"),
    _additive("gross_exposure", "Gross exposure", "money", "sum_gross_notional"),
    _additive("net_exposure", "Net exposure", "money", "sum_notional"),
    _additive("long_exposure", "Long exposure", "money", "sum_long_notional"),
    _additive("short_exposure", "Short exposure", "money", "sum_short_notional"),
    _additive("trade_count", "Trades", "count", "sum_trade_count"),
    MetricSpec(
        "avg_price",
        "Avg price",
        "price",
        False,
        ("sum_price_x_abs_quantity", "sum_abs_quantity"),
        lambda s: _ratio(s["sum_price_x_abs_quantity"], s["sum_abs_quantity"]),
    ),
    MetricSpec(
        "pnl_pct_gross",
        "P&L % of gross",
        "pct",
        False,
        ("sum_pnl", "sum_gross_notional"),
        lambda s: _ratio(s["sum_pnl"], s["sum_gross_notional"], 100.0),
    ),
    _additive("delta", "Delta", "qty", "sum_delta"),
)

METRICS: Final[Mapping[str, MetricSpec]] = MappingProxyType({m.name: m for m in _METRIC_LIST})
assert all(set(m.sums) <= set(BASE_SUMS) for m in _METRIC_LIST)

MAX_DIMENSIONS: Final = 6
MAX_COLUMN_DIMENSIONS: Final = 2
MAX_FILTER_VALUES: Final = 10_000
MAX_VALUE_CHARS: Final = 200
MAX_LIMIT: Final = 10_000
DEFAULT_LIMIT: Final = 1000
MAX_COLUMN_COMBINATIONS: Final = 200

FUND_TYPES: Final[tuple[str, ...]] = ("ETF", "ETC")
RESIDUAL: Final = "Residual"
# Exposure types visible in each view; the two views never share a fund's money.
VIEW_TYPES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "as_held": ("Direct", *FUND_TYPES),
        "look_through": ("Direct", "Constituent", RESIDUAL),
    }
)


def base_sums_for(metrics: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The base sums needed by ``metrics``, in catalogue order."""
    needed = {s for m in metrics for s in METRICS[m].sums}
    return tuple(s for s in BASE_SUMS if s in needed)
