"""Instruments of the simulated market and the foreign investors trading them.

Foreign investors take a share of every match on each side. The share follows a market
stance for the day, each stock's own regime (redrawn now and then, in continuous time)
and market-wide bursts of buying or selling lasting a few minutes, which is what the
core's foreign-acceleration alerts look for. They buy only while a stock has room.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from backend.market.feed.sim_model import (
    BETA,
    IDIO_GAP_SD,
    IDIO_TAU,
    IDIO_THEME_SD,
    IDIO_VOL,
    ROOT_DAY,
    TURNOVER_ALL,
    TURNOVER_FREE_FLOAT,
    Book,
    Factor,
    Liquidity,
    stochastic_lots,
)
from backend.market.reference import (
    FUTURES_MULTIPLIER,
    LOT_SIZE,
    Constituent,
    ceiling_price,
    floor_price,
    futures_ceiling,
    futures_floor,
)

FOREIGN_SHARE = 0.11  # of each side of a match, on a neutral day
FOREIGN_REGIME_SECONDS = 2_700.0  # mean time a stock keeps its foreign regime
BURST_GAP_SECONDS = 6_500.0  # mean trading time between bursts
BURST_SECONDS = 420.0  # mean length of a burst
BURST_NAMES = 5  # a burst is a program on a few large names...
BURST_FACTOR = 5.0  # ...multiplying the foreign share of its side on them
BURST_SPILL = 1.4  # and, less, on every other name


@dataclass(slots=True)
class Stock:
    symbol: str
    ref: int
    shares: float
    weight: float  # free-float shares: the stock's VN30 weight
    base_volume: float  # shares on an average day
    beta: float
    idio_vol: float  # per trading day
    total_room: int
    foreign_held: int
    liq: Liquidity
    idio: Factor = field(default_factory=lambda: Factor(0.0, 0.0, IDIO_TAU, 0.0))
    book: Book = field(default_factory=Book)
    shown: tuple[float, ...] | None = None  # the book as last sent
    ceiling: int = 0
    floor: int = 0
    last: int = 0
    high: int = 0
    low: int = 0
    total_vol: int = 0
    total_val: float = 0.0
    f_buy_vol: int = 0
    f_sell_vol: int = 0
    f_buy_val: float = 0.0
    f_sell_val: float = 0.0
    f_bias: float = 0.0  # foreign regime: > 0 net buying, < 0 net selling

    def start_day(self, rng: random.Random, *, news: bool = False) -> None:
        self.ceiling, self.floor = ceiling_price(self.ref), floor_price(self.ref)
        self.last, self.high, self.low, self.total_vol, self.total_val = self.ref, 0, 0, 0, 0.0
        self.f_buy_vol = self.f_sell_vol = 0
        self.f_buy_val = self.f_sell_val = 0.0
        theme = rng.choice((-1, 1)) * rng.uniform(0.03, 0.045) if news else rng.gauss(0, IDIO_THEME_SD)
        self.idio = Factor(rng.gauss(0, IDIO_GAP_SD), theme, IDIO_TAU, self.idio_vol / ROOT_DAY)
        self.liq = Liquidity(self.base_volume * rng.lognormvariate(0, 0.25) * (1.8 if news else 1.0), LOT_SIZE)
        self.book, self.shown = Book(), None

    def fair(self, market: float, t: float, rng: random.Random) -> float:
        return self.ref * math.exp(self.beta * market + self.idio.at(t, rng))

    def record(self, price: int, volume: int) -> None:
        self.last = price
        self.total_vol += volume
        self.total_val += price * volume
        self.high = max(self.high, price)
        self.low = min(self.low, price) if self.low else price


def make_stock(c: Constituent, rng: random.Random) -> Stock:
    shares = c.shares_m * 1e6
    total_room = int(shares * c.foreign_limit) // LOT_SIZE * LOT_SIZE
    # Some names have no foreign room left at all; the others some.
    used = 1.0 if rng.random() < 0.15 else rng.uniform(0.5, 0.995)
    held = int(total_room * used) // LOT_SIZE * LOT_SIZE
    base_volume = shares * (TURNOVER_FREE_FLOAT * c.free_float + TURNOVER_ALL) * rng.lognormvariate(0, 0.3)
    return Stock(
        symbol=c.symbol, ref=c.ref_price, shares=shares, weight=shares * c.free_float, base_volume=base_volume,
        beta=rng.uniform(*BETA), idio_vol=rng.uniform(*IDIO_VOL), total_room=total_room, foreign_held=held,
        liq=Liquidity(base_volume, LOT_SIZE),
    )  # fmt: skip


@dataclass(slots=True)
class Future:
    symbol: str
    ref: float
    offset: float  # calendar spread to the front month, points
    liq: Liquidity
    book: Book = field(default_factory=Book)
    shown: tuple[float, ...] | None = None
    last: float = 0.0
    total_vol: int = 0
    total_val: float = 0.0
    high: float = 0.0
    low: float = 0.0

    @property
    def ceiling(self) -> float:
        return futures_ceiling(self.ref)

    @property
    def floor(self) -> float:
        return futures_floor(self.ref)

    def record(self, price: float, volume: int) -> None:
        self.last = price
        self.total_vol += volume
        self.total_val += price * volume * FUTURES_MULTIPLIER
        self.high = max(self.high, price)
        self.low = min(self.low, price) if self.low else price


def _clamp(x: float) -> float:
    return max(-0.9, min(0.9, x))


class ForeignFlows:
    """The day's foreign stance, per-stock regimes and market-wide bursts."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.stance = 0.0
        self.burst_side = 0  # +1 buying, −1 selling, 0 none
        self.burst_until = -1.0
        self.next_burst = 0.0
        self.burst_names: frozenset[str] = frozenset()
        self._names: list[str] = []
        self._weights: list[float] = []

    def start_day(self, stocks: list[Stock]) -> None:
        rng = self.rng
        self.stance = rng.gauss(-0.05, 0.25)
        for s in stocks:
            s.f_bias = _clamp(rng.gauss(self.stance, 0.35))
        self.burst_side, self.burst_until = 0, -1.0
        self.next_burst = rng.expovariate(1 / BURST_GAP_SECONDS)
        self._names = [s.symbol for s in stocks]
        self._weights = [s.weight * s.ref for s in stocks]

    def advance(self, t: float, rng: random.Random) -> None:
        if self.burst_side and t >= self.burst_until:
            self.burst_side = 0
        if not self.burst_side and t >= self.next_burst:
            self.burst_side = 1 if rng.random() < 0.5 + self.stance else -1
            self.burst_names = frozenset(rng.choices(self._names, self._weights, k=BURST_NAMES))
            self.burst_until = t + max(120.0, rng.expovariate(1 / BURST_SECONDS))
            self.next_burst = self.burst_until + rng.expovariate(1 / BURST_GAP_SECONDS)

    def touch(self, s: Stock, dt: float, rng: random.Random) -> None:
        """A stock's regime changes at random times (a Poisson clock in trading seconds)."""
        if dt > 0 and rng.random() < 1 - math.exp(-dt / FOREIGN_REGIME_SECONDS):
            s.f_bias = _clamp(rng.gauss(self.stance, 0.45))

    def take(self, s: Stock, price: int, volume: int, rng: random.Random) -> bool:
        """Foreign shares of one match (buying within the room); True when there were any."""
        buy_share = FOREIGN_SHARE * (1 + s.f_bias)
        sell_share = FOREIGN_SHARE * (1 - s.f_bias)
        if self.burst_side:
            factor = BURST_FACTOR if s.symbol in self.burst_names else BURST_SPILL
            if self.burst_side > 0:
                buy_share *= factor
            else:
                sell_share *= factor
        room = s.total_room - s.foreign_held
        bought = min(stochastic_lots(volume * min(buy_share, 0.9), rng), volume, room)
        sold = min(stochastic_lots(volume * min(sell_share, 0.9), rng), volume, s.foreign_held)
        if bought <= 0 and sold <= 0:
            return False
        s.f_buy_vol += bought
        s.f_buy_val += price * bought
        s.f_sell_vol += sold
        s.f_sell_val += price * sold
        s.foreign_held += bought - sold
        return True
