"""A seedable HOSE trading day emitting SSI FastConnect messages.

Prices, spreads, volumes and the futures basis come from the continuous-time model in
:mod:`backend.market.feed.sim_model`, so the stream's density (events per simulated
second) only decides how often the market is looked at, not how it moves. A day started
after the open first replays the session so far at a coarse ``catch_up_density``
(``catching_up`` is True while it does), then continues at ``density``.

Market makers quote one tick wide (sometimes two) around each stock's fair value on the
HOSE tick grid inside the ±7% band, in lots of 100; aggressors trade at the touch (walking
the book when they want more than it shows); auctions (ATO 09:15, ATC 14:45) match at
fair value; foreign investors take a share of each continuous trade that follows their
regime and bursts on a few names, buying only while the stock has room (they stay out of
the auctions); VN30 (free-float weights) and VNINDEX (full capitalisation) are computed from
the last prices every ``index_interval`` seconds; two VN30 futures contracts quote and
trade around VN30 plus a mean-reverting basis.
"""

from __future__ import annotations

import math
import random
import string
from bisect import bisect
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from itertools import accumulate

from backend.market.events import Phase
from backend.market.feed.sim_flow import ForeignFlows, Future, Stock, make_stock
from backend.market.feed.sim_messages import SESSION_CODES, Message, MessageWriter
from backend.market.feed.sim_model import (
    ATC_SHARE,
    ATO_SHARE,
    BASIS_MEAN,
    BASIS_SD,
    BASIS_TAU,
    CALENDAR_SPREAD,
    MARKET_GAP_SD,
    MARKET_TAU,
    MARKET_THEME_SD,
    MARKET_VOL,
    ROOT_DAY,
    Factor,
    Liquidity,
    buy_probability,
    fill_book,
    future_levels,
    stochastic_lots,
    stock_levels,
    take,
)
from backend.market.reference import (
    ATC_END,
    ATC_START,
    ATO_START,
    CONT_START,
    LUNCH_END,
    LUNCH_START,
    VN30,
    VN30_PRIOR_CLOSE,
    VN_TZ,
    VNINDEX_PRIOR_CLOSE,
    Constituent,
    futures_contracts,
    phase_at,
    round_to_tick,
    tick_size,
    trading_seconds_elapsed,
    vn_epoch,
)

PRE_OPEN = ATO_START - 60  # securities' status goes out a minute before the open
# Events per simulated second while catching up (each one to four messages): a whole morning
# and afternoon is then ~35,000 messages, which the simulator makes and the core takes in
# in about 1.5 s of CPU.
CATCH_UP_DENSITY = 1.0
MAX_WALK = 3  # price levels an aggressor may take in one go
HEARTBEAT_SECONDS = 60.0  # index heartbeats while waiting through a break on the wall clock
FUTURES_DAILY_CONTRACTS = (220_000.0, 2_500.0)  # front month, next month


_BOUNDARIES = (ATO_START, CONT_START, LUNCH_START, LUNCH_END, ATC_START, ATC_END)


def _phase_end(sod: float) -> int:
    """The next session boundary after a time of day (ATC's end once past it)."""
    for boundary in _BOUNDARIES:
        if sod < boundary:
            return boundary
    return ATC_END + 86_400


def hose_universe(seed: int, extra: int) -> list[Constituent]:
    """The VN30 plus ``extra`` synthetic HOSE symbols at realistic price levels."""
    rng = random.Random(seed * 7919 + 1)
    taken = {c.symbol for c in VN30}
    out = list(VN30)
    while len(out) < 30 + extra:
        symbol = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
        if symbol in taken:
            continue
        taken.add(symbol)
        price = round_to_tick(math.exp(rng.uniform(math.log(2_500), math.log(90_000))))
        out.append(Constituent(symbol, price, rng.uniform(30, 900), rng.uniform(0.2, 0.9), rng.choice((0.49, 0.49, 0.3))))
    return out


def next_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


