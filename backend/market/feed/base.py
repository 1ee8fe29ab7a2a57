"""The feed interface: every source yields raw provider messages and reports its connection status."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import IO


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ENDED = "ended"  # a finite source (a replay) reached its end
    CLOSED = "closed"  # closed by us
    FAILED = "failed"  # gave up, e.g. rejected credentials


@dataclass(frozen=True, slots=True)
class FeedStatus:
    source: str
    state: ConnectionState
    since: float  # epoch seconds of the last state change
    messages: int = 0
    reconnects: int = 0
    last_error: str | None = None
    next_retry_in: float | None = None
    # True while the feed replays the session so far faster than real time, before going live.
    catching_up: bool = False


class MarketFeed(ABC):
    """A source of raw messages in the SSI FastConnect shape.

    ``messages()`` blocks and yields until the source ends or ``close()`` is called
    (from any thread); ``status`` can be read at any time, also from another thread.
    ``simulated`` is True when the messages are generated rather than received from a
    market: whatever shows them must say so.
    """

    source = "feed"
    simulated = False

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._status_lock = threading.Lock()
        self._status = FeedStatus(self.source, ConnectionState.CONNECTING, time.time())

    @abstractmethod
    def messages(self) -> Iterator[str]: ...

    def close(self) -> None:
        self._closed.set()
        self._set_state(ConnectionState.CLOSED)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def status(self) -> FeedStatus:
        with self._status_lock:
            return self._status

    @property
    def catching_up(self) -> bool:
        """Still replaying the session so far (the board fills in fast, then moves in real time)."""
        return self.status.catching_up

    def _set_state(self, state: ConnectionState, **changes: object) -> None:
        with self._status_lock:
            since = time.time() if state != self._status.state else self._status.since
            self._status = replace(self._status, state=state, since=since, **changes)  # type: ignore[arg-type]

    def _count(self, n: int = 1) -> None:
        with self._status_lock:
            self._status = replace(self._status, messages=self._status.messages + n)


class RecordingFeed(MarketFeed):
    """Wraps a feed and appends every message it yields to a JSON-lines file (the replay format)."""

    def __init__(self, inner: MarketFeed, path: Path) -> None:
        self.source = inner.source
        self.simulated = inner.simulated
        super().__init__()
        self.inner = inner
        self.path = path

    def messages(self) -> Iterator[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            for message in self.inner.messages():
                write_line(out, message)
                yield message

    def close(self) -> None:
        self.inner.close()
        super().close()

    @property
    def status(self) -> FeedStatus:
        return self.inner.status


def write_line(out: IO[str], message: str) -> None:
    if "\n" in message or "\r" in message:
        raise ValueError("a recorded message must be a single line of JSON")
    out.write(message)
    out.write("\n")
