"""Latest quote per symbol: the classifier compares each trade with the quote before it."""

from __future__ import annotations

from backend.market.events import Quote


class QuoteCache:
    def __init__(self) -> None:
        self._quotes: dict[str, Quote] = {}

    def apply(self, quote: Quote) -> Quote | None:
        """Store ``quote``; return the quote it replaces."""
        previous = self._quotes.get(quote.symbol)
        self._quotes[quote.symbol] = quote
        return previous

    def get(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    def __len__(self) -> int:
        return len(self._quotes)

    def reset(self) -> None:
        self._quotes.clear()
