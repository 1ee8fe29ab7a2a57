"""What a pivot can group by and what it can measure.

``DIMENSIONS`` and ``METRICS`` are the whitelists: a request may name nothing
else, and SQL identifiers are taken only from here. Every metric is rebuilt from
a small set of additive *base sums* (the same sums the rollup tables keep), so a
subtotal, a total or an "Other" bucket is always computed from sums at its own
level and ratio metrics (average price, P&L % of gross) stay exact.

Measures and time. Each metric is a **flow** or a **stock**:

* a flow adds up over a date range: traded notional, quantity, the day's P&L,
  realised P&L, fees, trade counts and the traded average price;
* a stock is a level at the close of a day: gross/net/long/short exposure, market
  value, unrealised P&L and delta. Over a range a stock takes its value as of the
  range's last trade date that has data under the request's filters (one date for
  the whole answer), or, when asked (``"stocks": "average"``), the average of its
  daily values over the dates that have data (a group absent on a date counts 0).

A metric names the base sums it reads: ``sum_x`` is read over the whole range,
``st_sum_x`` (``stock_read``) as a stock. ``pnl_pct_gross`` mixes both: the
range's P&L divided by the gross exposure as of the range's last date (or by the
average gross exposure), in percent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

import numpy as np

from backend.warehouse.schema import ROLLUP_DIMENSIONS, ROLLUP_SUMS, TRADES_COLUMN_NAMES

Format = Literal["money", "qty", "count", "pct", "price"]
Kind = Literal["flow", "stock"]
StockMode = Literal["last", "average"]
STOCK_MODES: Final[tuple[str, ...]] = ("last", "average")
# A base sum read as a stock (as of the last date, or averaged over the dates).
STOCK_PREFIX: Final = "st_"


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
    kind: Kind
    additive: bool  # adds up across groups (at one date, for a stock)
    sums: tuple[str, ...]  # base sums read: ``sum_x`` over the range, ``st_sum_x`` as a stock
    compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]

    @property
    def reads_stock(self) -> bool:
        """Whether any of the metric's sums is read as a stock (so it depends on the as-of rule)."""
        return any(is_stock_read(s) for s in self.sums)


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


def stock_read(base: str) -> str:
    """The name under which base sum ``base`` is read as a stock."""
    return STOCK_PREFIX + base


def is_stock_read(read: str) -> bool:
    return read.startswith(STOCK_PREFIX)


def base_of(read: str) -> str:
    """The rollup column a read comes from (``st_sum_x`` -> ``sum_x``)."""
    return read.removeprefix(STOCK_PREFIX)


def _sum(name: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    return lambda s: s[name]


def _flow(name: str, label: str, fmt: Format, base: str) -> MetricSpec:
    return MetricSpec(name, label, fmt, "flow", True, (base,), _sum(base))


def _stock(name: str, label: str, fmt: Format, base: str) -> MetricSpec:
    read = stock_read(base)
    return MetricSpec(name, label, fmt, "stock", True, (read,), _sum(read))


_GROSS_STOCK: Final = stock_read("sum_gross_notional")

_METRIC_LIST: Final[tuple[MetricSpec, ...]] = (
    _flow("notional", "Notional", "money", "sum_notional"),
    _flow("pnl", "P&L", "money", "sum_pnl"),
    _flow("quantity", "Quantity", "qty", "sum_quantity"),
    _stock("market_value", "Market value", "money", "sum_market_value"),
    _flow("realized_pnl", "Realized P&L", "money", "sum_realized_pnl"),
    _stock("unrealized_pnl", "Unrealized P&L", "money", "sum_unrealized_pnl"),
    _flow("fees", "Fees & commission", "money", "sum_fees"),
    _stock("gross_exposure", "Gross exposure", "money", "sum_gross_notional"),
    _stock("net_exposure", "Net exposure", "money", "sum_notional"),
    _stock("long_exposure", "Long exposure", "money", "sum_long_notional"),
    _stock("short_exposure", "Short exposure", "money", "sum_short_notional"),
    _flow("trade_count", "Trades", "count", "sum_trade_count"),
    MetricSpec(
        "avg_price",
        "Avg price",
        "price",
        "flow",  # a traded average: quantity-weighted over every trade of the range
        False,
        ("sum_price_x_abs_quantity", "sum_abs_quantity"),
        lambda s: _ratio(s["sum_price_x_abs_quantity"], s["sum_abs_quantity"]),
    ),
    MetricSpec(
        "pnl_pct_gross",
        "P&L % of gross",
        "pct",
        "flow",  # the range's P&L (a flow) over the gross exposure as of the range's last date
        False,
        ("sum_pnl", _GROSS_STOCK),
        lambda s: _ratio(s["sum_pnl"], s[_GROSS_STOCK], 100.0),
    ),
    _stock("delta", "Delta", "qty", "sum_delta"),
)

METRICS: Final[Mapping[str, MetricSpec]] = MappingProxyType({m.name: m for m in _METRIC_LIST})
assert all({base_of(s) for s in m.sums} <= set(BASE_SUMS) for m in _METRIC_LIST)

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
    """The reads needed by ``metrics``: range sums then stock reads, each in catalogue order."""
    needed = {s for m in metrics for s in METRICS[m].sums}
    flows = tuple(s for s in BASE_SUMS if s in needed)
    return flows + tuple(stock_read(s) for s in BASE_SUMS if stock_read(s) in needed)
