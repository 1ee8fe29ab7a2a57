"""Server mode started for real: gunicorn with two gthread workers, the feed process, Redis,
PostgreSQL, and a warehouse address where no ClickHouse answers (none can run here; the
warehouse side of server mode is tested through the same client on chDB in one process).

One scenario, in the order an operator meets it: both workers serve the same board and
alerts; the warehouse outage is said plainly and quickly; history rows wait or are dropped
and counted while the feed runs on; a killed feed process turns every worker's board stale
within the stale timeout, and a restarted one brings it back.
"""

from __future__ import annotations

import re
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import requests

from tests.backend.server.stack import WORKER_HEADER, Proc, server_env, start_feed, start_gunicorn, wait_until
from tests.conftest import free_port

pytestmark = pytest.mark.slow

STALE_SECONDS = 4.0
BUFFER_ROWS = 300  # the feed process's history buffer per table: a few seconds of the simulator's trades


@dataclass
class Stack:
    base: str
    env: dict[str, str]
    log_dir: Path
    web: Proc
    feed: Proc
    redis: redis.Redis

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.base + path, timeout=10, **kwargs)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(self.base + path, json=body, timeout=10)

    def logs(self) -> str:
        return f"--- web ---\n{self.web.tail()}\n--- feed ---\n{self.feed.tail()}"


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (the kernel just handed it out and took it back)."""
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


@pytest.fixture
def stack(redis_url: str, postgres_url: str, tmp_path: Path) -> Iterator[Stack]:
    # A database of its own on the test Redis, so nothing else's keys meet the board's.
    own_redis = re.sub(r"/\d*$", "", redis_url.rstrip("/")) + "/11"
    client = redis.Redis.from_url(own_redis, socket_timeout=5)
    client.flushdb()
    port = free_port()
    env = server_env(data_dir=tmp_path / "data", port=port, redis_url=own_redis,
                     warehouse_dsn=f"http://127.0.0.1:{_closed_port()}/", meta_url=postgres_url,
                     extra={"DESKBOARD_MARKET_STALE_SECONDS": str(STALE_SECONDS),
                            "DESKBOARD_MARKET_HISTORY_BUFFER_ROWS": str(BUFFER_ROWS),
                            "DESKBOARD_MARKET_RATE": "300", "DESKBOARD_THREADS": "8"})
    env["TEST_FEED_PROBE_PORT"] = str(free_port())  # the feed process's /health and /metrics, for its probes
    feed = start_feed(env | {"DESKBOARD_PROCESS_HTTP_PORT": env["TEST_FEED_PROBE_PORT"]}, tmp_path)
    web = start_gunicorn(env, tmp_path, workers=2)
    st = Stack(f"http://127.0.0.1:{port}", env, tmp_path, web, feed, client)
    try:
        wait_until("gunicorn to answer", lambda: web.alive() and st.get("/api/v1/market/status").ok, 90, 0.25)
        yield st
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{st.logs()}") from None
    finally:
        web.terminate()  # both shut down at once; then wait for each
        st.feed.terminate()
        web.stop()
        st.feed.stop()
        client.flushdb()
        client.close()


def _by_worker(st: Stack, path: str, *, method: str = "get", body: dict[str, Any] | None = None,
               timeout: float = 30) -> dict[str, requests.Response]:
    """Requests in parallel bursts until both workers have answered: {worker pid: its latest response}."""
    seen: dict[str, requests.Response] = {}

    def one(_: int) -> requests.Response:
        return st.post(path, body or {}) if method == "post" else st.get(path)

    def burst() -> bool:
        with ThreadPoolExecutor(8) as pool:
            for response in pool.map(one, range(16)):
                assert response.status_code < 500 or path == "/health", (path, response.status_code, response.text)
                seen[response.headers[WORKER_HEADER]] = response
        return len(seen) >= 2

    wait_until(f"both workers to answer {path}", burst, timeout, 0.05)
    return seen


def _page(st: Stack, pathname: str) -> dict[str, requests.Response]:
    """What the page router answers for ``pathname`` (the page as the browser first draws it), per worker."""
    body = {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
    return _by_worker(st, "/_dash-update-component", method="post", body=body)


def _heartbeat(st: Stack) -> dict[str, Any]:
    raw = st.redis.get("deskboard:market:heartbeat")
    assert raw is not None, "the feed process has not published a heartbeat"
    return orjson.loads(raw)


def _states(st: Stack) -> set[str]:
    return {r.json()["state"] for r in _by_worker(st, "/api/v1/market/status").values()}


def _add_price_rules(st: Stack, request: pytest.FixtureRequest) -> set[str]:
    """Price rules added the way a web worker adds them, on stocks trading right now (at their floor,
    so the next trade fires them); removed again after the test (the records store is shared)."""
    from backend.market.board_state import RemoteMarketService, redis_client
    from backend.market.service import ServiceSettings
    from backend.market.watchlists import UserData
    from backend.meta import open_meta

    service = RemoteMarketService(redis_client(st.env["DESKBOARD_REDIS_URL"]),
                                  settings=ServiceSettings(stale_seconds=STALE_SECONDS),
                                  userdata=UserData(open_meta(st.env["DESKBOARD_META_URL"])))

    def volumes() -> dict[str, Any]:
        assert service.refresh()
        return {r["symbol"]: r for r in service.board.rows() if r.get("kind") == "stock" and r.get("total_vol")}

    before = wait_until("stocks to trade", volumes, 60, 0.25)
    moving = wait_until("stocks trading now", lambda: [
        r for s, r in volumes().items() if s in before and r["total_vol"] != before[s]["total_vol"]], 60, 0.25)
    added = {service.add_rule(r["symbol"], "above", r["floor"], "server-mode test").id for r in moving[:5]}
    request.addfinalizer(lambda: [service.userdata.delete_rule(rule_id) for rule_id in added])
    return added


def test_two_workers_one_feed_process(stack: Stack, request: pytest.FixtureRequest) -> None:
    st = stack
    wait_until("the feed to be live on both workers", lambda: _states(st) == {"live"}, 60, 0.2)

    # -- the feed process answers its own probes, as a pod's liveness check and Prometheus ask it -----
    probe = f"http://127.0.0.1:{st.env['TEST_FEED_PROBE_PORT']}"
    health = requests.get(probe + "/health", timeout=5)
    assert health.status_code == 200 and health.json()["state"] == "live", health.text[:300]
    assert "deskboard_feed_state" in requests.get(probe + "/metrics", timeout=5).text

    # -- alerts: a price rule set through one worker fires in the feed process ----------------------
    rule_ids = _add_price_rules(st, request)

    def rule_alerts() -> bool:
        answers = _by_worker(st, "/api/v1/market/alerts")
        return all(any(a["rule_id"] in rule_ids for a in r.json()["alerts"]) for r in answers.values())

    wait_until("the rule's alert on both workers", rule_alerts, 30, 0.2)

    # -- the same board, view and alerts from both workers -------------------------------------------
    # Freeze the feed process (well inside the stale timeout) so both workers settle on its last tick.
    st.feed.signal(signal.SIGSTOP)
    try:
        time.sleep(1.0)
        boards = _by_worker(st, "/api/v1/market/board")
        summaries = _by_worker(st, "/api/v1/market/summary")
        alerts = _by_worker(st, "/api/v1/market/alerts")
        pages = _page(st, "/board")
    finally:
        st.feed.signal(signal.SIGCONT)
    board_bodies = [r.json() for r in boards.values()]
    assert len(boards) == 2 and board_bodies[0]["version"] == board_bodies[1]["version"]
    assert board_bodies[0]["rows"] == board_bodies[1]["rows"] and len(board_bodies[0]["rows"]) >= 30
    assert board_bodies[0]["version"] == _heartbeat(st)["versions"]["board"]
    assert len({r.json()["version"] for r in summaries.values()}) == 1
    alert_lists = [r.json()["alerts"] for r in alerts.values()]
    assert alert_lists[0] == alert_lists[1] and alert_lists[0]
    version = str(board_bodies[0]["version"])
    for pid, page in pages.items():
        assert page.ok and version in page.text, f"worker {pid}'s /board does not show board version {version}"

    # An acknowledgement made on one worker is seen by both.
    alert_id = next(a["id"] for a in alert_lists[0] if a["rule_id"] in rule_ids)
    acked = st.post(f"/api/v1/market/alerts/{alert_id}/ack", {"by": "desk"})
    assert acked.status_code == 200, acked.text

    def acked_everywhere() -> bool:
        answers = _by_worker(st, "/api/v1/market/alerts")
        return all(next(a for a in r.json()["alerts"] if a["id"] == alert_id)["acked_by"] == "desk"
                   for r in answers.values())

    wait_until("the acknowledgement on both workers", acked_everywhere, 15, 0.2)
    missing = st.post("/api/v1/market/alerts/no-such-alert/ack", {})
    assert missing.status_code == 404 and "no open alert" in missing.json()["error"]

    # -- the warehouse is unreachable: said plainly, at once ----------------------------------------
    started = time.monotonic()
    health = _by_worker(st, "/health")
    assert time.monotonic() - started < 10
    for response in health.values():
        body = response.json()
        assert response.status_code == 503 and body["status"] == "degraded"
        assert body["stores"]["warehouse"]["ok"] is False and "Unreachable" in body["stores"]["warehouse"]["error"]
        assert body["stores"]["meta"]["ok"] and body["stores"]["cache"]["ok"]
    pivot = st.post("/api/v1/pivot", {"dimensions": ["symbol"], "metrics": ["pnl"],
                                      "filters": {"trade_date": "2024-01-15"}})
    assert pivot.status_code == 503
    assert re.fullmatch(r"the warehouse at 127\.0\.0\.1:\d+ is unreachable \(connection refused\); retrying every "
                        r"\d+ s", pivot.json()["error"])

    # -- history waits in the buffer, then is dropped and counted; the feed runs on ------------------
    first = _heartbeat(st)
    wait_until("history rows dropped at the buffer cap", lambda: (_heartbeat(st)["history"] or {}).get("dropped"),
               60, 0.5)
    later = wait_until("the feed to keep publishing and counting messages", lambda: (
        beat if (beat := _heartbeat(st))["seq"] > first["seq"] + 8
        and beat["status"]["messages"] > first["status"]["messages"] else None), 30, 0.25)
    assert later["history"]["dropped"] > 0 and later["history"]["pending"] <= 5 * BUFFER_ROWS  # per table, capped
    assert "Unreachable" in (later["history"]["error"] or "")
    assert st.feed.alive()

    # -- the feed process dies: stale within the stale timeout, back when it restarts ----------------
    st.feed.signal(signal.SIGKILL)
    st.feed.popen.wait(10)
    killed = time.monotonic()
    wait_until("every worker to call the feed stale", lambda: _states(st) == {"stale"}, STALE_SECONDS + 10, 0.2)
    assert time.monotonic() - killed <= STALE_SECONDS + 3  # the refresher's poll and a busy machine's slack
    for pid, page in _page(st, "/board").items():
        assert "Feed stale" in page.text, f"worker {pid}'s /board shows no stale banner"
    old_version = int(version)

    st.feed = start_feed(st.env, st.log_dir)
    wait_until("the restarted feed to be live on both workers", lambda: _states(st) == {"live"}, 60, 0.2)
    fresh = [r.json()["version"] for r in _by_worker(st, "/api/v1/market/board").values()]
    assert min(fresh) > old_version
    for pid, page in _page(st, "/board").items():
        assert "Feed stale" not in page.text, f"worker {pid}'s /board still shows the stale banner"
