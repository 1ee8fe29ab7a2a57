"""The simulated market's latent state, defined in continuous trading time.

Every process here moves by its exact transition over whatever time has passed since it
was last looked at, so a coarse stream (a few events per simulated second, used to catch
up on the session so far) and the fine live stream (hundreds per second) draw the same
prices, spreads and day volumes; only the number of snapshots of them differs.

- Market factor: an Ornstein–Uhlenbeck log-return around the day's theme.
- Each stock's fair value: ``ref · exp(beta · market + idio)``, with ``idio`` its own
  Ornstein–Uhlenbeck process around a daily theme (now and then a stock with news).
- Liquidity: volume accrues at a daily rate shaped over the day; an aggressor takes what
  has accrued since the stock last traded, at the touch, at most the displayed depth.
- Market makers quote one tick wide around fair value, sometimes two (a two-state Markov
  chain in time); a level taken out stays empty for a few seconds and depth refills.
- The VN30 futures basis is an Ornstein–Uhlenbeck process in index points.

Time ``t`` below is trading seconds since 09:00 (the lunch break does not count).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from backend.market.reference import LOT_SIZE, TRADING_SECONDS_PER_DAY, round_to_tick

ROOT_DAY = math.sqrt(TRADING_SECONDS_PER_DAY)  # daily volatility ÷ this = per sqrt(second)

# Market factor: instantaneous volatility per trading day, reversion time, theme and opening gap.
MARKET_VOL = 0.0095
MARKET_TAU = 5_400.0
MARKET_THEME_SD = 0.0065
MARKET_GAP_SD = 0.003
# Idiosyncratic part of each stock.
IDIO_VOL = (0.011, 0.016)
IDIO_TAU = 3_600.0
IDIO_THEME_SD = 0.007
IDIO_GAP_SD = 0.004
NEWS_CHANCE = 0.3  # chance a day has one stock with news: its theme is ±3–4.5%
BETA = (0.7, 1.3)
# Spreads: mean seconds a stock's market makers stay one tick / two ticks wide.
NARROW_SECONDS, WIDE_SECONDS = 150.0, 25.0
HOLE_SECONDS = 5.0  # mean time a price level taken out stays empty
REFILL_SECONDS = 20.0  # depth relaxes to its target with this time constant
DEPTH_SECONDS = 60.0  # depth of a level, in seconds of the stock's average volume
PENDING_SECONDS = 900.0  # at most this much of the average volume waits to trade
AGGRESSION = 3.0  # logistic slope of the buy probability in ticks of (fair − mid)
# Futures basis (points): mean, reversion time, stationary standard deviation.
BASIS_MEAN, BASIS_TAU, BASIS_SD = -3.0, 1_500.0, 11.0
CALENDAR_SPREAD = -1.5  # next month against the front month, points
# Daily turnover: a share of free-float shares plus a share of all shares.
TURNOVER_FREE_FLOAT, TURNOVER_ALL = 0.004, 0.0005
ATO_SHARE, ATC_SHARE = 0.03, 0.08  # of the day's volume matched in each auction


def ou_step(x: float, mean: float, tau: float, vol: float, dt: float, gauss: float) -> float:
    """Exact Ornstein–Uhlenbeck transition over ``dt``; ``vol`` per sqrt(second), ``gauss`` ~ N(0, 1)."""
    if dt <= 0:
        return x
    decay = math.exp(-dt / tau)
    return mean + (x - mean) * decay + vol * math.sqrt(tau / 2 * (1 - decay * decay)) * gauss


def stochastic_lots(volume: float, rng: random.Random, lot: int = LOT_SIZE) -> int:
    """``volume`` in whole lots, rounded up or down at random so that the expectation is kept."""
    if volume <= 0:
        return 0
    lots = volume / lot
    whole = int(lots)
    return (whole + (rng.random() < lots - whole)) * lot


def intraday_activity(sod: float) -> float:
    """Relative trading activity by VN time of day: busy after the open and before the close."""
    if sod < 9 * 3600 + 45 * 60:
        return 1.5
    if sod < 11 * 3600:
        return 1.0
    if sod < 13 * 3600 + 30 * 60:
        return 0.75
    if sod < 14 * 3600:
        return 0.95
    return 1.35


@dataclass(slots=True)
class Factor:
    """One Ornstein–Uhlenbeck process sampled lazily at increasing times."""

    x: float
    mean: float
    tau: float
    vol: float  # per sqrt(second)
    t: float = 0.0

    def at(self, t: float, rng: random.Random) -> float:
        if t > self.t:
            self.x = ou_step(self.x, self.mean, self.tau, self.vol, t - self.t, rng.gauss(0.0, 1.0))
            self.t = t
        return self.x


@dataclass(slots=True)
class Book:
    """Three price levels a side with volumes; prices VND (stocks) or points (futures)."""

    bids: list[tuple[float, int]] = field(default_factory=list)  # [(price, volume), ...] best first
    asks: list[tuple[float, int]] = field(default_factory=list)

    def signature(self) -> tuple[tuple[tuple[float, int], ...], tuple[tuple[float, int], ...]]:
        """Everything a quote message shows, to tell whether the book changed since it was sent."""
        return tuple(self.bids), tuple(self.asks)


@dataclass(slots=True)
class Liquidity:
    """Spread regime, level depths, holes left by trades and the volume waiting to trade.

    Volumes are in units of the instrument (shares for stocks, contracts for futures);
    ``lot`` is the trading unit (100 shares, 1 contract).
    """

    daily_volume: float  # units on an average day
    lot: int
    depth: dict[float, float] = field(default_factory=dict)  # price → displayed volume
    wide: bool = False
    hole_bid: tuple[float, float] = (0.0, -1.0)  # (price, until t)
    hole_ask: tuple[float, float] = (0.0, -1.0)
    pending: float = 0.0  # volume accrued since the last trade
    t: float = 0.0

    @property
    def rate(self) -> float:
        return self.daily_volume / TRADING_SECONDS_PER_DAY

    def advance(self, t: float, sod: float, rng: random.Random) -> float:
        """Move to ``t``: switch spread regime, refill depth, accrue volume. Returns the elapsed time."""
        dt = t - self.t
        if dt <= 0:
            return 0.0
        self.t = t
        # Two-state Markov chain: exact probability of being wide after dt.
        switch = 1 / NARROW_SECONDS + 1 / WIDE_SECONDS
        p_wide = (1 / NARROW_SECONDS) / switch
        p_wide += ((1.0 if self.wide else 0.0) - p_wide) * math.exp(-dt * switch)
        self.wide = rng.random() < p_wide
        refill = 1 - math.exp(-dt / REFILL_SECONDS)
        target = self.rate * DEPTH_SECONDS
        depth = self.depth
        for price, volume in depth.items():
            depth[price] = volume + (target - volume) * refill
        # Volume that finds no aggressor for a quarter of an hour is gone, not kept for later.
        self.pending = min(self.pending + self.rate * intraday_activity(sod) * dt, self.rate * PENDING_SECONDS)
        return dt

    def jiggle(self, rng: random.Random) -> None:
        """Orders come and go: one shown level changes size."""
        if self.depth:
            price = rng.choice(list(self.depth))
            self.depth[price] *= rng.uniform(0.6, 1.5)

    def wanted(self, rng: random.Random) -> int:
        """What an aggressor wants now: about the volume accrued since the last trade, in lots (0: none)."""
        lot = self.lot
        if self.pending < lot / 2:
            return 0
        size = self.pending * rng.uniform(0.5, 1.5)
        if rng.random() < 0.04:
            size *= 6  # now and then a block: later trades wait until the accrual catches up
        return max(lot, int(size / lot + 0.5) * lot)


def fill_book(book: Book, liq: Liquidity, bids: list, asks: list, rng: random.Random) -> None:
    """Put volumes on the levels (a new level gets a fresh random depth), in whole lots."""
    depth, lot = liq.depth, liq.lot
    if len(depth) > 12:  # forget depth at prices no longer shown
        shown = {*bids, *asks}
        for price in [p for p in depth if p not in shown]:
            del depth[price]
    base = liq.rate * DEPTH_SECONDS
    book.bids = [(p, _shown(depth, p, i, base, lot, rng)) for i, p in enumerate(bids)]
    book.asks = [(p, _shown(depth, p, i, base, lot, rng)) for i, p in enumerate(asks)]


def _shown(depth: dict[float, float], price: float, level: int, base: float, lot: int, rng: random.Random) -> int:
    v = depth.get(price)
    if v is None:
        v = depth[price] = base * (1 + 0.35 * level) * rng.uniform(0.4, 1.8)
    lots = int(v / lot)
    return lots * lot if lots else lot


def take(book: Book, liq: Liquidity, buy: bool, wanted: int, t: float, rng: random.Random) -> tuple[float, int]:
    """An aggressor takes up to ``wanted`` at the touch: (price, volume); (0, 0) when that side is empty."""
    side = book.asks if buy else book.bids
    if not side or wanted <= 0:
        return 0.0, 0
    price, shown = side[0]
    volume = int(min(wanted, shown))
    if volume >= shown:
        liq.depth.pop(price, None)
        hole = (price, t + rng.expovariate(1 / HOLE_SECONDS))
        if buy:
            liq.hole_ask = hole
        else:
            liq.hole_bid = hole
        side.pop(0)
    else:
        liq.depth[price] = max(liq.depth.get(price, 0.0) - volume, float(liq.lot))
        side[0] = (price, shown - volume)
    liq.pending -= volume
    return price, volume


def _up(p: int) -> int:
    return p + (10 if p < 10_000 else 50 if p < 50_000 else 100)


def _down(p: int) -> int:
    return p - (10 if p <= 10_000 else 50 if p <= 50_000 else 100)


def stock_levels(fair: float, liq: Liquidity, floor: int, ceiling: int, t: float) -> tuple[list[int], list[int]]:
    """Bid and ask prices (best first) a market maker shows around ``fair`` inside the band."""
    if liq.wide:
        centre = round_to_tick(fair)
        bid, ask = _down(centre), _up(centre)
    else:
        bid = round_to_tick(fair, direction=-1)
        ask = _up(bid)
    if ask == liq.hole_ask[0] and liq.hole_ask[1] > t:
        ask = _up(ask)
    if bid == liq.hole_bid[0] and liq.hole_bid[1] > t:
        bid = _down(bid)
    if bid >= ceiling:
        return [p for p in (ceiling, _down(ceiling), _down(_down(ceiling))) if p >= floor], []  # limit up
    if ask <= floor:
        return [], [p for p in (floor, _up(floor), _up(_up(floor))) if p <= ceiling]  # limit down
    b2, a2 = _down(bid), _up(ask)
    bids = [p for p in (bid, b2, _down(b2)) if p >= floor]
    asks = [p for p in (ask, a2, _up(a2)) if p <= ceiling]
    return bids, asks


def future_levels(fair: float, liq: Liquidity, floor: float, ceiling: float, t: float) -> tuple[list[float], list[float]]:
    """The same for a futures contract on its 0.1-point grid (prices kept as exact tenths)."""
    tenths = math.floor(fair * 10)
    bid, ask = (tenths - 1, tenths + 1) if liq.wide else (tenths, tenths + 1)
    if liq.hole_ask[1] > t and ask == round(liq.hole_ask[0] * 10):
        ask += 1
    if liq.hole_bid[1] > t and bid == round(liq.hole_bid[0] * 10):
        bid -= 1
    lo, hi = round(floor * 10), round(ceiling * 10)
    if bid >= hi:
        bid, ask = hi, hi + 1
    elif ask <= lo:
        bid, ask = lo - 1, lo
    bids = [(bid - i) / 10 for i in range(3) if lo <= bid - i <= hi]
    asks = [(ask + i) / 10 for i in range(3) if lo <= ask + i <= hi]
    return bids, asks


def buy_probability(fair: float, book: Book, unit: float) -> float:
    """Aggressors lean towards fair value: more buying when it sits above the mid-quote."""
    if not book.asks:
        return 0.0
    if not book.bids:
        return 1.0
    mid = (book.bids[0][0] + book.asks[0][0]) / 2
    return 1 / (1 + math.exp(-AGGRESSION * (fair - mid) / unit))
