"""Reference data of the generated desk: 29 instruments and the fund look-through weights.

The instruments table columns follow the ``instruments`` DDL in
``backend.warehouse.schema``; the extra trade-only attributes (market cap and
liquidity buckets, issuer rating, settlement lag, trading session) live beside
them because the symbol alone determines every instrument attribute of a trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import pyarrow as pa


def isin_check_digit(body: str) -> str:
    """The ISO 6166 check digit (Luhn over letters expanded to two digits) of an 11-character body."""
    digits = "".join(str(int(ch, 36)) for ch in body)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Instrument:
    symbol: str
    name: str
    isin_body: str  # first 11 characters; the check digit is computed
    asset_class: str
    instrument_type: str
    sector: str
    industry: str
    region: str
    country: str
    currency: str
    exchange: str
    base_price: float
    volatility: float
    beta: float
    market_cap_bucket: str
    liquidity_bucket: str
    rating: str
    settle_lag: int  # business days from trade to settlement
    session_utc: tuple[int, int]  # trading session (open, close) in minutes after midnight UTC

    @property
    def isin(self) -> str:
        return self.isin_body + isin_check_digit(self.isin_body)


_US = (14 * 60 + 30, 21 * 60)
_EU = (8 * 60, 16 * 60 + 30)
_TSE = (0, 6 * 60)
_HK = (1 * 60 + 30, 8 * 60)
_TW = (1 * 60, 5 * 60 + 30)
_ASX = (0, 6 * 60)
_CMDTY = (1 * 60, 21 * 60)

_S, _E, _C, _X = "Equity", "ETF", "ETC", "Commodity"
_NA, _EUR, _APAC, _GLB = "North America", "Europe", "Asia Pacific", "Global"

# fmt: off
INSTRUMENTS: Final[tuple[Instrument, ...]] = (
    # Stocks
    Instrument("AAPL", "Apple Inc.", "US037833100", _S, "Common Stock", "Information Technology",
               "Technology Hardware", _NA, "US", "USD", "NASDAQ", 185.0, 0.24, 1.20,
               "Mega Cap", "High", "AA+", 1, _US),
    Instrument("MSFT", "Microsoft Corporation", "US594918104", _S, "Common Stock", "Information Technology",
               "Software", _NA, "US", "USD", "NASDAQ", 375.0, 0.23, 1.10, "Mega Cap", "High", "AAA", 1, _US),
    Instrument("NVDA", "NVIDIA Corporation", "US67066G104", _S, "Common Stock", "Information Technology",
               "Semiconductors", _NA, "US", "USD", "NASDAQ", 495.0, 0.48, 1.70, "Mega Cap", "High", "AA-", 1, _US),
    Instrument("AMZN", "Amazon.com Inc.", "US023135106", _S, "Common Stock", "Consumer Discretionary",
               "Broadline Retail", _NA, "US", "USD", "NASDAQ", 150.0, 0.32, 1.30, "Mega Cap", "High", "AA", 1, _US),
    Instrument("JPM", "JPMorgan Chase & Co.", "US46625H100", _S, "Common Stock", "Financials", "Banks",
               _NA, "US", "USD", "NYSE", 170.0, 0.22, 1.10, "Mega Cap", "High", "A-", 1, _US),
    Instrument("XOM", "Exxon Mobil Corporation", "US30231G102", _S, "Common Stock", "Energy",
               "Oil, Gas & Consumable Fuels", _NA, "US", "USD", "NYSE", 100.0, 0.26, 0.80,
               "Mega Cap", "High", "AA-", 1, _US),
    Instrument("ASML", "ASML Holding N.V.", "NL001027321", _S, "Common Stock", "Information Technology",
               "Semiconductor Equipment", _EUR, "NL", "EUR", "Euronext Amsterdam", 680.0, 0.35, 1.40,
               "Mega Cap", "High", "A", 2, _EU),
    Instrument("NOVN", "Novartis AG", "CH001200526", _S, "Common Stock", "Health Care", "Pharmaceuticals",
               _EUR, "CH", "CHF", "SIX Swiss Exchange", 85.0, 0.18, 0.60, "Mega Cap", "High", "AA-", 2, _EU),
    Instrument("NESN", "Nestle S.A.", "CH003886335", _S, "Common Stock", "Consumer Staples", "Food Products",
               _EUR, "CH", "CHF", "SIX Swiss Exchange", 98.0, 0.15, 0.50, "Mega Cap", "High", "AA-", 2, _EU),
    Instrument("SHEL", "Shell plc", "GB00BP6MXD8", _S, "Common Stock", "Energy", "Oil, Gas & Consumable Fuels",
               _EUR, "GB", "GBP", "London Stock Exchange", 25.8, 0.24, 0.80, "Mega Cap", "High", "A+", 2, _EU),
    Instrument("HSBA", "HSBC Holdings plc", "GB000540528", _S, "Common Stock", "Financials", "Banks",
               _EUR, "GB", "GBP", "London Stock Exchange", 6.3, 0.22, 0.90, "Large Cap", "High", "A-", 2, _EU),
    Instrument("7203.T", "Toyota Motor Corporation", "JP363340000", _S, "Common Stock", "Consumer Discretionary",
               "Automobiles", _APAC, "JP", "JPY", "Tokyo Stock Exchange", 2700.0, 0.28, 0.90,
               "Mega Cap", "High", "A+", 2, _TSE),
    Instrument("0700.HK", "Tencent Holdings Ltd.", "KYG87572163", _S, "Common Stock", "Communication Services",
               "Interactive Media & Services", _APAC, "HK", "HKD", "Hong Kong Exchanges", 290.0, 0.35, 1.10,
               "Mega Cap", "High", "A+", 2, _HK),
    Instrument("2330.TW", "Taiwan Semiconductor Manufacturing Co.", "TW000233000", _S, "Common Stock",
               "Information Technology", "Semiconductors", _APAC, "TW", "TWD", "Taiwan Stock Exchange",
               590.0, 0.30, 1.30, "Mega Cap", "Medium", "AA-", 2, _TW),
    Instrument("BHP.AX", "BHP Group Limited", "AU000000BHP", _S, "Common Stock", "Materials", "Metals & Mining",
               _APAC, "AU", "AUD", "ASX", 46.0, 0.27, 1.00, "Large Cap", "Medium", "A", 2, _ASX),
    # Exchange-traded funds
    Instrument("SPY", "SPDR S&P 500 ETF Trust", "US78462F103", _E, "Index ETF", "Broad Market",
               "Large Cap Blend", _NA, "US", "USD", "NYSE Arca", 475.0, 0.14, 1.00, "N/A", "High", "NR", 1, _US),
    Instrument("QQQ", "Invesco QQQ Trust", "US46090E103", _E, "Index ETF", "Information Technology",
               "Large Cap Growth", _NA, "US", "USD", "NASDAQ", 405.0, 0.20, 1.15, "N/A", "High", "NR", 1, _US),
    Instrument("XLE", "Energy Select Sector SPDR Fund", "US81369Y506", _E, "Sector ETF", "Energy",
               "Oil, Gas & Consumable Fuels", _NA, "US", "USD", "NYSE Arca", 84.0, 0.25, 0.85,
               "N/A", "High", "NR", 1, _US),
    Instrument("XLF", "Financial Select Sector SPDR Fund", "US81369Y605", _E, "Sector ETF", "Financials",
               "Banks", _NA, "US", "USD", "NYSE Arca", 37.5, 0.19, 1.05, "N/A", "High", "NR", 1, _US),
    Instrument("EXSA", "iShares STOXX Europe 600 UCITS ETF", "DE000263530", _E, "Index ETF", "Broad Market",
               "Large Cap Blend", _EUR, "DE", "EUR", "XETRA", 48.0, 0.15, 0.95, "N/A", "High", "NR", 2, _EU),
    Instrument("AAXJ", "iShares MSCI All Country Asia ex Japan ETF", "US464288182", _E, "Index ETF",
               "Broad Market", "Large Cap Blend", _APAC, "US", "USD", "NASDAQ", 68.0, 0.19, 1.00,
               "N/A", "Medium", "NR", 1, _US),
    # Exchange-traded commodities
    Instrument("IGLN", "iShares Physical Gold ETC", "IE00B4ND360", _C, "Physical ETC", "Precious Metals",
               "Gold", _GLB, "IE", "USD", "London Stock Exchange", 39.0, 0.14, 0.05, "N/A", "High", "NR", 2, _EU),
    Instrument("4GLD", "Xetra-Gold", "DE000A0S9GB", _C, "Physical ETC", "Precious Metals", "Gold",
               _GLB, "DE", "EUR", "XETRA", 60.0, 0.14, 0.05, "N/A", "High", "NR", 2, _EU),
    Instrument("BRNT", "WisdomTree Brent Crude Oil", "GB00B0CTWC0", _C, "Futures ETC", "Energy", "Crude Oil",
               _GLB, "JE", "USD", "London Stock Exchange", 75.0, 0.32, 0.40, "N/A", "Medium", "NR", 2, _EU),
    Instrument("AIGC", "WisdomTree Broad Commodities", "GB00B15KY98", _C, "Futures ETC",
               "Diversified Commodities", "Commodity Basket", _GLB, "JE", "USD", "London Stock Exchange",
               12.5, 0.16, 0.30, "N/A", "Low", "NR", 2, _EU),
    # Commodities (spot / front-month reference)
    Instrument("XAU", "Gold Spot (troy ounce)", "XC000965515", _X, "Spot Commodity", "Precious Metals", "Gold",
               _GLB, "GB", "USD", "LBMA", 2050.0, 0.14, 0.05, "N/A", "High", "NR", 2, _CMDTY),
    Instrument("XAG", "Silver Spot (troy ounce)", "XC000965310", _X, "Spot Commodity", "Precious Metals",
               "Silver", _GLB, "GB", "USD", "LBMA", 23.5, 0.26, 0.30, "N/A", "Medium", "NR", 2, _CMDTY),
    Instrument("BRENT", "Brent Crude Oil Front Month (barrel)", "XC000A0KRJA", _X, "Commodity Future", "Energy",
               "Crude Oil", _GLB, "GB", "USD", "ICE Futures Europe", 78.0, 0.33, 0.40,
               "N/A", "High", "NR", 1, _CMDTY),
    Instrument("HG", "Copper Front Month (pound)", "XC000A1ZNXR", _X, "Commodity Future", "Industrial Metals",
               "Copper", _GLB, "US", "USD", "COMEX", 3.85, 0.22, 0.60, "N/A", "High", "NR", 1, _CMDTY),
)
# fmt: on

SYMBOLS: Final[tuple[str, ...]] = tuple(i.symbol for i in INSTRUMENTS)
SYMBOL_INDEX: Final[dict[str, int]] = {s: k for k, s in enumerate(SYMBOLS)}

CONSTITUENTS_AS_OF: Final[date] = date(2024, 1, 2)

# (fund, constituent, weight). Weights cover the part of each fund held in the instrument
# list; where they sum below 1 the rest is the fund's unexplained remainder.
CONSTITUENTS: Final[tuple[tuple[str, str, float], ...]] = (
    ("SPY", "AAPL", 0.22), ("SPY", "MSFT", 0.22), ("SPY", "NVDA", 0.18),
    ("SPY", "AMZN", 0.13), ("SPY", "JPM", 0.10), ("SPY", "XOM", 0.07),
    ("QQQ", "AAPL", 0.30), ("QQQ", "MSFT", 0.30), ("QQQ", "NVDA", 0.25), ("QQQ", "AMZN", 0.15),
    ("XLE", "XOM", 0.85),
    ("XLF", "JPM", 0.70),
    ("EXSA", "ASML", 0.25), ("EXSA", "NOVN", 0.20), ("EXSA", "NESN", 0.20),
    ("EXSA", "SHEL", 0.15), ("EXSA", "HSBA", 0.15),
    ("AAXJ", "0700.HK", 0.45), ("AAXJ", "2330.TW", 0.40),
    ("IGLN", "XAU", 1.00),
    ("4GLD", "XAU", 1.00),
    ("BRNT", "BRENT", 1.00),
    ("AIGC", "XAU", 0.30), ("AIGC", "BRENT", 0.25), ("AIGC", "HG", 0.20), ("AIGC", "XAG", 0.10),
)  # fmt: skip

FUND_TYPES: Final[frozenset[str]] = frozenset({"ETF", "ETC"})

INSTRUMENTS_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        ("symbol", pa.string()),
        ("name", pa.string()),
        ("isin", pa.string()),
        ("asset_class", pa.string()),
        ("instrument_type", pa.string()),
        ("sector", pa.string()),
        ("industry", pa.string()),
        ("region", pa.string()),
        ("country", pa.string()),
        ("currency", pa.string()),
        ("exchange", pa.string()),
        ("base_price", pa.float64()),
        ("volatility", pa.float64()),
        ("beta", pa.float64()),
    ]
)

CONSTITUENTS_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        ("parent_symbol", pa.string()),
        ("constituent_symbol", pa.string()),
        ("weight", pa.float64()),
        ("as_of", pa.date32()),
    ]
)


def instruments_table() -> pa.Table:
    rows = {name: [getattr(i, name) for i in INSTRUMENTS] for name in INSTRUMENTS_SCHEMA.names}
    return pa.table(rows, schema=INSTRUMENTS_SCHEMA)


def constituents_table() -> pa.Table:
    return pa.table(
        {
            "parent_symbol": [p for p, _, _ in CONSTITUENTS],
            "constituent_symbol": [c for _, c, _ in CONSTITUENTS],
            "weight": [w for _, _, w in CONSTITUENTS],
            "as_of": [CONSTITUENTS_AS_OF] * len(CONSTITUENTS),
        },
        schema=CONSTITUENTS_SCHEMA,
    )
