"""Collectors outside the request path: feed status, job records, and the feed/worker process server."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from backend.jobs.store import JOBS, JobStore, records
from backend.meta.models import utc_now
from backend.observability.collectors import JobsCollector, MarketCollector
from backend.observability.metrics import JOB_BUCKETS
from tests.backend.observability_support import parse, value


class _Service:
    """A market service as the collector sees it: only ``status()``."""

    def __init__(self, status: dict) -> None:
        self._status = status

    def status(self) -> dict:
        return self._status


def test_a_feed_that_never_spoke_has_no_lag_sample() -> None:
    families = list(MarketCollector(_Service({"state": "starting", "age_seconds": None, "messages": 0})).collect())
    assert "deskboard_feed_lag_seconds" not in {f.name for f in families}


def test_job_durations_match_the_records(tmp_path) -> None:
    store = JobStore(records(f"sqlite:///{tmp_path / 'meta.sqlite3'}"))
    seconds = [0.5, 3.0, 3.0, 70.0, 4000.0, 20_000.0, 100_000.0]
    now = utc_now()
    for n, run in enumerate(seconds):
        job = store.create(kind="probe", parameters={}, owner="ana", runner="embedded", placement="worker")
        state = "FAILED" if n == 0 else "COMPLETED"
        with store.meta.write() as conn:
            conn.execute(JOBS.update().where(JOBS.c.id == job.id).values(
                state=state, started_at=now, finished_at=now + timedelta(seconds=run)))
    store.create(kind="probe", parameters={}, owner="ana", runner="embedded", placement="worker")
    store.create(kind="nonsense-kind", parameters={}, owner="ana", runner="embedded", placement="worker")

    text = b"".join(_exposition(JobsCollector(store.meta))).decode()
    samples = parse(text)
    assert value(samples, "deskboard_jobs", kind="probe", state="QUEUED") == 1
    assert value(samples, "deskboard_jobs", kind="other", state="QUEUED") == 1
    assert value(samples, "deskboard_jobs", kind="probe", state="COMPLETED") == 6
    done = seconds[1:]
    hist = "deskboard_job_duration_seconds"
    for bound in JOB_BUCKETS:
        expected = sum(1 for s in done if s <= bound)
        got = value(samples, f"{hist}_bucket", kind="probe", state="COMPLETED", le=repr(float(bound)))
        assert got == expected, bound
    assert value(samples, f"{hist}_count", kind="probe", state="COMPLETED") == len(done)
    assert value(samples, f"{hist}_sum", kind="probe", state="COMPLETED") == pytest.approx(sum(done), rel=1e-6)
    assert value(samples, f"{hist}_count", kind="probe", state="FAILED") == 1


def test_a_records_store_that_is_down_leaves_the_other_metrics(tmp_path) -> None:
    class Broken:
        def read(self):
            raise ConnectionError("down")

    assert list(JobsCollector(Broken()).collect()) == []


def _exposition(collector) -> list[bytes]:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return [generate_latest(registry)]


# -- /health and /metrics of the feed process and job workers ---------------------------------------


def test_process_server_answers_health_and_metrics_and_nothing_else() -> None:
    import urllib.error
    import urllib.request

    from backend.observability.process_server import start_process_server

    state = {"ok": True}

    def health() -> tuple[bool, dict]:
        if state.get("raise"):
            raise ConnectionError("redis down")
        return state["ok"], {"state": "live" if state["ok"] else "disconnected"}

    service = _Service({"state": "live", "age_seconds": 0.4, "stale_after_seconds": 10.0, "messages": 12,
                        "rejected": 0})
    server = start_process_server(0, health=health, collectors=[MarketCollector(service)], host="127.0.0.1")
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        status, body = get("/health")
        assert status == 200 and json.loads(body) == {"status": "ok", "state": "live"}
        state["ok"] = False
        status, body = get("/health")
        assert status == 503 and json.loads(body)["state"] == "disconnected"
        state["raise"] = True
        status, body = get("/health")
        assert status == 503 and json.loads(body)["error"] == "ConnectionError"
        status, body = get("/metrics")
        samples = parse(body)
        assert status == 200 and value(samples, "deskboard_feed_messages_total") == 12
        assert value(samples, "deskboard_feed_lag_seconds") == 0.4
        assert get("/metrics/../etc/passwd")[0] == 404 and get("/")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("raw", ["http", "0", "70000", "-1", "80 80", "9" * 30])
def test_process_server_port_from_the_environment_is_checked(monkeypatch, raw: str) -> None:
    from backend.observability.process_server import PORT_ENV, start_from_env

    monkeypatch.setenv(PORT_ENV, raw)
    with pytest.raises(ValueError, match=PORT_ENV):
        start_from_env(health=lambda: (True, {}))


def test_no_process_server_without_a_port(monkeypatch) -> None:
    from backend.observability.process_server import PORT_ENV, start_from_env

    monkeypatch.delenv(PORT_ENV, raising=False)
    assert start_from_env(health=lambda: (True, {})) is None
