"""Pacing: release timestamped messages on the wall clock at a chosen speed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

# A jump in the market clock longer than this (lunch skipped, the night) is not waited for.
MAX_WAIT_MARKET_SECONDS = 120.0


def paced(
    stream: Iterable[tuple[float | None, str]],
    *,
    speed: float,
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    max_rate: float | None = None,
) -> Iterator[str]:
    """Yield messages when their market time comes, ``speed`` market seconds per wall second.

    ``speed`` 0 releases as fast as possible (still capped by ``max_rate`` messages/s).
    Messages without a time (None) go out immediately.
    """
    base_wall = clock()
    base_ts: float | None = None
    last_ts: float | None = None
    sent = 0
    for ts, message in stream:
        if stop():
            return
        if ts is not None and speed > 0:
            if base_ts is None or last_ts is None or ts - last_ts > MAX_WAIT_MARKET_SECONDS or ts < last_ts:
                base_ts, base_wall = ts, clock()
            last_ts = ts
            delay = base_wall + (ts - base_ts) / speed - clock()
            if delay > 0.002:
                sleep(delay)
        if max_rate:
            sent += 1
            delay = base_wall + sent / max_rate - clock()
            if delay > 0.002:
                sleep(delay)
            elif delay < -1.0:  # fell behind: don't burst to catch up
                base_wall, sent = clock(), 0
        yield message
