"""User watchlists and alert rules, kept in the records store (``backend.meta``).

The built-in VN30 watchlist always exists and cannot be changed; users add their
own lists of symbols. Alert rules are a price level (``price_above`` /
``price_below``, with a price) or a symbol's foreign flow accelerating
(``foreign_buy_accelerating`` / ``foreign_sell_accelerating``, without one). They
are stored so they survive a restart; the market service loads them into the
alert engine at start and on every change.
The records store is SQLite (WAL) by default and PostgreSQL when configured, so
every web worker and job process sees the same lists and rules.

A rule's price must be one the symbol can trade at today: inside its day band
(floor..ceiling) and on the tick grid (HOSE: 10 / 50 / 100 VND by price level;
VN30 futures: 0.1 point). ``check_rule_price`` refuses any other price with a
reason that names the band or the grid and the nearest valid prices.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from sqlalchemy import Connection, delete, func, insert, select, text, update

from backend.market.reference import (
    VN30_SYMBOLS,
    ceiling_price,
    floor_price,
    futures_ceiling,
    futures_floor,
    is_vn30_future,
    round_to_tick,
    tick_size,
)
from backend.meta import MetaStore, open_meta
from backend.meta.models import PriceRuleRecord, WatchlistRecord, utc_now

SYMBOL: Final = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}$")
# Symbols a price rule can watch: the alert engine's (board symbols are letters and digits).
RULE_SYMBOL: Final = re.compile(r"^[A-Z0-9]{1,20}$")
NOTE_MAX: Final[int] = 200
WATCHLIST_ID: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
VN30_ID: Final[str] = "vn30"
MAX_SYMBOLS: Final[int] = 300
MAX_WATCHLISTS: Final[int] = 200
MAX_RULES: Final[int] = 1_000
# A price typed as the board shows it: digits with an optional decimal part, nothing else.
_BOARD_PRICE: Final = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,6})?$")
# Board units: thousands of VND for stocks, index points for futures; beyond these is a typo.
MAX_STOCK_SHOWN: Final[float] = 100_000.0
MAX_FUTURES_SHOWN: Final[float] = 100_000.0

# A rule's condition as the API and the forms name it → (kind, op) as the store keeps it.
CONDITIONS: Final[dict[str, tuple[str, str]]] = {
    "price_above": ("price", "above"),
    "price_below": ("price", "below"),
    "foreign_buy_accelerating": ("foreign", "buy"),
    "foreign_sell_accelerating": ("foreign", "sell"),
}
CONDITION_WORDS: Final[dict[str, str]] = {
    "price_above": "trades at or above",
    "price_below": "trades at or below",
    "foreign_buy_accelerating": "foreign buying accelerating",
    "foreign_sell_accelerating": "foreign selling accelerating",
}


class UserDataError(ValueError):
    """A watchlist or rule the store refuses, with the reason (and the field it is about, if one)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Watchlist:
    id: str
    name: str
    symbols: tuple[str, ...]
    builtin: bool = False


@dataclass(frozen=True)
class StoredRule:
    """A price rule (``op`` above / below, ``price`` in feed units) or a foreign-flow rule
    (``op`` buy / sell, no price)."""

    id: str
    symbol: str
    op: Literal["above", "below", "buy", "sell"]
    price: float | None
    note: str = ""
    kind: Literal["price", "foreign"] = "price"
    created: datetime | None = field(default=None, compare=False)

    @property
    def condition(self) -> str:
        """The condition's name: ``price_above``, ``foreign_sell_accelerating``, ..."""
        return f"price_{self.op}" if self.kind == "price" else f"foreign_{self.op}_accelerating"


def parse_condition(value: object) -> tuple[str, str]:
    """``(kind, op)`` of a condition's name (``above`` / ``below`` alone mean a price rule)."""
    if value in ("above", "below"):
        return "price", str(value)
    if isinstance(value, str) and value in CONDITIONS:
        return CONDITIONS[value]
    raise UserDataError("choose a condition: " + ", ".join(CONDITIONS), field="kind")


