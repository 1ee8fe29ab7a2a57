"""The board through Redis, in one process: what a worker reads is what the feed side published,
diffs included; silence turns stale; commands from the list are checked before they are run."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis

from backend.market.board import BoardState
from backend.market.board_publisher import BoardPublisher, CommandHandler
from backend.market.board_state import (
    COMMANDS,
    KEYS,
    REDIS_TIMEOUT_SECONDS,
    RESEND_SECONDS,
    FeedUnavailableError,
    RemoteMarketService,
    decode_view,
    encode_view,
    redis_client,
)
from backend.market.market_view import MarketViewBuilder
from backend.market.service import MarketService, ServiceSettings

FIELDS = ("symbol", "last", "ref", "change_pct", "kind")
SETTINGS = ServiceSettings(stale_seconds=5.0, tick_seconds=0.05)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    own = re.sub(r"/\d*$", "", redis_url.rstrip("/")) + "/12"
    c = redis.Redis.from_url(own, socket_timeout=5)
    c.flushdb()
    yield c
    c.flushdb()
    c.close()


def _feed_side(client: redis.Redis, clock: Clock) -> tuple[MarketService, BoardPublisher]:
    service = MarketService(settings=SETTINGS, board=BoardState(fields=FIELDS), monotonic=clock)
    return service, BoardPublisher(service, client)


def _reader(client: redis.Redis, clock: Clock) -> RemoteMarketService:
    return RemoteMarketService(client, settings=SETTINGS, monotonic=clock)


def test_a_worker_answers_every_diff_as_the_feed_side_board_does(client: redis.Redis) -> None:
    clock = Clock()
    service, publisher = _feed_side(client, clock)
    reader = _reader(client, clock)
    rng = random.Random(3)
    versions = [service.board.version]
    for _ in range(40):
        rows = [{"symbol": f"S{rng.randrange(12):02d}", "last": rng.choice([100, 105, 110]), "kind": "stock"}
                for _ in range(rng.randint(0, 5))]
        versions.append(service.board.publish(rows, complete=rng.random() < 0.1))
        assert publisher.publish() and reader.refresh()
        assert reader.board.version == service.board.version
        # Every version a client may hold, plus malformed and hostile ones, gets the same answer.
        for since in [*rng.sample(versions, min(5, len(versions))), None, "x" * 30, -1, "12a", 10**30]:
            mine, theirs = reader.board.changes_since(since), service.board.changes_since(since)
            assert (mine.version, mine.full, mine.rows, mine.removed) == (
                theirs.version, theirs.full, theirs.rows, theirs.removed)
    assert reader.board.rows() == service.board.rows()


def test_the_market_view_survives_the_trip_and_answers_cursors_alike() -> None:
    summary = {"clock": 1_717_236_000.0, "phase": "continuous",
               "indices": {"VN30": {"value": 1250.5, "prior": 1240.0, "change": 10.5, "change_pct": 0.85,
                                    "series": [[1_717_236_000.0 - 60 * i, 1250.0 + i, 1000 + i, None, 900]
                                               for i in range(5, 0, -1)]}}}
    view = MarketViewBuilder().build(summary, [{"symbol": "FPT", "kind": "stock", "last": 100_000, "ref": 99_000,
                                                "change_pct": 1.01, "f_net_val": 2e9}])
    copy = decode_view(encode_view(view))
    assert orjson.dumps(copy.changes(None)) == orjson.dumps(view.changes(None))
    cursor = view.cursor()
    assert orjson.dumps(copy.changes(cursor)) == orjson.dumps(view.changes(cursor))
    assert copy.summary == orjson.loads(orjson.dumps(view.summary))


def test_silence_turns_stale_after_the_stale_timeout_and_a_new_heartbeat_brings_it_back(client: redis.Redis) -> None:
    clock = Clock()
    service, publisher = _feed_side(client, clock)
    reader = _reader(client, clock)
    assert reader.status()["state"] == "starting"  # nothing published yet
    clock.now += SETTINGS.stale_seconds + 1
    assert reader.status()["state"] == "disconnected" and "no feed process" in reader.status()["error"]

    service.start(_Idle())
    service.note_message(1.0)
    publisher.publish()
    reader.refresh()
    assert reader.status()["state"] == "live"
    clock.now += SETTINGS.stale_seconds - 0.5
    reader.refresh()  # the same heartbeat again: no news from the feed process
    assert reader.status()["state"] == "live"
    clock.now += 1.0
    status = reader.status()
    assert status["state"] == "stale" and "has not published" in status["error"]
    assert status["age_seconds"] >= SETTINGS.stale_seconds
    service.note_message(2.0)
    publisher.publish()
    reader.refresh()
    assert reader.status()["state"] == "live" and reader.status()["age_seconds"] < 1
    service.stop()


def test_a_worker_whose_redis_is_gone_serves_the_last_board_and_goes_stale() -> None:
    clock = Clock()
    dead = redis_client(f"redis://127.0.0.1:{_closed_port()}/0")
    reader = _reader(dead, clock)
    started = time.monotonic()
    assert reader.refresh() is False
    assert time.monotonic() - started < 3 * REDIS_TIMEOUT_SECONDS
    clock.now += SETTINGS.stale_seconds + 1
    status = reader.status()
    assert status["state"] == "disconnected" and "Redis did not answer" in status["error"]
    started = time.monotonic()
    with pytest.raises(FeedUnavailableError, match="Redis did not answer"):
        reader.acknowledge("a-1", by="desk")
    assert time.monotonic() - started < 3 * REDIS_TIMEOUT_SECONDS


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[1, 2]", b'"ack"', b'{"op": "ack"}', b'{"op": "ack", "id": 5, "by": "x"}',
    b'{"op": "drop tables"}', b'{"op": "ack", "id": "a", "by": "x", "reply": "elsewhere:key"}',
    b'{"op": "rules", "x": "' + b"y" * 20_000 + b'"}',
])
def test_malformed_and_hostile_commands_change_nothing(client: redis.Redis, raw: bytes) -> None:
    clock = Clock()
    service, publisher = _feed_side(client, clock)
    handler = CommandHandler(service, client, publisher)
    revision = service.alerts_revision
    handler.handle(raw)
    assert service.alerts_revision == revision
    assert client.keys("elsewhere:*") == []


def test_an_acknowledgement_travels_to_the_feed_side_and_back(client: redis.Redis) -> None:
    clock = Clock()
    service, publisher = _feed_side(client, clock)
    handler = CommandHandler(service, client, publisher)
    service.record_alert({"id": "a-1", "ts": 100.0, "day": 739_000, "symbol": "FPT", "kind": "price_rule",
                          "severity": "info", "message": "FPT reached 100", "value": 100.0, "threshold": 99.0,
                          "rule_id": "r"})
    publisher.publish()
    reader = _reader(client, clock)
    reader.refresh()
    assert [a["id"] for a in reader.alerts(unacked=True)] == ["a-1"]

    # The worker pushes the command; here the feed side's loop is one handle() call.
    reader._command = lambda command, wait: _run(client, handler, command)  # type: ignore[method-assign]
    assert reader.acknowledge("a-1", by="desk") is True
    assert reader.alerts(unacked=True) == [] and reader.alerts()[0]["acked_by"] == "desk"
    assert reader.acknowledge("no-such", by="desk") is False


def _run(client: redis.Redis, handler: CommandHandler, command: dict[str, Any]) -> object:
    reply = "deskboard:market:reply:test"
    client.rpush(COMMANDS, orjson.dumps(command | {"reply": reply}))
    _, raw = client.blpop([COMMANDS], timeout=1)
    handler.handle(raw)
    _, answer = client.blpop([reply], timeout=1)
    assert client.get(KEYS["alerts"]) is not None
    return orjson.loads(answer)["result"]


class _Idle:
    """A runner that does nothing until stopped (the service's status needs a started runner)."""

    source = "simulator"
    simulated = True

    def run(self, service: Any, stop: Any) -> None:
        stop.wait()

    def close(self) -> None:
        pass


def _closed_port() -> int:
    from tests.conftest import free_port

    return free_port()


def test_a_redis_that_lost_its_keys_gets_the_whole_board_again(client: redis.Redis) -> None:
    clock = Clock()
    service, publisher = _feed_side(client, clock)
    service.board.publish([{"symbol": "FPT", "last": 100, "kind": "stock"}])
    assert publisher.publish()
    client.flushdb()  # a Redis restart: the quiet board does not change, so nothing new would be sent
    reader = _reader(client, clock)
    for _ in range(round(RESEND_SECONDS / publisher.interval) + 1):
        publisher.publish()
    assert reader.refresh() and [r["symbol"] for r in reader.board.rows()] == ["FPT"]
    assert reader.board.version == service.board.version


def test_history_kept_or_dropped_by_the_feed_process_is_counted_on_every_worker(client: redis.Redis) -> None:
    from backend.market.store import MarketStore
    from backend.server_mode import ReconnectingWarehouse

    clock = Clock()
    down = ReconnectingWarehouse("http://127.0.0.1:1/", "deskboard", reason="the warehouse is unreachable", never=True)
    store = MarketStore(down, buffer_cap=100)
    service = MarketService(settings=SETTINGS, board=BoardState(fields=FIELDS), store=store, monotonic=clock)
    publisher = BoardPublisher(service, client)
    store.add("trades", [{"ts": 1_717_236_000.0 + i, "symbol": "FPT", "price": 100_000.0, "volume": 100,
                          "total_volume": 100 * (i + 1), "total_value": 1e7 * (i + 1)} for i in range(250)])
    store.flush()  # refused: the rows stay, up to the cap
    publisher.publish()
    reader = _reader(client, clock)
    reader.refresh()
    seen = reader.history_status()
    assert seen == service.history_status()
    assert seen is not None and seen["pending"] == 100 and seen["dropped"] == 150
    assert seen["flushes"] == 0 and "Unreachable" in seen["error"]


def test_one_feed_process_publishes_at_a_time_and_a_standby_takes_over_when_it_goes_silent(
        client: redis.Redis) -> None:
    clock = Clock()
    quick = ServiceSettings(stale_seconds=0.3, tick_seconds=0.05)
    first = BoardPublisher(MarketService(settings=quick, board=BoardState(fields=FIELDS), monotonic=clock), client)
    second = BoardPublisher(MarketService(settings=quick, board=BoardState(fields=FIELDS), monotonic=clock), client)
    assert first.publish() and not first.lost
    assert second.publish() is False and second.lost and second.holder == first.run
    assert orjson.loads(client.get(KEYS["heartbeat"]))["run"] == first.run  # the second wrote nothing
    assert first.publish()  # renewing its own lease

    stop = threading.Event()
    standby = BoardPublisher(MarketService(settings=quick, board=BoardState(fields=FIELDS), monotonic=clock), client)
    waiter = threading.Thread(target=lambda: stop.set() if standby.wait_for_lease(stop) else None)
    waiter.start()
    time.sleep(0.1)
    assert not stop.is_set()  # the first is still publishing (renewed 0.1 s ago)
    waiter.join(timeout=5)  # the first has gone silent: its lease runs out after the stale timeout
    assert stop.is_set() and standby.publish()
    assert first.publish() is False and first.lost and first.holder == standby.run
    assert orjson.loads(client.get(KEYS["heartbeat"]))["run"] == standby.run


def test_a_cleanly_stopped_feed_process_hands_over_at_once(client: redis.Redis) -> None:
    clock = Clock()
    slow = ServiceSettings(stale_seconds=60.0, tick_seconds=0.05)
    first = BoardPublisher(MarketService(settings=slow, board=BoardState(fields=FIELDS), monotonic=clock), client)
    second = BoardPublisher(MarketService(settings=slow, board=BoardState(fields=FIELDS), monotonic=clock), client)
    assert first.publish() and not second.hold_lease()
    second.release_lease()  # not its lease: nothing happens
    assert not second.hold_lease()
    first.release_lease()
    assert second.hold_lease() and second.publish()
