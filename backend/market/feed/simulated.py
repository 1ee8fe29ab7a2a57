"""The simulator as a feed: paced on the wall clock, optionally accelerated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from backend.market.feed.base import ConnectionState, MarketFeed
from backend.market.feed.pacing import paced
from backend.market.feed.simulator import MarketSimulator
from backend.market.reference import VN_TZ


class SimulatorFeed(MarketFeed):
    """``rate`` messages per wall second while trading; ``speed`` simulated seconds per wall second."""

    source = "simulator"

    def __init__(
        self,
        *,
        rate: float = 500.0,
        speed: float = 1.0,
        seed: int = 7,
        universe: str = "vn30",
        start_time: str = "09:00",
        skip_breaks: bool = True,
        days: int | None = None,
    ) -> None:
        super().__init__()
        if rate <= 0 or speed <= 0:
            raise ValueError(f"rate and speed must be positive, got rate={rate} speed={speed}")
        now = datetime.now(VN_TZ)
        if start_time == "now":
            start = now
        else:
            hour, minute = (int(x) for x in start_time.split(":"))
            start = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        self.speed = speed
        self.rate = rate
        self.simulator = MarketSimulator(
            seed=seed, start=start, density=rate / speed, universe=universe, skip_breaks=skip_breaks, days=days
        )

    def messages(self) -> Iterator[str]:
        self._set_state(ConnectionState.CONNECTED)
        stream = paced(self.simulator.stream(), speed=self.speed, stop=self._closed.is_set)
        for count, message in enumerate(stream, 1):
            if count % 1000 == 0:  # status counts in batches: the lock is not free at 5,000 msg/s
                self._count(1000)
            yield message
        if not self.closed:
            self._set_state(ConnectionState.ENDED)
