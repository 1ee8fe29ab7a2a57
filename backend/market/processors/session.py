"""Session aggregator: active buy / active sell / neutral volume and value per symbol."""

from __future__ import annotations

from dataclasses import dataclass

from backend.market.events import Side
from backend.market.processors.classifier import ClassifiedTrade


@dataclass(slots=True)
class FlowTotals:
    buy_vol: int = 0
    sell_vol: int = 0
    neutral_vol: int = 0  # auctions, unclassifiable trades and unseen (gap) volume
    auction_vol: int = 0
    buy_val: float = 0.0
    sell_val: float = 0.0
    neutral_val: float = 0.0
    trades: int = 0

    @property
    def total_vol(self) -> int:
        return self.buy_vol + self.sell_vol + self.neutral_vol

    @property
    def buy_share(self) -> float | None:
        """Active buy volume as a share of classified (buy + sell) volume."""
        classified = self.buy_vol + self.sell_vol
        return self.buy_vol / classified if classified else None


class SessionAggregator:
    def __init__(self) -> None:
        self._flows: dict[str, FlowTotals] = {}

    def apply(self, trade: ClassifiedTrade) -> FlowTotals:
        flow = self._flows.get(trade.symbol)
        if flow is None:
            flow = self._flows[trade.symbol] = FlowTotals()
        if trade.volume:
            flow.trades += 1
            if trade.side is Side.BUY:
                flow.buy_vol += trade.volume
                flow.buy_val += trade.value
            elif trade.side is Side.SELL:
                flow.sell_vol += trade.volume
                flow.sell_val += trade.value
            else:
                flow.neutral_vol += trade.volume
                flow.neutral_val += trade.value
                if trade.auction:
                    flow.auction_vol += trade.volume
        if trade.gap_volume:
            flow.neutral_vol += trade.gap_volume
            flow.neutral_val += trade.gap_value
            if trade.auction:
                flow.auction_vol += trade.gap_volume
        return flow

    def get(self, symbol: str) -> FlowTotals | None:
        return self._flows.get(symbol)

    def items(self) -> list[tuple[str, FlowTotals]]:
        return list(self._flows.items())

    def reset(self) -> None:
        self._flows.clear()
