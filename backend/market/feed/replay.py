"""Replay of recorded JSON-lines message files at 1× or faster, and recording to that format."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from backend.market.feed.base import ConnectionState, MarketFeed, write_line
from backend.market.feed.pacing import paced
from backend.market.normalize import MessageError, Normalizer

MAX_LINE_CHARS = 256 * 1024


def read_messages(path: Path) -> Iterator[str]:
    """The non-empty lines of a recording (a line longer than the limit is skipped whole)."""
    with path.open("r", encoding="utf-8", errors="replace") as lines:
        while True:
            line = lines.readline(MAX_LINE_CHARS + 1)
            if not line:
                return
            if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                while line and not line.endswith("\n"):  # drain the rest of an oversized line
                    line = lines.readline(MAX_LINE_CHARS + 1)
                continue
            line = line.strip()
            if line:
                yield line


def record(messages: Iterable[str], path: Path) -> int:
    """Write messages to a JSON-lines recording; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for message in messages:
            write_line(out, message)
            n += 1
    return n


class ReplayFeed(MarketFeed):
    """Plays a recording; ``speed`` 1 keeps the recorded pace, 0 replays as fast as possible."""

    source = "replay"

    def __init__(self, path: Path, *, speed: float = 1.0, loop: bool = False) -> None:
        super().__init__()
        if speed < 0:
            raise ValueError(f"speed must be ≥ 0, got {speed}")
        if not path.is_file():
            raise FileNotFoundError(f"replay file not found: {path}")
        self.path, self.speed, self.loop = path, speed, loop

    def _timed(self) -> Iterator[tuple[float | None, str]]:
        clock = Normalizer()
        for message in read_messages(self.path):
            try:
                event = clock.parse(message)
                ts = event.quote.ts if hasattr(event, "quote") else event.ts  # type: ignore[union-attr]
            except MessageError:
                ts = None  # still delivered: the core counts and drops it
            yield ts, message

    def messages(self) -> Iterator[str]:
        self._set_state(ConnectionState.CONNECTED)
        while True:
            for message in paced(self._timed(), speed=self.speed, stop=self._closed.is_set):
                self._count()
                yield message
            if not self.loop or self.closed:
                break
        if not self.closed:
            self._set_state(ConnectionState.ENDED)
