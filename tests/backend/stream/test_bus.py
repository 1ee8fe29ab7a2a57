"""The event bus, in-process and on Redis Streams: positions, channels, owners, waiting, trimming."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from backend.stream.bus import MemoryBus, PositionGone, format_position, parse_position
from backend.stream.redis_bus import RedisBus


@pytest.fixture(params=["memory", "redis"])
def bus(request: pytest.FixtureRequest) -> Iterator[MemoryBus | RedisBus]:
    if request.param == "memory":
        yield MemoryBus()
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"), socket_timeout=10)
    key = f"test:events:{uuid.uuid4().hex}"
    yield RedisBus(client, key=key)
    client.delete(key)


def _read_all(bus, after, channels, owner=None, limit=500):
    out = []
    while True:
        batch = bus.read(after, channels, owner=owner, timeout=0, limit=limit)
        out.extend(batch.events)
        if not batch.events:
            return out, after
        after = batch.through


def test_events_come_back_in_order_on_the_channels_asked_for(bus) -> None:
    start = bus.last()
    published = [bus.publish(("trades", "alerts", "market")[i % 3], {"n": i}) for i in range(30)]
    assert [parse_position(p) for p in published] == sorted(parse_position(p) for p in published)
    assert len(set(published)) == 30 and bus.last() == published[-1]
    got, _ = _read_all(bus, start, {"trades", "alerts"}, limit=7)
    assert [e.data["n"] for e in got] == [i for i in range(30) if i % 3 != 2]
    assert [e.id for e in got] == [published[i] for i in range(30) if i % 3 != 2]
    assert {e.channel for e in got} == {"trades", "alerts"}
    # From a position in the middle: exactly what came after it.
    got, _ = _read_all(bus, published[14], {"trades", "alerts", "market"})
    assert [e.data["n"] for e in got] == list(range(15, 30))


def test_private_channels_reach_their_owner_only(bus) -> None:
    start = bus.last()
    bus.publish("fills", {"order": 1}, owner="ana")
    bus.publish("fills", {"order": 2}, owner="bao")
    bus.publish("signals", {"signal": 3}, owner="ana")
    bus.publish("trades", {"symbol": "FPT"})
    assert [e.data for e in _read_all(bus, start, {"fills", "signals", "trades"}, owner="ana")[0]] == [
        {"order": 1}, {"signal": 3}, {"symbol": "FPT"}]
    assert [e.data for e in _read_all(bus, start, {"fills"}, owner="bao")[0]] == [{"order": 2}]
    assert _read_all(bus, start, {"fills", "signals"}, owner=None)[0] == []


def test_a_read_past_other_channels_moves_its_position_on(bus) -> None:
    start = bus.last()
    ids = [bus.publish("market", {"n": i}) for i in range(5)]
    batch = bus.read(start, {"fills"}, owner="ana", timeout=0)
    assert batch.events == [] and batch.through == ids[-1]


def test_a_waiting_reader_wakes_when_an_event_arrives(bus) -> None:
    start = bus.last()
    timer = threading.Timer(0.3, lambda: bus.publish("alerts", {"text": "VCB above 95,000"}))
    timer.start()
    batch = bus.read(start, {"alerts"}, timeout=5)
    timer.join()
    assert [e.data["text"] for e in batch.events] == ["VCB above 95,000"]
    # Nothing new: an empty batch when the wait is over, at the same position.
    quiet = bus.read(batch.through, {"alerts"}, timeout=0.2)
    assert quiet.events == [] and quiet.through == batch.through


def test_reading_from_now_sees_only_later_events(bus) -> None:
    bus.publish("trades", {"n": "before"})
    timer = threading.Timer(0.2, lambda: bus.publish("trades", {"n": "after"}))
    timer.start()
    batch = bus.read(None, {"trades"}, timeout=5)
    timer.join()
    assert [e.data["n"] for e in batch.events] == ["after"]


def test_writers_racing_lose_and_repeat_nothing(bus) -> None:
    start = bus.last()

    def write(who: int) -> None:
        for i in range(100):
            bus.publish("trades", {"who": who, "i": i})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got, _ = _read_all(bus, start, {"trades"})
    assert sorted((e.data["who"], e.data["i"]) for e in got) == [(w, i) for w in range(4) for i in range(100)]
    for who in range(4):  # each writer's events in the order it wrote them
        assert [e.data["i"] for e in got if e.data["who"] == who] == list(range(100))
    assert len({e.id for e in got}) == 400


def test_bad_channels_and_positions_are_refused(bus) -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        bus.publish("orders; DROP TABLE x", {})
    with pytest.raises(ValueError, match="unknown channel"):
        bus.read(None, {"trades", "everything"})
    for bad in ("", "12", "1-2-3", "-1-0", "a-b", "1" * 40 + "-0", "1-0\n", "1 -0"):
        with pytest.raises(ValueError, match="milliseconds-sequence"):
            bus.read(bad, {"trades"})
    last = parse_position(bus.publish("trades", {}))
    ahead = format_position((last[0] + 60_000, 0))
    with pytest.raises(PositionGone, match="ahead"):
        bus.read(ahead, {"trades"})


def test_memory_bus_forgets_after_its_retention_and_says_so() -> None:
    now = [1_000_000.0]
    bus = MemoryBus(retention_seconds=3600, clock=lambda: now[0])
    with pytest.raises(PositionGone):  # a position from before this bus existed (another run)
        bus.read("999999000-0", {"trades"})
    first = bus.publish("trades", {"n": 1})
    now[0] += 1800
    second = bus.publish("trades", {"n": 2})
    assert [e.data["n"] for e in bus.read(first, {"trades"}).events] == [2]
    now[0] += 2000  # the first event is now older than an hour: trimmed by the next publish
    bus.publish("trades", {"n": 3})
    with pytest.raises(PositionGone, match="no longer kept"):
        bus.read(format_position((parse_position(first)[0] - 1, 0)), {"trades"})
    assert [e.data["n"] for e in bus.read(first, {"trades"}).events] == [2, 3]  # nothing after `first` lost
    assert [e.data["n"] for e in bus.read(second, {"trades"}).events] == [3]


def test_memory_bus_length_cap_is_a_gap_it_reports_not_a_silent_one() -> None:
    bus = MemoryBus(max_events=100)
    ids = [bus.publish("trades", {"n": i}) for i in range(250)]
    with pytest.raises(PositionGone):
        bus.read(ids[0], {"trades"})
    kept, _ = _read_all(bus, ids[-51], {"trades"})
    assert [e.data["n"] for e in kept] == list(range(200, 250))


def test_redis_bus_trims_past_its_retention_and_says_so(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"test:events:{uuid.uuid4().hex}"
    bus = RedisBus(client, key=key, retention_seconds=0.5)
    try:
        first = bus.publish("trades", {"n": 1})
        time.sleep(0.7)
        second = bus.publish("trades", {"n": 2})  # trims what is older than half a second
        assert client.xlen(key) == 1
        before = format_position((parse_position(first)[0] - 1, 0))
        with pytest.raises(PositionGone, match="no longer kept"):  # `first` was after it, and is gone
            bus.read(before, {"trades"})
        assert [e.data["n"] for e in bus.read(first, {"trades"}).events] == [2]  # nothing after `first` lost
        bus.publish("trades", {"n": 3})
        assert [e.data["n"] for e in bus.read(second, {"trades"}).events] == [3]
    finally:
        client.delete(key)
