"""Versioned warehouse DDL, applied idempotently and recorded in ``schema_migrations``.

Every statement uses ``{db}`` for the database name, which comes from validated
settings, never from a request. New versions are appended; applied versions are
never edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from backend.warehouse.usage_schema import USAGE_EVENTS_DDL

# Columns of trades_1d in table order: (name, ClickHouse type). The generator, the
# loaders and the pivot whitelist all read this list, so the table has one definition.
TRADES_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("trade_id", "UInt64"),
    ("position_id", "UInt64"),
    ("trade_date", "Date"),
    ("trade_time", "DateTime"),
    ("settlement_date", "Date"),
    ("portfolio_manager_id", "LowCardinality(String)"),
    ("portfolio_manager_name", "LowCardinality(String)"),
    ("desk", "LowCardinality(String)"),
    ("book", "LowCardinality(String)"),
    ("strategy", "LowCardinality(String)"),
    ("trader", "LowCardinality(String)"),
    ("account", "LowCardinality(String)"),
    ("legal_entity", "LowCardinality(String)"),
    ("region", "LowCardinality(String)"),
    ("country", "LowCardinality(String)"),
    ("currency", "LowCardinality(String)"),
    ("symbol", "LowCardinality(String)"),
    ("instrument_name", "LowCardinality(String)"),
    ("isin", "LowCardinality(String)"),
    ("asset_class", "LowCardinality(String)"),
    ("sector", "LowCardinality(String)"),
    ("industry", "LowCardinality(String)"),
    ("exchange", "LowCardinality(String)"),
    ("market_cap_bucket", "LowCardinality(String)"),
    ("liquidity_bucket", "LowCardinality(String)"),
    ("rating", "LowCardinality(String)"),
    ("exposure_type", "LowCardinality(String)"),  # Direct | ETF | ETC | Constituent
    ("parent_position_id", "UInt64"),  # 0 unless exposure_type = Constituent
    ("parent_symbol", "LowCardinality(String)"),  # '' unless exposure_type = Constituent
    ("constituent_weight", "Float64"),  # weight used for the explosion; 1 otherwise
    ("side", "LowCardinality(String)"),  # Buy | Sell
    ("order_type", "LowCardinality(String)"),
    ("counterparty", "LowCardinality(String)"),
    ("broker", "LowCardinality(String)"),
    ("venue", "LowCardinality(String)"),
    ("source_system", "LowCardinality(String)"),
    ("is_hedge", "UInt8"),
    ("quantity", "Float64"),  # signed: negative for shorts
    ("price", "Float64"),  # trade currency
    ("fx_rate", "Float64"),  # trade currency -> USD
    ("notional_local", "Float64"),  # signed, trade currency
    ("notional", "Float64"),  # signed, USD
    ("market_value", "Float64"),  # signed, USD, at close
    ("cost_basis", "Float64"),
    ("realized_pnl", "Float64"),
    ("unrealized_pnl", "Float64"),
    ("fees", "Float64"),
    ("commission", "Float64"),
    ("pnl", "Float64"),  # realized + unrealized - fees - commission, USD
    ("delta", "Float64"),
    ("gamma", "Float64"),
    ("vega", "Float64"),
    ("beta", "Float64"),
    ("volatility", "Float64"),
    ("var_95", "Float64"),
    ("dv01", "Float64"),
)

TRADES_COLUMN_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in TRADES_COLUMNS)

# Dimensions kept by the pre-aggregated rollup. In the generated data desk, region,
# currency, sector and asset_class follow from (portfolio manager, symbol), so the
# rollup holds about one row per manager, symbol, exposure type and day.
ROLLUP_DIMENSIONS: Final[tuple[str, ...]] = (
    "trade_date",
    "exposure_type",
    "portfolio_manager_id",
    "desk",
    "asset_class",
    "region",
    "currency",
    "sector",
    "symbol",
    "parent_symbol",
)

# Additive sums from which every pivot metric can be rebuilt (weighted average price
# and P&L % of gross are ratios of these sums, so they stay exact).
ROLLUP_SUMS: Final[dict[str, str]] = {
    "sum_notional": "sum(notional)",
    "sum_pnl": "sum(pnl)",
    "sum_quantity": "sum(quantity)",
    "sum_market_value": "sum(market_value)",
    "sum_realized_pnl": "sum(realized_pnl)",
    "sum_unrealized_pnl": "sum(unrealized_pnl)",
    "sum_fees": "sum(fees + commission)",
    "sum_gross_notional": "sum(abs(notional))",
    "sum_long_notional": "sumIf(notional, notional > 0)",
    "sum_short_notional": "sumIf(notional, notional < 0)",
    "sum_abs_quantity": "sum(abs(quantity))",
    "sum_price_x_abs_quantity": "sum(price * abs(quantity))",
    "sum_trade_count": "toFloat64(count())",
    "sum_delta": "sum(delta)",
}


@dataclass(frozen=True)
class RollupTable:
    """A pre-summed copy of trades_1d over ``dimensions``, fed by a materialized view on insert."""

    name: str
    dimensions: tuple[str, ...]
    order_by: tuple[str, ...]

    @property
    def view(self) -> str:
        return f"{self.name}_mv"

    @property
    def look_through(self) -> bool:
        """Whether the table can answer in the look-through view (it keeps each fund's symbol)."""
        return set(LOOK_THROUGH_COLUMNS) <= set(self.dimensions)


# The columns the look-through view reads: a fund's residual is scaled per fund symbol.
LOOK_THROUGH_COLUMNS: Final[tuple[str, ...]] = ("exposure_type", "symbol", "parent_symbol")

# Book, strategy and counterparty vary within a manager's symbol, so they multiply the
# rollup's rows: with book and strategy it holds about four times the first rollup's
# rows (470k for 20M trades); adding counterparty as well would make it 4.4M. The
# counterparty rollup therefore drops the instrument columns (700k rows for 20M
# trades): it answers as-held pivots by book, strategy, counterparty, manager and
# desk, and the look-through view (which scales each fund by symbol) reads another
# table. Book comes first in the keys after the date and the view's column, because
# access control filters every query by book.
BOOK_ROLLUP_DIMENSIONS: Final[tuple[str, ...]] = (*ROLLUP_DIMENSIONS, "book", "strategy")
COUNTERPARTY_ROLLUP_DIMENSIONS: Final[tuple[str, ...]] = (
    "trade_date", "exposure_type", "book", "counterparty", "strategy", "portfolio_manager_id", "desk",
)

# Every rollup, smallest first: the engine reads the first that holds a request's columns.
ROLLUP_TABLES: Final[tuple[RollupTable, ...]] = (
    RollupTable("trades_1d_rollup", ROLLUP_DIMENSIONS, ROLLUP_DIMENSIONS),
    RollupTable(
        "trades_1d_book_rollup",
        BOOK_ROLLUP_DIMENSIONS,
        ("trade_date", "exposure_type", "book", "portfolio_manager_id", "strategy", "desk",
         "asset_class", "region", "currency", "sector", "symbol", "parent_symbol"),
    ),
    RollupTable("trades_1d_counterparty_rollup", COUNTERPARTY_ROLLUP_DIMENSIONS, COUNTERPARTY_ROLLUP_DIMENSIONS),
)
assert all(set(r.order_by) == set(r.dimensions) for r in ROLLUP_TABLES)


def _trades_ddl() -> str:
    cols = ",\n    ".join(f"`{name}` {ctype}" for name, ctype in TRADES_COLUMNS)
    return f"""
CREATE TABLE IF NOT EXISTS {{db}}.trades_1d (
    {cols}
) ENGINE = MergeTree
PARTITION BY toYYYYMM(trade_date)
ORDER BY (trade_date, exposure_type, portfolio_manager_id, asset_class, symbol, trade_id)
"""


def _rollup_ddl(table: RollupTable) -> str:
    dims = ",\n    ".join(
        f"`{d}` {dict(TRADES_COLUMNS)[d]}" for d in table.dimensions
    )
    sums = ",\n    ".join(f"`{m}` Float64" for m in ROLLUP_SUMS)
    return f"""
CREATE TABLE IF NOT EXISTS {{db}}.{table.name} (
    {dims},
    {sums}
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(trade_date)
ORDER BY ({", ".join(table.order_by)})
"""


def _rollup_select(table: RollupTable) -> str:
    dims = ", ".join(table.dimensions)
    sums = ",\n    ".join(f"{expr} AS `{m}`" for m, expr in ROLLUP_SUMS.items())
    return f"""SELECT {dims},
    {sums}
FROM {{db}}.trades_1d
GROUP BY {dims}"""


def _rollup_mv_ddl(table: RollupTable) -> str:
    return f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.{table.view} TO {{db}}.{table.name} AS
{_rollup_select(table)}
"""


def _rollup_migration(table: RollupTable) -> tuple[str, ...]:
    """A new rollup on a warehouse that may already hold trades: create, feed, backfill once.

    The view feeds every later insert; the backfill copies what is already loaded. It
    starts from an empty table so a migration retried after a failure never counts twice
    (the embedded warehouse has one writer: nothing is loaded while it migrates).
    """
    return (
        _rollup_ddl(table),
        _rollup_mv_ddl(table),
        f"TRUNCATE TABLE {{db}}.{table.name}",
        f"INSERT INTO {{db}}.{table.name} ({', '.join([*table.dimensions, *ROLLUP_SUMS])}) {_rollup_select(table)}",
        f"OPTIMIZE TABLE {{db}}.{table.name} FINAL",
    )


INSTRUMENTS_DDL = """
CREATE TABLE IF NOT EXISTS {db}.instruments (
    `symbol` String,
    `name` String,
    `isin` String,
    `asset_class` LowCardinality(String),
    `instrument_type` LowCardinality(String),
    `sector` LowCardinality(String),
    `industry` LowCardinality(String),
    `region` LowCardinality(String),
    `country` LowCardinality(String),
    `currency` LowCardinality(String),
    `exchange` LowCardinality(String),
    `base_price` Float64,
    `volatility` Float64,
    `beta` Float64
) ENGINE = ReplacingMergeTree
ORDER BY symbol
"""

CONSTITUENTS_DDL = """
CREATE TABLE IF NOT EXISTS {db}.constituents (
    `parent_symbol` String,
    `constituent_symbol` String,
    `weight` Float64,
    `as_of` Date
) ENGINE = ReplacingMergeTree
ORDER BY (parent_symbol, constituent_symbol, as_of)
"""

LOADS_DDL = """
CREATE TABLE IF NOT EXISTS {db}.data_loads (
    `load_id` UUID,
    `loaded_at` DateTime64(3),
    `source` String,
    `rows` UInt64
) ENGINE = MergeTree
ORDER BY loaded_at
"""

# Live market history written by the market service once a second. ``day`` is the
# VN trading date; rows expire after 30 days (the service can shorten or lengthen
# that with ALTER ... MODIFY TTL). Alerts are a ReplacingMergeTree so that an
# acknowledgement is a new revision of the same alert, read back with FINAL.
_MARKET_TTL = "TTL toDateTime(ts) + INTERVAL 30 DAY"
MARKET_HISTORY_DDL: Final[tuple[str, ...]] = (
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.market_trades (
    `ts` DateTime64(3, 'UTC'), `day` Date, `symbol` LowCardinality(String),
    `price` Float64, `volume` UInt64, `side` Int8, `total_volume` UInt64, `total_value` Float64
) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, symbol, ts) {_MARKET_TTL}
""",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.market_foreign (
    `ts` DateTime64(3, 'UTC'), `day` Date, `symbol` LowCardinality(String),
    `buy_vol` UInt64, `sell_vol` UInt64, `buy_val` Float64, `sell_val` Float64,
    `total_room` Nullable(Int64), `current_room` Nullable(Int64)
) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, symbol, ts) {_MARKET_TTL}
""",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.market_index (
    `ts` DateTime64(3, 'UTC'), `day` Date, `symbol` LowCardinality(String),
    `value` Float64, `prior_value` Float64,
    `advances` Nullable(UInt32), `declines` Nullable(UInt32), `unchanged` Nullable(UInt32),
    `ceilings` Nullable(UInt32), `floors` Nullable(UInt32),
    `total_volume` Nullable(Float64), `total_value` Nullable(Float64)
) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, symbol, ts) {_MARKET_TTL}
""",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.market_basis (
    `ts` DateTime64(3, 'UTC'), `day` Date, `symbol` LowCardinality(String),
    `index_symbol` LowCardinality(String), `futures_price` Float64, `index_value` Float64, `basis` Float64
) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, symbol, ts) {_MARKET_TTL}
""",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.market_alerts (
    `id` String, `ts` DateTime64(3, 'UTC'), `day` Date, `symbol` LowCardinality(String),
    `kind` LowCardinality(String), `severity` LowCardinality(String), `message` String,
    `value` Float64, `threshold` Float64, `rule_id` String,
    `acked_at` Nullable(DateTime64(3, 'UTC')), `acked_by` String, `revision` UInt64
) ENGINE = ReplacingMergeTree(revision) PARTITION BY toYYYYMM(day) ORDER BY (day, id) {_MARKET_TTL}
""",
)

# (version, description, statements). Append only.
MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (1, "reference data and load log", (INSTRUMENTS_DDL, CONSTITUENTS_DDL, LOADS_DDL)),
    (2, "daily trades fact table", (_trades_ddl(),)),
    (3, "rollup table fed by a materialized view", (_rollup_ddl(ROLLUP_TABLES[0]), _rollup_mv_ddl(ROLLUP_TABLES[0]))),
    (4, "live market history", MARKET_HISTORY_DDL),
    (5, "rollup by book and strategy", _rollup_migration(ROLLUP_TABLES[1])),
    (6, "rollup by book, strategy and counterparty (as held)", _rollup_migration(ROLLUP_TABLES[2])),
    (7, "usage events", (USAGE_EVENTS_DDL,)),
)

MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    `version` UInt32,
    `description` String,
    `applied_at` DateTime64(3) DEFAULT now64(3)
) ENGINE = MergeTree
ORDER BY version
"""
