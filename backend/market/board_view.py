"""What one board screen needs from the shared board: pure functions over rows.

``client_update`` turns the board's changes since a screen's version into either
a full row set or a grid transaction (add / update / remove) for the screen's
watchlist; ``breadth`` and ``top_movers`` summarise the rows the screen shows;
``index_strip`` and ``front_month`` give the strip above the grid and the futures
row of the default board; ``parse_pins`` and ``parse_symbol`` read the URL.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from backend.market.board import BoardSnapshot, BoardState
from backend.market.reference import VN_TZ, futures_contracts, is_vn30_future
from backend.market.watchlists import MAX_SYMBOLS, SYMBOL

Row = Mapping[str, Any]


@dataclass(frozen=True)
class ClientUpdate:
    version: int
    full: bool
    rows: list[Row] = field(default_factory=list)  # the whole set when ``full``
    add: list[Row] = field(default_factory=list)
    update: list[Row] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)  # symbols on the screen afterwards

    @property
    def empty(self) -> bool:
        return not self.full and not (self.add or self.update or self.remove)


def client_update(
    board: BoardState | BoardSnapshot, since: object, known: Collection[str] | None, symbols: Collection[str] | None
) -> ClientUpdate:
    """Changes for a screen at ``since`` that shows ``symbols`` (all when None) and holds ``known``.

    Pass one ``BoardSnapshot`` to compute other parts of the same answer (movers,
    breadth) from exactly the rows the grid gets. A symbol the screen should show but
    does not hold is added even when its row did not change (the list grew, e.g. a new
    front-month contract); a held symbol no longer wanted is removed.
    """
    snap = board.snapshot() if isinstance(board, BoardState) else board
    changes = snap.changes_since(since if known is not None else None)
    wanted = set(symbols) if symbols is not None else None
    if changes.full:
        rows = [r for r in changes.rows if wanted is None or r["symbol"] in wanted]
        return ClientUpdate(changes.version, True, rows=rows, known=sorted(r["symbol"] for r in rows))
    held = set(known or ())
    rows = [r for r in changes.rows if wanted is None or r["symbol"] in wanted]
    add = [r for r in rows if r["symbol"] not in held]
    if wanted is not None:
        added = {r["symbol"] for r in add}
        add += snap.ordered_rows(wanted - held - added)
    update = [r for r in rows if r["symbol"] in held]
    remove = {s for s in changes.removed if s in held}
    if wanted is not None:
        remove |= held - wanted
    after = (held | {r["symbol"] for r in add}) - remove
    return ClientUpdate(changes.version, False, add=add, update=update, remove=sorted(remove), known=sorted(after))


def price_tone(price: float | None, ref: float | None, ceiling: float | None, floor: float | None) -> str | None:
    """VN board colour of a price: ceiling, floor, up, down or reference."""
    if not price or not ref:
        return None
    if ceiling and price >= ceiling:
        return "ceiling"
    if floor and price <= floor:
        return "floor"
    return "up" if price > ref else "down" if price < ref else "ref"


def breadth(rows: Iterable[Row]) -> dict[str, int]:
    """Counts of rows at ceiling, up, unchanged, down, floor (by last price against the reference)."""
    counts = {"ceiling": 0, "up": 0, "ref": 0, "down": 0, "floor": 0}
    for row in rows:
        tone = price_tone(row.get("last"), row.get("ref"), row.get("ceiling"), row.get("floor"))
        if tone is not None:
            counts[tone] += 1
    return counts


def top_movers(rows: Iterable[Row], n: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Biggest gainers and losers by % change, and the most traded by value."""
    traded = [r for r in rows if r.get("change_pct") is not None and r.get("last")]
    def brief(r: Row) -> dict[str, Any]:
        return {"symbol": r["symbol"], "last": r["last"], "change_pct": r["change_pct"],
                "total_val": r.get("total_val") or 0.0}
    gainers = sorted((r for r in traded if r["change_pct"] > 0), key=lambda r: (-r["change_pct"], r["symbol"]))
    losers = sorted((r for r in traded if r["change_pct"] < 0), key=lambda r: (r["change_pct"], r["symbol"]))
    active = sorted(traded, key=lambda r: (-(r.get("total_val") or 0.0), r["symbol"]))
    return {"gainers": [brief(r) for r in gainers[:n]], "losers": [brief(r) for r in losers[:n]],
            "active": [brief(r) for r in active[:n]]}