def rule_symbol(raw: object) -> str:
    """A symbol a rule can watch, upper-cased; refused with a reason that names the field."""
    try:
        (symbol,) = clean_symbols([raw])  # type: ignore[list-item]
    except UserDataError as exc:
        raise UserDataError(str(exc), field="symbol") from None
    if not RULE_SYMBOL.match(symbol):
        raise UserDataError(f"{symbol!r} is not a symbol a rule can watch", field="symbol")
    return symbol


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back the stored UTC time without its zone.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def clean_symbols(symbols: Iterable[str]) -> tuple[str, ...]:
    """Upper-case, de-duplicated symbols in the given order; refuses invalid ones."""
    if isinstance(symbols, str | bytes):  # one text is not a list of its letters
        raise UserDataError("symbols must be a list of symbols")
    out: list[str] = []
    for raw in symbols:
        if not isinstance(raw, str):
            raise UserDataError(f"symbol must be text, got {type(raw).__name__}")
        symbol = raw.strip().upper()
        if not SYMBOL.match(symbol):
            raise UserDataError(f"{raw[:24]!r} is not a valid symbol")
        if symbol not in out:
            out.append(symbol)
    if not out:
        raise UserDataError("a watchlist needs at least one symbol")
    if len(out) > MAX_SYMBOLS:
        raise UserDataError(f"a watchlist holds at most {MAX_SYMBOLS} symbols")
    return tuple(out)


def clean_watchlist_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UserDataError("a watchlist needs a name")
    name = " ".join(name.split())
    if len(name) > 60 or not name.isprintable():
        raise UserDataError("a watchlist name is at most 60 printable characters")
    return name


_WATCHLISTS = WatchlistRecord.__table__
_RULES = PriceRuleRecord.__table__
# Names one "watchlist or rule count" lock among PostgreSQL advisory locks (SQLite writers
# already queue on BEGIN IMMEDIATE).
_PG_LIMIT_LOCK = 0x77617463  # "watc"
_RECORD_ID_MAX = 64


def _record_id(value: object) -> str | None:
    """An id as the records store keeps it, or None for text that cannot be one (never found)."""
    if not isinstance(value, str) or not 0 < len(value) <= _RECORD_ID_MAX or not value.isprintable():
        return None
    return value


def _watchlist(row: object) -> Watchlist:
    return Watchlist(row.id, row.name, tuple(row.symbols))  # type: ignore[attr-defined]


