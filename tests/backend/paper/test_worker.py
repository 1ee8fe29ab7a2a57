"""The server-mode paper worker against the real Redis the test command starts: a board published
there as the feed process publishes it fills a resting order; the command refuses to start without
Redis, saying why."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import orjson
import redis

from backend.market.board import BoardState
from backend.market.board_state import KEYS, encode_board
from backend.market.reference import vn_day
from backend.paper.worker import serve

from .conftest import quote

ROW = {"symbol": "VCB", "kind": "stock", "ref": 90_000, "ceiling": 96_300, "floor": 83_700, "open": 90_000,
       "bid1": 89_900, "bid1_vol": 1_000, "ask1": 90_100, "ask1_vol": 1_000, "session": "LO"}


def _publish(client: redis.Redis, board: BoardState, seq: int) -> None:
    snap = board.snapshot()
    client.set(KEYS["board"], encode_board(snap))
    client.set(KEYS["heartbeat"], orjson.dumps({"run": "test-run", "seq": seq, "versions": {"board": snap.version}}))


def test_the_worker_fills_a_resting_order_from_the_board_in_redis(redis_url, sqlite_ledger):
    ledger = sqlite_ledger
    client = redis.Redis.from_url(redis_url)
    client.delete(*KEYS.values())
    # the worker reads the clock: the order is placed on today's trading day
    today = date.fromordinal(vn_day(time.time()))
    pid = ledger.create("ana", "main")["id"]
    ledger.place(pid, "ana", {"symbol": "VCB", "side": "buy", "quantity": 500, "limit_price": 89_500,
                              "time_in_force": "gtc"}, quote(day=today))
    board = BoardState()
    board.publish([{**ROW, "last": 90_000}])
    _publish(client, board, 1)
    stop = threading.Event()
    done: list = []
    worker = threading.Thread(target=lambda: done.append(serve(ledger.meta, redis_url, stop, 0.05)))
    worker.start()
    try:
        time.sleep(0.5)
        assert ledger.history(pid, "ana") == []  # 90,000 does not reach 89,500
        board.publish([{**ROW, "last": 89_500}])
        _publish(client, board, 2)
        deadline = time.time() + 10
        while not ledger.history(pid, "ana") and time.time() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(10)
    [fill] = ledger.history(pid, "ana")
    assert (fill["price"], fill["quantity"]) == (89_500, 500)
    assert done and done[0].fills == 1
    client.delete(*KEYS.values())


def test_the_command_says_why_it_cannot_start_without_redis(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DESKBOARD_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-m", "backend.paper.worker"], env=env, capture_output=True, text=True,
                         timeout=120, check=False, cwd=Path(__file__).parents[3])
    assert ran.returncode == 2 and "DESKBOARD_REDIS_URL is not set" in ran.stderr
