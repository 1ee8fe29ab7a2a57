"""The generated firm: desks, portfolio managers and the parties they trade with.

A portfolio manager sits on one desk, and the desk fixes the legal entity, the
execution traders and which instruments the manager mostly trades, so pivots by
manager, desk and entity tell a consistent story.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Desk:
    name: str
    code: str
    legal_entity: str
    strategies: tuple[str, str]
    traders: tuple[str, str, str]
    # Relative trading weight of each symbol; symbols not named get weight 0.
    universe: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class PortfolioManager:
    id: str
    name: str
    desk: str
    size: float  # relative position size


_LLC = "Deskboard Capital LLC"
_LTD = "Deskboard Capital Europe Ltd"
_PTE = "Deskboard Capital Asia Pte. Ltd."
_SA = "Deskboard Commodities SA"

DESKS: Final[tuple[Desk, ...]] = (
    Desk("US Equities", "USEQ", _LLC, ("Long/Short Equity", "Event Driven"),
         ("Daniel Reyes", "Priya Natarajan", "Tom Becker"),
         (("AAPL", 5), ("MSFT", 5), ("NVDA", 5), ("AMZN", 4), ("JPM", 3), ("XOM", 3),
          ("SPY", 4), ("QQQ", 3), ("XLF", 1), ("XLE", 1))),
    Desk("European Equities", "EUEQ", _LTD, ("Long/Short Equity", "Merger Arbitrage"),
         ("Sophie Laurent", "Lukas Fischer", "Hannah Clarke"),
         (("ASML", 5), ("NOVN", 4), ("NESN", 4), ("SHEL", 4), ("HSBA", 4), ("EXSA", 4), ("SPY", 1))),
    Desk("Asia Equities", "APEQ", _PTE, ("Long/Short Equity", "Quantitative Momentum"),
         ("Kenji Watanabe", "Mei Lin Tan", "Arjun Mehta"),
         (("7203.T", 5), ("0700.HK", 5), ("2330.TW", 5), ("BHP.AX", 3), ("AAXJ", 4))),
    Desk("Global Macro", "MACRO", _LLC, ("Global Macro", "Relative Value"),
         ("Oliver Grant", "Isabel Moreno", "Samuel Okafor"),
         (("SPY", 5), ("QQQ", 3), ("EXSA", 3), ("AAXJ", 3), ("XLF", 2), ("IGLN", 3), ("BRNT", 2),
          ("XAU", 2), ("BRENT", 2), ("AIGC", 1))),
    Desk("Commodities", "CMDTY", _SA, ("Commodity Trend", "Commodity Carry"),
         ("Lars Eriksen", "Camille Dubois", "Rafael Souza"),
         (("XAU", 5), ("XAG", 3), ("BRENT", 5), ("HG", 4), ("IGLN", 3), ("4GLD", 3), ("BRNT", 3),
          ("AIGC", 3), ("XOM", 1), ("SHEL", 1), ("BHP.AX", 2), ("XLE", 2))),
    Desk("ETF Arbitrage", "ETFARB", _LLC, ("ETF Arbitrage", "Index Rebalancing"),
         ("Grace Kim", "Marco Bianchi", "Noah Feldman"),
         (("SPY", 5), ("QQQ", 5), ("XLE", 3), ("XLF", 3), ("EXSA", 3), ("AAXJ", 3),
          ("AAPL", 2), ("MSFT", 2), ("NVDA", 2), ("AMZN", 2), ("XOM", 1), ("JPM", 1))),
)  # fmt: skip

PORTFOLIO_MANAGERS: Final[tuple[PortfolioManager, ...]] = (
    PortfolioManager("PM01", "Alice Morgan", "US Equities", 1.6),
    PortfolioManager("PM02", "Benjamin Hart", "US Equities", 1.0),
    PortfolioManager("PM03", "Chloe Nguyen", "US Equities", 0.8),
    PortfolioManager("PM04", "David Osei", "US Equities", 1.2),
    PortfolioManager("PM05", "Elena Rossi", "European Equities", 1.1),
    PortfolioManager("PM06", "Felix Wagner", "European Equities", 0.7),
    PortfolioManager("PM07", "Gabriela Santos", "European Equities", 0.9),
    PortfolioManager("PM08", "Hiroshi Tanaka", "Asia Equities", 1.0),
    PortfolioManager("PM09", "Isha Kapoor", "Asia Equities", 0.8),
    PortfolioManager("PM10", "Jonas Lindqvist", "Asia Equities", 0.6),
    PortfolioManager("PM11", "Katherine Brooks", "Global Macro", 2.0),
    PortfolioManager("PM12", "Liam O'Connor", "Global Macro", 1.4),
    PortfolioManager("PM13", "Maya Goldberg", "Global Macro", 1.0),
    PortfolioManager("PM14", "Nikolai Petrov", "Commodities", 1.3),
    PortfolioManager("PM15", "Olivia Bennett", "Commodities", 0.9),
    PortfolioManager("PM16", "Pedro Alvarez", "Commodities", 0.7),
    PortfolioManager("PM17", "Quentin Moreau", "ETF Arbitrage", 1.8),
    PortfolioManager("PM18", "Rachel Adler", "ETF Arbitrage", 1.2),
    PortfolioManager("PM19", "Stefan Novak", "ETF Arbitrage", 0.9),
    PortfolioManager("PM20", "Tanya Ivanova", "Global Macro", 0.8),
)

BOOK_SUFFIXES: Final[tuple[str, str]] = ("CORE", "TACTICAL")
ACCOUNT_SUFFIXES: Final[tuple[str, str]] = ("CASH", "SWAP")

ORDER_TYPES: Final[tuple[tuple[str, float], ...]] = (
    ("Market", 0.20), ("Limit", 0.40), ("VWAP", 0.20), ("TWAP", 0.10), ("Market on Close", 0.10),
)  # fmt: skip

COUNTERPARTIES: Final[tuple[str, ...]] = (
    "Goldman Sachs International",
    "J.P. Morgan Securities LLC",
    "Morgan Stanley & Co. International",
    "BNP Paribas SA",
    "Barclays Bank PLC",
    "UBS AG",
    "Citigroup Global Markets Ltd",
    "Deutsche Bank AG",
    "Nomura International plc",
    "HSBC Bank plc",
)

# (broker, commission in basis points of gross notional)
BROKERS: Final[tuple[tuple[str, float], ...]] = (
    ("Goldman Sachs", 2.5), ("Morgan Stanley", 2.5), ("J.P. Morgan", 2.0), ("UBS", 2.0),
    ("Jefferies", 3.0), ("Virtu ITG", 1.0), ("Instinet", 1.2), ("Macquarie", 3.5),
)  # fmt: skip

# Alternative execution venues per region; the instrument's own exchange is the first choice.
ALTERNATIVE_VENUES: Final[dict[str, tuple[str, str, str]]] = {
    "North America": ("Cboe BZX", "IEX", "Dark Pool"),
    "Europe": ("Cboe Europe", "Turquoise", "Dark Pool"),
    "Asia Pacific": ("Chi-X Asia", "Block Desk", "Dark Pool"),
    "Global": ("OTC Bilateral", "Block Desk", "Dark Pool"),
}

SOURCE_SYSTEMS: Final[tuple[tuple[str, float], ...]] = (
    ("Charles River OMS", 0.5), ("Bloomberg AIM", 0.3), ("FlexTrade EMS", 0.2),
)  # fmt: skip