class UserData:
    """Watchlists and price rules in the records store.

    Give it the process's ``MetaStore``; a path opens a records database of its own in
    that SQLite file (tools and tests).
    """

    def __init__(self, store: MetaStore | str | Path) -> None:
        if isinstance(store, MetaStore):
            self.store = store
            return
        from backend.meta.legacy_market import IMPORTED_SUFFIX, is_legacy_market_file

        path = Path(store).expanduser().resolve()
        # The old market file is never a records database: its lists now live in the app's store.
        if is_legacy_market_file(path) or path.with_name(path.name + IMPORTED_SUFFIX).exists():
            raise UserDataError(f"{path} is the old watchlist file, imported into the records store "
                                "at start: open UserData on the app's records store (stores.meta)")
        self.store = open_meta(f"sqlite:///{path}")

    def _lock_counts(self, conn: Connection) -> None:
        # Two writers must not both see 199 lists and both add one.
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LIMIT_LOCK})

    # -- watchlists --------------------------------------------------------------
    def watchlists(self) -> list[Watchlist]:
        with self.store.read() as conn:
            rows = conn.execute(select(_WATCHLISTS.c.id, _WATCHLISTS.c.name, _WATCHLISTS.c.symbols)).all()
        vn30 = Watchlist(VN30_ID, "VN30", tuple(sorted(VN30_SYMBOLS)), builtin=True)
        # Sorted here, not in SQL: SQLite and PostgreSQL collate text differently.
        return [vn30, *sorted((_watchlist(r) for r in rows), key=lambda w: (w.name, w.id))]

    def watchlist(self, watchlist_id: str | None) -> Watchlist | None:
        """The list with this id; None when it does not exist."""
        if not watchlist_id or watchlist_id == VN30_ID:
            return self.watchlists()[0]
        if not isinstance(watchlist_id, str) or not WATCHLIST_ID.match(watchlist_id):
            return None
        with self.store.read() as conn:
            row = conn.execute(
                select(_WATCHLISTS.c.id, _WATCHLISTS.c.name, _WATCHLISTS.c.symbols)
                .where(_WATCHLISTS.c.id == watchlist_id)
            ).first()
        return _watchlist(row) if row else None

    def save_watchlist(self, name: str, symbols: Iterable[str], watchlist_id: str | None = None) -> Watchlist:
        """Create a list (or replace one of the user's lists) and return it."""
        name, cleaned = clean_watchlist_name(name), clean_symbols(symbols)
        if watchlist_id == VN30_ID:
            raise UserDataError("the VN30 list is built in and cannot be changed")
        if watchlist_id is not None and (not isinstance(watchlist_id, str) or not WATCHLIST_ID.match(watchlist_id)):
            raise UserDataError("not a valid watchlist id")
        new_id = watchlist_id or f"w-{uuid.uuid4().hex[:10]}"
        now = utc_now()
        with self.store.write() as conn:
            self._lock_counts(conn)
            changed = conn.execute(
                update(_WATCHLISTS).where(_WATCHLISTS.c.id == new_id)
                .values(name=name, symbols=list(cleaned), updated_at=now)
            ).rowcount
            if not changed:
                count = conn.execute(select(func.count()).select_from(_WATCHLISTS)).scalar_one()
                if count >= MAX_WATCHLISTS:
                    raise UserDataError(f"at most {MAX_WATCHLISTS} watchlists")
                conn.execute(insert(_WATCHLISTS).values(id=new_id, name=name, symbols=list(cleaned),
                                                        created_at=now, updated_at=now))
        return Watchlist(new_id, name, cleaned)

    def delete_watchlist(self, watchlist_id: str) -> bool:
        if watchlist_id == VN30_ID:
            raise UserDataError("the VN30 list is built in and cannot be deleted")
        key = _record_id(watchlist_id)
        if key is None:
            return False
        with self.store.write() as conn:
            return conn.execute(delete(_WATCHLISTS).where(_WATCHLISTS.c.id == key)).rowcount > 0

    # -- alert rules -------------------------------------------------------------
    def rules(self) -> list[StoredRule]:
        cols = (_RULES.c.id, _RULES.c.symbol, _RULES.c.op, _RULES.c.price, _RULES.c.note, _RULES.c.kind,
                _RULES.c.created_at)
        with self.store.read() as conn:
            rows = conn.execute(select(*cols)).all()
        rules = [StoredRule(r.id, r.symbol, r.op, None if r.price is None else float(r.price), r.note, r.kind,
                            _utc(r.created_at)) for r in rows]
        return sorted(rules, key=lambda r: (r.symbol, r.kind, r.price or 0.0, r.op, r.id))

    def add_rule(self, symbol: str, op: str, price: float | None, note: str = "") -> StoredRule:
        """Store a rule: ``op`` is a condition's name (or ``above`` / ``below``); ``price`` in feed
        units for a price rule, None for a foreign-flow rule."""
        symbol = rule_symbol(symbol)
        kind, side = parse_condition(op)
        if kind == "foreign":
            if price is not None:
                raise UserDataError("a foreign-flow rule has no price", field="price")
        elif isinstance(price, bool) or not isinstance(price, int | float) or not 0 < price < 1e12:
            raise UserDataError("price must be a positive number", field="price")
        if not isinstance(note, str) or len(note) > NOTE_MAX:
            raise UserDataError(f"note is at most {NOTE_MAX} characters", field="note")
        if not note.isprintable():
            raise UserDataError("note: control characters and line breaks are not allowed", field="note")
        prefix = "p" if kind == "price" else "f"
        rule = StoredRule(f"{prefix}-{uuid.uuid4().hex[:12]}", symbol, side,  # type: ignore[arg-type]
                          None if price is None else float(price), note, kind, utc_now())  # type: ignore[arg-type]
        with self.store.write() as conn:
            self._lock_counts(conn)
            if conn.execute(select(func.count()).select_from(_RULES)).scalar_one() >= MAX_RULES:
                raise UserDataError(f"at most {MAX_RULES} alert rules")
            conn.execute(insert(_RULES).values(id=rule.id, symbol=rule.symbol, kind=rule.kind, op=rule.op,
                                               price=rule.price, note=rule.note, created_at=rule.created))
        return rule

    def delete_rule(self, rule_id: str) -> bool:
        key = _record_id(rule_id)
        if key is None:
            return False
        with self.store.write() as conn:
            return conn.execute(delete(_RULES).where(_RULES.c.id == key)).rowcount > 0


# -- price rules against the day's band and the tick grid -----------------------------------


@dataclass(frozen=True)
class PriceBand:
    """The prices a symbol may trade at today (feed units: VND, or index points for futures)."""

    floor: float
    ceiling: float
    future: bool

    @classmethod
    def of_row(cls, symbol: str, row: dict | None) -> PriceBand | None:
        """The band from a board row: its floor and ceiling, or computed from its reference price."""
        if not row:
            return None
        future = is_vn30_future(symbol)
        floor, ceiling, ref = row.get("floor"), row.get("ceiling"), row.get("ref")
        if (not floor or not ceiling) and ref:
            floor = futures_floor(ref) if future else floor_price(int(ref))
            ceiling = futures_ceiling(ref) if future else ceiling_price(int(ref))
        if not floor or not ceiling or floor > ceiling:
            return None
        return cls(float(floor), float(ceiling), future)


