"""The fill benchmark's paced pass times each order from when it was due: an answer that comes
late delays the next order, and that wait is in the figure (a client that only timed its own
requests would hide a slow server behind its own slowness — coordinated omission)."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.paper import through_api

ANSWER_S = 0.05


class SlowFills(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(ANSWER_S)
        body = json.dumps({"fills": [{"quantity": 100}]}).encode()
        # head and body in one write: written apart, the body waits for the client's delayed ACK
        # (Nagle), ~40 ms that would be the stub's, not the measurement's
        self.wfile.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowFills)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(5)


def test_back_to_back_each_order_takes_its_answer_time(port: int) -> None:
    times = through_api(port, [1], 8, "b")
    assert len(times) == 8
    assert all(ANSWER_S * 1000 <= t < ANSWER_S * 1000 * 4 for t in times)


def test_paced_faster_than_answered_the_queue_shows_in_the_times(port: int) -> None:
    # due every ~1 ms, answered every 50 ms: the eighth order was due ~7 ms in and answered
    # ~400 ms in, so it waited ~390 ms for its turn, and that is counted
    times = through_api(port, [1], 8, "p", rate=1_000)
    assert len(times) == 8
    assert times[0] >= ANSWER_S * 1000
    assert times[-1] > ANSWER_S * 1000 * 5
    assert times[-1] > times[0] + 100


def test_paced_slower_than_answered_each_order_takes_its_answer_time(port: int) -> None:
    # each client every ~250 ms on average (at random: now and then two come closer than 50 ms,
    # and the second waits — so the median, not the maximum)
    times = through_api(port, [1, 2], 6, "s", rate=8)
    assert len(times) == 12
    assert min(times) >= ANSWER_S * 1000
    assert statistics.median(times) < ANSWER_S * 1000 * 2
