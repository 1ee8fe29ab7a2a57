"""Where a paper order fills on the board, without moving it (a paper fill takes nothing from the
simulated book).

- A marketable order walks the visible levels of the other side — buys lift the asks, sells hit
  the bids, best first, at most three levels — taking each level's shares at its price while
  the price is within the order's limit. What is left rests: a limit order at its limit, a
  market order as a limit at the last price it filled at (HOSE's market-to-limit), and a market
  order that finds nothing is refused.
- A resting limit order fills whole at its own price once the board's matched price or the
  best opposite quote reaches it.
- A stop order waits until the matched price reaches its stop (at or above it for a buy, at or
  below for a sell), then goes to the market (``stop``) or becomes a limit order (``stop_limit``).
- Orders in the opening or closing auction fill at the auction's price: the opening price once
  the open is printed, the last price once the closing auction is over. A limit order joins
  the auction only when its limit crosses that price.
"""

from __future__ import annotations

from backend.paper.quotes import Level, Quote


def walk(side: str, quantity: int, limit: int | None, quote: Quote) -> list[Level]:
    """The (price, shares) fills of a marketable order of ``quantity`` against the visible levels."""
    levels = quote.asks if side == "buy" else quote.bids
    fills: list[Level] = []
    left = quantity
    for price, shares in levels[:3]:
        if left == 0:
            break
        if limit is not None and (price > limit if side == "buy" else price < limit):
            break
        take = min(left, shares)
        fills.append((price, take))
        left -= take
    return fills


def crosses(side: str, limit: int, quote: Quote) -> bool:
    """Whether a resting limit order is reached by the matched price or the best opposite quote."""
    if side == "buy":
        return (quote.last is not None and quote.last <= limit) or bool(quote.asks and quote.asks[0][0] <= limit)
    return (quote.last is not None and quote.last >= limit) or bool(quote.bids and quote.bids[0][0] >= limit)


def triggered(side: str, stop: int, quote: Quote) -> bool:
    if quote.last is None:
        return False
    return quote.last >= stop if side == "buy" else quote.last <= stop


def joins_auction(side: str, limit: int | None, price: int) -> bool:
    return limit is None or (price <= limit if side == "buy" else price >= limit)


__all__ = ["crosses", "joins_auction", "triggered", "walk"]
