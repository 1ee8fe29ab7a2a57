"""One event bus for what moves during the day: the market, trades, signals, alerts and fills.

Every event gets a position (``"<milliseconds>-<sequence>"``, Redis Streams' id format, increasing
across all channels), so a client that lost its connection asks for what came after the last
position it saw and misses nothing, for as long as the bus keeps events (24 hours). Asking from
a position the bus no longer holds is :class:`PositionGone`, never a silent gap.

Embedded, the bus is :class:`MemoryBus`, a list in this process; in server mode it is
:class:`backend.stream.redis_bus.RedisBus`, one Redis stream every process writes to and reads
from. Both answer the same three calls.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

# The market snapshot (the board's changed rows), the foreign summary and the indices are
# throttled per channel by their publisher; trades, signals, alerts and fills go out as they happen.
CHANNELS: Final = ("market", "foreign", "indices", "trades", "signals", "alerts", "fills")
# Events on these channels belong to one user (a portfolio's owner): only they receive them.
PRIVATE: Final = frozenset({"signals", "fills"})
RETENTION_SECONDS: Final = 24 * 3600
MEMORY_EVENTS_MAX: Final = 500_000
log = logging.getLogger(__name__)
_POSITION = re.compile(r"^(\d{1,15})-(\d{1,12})$")

Position = tuple[int, int]


class PositionGone(LookupError):
    """The events after the asked position are no longer all kept: the client must start over."""


def parse_position(text: str) -> Position:
    """``"1733140000000-3"`` → ``(1733140000000, 3)``; anything else is a ValueError naming the form."""
    match = _POSITION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("a stream position looks like 1733140000000-0 (milliseconds-sequence)")
    return int(match[1]), int(match[2])


def format_position(position: Position) -> str:
    return f"{position[0]}-{position[1]}"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    channel: str
    data: Mapping[str, Any]
    owner: str | None = None

    @property
    def position(self) -> Position:
        return parse_position(self.id)

    @property
    def ts(self) -> float:
        """When the bus took the event, epoch seconds."""
        return self.position[0] / 1000.0


@dataclass(frozen=True, slots=True)
class Batch:
    """What one read found: the events the reader may see, and how far the bus was read —
    past events on other channels or of other owners, so the next read does not scan them again."""

    events: list[Event]
    through: str


class EventBus(Protocol):
    def publish(self, channel: str, data: Mapping[str, Any], *, owner: str | None = None) -> str:
        """Append an event; its position."""
        ...

    def read(self, after: str | None, channels: Iterable[str], *, owner: str | None = None,
             timeout: float = 0.0, limit: int = 500) -> Batch:
        """Events after ``after`` (None: from now on) on ``channels`` — private ones only ``owner``'s —
        waiting up to ``timeout`` seconds for the first; :class:`PositionGone` when the bus no
        longer holds everything after ``after``."""
        ...

    def last(self) -> str:
        """The newest position (before the first event, one that reads from the first on)."""
        ...


def check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")


def visible(channels: frozenset[str], owner: str | None) -> Callable[[str, str | None], bool]:
    """Whether an event of ``channel`` owned by ``event_owner`` reaches this reader."""

    def test(channel: str, event_owner: str | None) -> bool:
        if channel not in channels:
            return False
        return channel not in PRIVATE or (owner is not None and event_owner == owner)

    return test


def publish_quietly(bus: EventBus, channel: str, data: Mapping[str, Any], *, owner: str | None = None) -> str | None:
    """Publish, or log why not: the stream tells what happened, and a bus that is down must never
    undo or stop it (a fill stays filled, a signal kept)."""
    try:
        return bus.publish(channel, data, owner=owner)
    except Exception:
        log.warning("event bus: could not publish on %s", channel, exc_info=True)
        return None


class MemoryBus:
    """The bus of one process: events in a list, trimmed to 24 hours (and a length cap)."""

    def __init__(self, *, retention_seconds: float = RETENTION_SECONDS, max_events: int = MEMORY_EVENTS_MAX,
                 clock: Callable[[], float] = time.time) -> None:
        self.retention_seconds = retention_seconds
        self.max_events = max_events
        self.clock = clock
        self._events: list[Event] = []
        self._positions: list[Position] = []
        self._cond = threading.Condition()
        # Everything up to here is gone: before this bus was made (another process, an earlier
        # run) or trimmed since. A reader asking from before it starts over.
        self._gone: Position = (int(clock() * 1000), 0)
        self._last: Position = self._gone

    def publish(self, channel: str, data: Mapping[str, Any], *, owner: str | None = None) -> str:
        check_channel(channel)
        with self._cond:
            ms = max(int(self.clock() * 1000), self._last[0])
            position = (ms, self._last[1] + 1) if ms == self._last[0] else (ms, 0)
            event = Event(format_position(position), channel, dict(data), owner)
            self._events.append(event)
            self._positions.append(position)
            self._last = position
            self._trim(ms)
            self._cond.notify_all()
        return event.id

    def _trim(self, now_ms: int) -> None:
        # Cut in chunks (a tenth of the cap at a time) so publishing stays amortised O(1).
        cut = bisect.bisect_left(self._positions, (now_ms - int(self.retention_seconds * 1000), 0))
        over = len(self._events) - self.max_events
        if over > 0:
            cut = max(cut, over + self.max_events // 10)
        if cut > 0:
            self._gone = max(self._gone, self._positions[cut - 1])
            del self._events[:cut], self._positions[:cut]

    def read(self, after: str | None, channels: Iterable[str], *, owner: str | None = None,
             timeout: float = 0.0, limit: int = 500) -> Batch:
        wanted = frozenset(channels)
        for channel in wanted:
            check_channel(channel)
        test = visible(wanted, owner)
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            start = self._last if after is None else parse_position(after)
            if after is not None and start < self._gone:
                raise PositionGone(f"events after {after} are no longer kept (the stream holds those after "
                                   f"{format_position(self._gone)})")
            if start > self._last:
                raise PositionGone(f"position {after} is ahead of this stream (its newest is "
                                   f"{format_position(self._last)}): it belongs to another run")
            while True:
                index = bisect.bisect_right(self._positions, start)
                out: list[Event] = []
                through = start
                for event, position in zip(self._events[index:], self._positions[index:], strict=True):
                    through = position
                    if test(event.channel, event.owner):
                        out.append(event)
                        if len(out) >= limit:
                            break
                if out:
                    return Batch(out, format_position(through))
                start = through
                left = deadline - time.monotonic()
                if left <= 0:
                    return Batch([], format_position(start))
                self._cond.wait(left)

    def last(self) -> str:
        with self._cond:
            return format_position(self._last)


__all__ = ["CHANNELS", "PRIVATE", "Batch", "Event", "EventBus", "MemoryBus", "PositionGone", "check_channel",
           "format_position", "parse_position", "publish_quietly", "visible"]
