"""Pure, stateful market processors: each has ``apply`` and an explicit ``reset``."""

from backend.market.processors.classifier import ClassifiedTrade, Drop, TradeClassifier
from backend.market.processors.derivatives import DerivativesTracker
from backend.market.processors.foreign import FlowWindow, ForeignTracker
from backend.market.processors.index import BreadthTracker, IndexTracker
from backend.market.processors.quotes import QuoteCache
from backend.market.processors.session import FlowTotals, SessionAggregator

__all__ = [
    "BreadthTracker",
    "ClassifiedTrade",
    "DerivativesTracker",
    "Drop",
    "FlowTotals",
    "FlowWindow",
    "ForeignTracker",
    "IndexTracker",
    "QuoteCache",
    "SessionAggregator",
    "TradeClassifier",
]
