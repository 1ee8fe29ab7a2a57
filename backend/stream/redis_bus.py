"""The event bus of server mode: one Redis stream that the feed process, the paper worker and
every web worker append to, and that each open client connection reads from its own position.

Events older than 24 hours are trimmed as new ones arrive (``XADD … MINID``), and the id of the
newest event trimmed is kept beside the stream (``<key>:trimmed``): a client asking from a
position before it is told it missed events rather than handed a stream with a hole in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import orjson
import redis

from backend.stream.bus import (
    RETENTION_SECONDS,
    Batch,
    Event,
    PositionGone,
    check_channel,
    format_position,
    parse_position,
    visible,
)

STREAM: Final = "deskboard:events"
# A blocking read holds its connection this long at most; the caller loops for longer waits.
MAX_BLOCK_SECONDS: Final = 5.0
# Append one event, trimming what is older than the cut-off, and remember the newest id trimmed
# (one script, so no other writer's trim can slip between the two).
_PUBLISH = """
local old = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1] .. '-0', '-', 'COUNT', 1)
if #old > 0 then redis.call('SET', KEYS[2], old[1][1]) end
return redis.call('XADD', KEYS[1], 'MINID', ARGV[1], '*', 'c', ARGV[2], 'o', ARGV[3], 'd', ARGV[4])
"""


class RedisBus:
    def __init__(self, client: redis.Redis, *, key: str = STREAM, retention_seconds: float = RETENTION_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.key = key
        self.retention_seconds = retention_seconds
        self.clock = clock
        self._publish = client.register_script(_PUBLISH)

    def publish(self, channel: str, data: Mapping[str, Any], *, owner: str | None = None) -> str:
        check_channel(channel)
        oldest = int((self.clock() - self.retention_seconds) * 1000)
        event_id = self._publish(keys=[self.key, self.key + ":trimmed"],
                                 args=[max(oldest, 0), channel, owner or "", orjson.dumps(dict(data))])
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    def _info(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The newest id, and the newest one trimmed ((0, 0): none yet, or no stream)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.xinfo_stream(self.key)
        pipe.get(self.key + ":trimmed")
        info, trimmed = pipe.execute(raise_on_error=False)
        if isinstance(info, redis.ResponseError):  # no such key: nothing published yet
            return (0, 0), (0, 0)
        def position(raw: object) -> tuple[int, int]:
            return parse_position(raw.decode() if isinstance(raw, bytes) else str(raw or "0-0"))

        return position(info.get("last-generated-id")), position(trimmed)

    def read(self, after: str | None, channels: Iterable[str], *, owner: str | None = None,
             timeout: float = 0.0, limit: int = 500) -> Batch:
        wanted = frozenset(channels)
        for channel in wanted:
            check_channel(channel)
        test = visible(wanted, owner)
        last, trimmed = self._info()
        if after is None:
            start = last
        else:
            start = parse_position(after)
            if start < trimmed:
                raise PositionGone(f"events after {after} are no longer kept (the stream holds those after "
                                   f"{format_position(trimmed)})")
            if start > last:
                raise PositionGone(f"position {after} is ahead of this stream (its newest is "
                                   f"{format_position(last)}): it belongs to another run")
        deadline = time.monotonic() + max(0.0, timeout)
        cursor = format_position(start)
        while True:
            left = deadline - time.monotonic()
            block = int(min(max(left, 0.0), MAX_BLOCK_SECONDS) * 1000)
            answer = self.client.xread({self.key: cursor}, count=max(limit, 100), block=block or None)
            out: list[Event] = []
            for _key, entries in answer or ():
                for raw_id, fields in entries:
                    event_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                    cursor = event_id
                    channel = fields[b"c"].decode()
                    event_owner = fields[b"o"].decode() or None
                    if test(channel, event_owner):
                        out.append(Event(event_id, channel, orjson.loads(fields[b"d"]), event_owner))
                        if len(out) >= limit:
                            return Batch(out, cursor)
            if out or deadline - time.monotonic() <= 0:
                return Batch(out, cursor)

    def last(self) -> str:
        return format_position(self._info()[0])


__all__ = ["STREAM", "RedisBus"]
