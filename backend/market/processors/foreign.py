"""Foreign investor flow: cumulative buy/sell, deltas, speed over a rolling window, acceleration, room.

The provider sends cumulative day totals per symbol (channel R); the tracker turns them
into deltas, keeps a rolling 5-minute window of deltas for the speed (per minute) and
the speed one minute ago for the acceleration (change of speed per minute). The market
aggregate is one more window fed with every symbol's deltas.

Flow matched in an auction (ATO, ATC) is one print of many orders at one price: it counts
in the day's totals and the shown speed, but the *continuous* speed and the session
average the alerts compare are kept without it (``is_auction_flow``), so a closing auction
reported as foreign flow does not look like every symbol accelerating at once.
"""

from __future__ import annotations

from collections import deque

from backend.market.events import ForeignFlow
from backend.market.processors.classifier import Drop
from backend.market.reference import (
    ATC_START,
    CONT_START,
    LUNCH_END,
    LUNCH_START,
    trading_seconds_elapsed,
    vn_seconds_of_day,
)

WINDOW_SECONDS = 300.0
# The opening auction matches at 09:15:00; a feed stamps the flow it reports for it a little
# later. Flow stamped this soon after the open of continuous trading is the auction's.
AUCTION_PRINT_SECONDS = 30.0
ACCEL_LAG_SECONDS = 60.0
_WINDOW_MINUTES = WINDOW_SECONDS / 60.0


def is_auction_flow(ts: float, session: str | None = None) -> bool:
    """Whether flow stamped ``ts`` (VN clock) was matched outside continuous trading.

    Continuous trading is 09:15–11:30 and 13:00–14:30; anything else (the ATO, the ATC, the
    put-through time after it) is an auction or a negotiated deal, as is flow reported while
    the symbol's own session code (``session``) still says ATO or ATC.
    """
    if session in ("ATO", "ATC"):
        return True
    s = vn_seconds_of_day(ts)
    return not (CONT_START + AUCTION_PRINT_SECONDS <= s < LUNCH_START or LUNCH_END <= s < ATC_START)


