"""A seedable, realistic HOSE trading day emitting SSI FastConnect messages.

The model: a market factor (random walk) drives each stock's fair price through its beta;
aggressors lift the ask or hit the bid of a three-level book on the HOSE tick grid inside
the ±7% band, in lots of 100; foreign investors take part in some trades (buying only
while the stock has room), with flow regimes that switch during the day; VN30 and
VNINDEX are computed from the stocks (free-float and full capitalisation weights); the
front-month and next-month VN30 futures track VN30 with a mean-reverting basis. The day
runs ATO → continuous → lunch → continuous → ATC → close on the VN clock.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import orjson

from backend.market.events import Phase
from backend.market.reference import (
    ATC_END,
    ATC_START,
    ATO_START,
    CONT_START,
    LOT_SIZE,
    LUNCH_END,
    LUNCH_START,
    VN30,
    VN_TZ,
    Constituent,
    ceiling_price,
    floor_price,
    futures_ceiling,
    futures_contracts,
    futures_floor,
    next_tick,
    phase_at,
    round_to_tick,
    vn_epoch,
)

Message = tuple[float, str]  # (epoch seconds on the simulated clock, raw message)


@dataclass(slots=True)
class _Stock:
    symbol: str
    ref: int
    shares: float
    free_float: float
    beta: float
    vol: float  # idiosyncratic volatility per sqrt(second), in log terms
    liquidity: float  # relative chance of being picked
    total_room: int
    foreign_held: int
    ceiling: int = 0
    floor: int = 0
    last: int = 0
    idio: float = 0.0
    bids: list[list[int]] = field(default_factory=list)  # [[price, volume], ...] best first
    asks: list[list[int]] = field(default_factory=list)
    total_vol: int = 0
    total_val: float = 0.0
    high: int = 0
    low: int = 0
    opened: bool = False
    f_buy_vol: int = 0
    f_sell_vol: int = 0
    f_buy_val: float = 0.0
    f_sell_val: float = 0.0
    f_bias: float = 0.0  # foreign regime: >0 net buying, <0 net selling

    @property
    def vn30_weight(self) -> float:
        return self.shares * self.free_float


@dataclass(slots=True)
class _Future:
    symbol: str
    ref: float
    share: float  # fraction of futures activity
    last: float = 0.0
    total_vol: int = 0
    total_val: float = 0.0
    high: float = 0.0
    low: float = 0.0


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


class MarketSimulator:
    """Generates a HOSE session as (timestamp, message) pairs.

    ``density`` is messages per simulated second during trading. With
    ``skip_breaks`` the clock jumps over the lunch break and the night; with
    ``days`` the stream ends after that many trading days (None: endless).
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        start: datetime | None = None,
        density: float = 20.0,
        universe: str = "vn30",
        symbols: tuple[str, ...] | None = None,
        skip_breaks: bool = True,
        days: int | None = None,
        send_side: bool = True,
        index_interval: float = 5.0,
        vn30_prior: float = 1_300.0,
        vnindex_prior: float = 1_250.0,
    ) -> None:
        if not (0 < density <= 1_000_000):
            raise ValueError(f"density must be in (0, 1e6] messages per simulated second, got {density}")
        if universe not in ("vn30", "hose"):
            raise ValueError(f"universe must be 'vn30' or 'hose', got {universe!r}")
        if days is not None and days < 1:
            raise ValueError(f"days must be ≥ 1, got {days}")
        if index_interval <= 0:
            raise ValueError(f"index_interval must be positive, got {index_interval}")
        self.rng = random.Random(seed)
        self.density = density
        self.skip_breaks = skip_breaks
        self.days = days
        self.send_side = send_side
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
        self.stocks = [self._make_stock(c) for c in constituents]
        self.vn30 = [s for s in self.stocks if s.symbol in {c.symbol for c in VN30}]
        # Only these symbols trade and quote (the indices still use every stock).
        self.active = [s for s in self.stocks if symbols is None or s.symbol in symbols]
        self.weights = [s.liquidity for s in self.active]
        self.vn30_prior, self.vnindex_prior = vn30_prior, vnindex_prior
        self.day = start.date()
        while self.day.weekday() >= 5:
            self.day += timedelta(days=1)
        self.clock = vn_epoch(self.day) + start.hour * 3600 + start.minute * 60 + start.second
        self.market = 0.0  # log-return of the market factor since the open
        self.basis = -2.0
        self.futures: list[_Future] = []
        self._start_of_day()

    # --- setup ------------------------------------------------------------------------
    def _make_stock(self, c: Constituent) -> _Stock:
        rng = self.rng
        shares = c.shares_m * 1e6
        total_room = int(shares * c.foreign_limit) // LOT_SIZE * LOT_SIZE
        held = int(total_room * rng.uniform(0.5, 0.995)) // LOT_SIZE * LOT_SIZE
        return _Stock(
            symbol=c.symbol, ref=c.ref_price, shares=shares, free_float=c.free_float,
            beta=rng.uniform(0.6, 1.4), vol=rng.uniform(0.00012, 0.00030),
            liquidity=math.sqrt(c.shares_m * c.free_float), total_room=total_room, foreign_held=held,
        )  # fmt: skip

    def _start_of_day(self) -> None:
        self.market = 0.0
        for s in self.stocks:
            s.ceiling, s.floor = ceiling_price(s.ref), floor_price(s.ref)
            s.last = s.ref
            s.idio = 0.0
            s.total_vol, s.total_val, s.high, s.low, s.opened = 0, 0.0, 0, 0, False
            s.f_buy_vol = s.f_sell_vol = 0
            s.f_buy_val = s.f_sell_val = 0.0
            s.f_bias = self.rng.gauss(0, 0.3)
            self._reset_book(s, s.ref)
        vn30 = self.vn30_prior
        codes = futures_contracts(self.day, 2)
        old = {f.symbol: f for f in self.futures}
        self.futures = []
        for code, share in zip(codes, (0.92, 0.08), strict=True):
            ref = old[code].last if code in old and old[code].last else round(vn30 + self.basis, 1)
            self.futures.append(_Future(code, ref, share))
        self._next_index = self.clock
        self._pending: list[Message] = []
        self._status_sent = False
        self._ato_done = self._atc_done = False

    def _reset_book(self, s: _Stock, around: int) -> None:
        around = min(max(around, s.floor), s.ceiling)
        bid = around
        ask = next_tick(bid)
        s.bids, s.asks = [], []
        p = bid
        for _ in range(3):
            if p < s.floor:
                break
            s.bids.append([p, self._lot(s)])
            p = next_tick(p, -1)
        p = ask
        for _ in range(3):
            if p > s.ceiling:
                break
            s.asks.append([p, self._lot(s)])
            p = next_tick(p)

    def _lot(self, s: _Stock) -> int:
        return LOT_SIZE * max(1, int(self.rng.expovariate(1 / 40)) + 1)

    # --- stream -----------------------------------------------------------------------
    def stream(self) -> Iterator[Message]:
        step = 1.0 / self.density
        days_done = 0
        while True:
            if self._pending:
                yield self._pending.pop(0)
                continue
            sod = self.clock - vn_epoch(self.day)
            phase = phase_at(sod)
            if not self._status_sent and sod >= ATO_START - 60:
                self._emit_status()
                continue
            if phase in (Phase.PRE_OPEN,):
                self.clock = vn_epoch(self.day) + ATO_START - (60 if not self._status_sent else 0)
                continue
            if phase is Phase.LUNCH:
                if self.skip_breaks:
                    self.clock = vn_epoch(self.day) + LUNCH_END
                else:
                    self.clock += step
                continue
            if sod >= ATC_END:
                if not self._atc_done:
                    self._auction_match("ATC")
                    self._emit_indices()
                    continue
                days_done += 1
                if self.days is not None and days_done >= self.days:
                    return
                self._roll_day()
                continue
            if phase is Phase.CONTINUOUS and not self._ato_done:
                self._auction_match("ATO")
                continue
            self.clock += self.rng.expovariate(self.density) if self.density < 50 else step
            if phase_at(self.clock - vn_epoch(self.day)) is not phase:
                continue  # crossed into the next phase: it starts with its own bookkeeping
            self._step(phase)

    def _step(self, phase: Phase) -> None:
        self._move_market()
        if self.clock >= self._next_index:
            self._next_index = self.clock + self.index_interval
            self._emit_indices()
            return
        if phase in (Phase.ATO, Phase.ATC):
            s = self._pick()
            self._emit_quote(s, phase)
            return
        r = self.rng.random()
        if r < 0.08:
            self._future_trade()
        elif r < 0.50:
            self._trade(self._pick())
        else:
            s = self._pick()
            self._requote(s)
            self._emit_quote(s, phase)

    def _move_market(self) -> None:
        dt = 1.0 / self.density
        self.market += self.rng.gauss(0, 0.00008 * math.sqrt(dt))
        self.basis += 0.002 * (-2.0 - self.basis) * dt + self.rng.gauss(0, 0.08 * math.sqrt(dt))
        if self.rng.random() < 0.00002 * dt * self.density:
            self.basis += self.rng.choice((-1, 1)) * self.rng.uniform(10, 25)  # a basis shock
        if self.rng.random() < 0.0005:
            s = self.rng.choice(self.active)
            s.f_bias = max(-0.95, min(0.95, self.rng.gauss(0, 0.6)))

    def _pick(self) -> _Stock:
        return self.rng.choices(self.active, self.weights)[0]

    def _fair(self, s: _Stock) -> float:
        return s.ref * math.exp(s.beta * self.market + s.idio)

    # --- order book and trades --------------------------------------------------------
    def _requote(self, s: _Stock) -> None:
        s.idio += self.rng.gauss(0, s.vol * 3)
        fair = self._fair(s)
        if s.bids and s.asks and (fair > s.asks[0][0] or fair < s.bids[0][0]) and self.rng.random() < 0.5:
            self._reset_book(s, round_to_tick(fair, direction=-1))
            return
        side = s.bids if self.rng.random() < 0.5 else s.asks
        if side:
            level = side[self.rng.randrange(len(side))]
            level[1] = max(LOT_SIZE, level[1] + LOT_SIZE * self.rng.randint(-20, 30))
        self._fill_levels(s)

    def _fill_levels(self, s: _Stock) -> None:
        if not s.bids and not s.asks:
            self._reset_book(s, s.last)
            return
        if not s.bids and s.asks[0][0] > s.floor:
            s.bids.append([next_tick(s.asks[0][0], -1), self._lot(s)])
        if not s.asks and s.bids[0][0] < s.ceiling:
            s.asks.append([next_tick(s.bids[0][0]), self._lot(s)])
        while s.bids and len(s.bids) < 3 and next_tick(s.bids[-1][0], -1) >= s.floor:
            s.bids.append([next_tick(s.bids[-1][0], -1), self._lot(s)])
        while s.asks and len(s.asks) < 3 and next_tick(s.asks[-1][0]) <= s.ceiling:
            s.asks.append([next_tick(s.asks[-1][0]), self._lot(s)])

    def _trade(self, s: _Stock) -> None:
        s.idio += self.rng.gauss(0, s.vol)
        fair = self._fair(s)
        mid = (s.bids[0][0] + s.asks[0][0]) / 2 if s.bids and s.asks else s.last
        lean = (fair - mid) / max(s.ref * 0.002, 1)
        buy = self.rng.random() < 1 / (1 + math.exp(-lean))
        book = s.asks if buy else s.bids
        if not book:
            self._fill_levels(s)
            book = s.asks if buy else s.bids
            if not book:
                return
        price, available = book[0]
        volume = min(available, self._lot(s) * (1 + int(self.rng.random() < 0.1) * 5))
        if volume >= available:
            book.pop(0)
        else:
            book[0][1] -= volume
        self._fill_levels(s)
        self._record_trade(s, price, volume, "LO", "BU" if buy else "SD")
        self._foreign_take(s, price, volume, buy)
        self._emit_quote(s, Phase.CONTINUOUS)

    def _record_trade(self, s: _Stock, price: int, volume: int, session: str, side: str | None) -> None:
        s.last = price
        s.total_vol += volume
        s.total_val += price * volume
        s.high = max(s.high, price)
        s.low = min(s.low, price) if s.low else price
        content = self._head("X-TRADE", s.symbol) | {
            "Ceiling": s.ceiling, "Floor": s.floor, "RefPrice": s.ref,
            "LastPrice": price, "LastVol": volume, "TotalVol": s.total_vol, "TotalVal": s.total_val,
            "Highest": s.high, "Lowest": s.low, "TradingSession": session, "Exchange": "HOSE",
        }  # fmt: skip
        if side and self.send_side:
            content["Side"] = side
        self._push("X-TRADE", content)

    def _foreign_take(self, s: _Stock, price: int, volume: int, buy: bool) -> None:
        if self.rng.random() > 0.3:
            return
        # Foreigners are on the aggressor's side more often when their regime favours it.
        foreign_buys = self.rng.random() < 0.5 + 0.5 * s.f_bias
        room = s.total_room - s.foreign_held
        if foreign_buys:
            volume = min(volume, room // LOT_SIZE * LOT_SIZE)
            if volume <= 0:
                return
            s.f_buy_vol += volume
            s.f_buy_val += price * volume
            s.foreign_held += volume
        else:
            volume = min(volume, s.foreign_held)
            s.f_sell_vol += volume
            s.f_sell_val += price * volume
            s.foreign_held -= volume
        content = self._head("R", s.symbol) | {
            "FBuyVol": s.f_buy_vol, "FSellVol": s.f_sell_vol, "FBuyVal": s.f_buy_val, "FSellVal": s.f_sell_val,
            "TotalRoom": s.total_room, "CurrentRoom": s.total_room - s.foreign_held, "Exchange": "HOSE",
        }  # fmt: skip
        self._push("R", content)

    def _auction_match(self, session: str) -> None:
        for s in self.active:
            price = min(max(round_to_tick(self._fair(s)), s.floor), s.ceiling)
            volume = self._lot(s) * self.rng.randint(5, 60)
            if session == "ATO":
                s.opened = True
            self._record_trade(s, price, volume, session, None)
            self._reset_book(s, price)
        for f in self.futures:
            self._future_fill(f, session=session, side=None)
        if session == "ATO":
            self._ato_done = True
        else:
            self._atc_done = True

    def _future_trade(self) -> None:
        f = self.futures[0] if self.rng.random() < self.futures[0].share else self.futures[-1]
        self._future_fill(f, session="LO", side=self.rng.choice(("BU", "SD")))

    def _future_fill(self, f: _Future, *, session: str, side: str | None) -> None:
        target = self._vn30() + self.basis + (0.0 if f is self.futures[0] else 3.0)
        price = min(max(round(target, 1), futures_floor(f.ref)), futures_ceiling(f.ref))
        volume = max(1, int(self.rng.expovariate(1 / 8)))
        f.last = price
        f.total_vol += volume
        f.total_val += price * volume * 100_000
        f.high = max(f.high, price)
        f.low = min(f.low, price) if f.low else price
        content = self._head("X-TRADE", f.symbol) | {
            "Ceiling": futures_ceiling(f.ref), "Floor": futures_floor(f.ref), "RefPrice": f.ref,
            "LastPrice": price, "LastVol": volume, "TotalVol": f.total_vol, "TotalVal": f.total_val,
            "Highest": f.high, "Lowest": f.low, "TradingSession": session, "Exchange": "DER",
        }  # fmt: skip
        if side and self.send_side:
            content["Side"] = side
        self._push("X-TRADE", content)

    # --- messages ---------------------------------------------------------------------
    def _head(self, rtype: str, symbol: str) -> dict[str, object]:
        t = int(self.clock - vn_epoch(self.day))
        return {
            "RType": rtype, "TradingDate": self.day.strftime("%d/%m/%Y"),
            "Time": f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}", "Symbol": symbol,
        }  # fmt: skip

    def _push(self, channel: str, content: dict[str, object]) -> None:
        body = orjson.dumps(content).decode()
        self._pending.append((self.clock, orjson.dumps({"DataType": channel, "Content": body}).decode()))

    def _emit_quote(self, s: _Stock, phase: Phase) -> None:
        content = self._head("X-QUOTE", s.symbol)
        for i in range(3):
            bid = s.bids[i] if i < len(s.bids) else (0, 0)
            ask = s.asks[i] if i < len(s.asks) else (0, 0)
            content[f"BidPrice{i + 1}"], content[f"BidVol{i + 1}"] = bid[0], bid[1]
            content[f"AskPrice{i + 1}"], content[f"AskVol{i + 1}"] = ask[0], ask[1]
        content["TradingSession"] = {Phase.ATO: "ATO", Phase.ATC: "ATC"}.get(phase, "LO")
        content["Exchange"] = "HOSE"
        self._push("X-QUOTE", content)

    def _emit_status(self) -> None:
        self._status_sent = True
        for s in self.active:
            content = self._head("F", s.symbol) | {
                "TradingSession": "ATO", "TradingStatus": "N", "Exchange": "HOSE",
                "RefPrice": s.ref, "Ceiling": s.ceiling, "Floor": s.floor,
            }  # fmt: skip
            self._push("F", content)

    def _vn30(self) -> float:
        num = sum(s.last * s.vn30_weight for s in self.vn30)
        den = sum(s.ref * s.vn30_weight for s in self.vn30)
        return self.vn30_prior * num / den

    def _vnindex(self) -> float:
        num = sum(s.last * s.shares for s in self.stocks)
        den = sum(s.ref * s.shares for s in self.stocks)
        return self.vnindex_prior * num / den

    def _emit_indices(self) -> None:
        for index_id, members, value, prior in (
            ("VN30", self.vn30, self._vn30(), self.vn30_prior),
            ("VNINDEX", self.stocks, self._vnindex(), self.vnindex_prior),
        ):
            adv = sum(1 for s in members if s.last > s.ref)
            dec = sum(1 for s in members if s.last < s.ref)
            content = self._head("MI", index_id)
            del content["Symbol"]
            content |= {
                "IndexId": index_id, "IndexValue": round(value, 2), "PriorIndexValue": prior,
                "Change": round(value - prior, 2), "RatioChange": round((value - prior) / prior * 100, 2),
                "Advances": adv, "Declines": dec, "NoChanges": len(members) - adv - dec,
                "Ceilings": sum(1 for s in members if s.last >= s.ceiling),
                "Floors": sum(1 for s in members if s.last <= s.floor),
                "AllQty": sum(s.total_vol for s in members), "AllValue": sum(s.total_val for s in members),
                "Exchange": "HOSE", "TradingSession": "LO",
            }  # fmt: skip
            self._push("MI", content)

    def _roll_day(self) -> None:
        self.vn30_prior, self.vnindex_prior = round(self._vn30(), 2), round(self._vnindex(), 2)
        for s in self.stocks:
            s.ref = s.last
        day = self.day + timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        self.day = day
        self.clock = vn_epoch(day) + ATO_START - 60
        self._start_of_day()


def vn_start(day: date, hhmm: str = "09:00") -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=VN_TZ)


__all__ = ["ATC_START", "CONT_START", "LUNCH_START", "MarketSimulator", "Message", "hose_universe", "vn_start"]