class MarketSimulator(MessageWriter):
    """Generates HOSE sessions as (timestamp, message) pairs.

    ``start`` is where the live part of the stream begins: a start inside the trading day
    is preceded by the session so far at ``catch_up_density``. ``density`` is events per
    simulated second after that (each event is one to four messages). With ``skip_breaks``
    the clock jumps over waits (before the open, lunch); otherwise index heartbeats every
    minute let a paced consumer wait through them. The night is always jumped. With
    ``days`` the stream ends after that many trading days (None: endless).
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        start: datetime | None = None,
        density: float = 20.0,
        catch_up_density: float = CATCH_UP_DENSITY,
        universe: str = "vn30",
        symbols: tuple[str, ...] | None = None,
        skip_breaks: bool = True,
        days: int | None = None,
        send_side: bool = True,
        index_interval: float = 5.0,
        vn30_prior: float = VN30_PRIOR_CLOSE,
        vnindex_prior: float = VNINDEX_PRIOR_CLOSE,
    ) -> None:
        if not (0 < density <= 1_000_000):
            raise ValueError(f"density must be in (0, 1e6] events per simulated second, got {density}")
        if not (0 < catch_up_density <= 1_000_000):
            raise ValueError(f"catch_up_density must be in (0, 1e6], got {catch_up_density}")
        if universe not in ("vn30", "hose"):
            raise ValueError(f"universe must be 'vn30' or 'hose', got {universe!r}")
        if days is not None and days < 1:
            raise ValueError(f"days must be ≥ 1, got {days}")
        if index_interval <= 0:
            raise ValueError(f"index_interval must be positive, got {index_interval}")
        if not (vn30_prior > 0 and vnindex_prior > 0):
            raise ValueError("prior index closes must be positive")
        super().__init__(send_side=send_side)
        self.rng = random.Random(seed)
        self.density = density
        self.catch_up_density = min(catch_up_density, density)
        self.skip_breaks = skip_breaks
        self.days = days
        self.index_interval = index_interval
        start = start or datetime.now(VN_TZ).replace(hour=9, minute=0, second=0, microsecond=0)
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        start = start.astimezone(VN_TZ)
        constituents = hose_universe(seed, 370) if universe == "hose" else list(VN30)
        if symbols is not None:
            unknown = set(symbols) - {c.symbol for c in constituents}
            if unknown:
                raise ValueError(f"unknown symbols {sorted(unknown)}")
        self.stocks = [make_stock(c, self.rng) for c in constituents]
        vn30 = {c.symbol for c in VN30}
        self.vn30 = [s for s in self.stocks if s.symbol in vn30]
        # Only these symbols trade and quote (the indices still use every stock).
        self.active = [s for s in self.stocks if symbols is None or s.symbol in symbols]
        self._cum_weights = list(accumulate(math.sqrt(s.liq.daily_volume * s.ref) for s in self.active))
        self.vn30_prior, self.vnindex_prior = vn30_prior, vnindex_prior
        self.day = next_weekday(start.date())
        start_sod = start.hour * 3600 + start.minute * 60 + start.second
        self.live_from = vn_epoch(self.day) + start_sod
        # A start after the pre-open replays the day from the pre-open first.
        self.catching_up = start_sod > PRE_OPEN
        self._swept = False
        self.clock = vn_epoch(self.day) + (PRE_OPEN if self.catching_up else start_sod)
        self.futures: list[Future] = []
        self.foreign = ForeignFlows(self.rng)
        self._basis = Factor(BASIS_MEAN, BASIS_MEAN, BASIS_TAU, BASIS_SD * math.sqrt(2 / BASIS_TAU))
        self._start_of_day()

    # --- setup ------------------------------------------------------------------------
    def _start_of_day(self) -> None:
        rng = self.rng
        self._new_day(vn_epoch(self.day), self.day.strftime("%d/%m/%Y"))
        self.market = Factor(rng.gauss(0, MARKET_GAP_SD), rng.gauss(0, MARKET_THEME_SD), MARKET_TAU, MARKET_VOL / ROOT_DAY)
        news = rng.choice(self.stocks) if rng.random() < 0.3 else None
        for s in self.stocks:
            s.start_day(rng, news=s is news)
        self.foreign.start_day(self.stocks)
        self._basis.t = 0.0
        codes = futures_contracts(self.day, 2)
        old = {f.symbol: f for f in self.futures}
        self.futures = []
        for code, daily, offset in zip(codes, FUTURES_DAILY_CONTRACTS, (0.0, CALENDAR_SPREAD), strict=True):
            prior = old.get(code)
            ref = prior.last if prior is not None and prior.last else round(self.vn30_prior + BASIS_MEAN + offset, 1)
            self.futures.append(Future(code, ref, offset, Liquidity(daily * rng.uniform(0.7, 1.3), 1)))
        self._next_index = self.clock
        self._vn30_fair_at = (-math.inf, self.vn30_prior)
        self._status_sent = self._ato_done = self._atc_started = self._atc_done = False

    # --- stream -----------------------------------------------------------------------
    def stream(self) -> Iterator[Message]:
        pending = self._pending
        days_done = 0
        while True:
            if pending:
                yield pending.popleft()
                continue
            sod = self.clock - self._epoch
            if self.catching_up and self.clock >= self.live_from:
                if not self._swept and ATO_START <= sod < ATC_END:
                    self._swept = True
                    self._sweep()  # every book and the indices as they stand when the live part begins
                    continue
                self.catching_up = False  # only once the sweep's messages are out
                continue
            if not self._status_sent:
                if sod < PRE_OPEN:
                    self._wait_until(PRE_OPEN)
                else:
                    self._emit_status("ATO")
                continue
            phase = phase_at(sod)
            if phase is Phase.PRE_OPEN:  # status sent: the market opens at 09:00
                self.clock = self._epoch + ATO_START
                continue
            if phase is Phase.LUNCH:
                self._wait_until(LUNCH_END)
                continue
            if sod >= ATC_END:
                if not self._atc_done:
                    self._auction("ATC")
                    continue
                days_done += 1
                if self.days is not None and days_done >= self.days:
                    return
                self._roll_day()
                continue
            if phase is Phase.CONTINUOUS and not self._ato_done:
                self._auction("ATO")
                continue
            if phase is Phase.ATC and not self._atc_started:
                self._atc_started = True
                self._emit_status("ATC")
                continue
            density = self.catch_up_density if self.catching_up else self.density
            self.clock += self.rng.expovariate(density) if density < 50 else 1.0 / density
            if self.clock - self._epoch >= _phase_end(sod):
                # The next phase starts on its boundary, with its own bookkeeping (status, auction).
                self.clock = self._epoch + _phase_end(sod)
                continue
            self._step(phase)

    def _wait_until(self, target_sod: float) -> None:
        """Jump to ``target_sod``, or (breaks kept, live part) send a heartbeat and wait a minute."""
        target = self._epoch + target_sod
        if self.catching_up:  # (the clock is still before live_from here)
            self.clock = min(target, self.live_from)
            return
        if self.skip_breaks:
            self.clock = max(self.clock, target)
            return
        self._emit_indices()
        self.clock = min(self.clock + HEARTBEAT_SECONDS, target)

    def _step(self, phase: Phase) -> None:
        sod = self.clock - self._epoch
        t = trading_seconds_elapsed(sod)
        self.market.at(t, self.rng)
        self.foreign.advance(t, self.rng)
        if self.clock >= self._next_index:
            # Catching up, a point every few index intervals is plenty: the charts draw one a minute.
            self._next_index = self.clock + self.index_interval * (3 if self.catching_up else 1)
            self._emit_indices()
        r = self.rng.random()
        if r < 0.08:
            f = self.futures[0] if self.rng.random() < 0.9 else self.futures[1]
            self._future_event(f, t, sod, trade=phase is Phase.CONTINUOUS)
            return
        s = self.active[bisect(self._cum_weights, self.rng.random() * self._cum_weights[-1])]
        if phase is Phase.CONTINUOUS and r < 0.55:
            self._trade(s, t, sod)
        else:
            fair = self._touch(s, t, sod)
            s.liq.jiggle(self.rng)
            self._quote_book(s, fair, t)
            self._emit_quote(s.symbol, s.book, s, "HOSE")

    # --- stocks -----------------------------------------------------------------------
    def _touch(self, s: Stock, t: float, sod: float) -> float:
        """Bring a stock to time ``t``: its liquidity, its fair value and its market makers' book."""
        rng = self.rng
        dt = s.liq.advance(t, sod, rng)
        self.foreign.touch(s, dt, rng)
        return s.fair(self.market.x, t, rng)

    def _quote_book(self, s: Stock, fair: float, t: float) -> None:
        bids, asks = stock_levels(fair, s.liq, s.floor, s.ceiling, t)
        fill_book(s.book, s.liq, bids, asks, self.rng)

    def _trade(self, s: Stock, t: float, sod: float) -> None:
        rng = self.rng
        fair = self._touch(s, t, sod)
        self._quote_book(s, fair, t)
        quoted = self._emit_quote(s.symbol, s.book, s, "HOSE")  # the book the aggressor meets
        wanted = s.liq.wanted(rng)
        buy = rng.random() < buy_probability(fair, s.book, tick_size(fair))
        printed = foreign = False
        # The aggressor takes the volume accrued since the stock last traded; when that is more
        # than the touch shows (on a coarse grain it can be) it walks the book, each print at
        # the touch of the quote sent just before it.
        for _ in range(MAX_WALK):
            price, volume = take(s.book, s.liq, buy, wanted, t, rng)
            if not volume:
                break
            printed = True
            wanted -= volume
            self._record_trade(s, int(price), volume, "LO", "BU" if buy else "SD")
            foreign |= self.foreign.take(s, int(price), volume, rng)
            self._quote_book(s, fair, t)
            self._emit_quote(s.symbol, s.book, s, "HOSE", force=True)
            if wanted <= 0:
                break
        if foreign:
            self._foreign_message(s)
        if not printed and not quoted:  # nothing traded: orders still come and go
            s.liq.jiggle(rng)
            self._quote_book(s, fair, t)
            self._emit_quote(s.symbol, s.book, s, "HOSE")

    def _foreign_take(self, s: Stock, price: int, volume: int) -> None:
        if self.foreign.take(s, price, volume, self.rng):
            self._foreign_message(s)

    def _auction(self, session: str) -> None:
        """ATO or ATC: every stock and contract matches once at its fair value."""
        rng = self.rng
        sod = (CONT_START if session == "ATO" else ATC_END) - 1e-6
        t = trading_seconds_elapsed(sod)
        self.market.at(t, rng)
        share = ATO_SHARE if session == "ATO" else ATC_SHARE
        for s in self.active:
            fair = self._touch(s, t, sod)
            price = min(max(round_to_tick(fair), s.floor), s.ceiling)
            volume = max(100, stochastic_lots(s.liq.daily_volume * share * rng.lognormvariate(0, 0.3), rng))
            # Foreign investors' auction orders are left out: one print of a whole auction's
            # foreign flow would look like an acceleration on every symbol at once.
            self._record_trade(s, price, volume, session, None)
            s.liq.pending = 0.0  # the auction took what accrued while it collected orders
            if session == "ATO":
                self._quote_book(s, fair, t)
                self._emit_quote(s.symbol, s.book, s, "HOSE", session="LO")
        for f in self.futures:
            fair = self._future_fair(f, t)
            price = min(max(round(fair, 1), f.floor), f.ceiling)
            volume = max(1, stochastic_lots(f.liq.daily_volume * share * rng.lognormvariate(0, 0.3), rng, 1))
            self._record_future(f, price, volume, session, None)
            f.liq.pending = 0.0
        if session == "ATO":
            self._ato_done = True
            self._emit_status("LO")
        else:
            self._atc_done = True
            self._emit_status("C")
        self._emit_indices()

    def _sweep(self) -> None:
        sod = self.clock - self._epoch
        t = trading_seconds_elapsed(sod)
        self.market.at(t, self.rng)
        session = SESSION_CODES.get(phase_at(sod), "LO")
        continuous = phase_at(sod) is Phase.CONTINUOUS
        for s in self.active:
            if continuous:
                self._trade(s, t, sod)  # what has accrued since each stock last traded goes now, not live
            else:
                fair = self._touch(s, t, sod)
                self._quote_book(s, fair, t)
                self._emit_quote(s.symbol, s.book, s, "HOSE", session=session)
        for f in self.futures:
            self._future_event(f, t, sod, trade=continuous)
        self._emit_indices()

    # --- futures ----------------------------------------------------------------------
    def _vn30_fair(self, t: float) -> float:
        """VN30 at the stocks' fair values; recomputed at most once a trading second."""
        if t - self._vn30_fair_at[0] >= 1.0 or t < self._vn30_fair_at[0]:
            m, rng = self.market.x, self.rng
            num = sum(s.fair(m, t, rng) * s.weight for s in self.vn30)
            den = sum(s.ref * s.weight for s in self.vn30)
            self._vn30_fair_at = (t, self.vn30_prior * num / den)
        return self._vn30_fair_at[1]

    def _future_fair(self, f: Future, t: float) -> float:
        return self._vn30_fair(t) + self._basis.at(t, self.rng) + f.offset

    def _future_event(self, f: Future, t: float, sod: float, *, trade: bool) -> None:
        rng = self.rng
        f.liq.advance(t, sod, rng)
        fair = self._future_fair(f, t)
        bids, asks = future_levels(fair, f.liq, f.floor, f.ceiling, t)
        fill_book(f.book, f.liq, bids, asks, rng)
        session = SESSION_CODES.get(phase_at(sod), "LO")
        quoted = self._emit_quote(f.symbol, f.book, f, "DER", session=session)
        if not trade:
            return
        buy = rng.random() < buy_probability(fair, f.book, 0.1)
        wanted, printed = f.liq.wanted(rng), False
        for _ in range(MAX_WALK):
            price, volume = take(f.book, f.liq, buy, wanted, t, rng)
            if not volume:
                break
            printed = True
            wanted -= volume
            self._record_future(f, price, volume, "LO", "BU" if buy else "SD")
            fill_book(f.book, f.liq, *future_levels(fair, f.liq, f.floor, f.ceiling, t), rng)
            self._emit_quote(f.symbol, f.book, f, "DER", force=True)
            if wanted <= 0:
                break
        if not printed and not quoted:
            f.liq.jiggle(rng)
            fill_book(f.book, f.liq, bids, asks, rng)
            self._emit_quote(f.symbol, f.book, f, "DER")

    def vn30_value(self) -> float:
        """VN30 from the last prices: free-float capitalisation against the reference prices."""
        num = sum(s.last * s.weight for s in self.vn30)
        den = sum(s.ref * s.weight for s in self.vn30)
        return self.vn30_prior * num / den

    def vnindex_value(self) -> float:
        num = sum(s.last * s.shares for s in self.stocks)
        den = sum(s.ref * s.shares for s in self.stocks)
        return self.vnindex_prior * num / den

    def _emit_indices(self) -> None:
        self._emit_index("VN30", self.vn30, self.vn30_value(), self.vn30_prior)
        self._emit_index("VNINDEX", self.stocks, self.vnindex_value(), self.vnindex_prior)

    def _emit_status(self, session: str) -> None:  # type: ignore[override]
        if session == "ATO":
            self._status_sent = True
        super()._emit_status(session, self.active, self.futures)

    def _roll_day(self) -> None:
        self.vn30_prior, self.vnindex_prior = round(self.vn30_value(), 2), round(self.vnindex_value(), 2)
        for s in self.stocks:
            s.ref = s.last
        self.day = next_weekday(self.day + timedelta(days=1))
        self.clock = vn_epoch(self.day) + PRE_OPEN
        self._start_of_day()


def vn_start(day: date, hhmm: str = "09:00") -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=VN_TZ)


__all__ = ["ATC_START", "CONT_START", "LUNCH_START", "MarketSimulator", "Message", "hose_universe", "vn_start"]