# -- the default board's futures row and the index strip ------------------------------


def trading_day(summary: Mapping[str, Any], now: float | None = None) -> date:
    """The VN date the feed is on (its own clock), or today's VN date before it has one."""
    clock = summary.get("clock") or now or time.time()
    return datetime.fromtimestamp(float(clock), VN_TZ).date()


def front_month(snapshot: BoardSnapshot, summary: Mapping[str, Any], day: date) -> str | None:
    """The VN30 futures contract the default board shows.

    The nearest contract trading on ``day`` when the board has it; otherwise the
    contract the feed's basis follows (most traded); otherwise any futures row.
    """
    nearest = futures_contracts(day, 1)[0]
    if nearest in snapshot.rows:
        return nearest
    active = (summary.get("basis") or {}).get("active")
    if isinstance(active, str) and is_vn30_future(active) and active in snapshot.rows:
        return active
    futures = sorted(s for s, r in snapshot.rows.items() if r.get("kind") == "future")
    return futures[0] if futures else None


def board_symbols(symbols: Iterable[str], *, with_futures: str | None) -> list[str]:
    """A watchlist's symbols plus the futures contract shown with it (the default board's)."""
    out = list(dict.fromkeys(symbols))
    if with_futures and with_futures not in out:
        out.append(with_futures)
    return out


def _index_tone(change: float | None) -> str | None:
    if change is None:
        return None
    return "up" if change > 0 else "down" if change < 0 else "ref"


def index_strip(summary: Mapping[str, Any], snapshot: BoardSnapshot, futures: str | None) -> list[dict[str, Any]]:
    """VNINDEX, VN30 (from the feed's summary) and the futures contract (from the board row).

    Each item: id, kind, value, change, change_pct, tone; the futures item also has
    the basis against VN30 when the feed's basis follows that contract.
    """
    indices = summary.get("indices") or {}
    items: list[dict[str, Any]] = []
    for index_id in ("VNINDEX", "VN30"):
        state = indices.get(index_id) or {}
        change = state.get("change")
        items.append({"id": index_id, "kind": "index", "value": state.get("value"), "change": change,
                      "change_pct": state.get("change_pct"), "tone": _index_tone(change)})
    if futures:
        row = snapshot.row(futures) or {}
        basis = summary.get("basis") or {}
        items.append({
            "id": futures, "kind": "future", "value": row.get("last"), "change": row.get("change"),
            "change_pct": row.get("change_pct"),
            "tone": price_tone(row.get("last"), row.get("ref"), row.get("ceiling"), row.get("floor")),
            "basis": basis.get("basis") if basis.get("active") == futures else None,
        })
    return items


# -- one poll of one screen ------------------------------------------------------------


@dataclass(frozen=True)
class ScreenTick:
    """Everything one poll of a board screen returns, computed from one board snapshot.

    ``breadth``, ``movers`` and ``as_of`` are None when none of the screen's rows changed
    (the screen keeps what it shows); ``strip`` is None when it equals what the screen has
    (``strip_key``). ``as_of`` is the feed's time (epoch seconds) of the latest change to
    the screen's rows: what the grid, breadth and movers are "as of".
    """

    update: ClientUpdate
    symbols: list[str]
    breadth: dict[str, int] | None
    movers: dict[str, list[dict[str, Any]]] | None
    strip: list[dict[str, Any]] | None
    strip_key: str
    as_of: float | None = None