def shown_price(symbol: str, price: float) -> str:
    """A feed price as the board shows it: thousands of VND for stocks, points for futures."""
    return f"{price:,.1f}" if is_vn30_future(symbol) else f"{price / 1000:,.2f}"


def _typed(symbol: str, price: float) -> str:
    """A price as the user typed it, in board units, with no rounding (at least the board's decimals)."""
    future = is_vn30_future(symbol)
    whole, _, decimals = f"{price if future else price / 1000:,.6f}".partition(".")
    decimals = decimals.rstrip("0").ljust(1 if future else 2, "0")
    return f"{whole}.{decimals}"


def price_from_board_units(symbol: str, raw: object) -> float:
    """A price typed as the board shows it (thousands of VND; points for futures) in feed units."""
    if isinstance(raw, bool) or raw is None:
        raise UserDataError("type a price, as the board shows it (e.g. 131.5)", field="price")
    if isinstance(raw, str):
        text = raw.strip()
        if not _BOARD_PRICE.match(text):
            shown = text[:16] + ("…" if len(text) > 16 else "")
            raise UserDataError(f"{shown!r} is not a price: type a number as the board shows it (e.g. 131.5)",
                                field="price")
        value = float(text)
    elif isinstance(raw, int | float):
        value = float(raw)
    else:
        raise UserDataError("the price must be a number, as the board shows it (e.g. 131.5)", field="price")
    if not math.isfinite(value) or value <= 0:
        raise UserDataError("the price must be a positive number", field="price")
    future = is_vn30_future(symbol)
    if value > (MAX_FUTURES_SHOWN if future else MAX_STOCK_SHOWN):
        unit = "points" if future else "thousand VND"
        raise UserDataError(f"{value:,.0f} {unit} is far beyond any price {symbol} trades at", field="price")
    if future:
        return value
    vnd = value * 1000
    return float(round(vnd)) if abs(vnd - round(vnd)) < 1e-6 else vnd


def _on_grid(price: float, future: bool) -> bool:
    if future:
        return abs(price * 10 - round(price * 10)) < 1e-6
    return abs(price - round(price)) < 1e-6 and round(price) % tick_size(price) == 0


def _neighbours(price: float, future: bool) -> tuple[float, float]:
    """The valid grid prices just below and just above ``price``."""
    if future:
        return math.floor(price * 10 + 1e-6) / 10, math.ceil(price * 10 - 1e-6) / 10
    return float(round_to_tick(price, direction=-1)), float(round_to_tick(price, direction=1))


def _dong(price: float) -> str:
    """A stock price in đồng, as typed: whole đồng plainly, any fraction kept."""
    whole, _, fraction = f"{price:,.6f}".partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def check_rule_price(symbol: str, price: float, band: PriceBand | None, *, in_dong: bool = False) -> None:
    """Refuse a price the symbol cannot trade at today, saying why and which prices are nearest.

    The reason gives prices as the board shows them (thousands of VND), or in đồng with
    ``in_dong`` (where the price was given in đồng); futures always in points.
    """
    if band is None:
        raise UserDataError(f"no price band for {symbol} today: the feed has not sent this symbol, "
                            "so a rule could never be checked", field="symbol")
    dong = in_dong and not band.future

    def shown(p: float) -> str:
        return _dong(p) if dong else shown_price(symbol, p)

    typed = _dong(price) if dong else _typed(symbol, price)
    span = f"today's band is {shown(band.floor)}–{shown(band.ceiling)}"
    if price > band.ceiling + 1e-9:
        raise UserDataError(f"{typed} is above {symbol}'s ceiling: {span}; "
                            f"the nearest valid price is {shown(band.ceiling)}", field="price")
    if price < band.floor - 1e-9:
        raise UserDataError(f"{typed} is below {symbol}'s floor: {span}; "
                            f"the nearest valid price is {shown(band.floor)}", field="price")
    if not _on_grid(price, band.future):
        low, high = _neighbours(price, band.future)
        valid = [p for p in (low, high) if band.floor - 1e-9 <= p <= band.ceiling + 1e-9]
        tick = "0.1 point" if band.future else f"{tick_size(price):,} VND at this price"
        raise UserDataError(f"{typed} is not on {symbol}'s price grid (tick {tick}); the nearest valid prices are "
                            + " or ".join(shown(p) for p in valid), field="price")