class FlowWindow:
    """Cumulative foreign flow and its rolling speed for one symbol (or the market)."""

    __slots__ = (
        "_speeds", "_window", "accel_net_val", "auction_buy_val", "auction_sell_val", "buy_val", "buy_vol",
        "continuous_first_ts", "current_room", "d_buy_val", "d_buy_vol", "d_sell_val", "d_sell_vol", "first_ts",
        "last_ts", "sell_val", "sell_vol", "total_room", "w_auction_buy_val", "w_auction_sell_val", "w_buy_val",
        "w_buy_vol", "w_sell_val", "w_sell_vol",
    )  # fmt: skip

    def __init__(self) -> None:
        self.buy_vol = self.sell_vol = 0
        self.buy_val = self.sell_val = 0.0
        self.d_buy_vol = self.d_sell_vol = 0
        self.d_buy_val = self.d_sell_val = 0.0
        self.w_buy_vol = self.w_sell_vol = 0
        self.w_buy_val = self.w_sell_val = 0.0
        self.accel_net_val = 0.0
        self.total_room: int | None = None
        self.current_room: int | None = None
        self.first_ts: float | None = None
        self.continuous_first_ts: float | None = None  # the first flow matched in continuous trading
        self.last_ts = 0.0
        # Auction flow: of the day (values) and in the window, kept out of what the alerts compare.
        self.auction_buy_val = self.auction_sell_val = 0.0
        self.w_auction_buy_val = self.w_auction_sell_val = 0.0
        self._window: deque[tuple[float, int, int, float, float, bool]] = deque()
        self._speeds: deque[tuple[float, float]] = deque()

    def add(self, ts: float, d_buy_vol: int, d_sell_vol: int, d_buy_val: float, d_sell_val: float,
            *, auction: bool = False) -> None:
        """Add one delta at ``ts`` (matched in an auction when ``auction``) and roll the window forward."""
        if self.first_ts is None:
            self.first_ts = ts
        if not auction and self.continuous_first_ts is None:
            self.continuous_first_ts = ts
        self.last_ts = max(self.last_ts, ts)
        self.buy_vol += d_buy_vol
        self.sell_vol += d_sell_vol
        self.buy_val += d_buy_val
        self.sell_val += d_sell_val
        self.d_buy_vol, self.d_sell_vol, self.d_buy_val, self.d_sell_val = d_buy_vol, d_sell_vol, d_buy_val, d_sell_val
        self._window.append((ts, d_buy_vol, d_sell_vol, d_buy_val, d_sell_val, auction))
        self.w_buy_vol += d_buy_vol
        self.w_sell_vol += d_sell_vol
        self.w_buy_val += d_buy_val
        self.w_sell_val += d_sell_val
        if auction:
            self.auction_buy_val += d_buy_val
            self.auction_sell_val += d_sell_val
            self.w_auction_buy_val += d_buy_val
            self.w_auction_sell_val += d_sell_val
        self._roll(ts)

    def _roll(self, ts: float) -> None:
        window = self._window
        horizon = ts - WINDOW_SECONDS
        while window and window[0][0] <= horizon:
            _, bv, sv, bval, sval, auction = window.popleft()
            self.w_buy_vol -= bv
            self.w_sell_vol -= sv
            self.w_buy_val -= bval
            self.w_sell_val -= sval
            if auction:
                self.w_auction_buy_val -= bval
                self.w_auction_sell_val -= sval
        if not window:  # wipe float residue when the window empties
            self.w_buy_val = self.w_sell_val = 0.0
            self.w_auction_buy_val = self.w_auction_sell_val = 0.0
        speeds = self._speeds
        speed = self.speed_net_val
        lag = ts - ACCEL_LAG_SECONDS
        # Keep exactly one sample at or before ts − 60 s: the speed "a minute ago".
        while len(speeds) >= 2 and speeds[1][0] <= lag:
            speeds.popleft()
        if speeds and speeds[0][0] <= lag:
            self.accel_net_val = speed - speeds[0][1]
        else:
            self.accel_net_val = 0.0
        speeds.append((ts, speed))

    def advance(self, ts: float) -> None:
        """Move the window to ``ts`` without new flow (e.g. on a clock tick)."""
        if ts > self.last_ts:
            self.last_ts = ts
            self._roll(ts)

    # Speeds per minute over the rolling window.
    @property
    def speed_buy_val(self) -> float:
        return self.w_buy_val / _WINDOW_MINUTES

    @property
    def speed_sell_val(self) -> float:
        return self.w_sell_val / _WINDOW_MINUTES

    @property
    def speed_net_val(self) -> float:
        return (self.w_buy_val - self.w_sell_val) / _WINDOW_MINUTES

    @property
    def speed_buy_vol(self) -> float:
        return self.w_buy_vol / _WINDOW_MINUTES

    @property
    def speed_sell_vol(self) -> float:
        return self.w_sell_vol / _WINDOW_MINUTES

    @property
    def continuous_speed_buy_val(self) -> float:
        """Buying per minute over the window without auction flow (what the alerts compare)."""
        return max(self.w_buy_val - self.w_auction_buy_val, 0.0) / _WINDOW_MINUTES

    @property
    def continuous_speed_sell_val(self) -> float:
        return max(self.w_sell_val - self.w_auction_sell_val, 0.0) / _WINDOW_MINUTES

    @property
    def room_usage(self) -> float | None:
        """Share of the foreign room already used (1.0 = room full)."""
        if not self.total_room or self.current_room is None:
            return None
        return 1.0 - self.current_room / self.total_room

    def normal_rates(self, ts: float, min_minutes: float = 15.0) -> tuple[float, float] | None:
        """Average buy and sell value per trading minute since continuous flow was first seen (the
        "normal" rate), without auction flow.

        None until ``min_minutes`` of trading time have been observed: a baseline needs history.
        """
        if self.continuous_first_ts is None:
            return None
        seconds = trading_seconds_elapsed(vn_seconds_of_day(ts)) - trading_seconds_elapsed(
            vn_seconds_of_day(self.continuous_first_ts)
        )
        minutes = seconds / 60.0
        if minutes < min_minutes:
            return None
        return (self.buy_val - self.auction_buy_val) / minutes, (self.sell_val - self.auction_sell_val) / minutes