def screen_tick(
    snapshot: BoardSnapshot,
    summary: Mapping[str, Any],
    watchlist: Iterable[str],
    *,
    with_futures: bool,
    since: object = None,
    known: Collection[str] | None = None,
    strip_key: object = None,
    movers: int = 3,
) -> ScreenTick:
    """The grid update, breadth, top movers and index strip for a screen showing ``watchlist``.

    ``with_futures`` adds the front-month VN30 futures contract (the default board).
    Breadth and movers count the list's stocks only (a futures row has no place in
    them).
    """
    futures = front_month(snapshot, summary, trading_day(summary))
    symbols = board_symbols(watchlist, with_futures=futures if with_futures else None)
    update = client_update(snapshot, since, known, symbols)
    strip = index_strip(summary, snapshot, futures)
    key = hashlib.blake2s(repr(strip).encode(), digest_size=8).hexdigest()
    counts = top = as_of = None
    if not update.empty:
        rows = snapshot.ordered_rows(symbols)
        stocks = [r for r in rows if r.get("kind") != "future"]
        counts, top = breadth(stocks), top_movers(stocks, movers)
        as_of = max((r["ts"] for r in rows if isinstance(r.get("ts"), int | float)), default=None)
    return ScreenTick(update=update, symbols=symbols, breadth=counts, movers=top,
                      strip=None if key == strip_key else strip, strip_key=key, as_of=as_of)


# -- view state from the URL -----------------------------------------------------------

MAX_PINS: Final[int] = 30
_MAX_PARAM: Final[int] = 2_000


def _shown(raw: object) -> str:
    text = raw if isinstance(raw, str) else str(raw)
    return repr(text[:24] + ("…" if len(text) > 24 else ""))


MAX_SCREEN_SYMBOLS: Final[int] = MAX_SYMBOLS + 1  # a watchlist and its futures row


def clean_symbols(raw: object, limit: int = MAX_SCREEN_SYMBOLS) -> list[str]:
    """Symbols a screen sends back (its list, what it holds): valid symbols only, at most ``limit``.

    A screen's state comes from the browser; anything else in it is dropped, never trusted.
    """
    if not isinstance(raw, list | tuple):
        return []
    return [s for s in raw[:limit] if isinstance(s, str) and SYMBOL.match(s)]


def one_value(name: str, raw: object) -> tuple[str | None, list[str]]:
    """A query parameter given at most once and of sane length; otherwise None and a notice."""
    if raw is None or raw == "":
        return None, []
    if isinstance(raw, list):
        return None, [f"'{name}' was given more than once; ignored."]
    if not isinstance(raw, str) or len(raw) > _MAX_PARAM:
        return None, [f"'{name}' is too long; ignored."]
    return raw, []


def parse_pins(raw: object, available: Collection[str]) -> tuple[list[str], list[str]]:
    """``?pin=FPT,HPG`` → the symbols to keep at the top (in order) and notices for the rest."""
    text, notes = one_value("pin", raw)
    if text is None:
        return [], notes
    pins: list[str] = []
    for item in text.split(","):
        symbol = item.strip().upper()
        if not symbol:
            continue
        if not SYMBOL.match(symbol):
            notes.append(f"Cannot pin {_shown(item.strip())}: not a symbol.")
        elif symbol not in available:
            notes.append(f"Cannot pin {_shown(symbol)}: it is not on this board.")
        elif symbol not in pins:
            pins.append(symbol)
    if len(pins) > MAX_PINS:
        notes.append(f"At most {MAX_PINS} symbols can be pinned; the first {MAX_PINS} are.")
        pins = pins[:MAX_PINS]
    return pins, notes


def parse_symbol(raw: object, available: Collection[str]) -> tuple[str | None, list[str]]:
    """``?symbol=FPT`` → the symbol whose detail is open, or None and a notice."""
    text, notes = one_value("symbol", raw)
    if text is None:
        return None, notes
    symbol = text.strip().upper()
    if not SYMBOL.match(symbol):
        return None, [f"Cannot show {_shown(text)}: not a symbol."]
    if symbol not in available:
        return None, [f"Cannot show {_shown(symbol)}: it is not on this board."]
    return symbol, []
