"""The ledger of this app and the quotes its orders trade at: the records store's ledger, and the
live board's row of a symbol, now."""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable

from flask import Flask, current_app

from backend.market.board_state import BoardState
from backend.market.service import EXTENSION_KEY as MARKET_KEY
from backend.meta.store import MetaStore
from backend.paper.engine import StrategyEngine
from backend.paper.ledger import Ledger
from backend.paper.matcher import Matcher
from backend.paper.quotes import Quote
from backend.stores import current_stores
from backend.stream.runtime import EXTENSION_KEY as STREAM_KEY


def current_ledger() -> Ledger:
    """The records store's ledger, its fills announced on this app's event bus."""
    return Ledger(current_stores().meta, events=current_app.extensions.get(STREAM_KEY))


def board_quote(symbol: str) -> Quote | None:
    """``symbol``'s quote from the live board, or None when it is not on it (or has no band yet)."""
    market = current_app.extensions.get(MARKET_KEY)
    row = market.board.row(symbol) if market is not None else None
    if row is None:
        return None
    try:
        return Quote.from_row(row, time.time())
    except ValueError:
        return None


def board_price(symbol: str) -> int | None:
    """The last matched price of ``symbol`` on the live board (None before its first trade)."""
    market = current_app.extensions.get(MARKET_KEY)
    row = market.board.row(symbol) if market is not None else None
    last = (row or {}).get("last")
    return round(last) if last else None


def board_symbols() -> list[str]:
    """The stocks on the live board, in order (what the ticket offers)."""
    market = current_app.extensions.get(MARKET_KEY)
    rows = market.board.rows() if market is not None else []
    return sorted(r["symbol"] for r in rows if r.get("kind", "stock") == "stock")


MATCHER_KEY = "deskboard.paper.matcher"


AUTO_FLAG = "paper_auto"


def auto_allowed(meta: MetaStore) -> Callable[[str], bool]:
    """Whether a portfolio owner's strategies may place orders by themselves: the ``paper_auto``
    flag, decided for the owner by id (its rollout and user targets; role targets are not read)."""
    from backend.access.flags import Flags
    from backend.access.principal import Principal

    flags = Flags(meta)

    def allowed(owner: str) -> bool:
        return flags.is_on(AUTO_FLAG, Principal(id=owner, display_name=owner, roles=frozenset()))

    return allowed


def install_matcher(server: Flask, meta: MetaStore, board: BoardState) -> Matcher:
    """Work resting paper orders and the active strategies against ``board`` in a thread of this process
    (their fills and signals go out on this app's event bus)."""
    events = server.extensions.get(STREAM_KEY)
    ledger = Ledger(meta, events=events)
    matcher = Matcher(ledger, board, engine=StrategyEngine(meta, ledger, auto_allowed=auto_allowed(meta),
                                                           events=events))
    matcher.start()
    server.extensions[MATCHER_KEY] = matcher
    atexit.register(matcher.stop)
    return matcher


__all__ = ["AUTO_FLAG", "MATCHER_KEY", "auto_allowed", "board_price", "board_quote", "board_symbols", "current_ledger", "install_matcher"]