class ForeignTracker:
    def __init__(self) -> None:
        self._symbols: dict[str, FlowWindow] = {}
        self.market = FlowWindow()
        # The market's speed one point a minute of *event* time: [minute start, buy, sell] (VND per
        # minute). Sampled as flow arrives, so a session replayed in seconds still has every minute.
        self.series: list[list[float]] = []

    def apply(self, event: ForeignFlow, session: str | None = None) -> FlowWindow | Drop:
        """Take one day-total message; ``session`` is the symbol's current session code, if known."""
        state = self._symbols.get(event.symbol)
        if state is None:
            state = self._symbols[event.symbol] = FlowWindow()
            # Joining mid-session: the first totals are a baseline, not a burst of flow.
            baseline = trading_seconds_elapsed(vn_seconds_of_day(event.ts)) > WINDOW_SECONDS and (
                event.buy_vol or event.sell_vol
            )
            if baseline:
                state.buy_vol, state.sell_vol = event.buy_vol, event.sell_vol
                state.buy_val, state.sell_val = event.buy_val, event.sell_val
                self.market.buy_vol += event.buy_vol
                self.market.sell_vol += event.sell_vol
                self.market.buy_val += event.buy_val
                self.market.sell_val += event.sell_val
                state.first_ts = state.last_ts = event.ts
                self._baseline_split(state, event, session)
                self._room(state, event)
                return state
        d_bv, d_sv = event.buy_vol - state.buy_vol, event.sell_vol - state.sell_vol
        if d_bv < 0 or d_sv < 0 or event.ts < state.last_ts:
            return Drop.OUT_OF_ORDER
        room_changed = (event.total_room, event.current_room) != (state.total_room, state.current_room)
        if d_bv == 0 and d_sv == 0 and not room_changed:
            return Drop.DUPLICATE
        self._room(state, event)
        if d_bv or d_sv:
            d_bval = max(event.buy_val - state.buy_val, 0.0)
            d_sval = max(event.sell_val - state.sell_val, 0.0)
            auction = is_auction_flow(event.ts, session)
            state.add(event.ts, d_bv, d_sv, d_bval, d_sval, auction=auction)
            self.market.add(event.ts, d_bv, d_sv, d_bval, d_sval, auction=auction)
            self._sample()
        return state

    def _baseline_split(self, state: FlowWindow, event: ForeignFlow, session: str | None) -> None:
        """Where a baseline's flow belongs, for the averages the alerts compare.

        The provider sends a symbol's totals only when they change, so the first totals of the
        day are often the opening auction's print, stamped just after 09:15: that flow is the
        auction's. Totals first seen later in continuous trading are spread over the continuous
        trading time so far (as if flow had been seen since 09:15), not over the minutes since
        this process joined, which would make the "normal" pace look many times faster.
        """
        market = self.market
        if is_auction_flow(event.ts, session):
            state.auction_buy_val, state.auction_sell_val = event.buy_val, event.sell_val
            market.auction_buy_val += event.buy_val
            market.auction_sell_val += event.sell_val
            return
        start = event.ts - vn_seconds_of_day(event.ts) + CONT_START
        state.continuous_first_ts = start
        if market.continuous_first_ts is None or start < market.continuous_first_ts:
            market.continuous_first_ts = start

    def advance(self, ts: float) -> None:
        """Roll the market window to ``ts`` (an event-time clock) and sample its speed."""
        market = self.market
        if market.first_ts is not None and ts > market.last_ts:
            market.advance(ts)
            self._sample()

    def _sample(self) -> None:
        market = self.market
        # The market's clock only moves forward, so only the last point is ever rewritten.
        minute = market.last_ts - market.last_ts % 60
        point = [minute, market.speed_buy_val, market.speed_sell_val]
        series = self.series
        if series and series[-1][0] == minute:
            series[-1] = point
        elif not series or minute > series[-1][0]:
            series.append(point)

    @staticmethod
    def _room(state: FlowWindow, event: ForeignFlow) -> None:
        if event.total_room is not None:
            state.total_room = event.total_room
        if event.current_room is not None:
            state.current_room = event.current_room

    def get(self, symbol: str) -> FlowWindow | None:
        return self._symbols.get(symbol)

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def reset(self) -> None:
        self._symbols.clear()
        self.market = FlowWindow()
        self.series = []
