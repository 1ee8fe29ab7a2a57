"""What one board screen needs from the shared board: pure functions over rows.

``client_update`` turns the board's changes since a screen's version into either
a full row set or a grid transaction (add / update / remove) for the screen's
watchlist; ``breadth`` and ``top_movers`` summarise the rows the screen shows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.market.board import BoardState

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
    board: BoardState, since: object, known: Collection[str] | None, symbols: Collection[str] | None
) -> ClientUpdate:
    """Changes for a screen at ``since`` that shows ``symbols`` (all when None) and holds ``known``."""
    changes = board.changes_since(since if known is not None else None)
    wanted = set(symbols) if symbols is not None else None
    rows = [r for r in changes.rows if wanted is None or r["symbol"] in wanted]
    if changes.full:
        return ClientUpdate(changes.version, True, rows=rows, known=sorted(r["symbol"] for r in rows))
    held = set(known or ())
    add = [r for r in rows if r["symbol"] not in held]
    update = [r for r in rows if r["symbol"] in held]
    remove = [s for s in changes.removed if s in held]
    after = (held | {r["symbol"] for r in add}) - set(remove)
    return ClientUpdate(changes.version, False, add=add, update=update, remove=remove, known=sorted(after))


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
