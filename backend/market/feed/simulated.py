"""The simulator as a feed: the session so far at once, then paced on the wall clock.

Where the simulated day goes live is chosen by ``start_time`` (see :func:`live_start`).
Everything before that moment (from the pre-open on) is emitted first, unpaced and at a
coarse grain, so the board, the index series, foreign flow and alerts show a day in
progress within seconds; ``status.catching_up`` is True until the first live message.
After that the stream is paced at ``speed`` simulated seconds per wall second.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime

from backend.market.feed.base import ConnectionState, MarketFeed
from backend.market.feed.pacing import paced
from backend.market.feed.simulator import CATCH_UP_DENSITY, MarketSimulator
from backend.market.reference import ATC_END, ATO_START, LUNCH_END, LUNCH_START, VN_TZ

MESSAGES_PER_EVENT = 1.6  # on average in continuous trading, so ``rate`` is about the messages per wall second
AUTO_START = (10, 0)  # where ``auto`` goes live when the market is not trading now
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def live_start(start_time: str, now: datetime) -> datetime:
    """The simulated VN-clock moment the live stream starts at.

    ``auto``: now, when a weekday's market is trading (09:00–11:30, 13:00–14:45); otherwise
    10:00. ``now``: the wall clock's time of day. ``HH:MM``: that time. The session is
    today's, or Monday's on a weekend.
    """
    now = now.astimezone(VN_TZ).replace(microsecond=0)
    if start_time == "now":
        return now
    if start_time == "auto":
        sod = now.hour * 3600 + now.minute * 60 + now.second
        trading = ATO_START <= sod < LUNCH_START or LUNCH_END <= sod < ATC_END
        if now.weekday() < 5 and trading:
            return now
        return now.replace(hour=AUTO_START[0], minute=AUTO_START[1], second=0)
    match = _HHMM.match(start_time)
    if match is None:
        raise ValueError(f"start_time must be 'auto', 'now' or HH:MM, got {start_time!r}")
    return now.replace(hour=int(match[1]), minute=int(match[2]), second=0)


class SimulatorFeed(MarketFeed):
    """``rate`` messages per wall second (about) while trading; ``speed`` simulated seconds per wall second."""

    source = "simulator"
    simulated = True

    def __init__(
        self,
        *,
        rate: float = 500.0,
        speed: float = 1.0,
        seed: int = 7,
        universe: str = "vn30",
        start_time: str = "auto",
        skip_breaks: bool = True,
        days: int | None = None,
        catch_up_density: float = CATCH_UP_DENSITY,
        now: Callable[[], datetime] = lambda: datetime.now(VN_TZ),
    ) -> None:
        super().__init__()
        if rate <= 0 or speed <= 0:
            raise ValueError(f"rate and speed must be positive, got rate={rate} speed={speed}")
        self.speed = speed
        self.rate = rate
        self.start = live_start(start_time, now())
        self.simulator = MarketSimulator(
            seed=seed, start=self.start, density=rate / speed / MESSAGES_PER_EVENT, catch_up_density=catch_up_density,
            universe=universe, skip_breaks=skip_breaks, days=days,
        )  # fmt: skip
        self._set_state(ConnectionState.CONNECTING, catching_up=self.simulator.catching_up)

    @property
    def live_from(self) -> float:
        """Epoch seconds (simulated clock) where the live, paced part of the stream begins."""
        return self.simulator.live_from

    def _timed(self) -> Iterator[tuple[float | None, str]]:
        sim = self.simulator
        catching_up = sim.catching_up
        for ts, message in sim.stream():
            if catching_up:
                if sim.catching_up:
                    yield None, message  # not paced
                    continue
                # Everything before this message has been taken in by the consumer.
                catching_up = False
                self._set_state(ConnectionState.CONNECTED, catching_up=False)
            yield ts, message

    def messages(self) -> Iterator[str]:
        self._set_state(ConnectionState.CONNECTED)
        stream = paced(self._timed(), speed=self.speed, stop=self._closed.is_set)
        count = 0
        for count, message in enumerate(stream, 1):
            if count % 1000 == 0:  # status counts in batches: the lock is not free at 5,000 msg/s
                self._count(1000)
            yield message
        self._count(count % 1000)
        if not self.closed:
            self._set_state(ConnectionState.ENDED, catching_up=False)
