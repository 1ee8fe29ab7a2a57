"""/api/v1/jobs on the real app: start, watch, cancel and download; hostile requests get a clear 4xx."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from backend.config import load_settings
from backend.jobs import JobSettings
from backend.jobs.runtime import install_jobs
from backend.stores import EXTENSION_KEY
from tests.backend.jobs.conftest import HEARTBEAT_SECONDS, wait_for

API = "/api/v1/jobs"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse) -> Iterator[Any]:
    from app import create_app

    settings = load_settings(data_dir=tmp_path_factory.mktemp("jobs-api"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, redis_url=None)
    app = create_app(settings, market=False)
    runner = install_jobs(app.server, app.server.extensions[EXTENSION_KEY],
                          JobSettings(runner="embedded", concurrency=1, heartbeat_seconds=HEARTBEAT_SECONDS,
                                      max_queued_per_owner=5), replace=True)
    yield app.server.test_client()
    runner.stop(5.0)


def _post(client: Any, body: Any, path: str = API, raw: bytes | None = None) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    return client.post(path, data=data, content_type="application/json")


def _watch(client: Any, job_id: int, *states: str, timeout: float = 60) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        response = client.get(f"{API}/{job_id}")
        assert response.status_code == 200, response.get_json()
        job = response.get_json()
        return job if job["state"] in states else None

    return wait_for(reached, timeout, f"job {job_id} to be {states}")  # type: ignore[return-value]


def test_start_watch_and_download_a_job(client: Any) -> None:
    response = _post(client, {"kind": "probe", "parameters": {"steps": 4, "step_seconds": 0.05}})
    assert response.status_code == 202
    job = response.get_json()
    assert job["state"] in ("QUEUED", "RUNNING") and response.headers["Location"] == f"{API}/{job['id']}"
    assert job["links"] == {"self": f"{API}/{job['id']}", "cancel": f"{API}/{job['id']}/cancel"}
    done = _watch(client, job["id"], "COMPLETED", "FAILED")
    assert done["state"] == "COMPLETED" and done["progress"] == 1.0
    assert "traceback" not in done
    result = client.get(done["links"]["result"])
    assert result.status_code == 200 and result.mimetype == "text/plain"
    assert result.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in result.headers["Content-Disposition"]
    assert result.data.decode().count("done in pid") == 4
    listed = client.get(f"{API}?state=COMPLETED&kind=probe&limit=5").get_json()["jobs"]
    assert done["id"] in [j["id"] for j in listed] and all(j["state"] == "COMPLETED" for j in listed)


def test_the_export_job_through_the_api_matches_duckdb(client: Any, trades_folder: Path) -> None:
    response = _post(client, {"kind": "trades_csv", "parameters": {"view": "?date=2024-02-05..2024-02-16"}})
    assert response.status_code == 202, response.get_json()
    done = _watch(client, response.get_json()["id"], "COMPLETED", "FAILED", timeout=120)
    assert done["state"] == "COMPLETED", done["error"]
    got = pd.read_csv(io.BytesIO(client.get(done["links"]["result"]).data))
    (count, pnl), = duckdb.sql(
        f"SELECT count(*), sum(pnl) FROM read_parquet('{trades_folder}/trades_1d/*.parquet') "
        "WHERE trade_date BETWEEN DATE '2024-02-05' AND DATE '2024-02-16' "
        "AND exposure_type IN ('Direct', 'ETF', 'ETC')").fetchall()
    assert len(got) == count == done["result"]["rows"]
    assert got.pnl.sum() == pytest.approx(pnl)


def test_cancel_a_running_job_and_a_queued_one(client: Any) -> None:
    first = _post(client, {"kind": "probe", "parameters": {"steps": 400, "step_seconds": 0.05}}).get_json()
    second = _post(client, {"kind": "probe", "parameters": {"steps": 2}}).get_json()
    _watch(client, first["id"], "RUNNING")
    waiting = client.get(f"{API}/{second['id']}").get_json()
    assert waiting["state"] == "QUEUED" and waiting["queue_position"] == 1  # the limit is one at a time

    cancelled = client.post(f"{API}/{second['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "CANCELLED"
    asked = client.post(f"{API}/{first['id']}/cancel").get_json()
    # The answer reads the job after the request is recorded: a worker between two 50 ms steps may
    # already have stopped it by then.
    assert asked["cancel_requested"] is True and asked["state"] in ("RUNNING", "CANCELLED")
    assert _watch(client, first["id"], "CANCELLED", "COMPLETED", "FAILED")["state"] == "CANCELLED"

    again = client.post(f"{API}/{first['id']}/cancel")
    assert again.status_code == 409 and "already finished" in again.get_json()["error"]
    gone = client.get(f"{API}/{first['id']}/result")
    assert gone.status_code == 404 and "only a completed job has a result" in gone.get_json()["error"]


def test_a_result_is_not_offered_before_the_job_completes(client: Any) -> None:
    job = _post(client, {"kind": "probe", "parameters": {"steps": 200, "step_seconds": 0.05}}).get_json()
    _watch(client, job["id"], "RUNNING")
    early = client.get(f"{API}/{job['id']}/result")
    assert early.status_code == 409 and "RUNNING" in early.get_json()["error"]
    client.post(f"{API}/{job['id']}/cancel")
    _watch(client, job["id"], "CANCELLED", "COMPLETED", "FAILED")


def test_a_failed_job_shows_its_error_and_log_but_no_traceback(client: Any) -> None:
    job = _post(client, {"kind": "probe", "parameters": {"steps": 3, "step_seconds": 0, "fail_at_step": 2}})
    failed = _watch(client, job.get_json()["id"], "FAILED", "COMPLETED")
    assert failed["state"] == "FAILED" and "ProbeFailure" in failed["error"]
    assert "step 2: failing as asked" in failed["log_tail"] and "traceback" not in failed


@pytest.mark.parametrize(("body", "status", "names"), [
    ({"kind": "no_such_kind"}, 400, "kind"),
    ({"kind": "x" * 5_000}, 400, "kind"),
    ({"kind": 5}, 400, "kind"),
    ({"kind": None}, 400, "kind"),
    ({"parameters": {}}, 400, "kind"),
    ({"kind": "probe", "parameters": "steps=3"}, 400, "parameters"),
    ({"kind": "probe", "parameters": ["steps", 3]}, 400, "parameters"),
    ({"kind": "probe", "parameters": {"steps": "many"}}, 400, "parameters.steps"),
    ({"kind": "probe", "parameters": {"steps": 10**9}}, 400, "parameters.steps"),
    ({"kind": "probe", "parameters": {"steps": 10_000, "step_seconds": 60}}, 400, "at most 3,600 seconds"),
    ({"kind": "probe", "parameters": {"steps": 2, "evil": "<script>"}}, 400, "parameters.evil"),
    ({"kind": "probe", "priority": "high"}, 400, "priority"),
    ({"kind": "trades_csv", "parameters": {"view": "x" * 10_000}}, 400, "parameters.view"),
    ({"kind": "trades_csv", "parameters": {"request": {"dimensions": ["nope"], "metrics": ["pnl"]}}}, 400,
     "parameters"),
    ([{"kind": "probe"}], 400, "JSON object"),
    ("probe", 400, "JSON object"),
])
def test_hostile_job_requests_get_a_clear_4xx(client: Any, body: Any, status: int, names: str) -> None:
    before = len(client.get(f"{API}?limit=500").get_json()["jobs"])
    response = _post(client, body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert names in error and "<script>" not in error
    assert len(client.get(f"{API}?limit=500").get_json()["jobs"]) == before  # nothing was queued


@pytest.mark.parametrize(("raw", "status"), [
    (b"", 400), (b"{not json", 400), (b"\xff\xfe", 400), (b'{"kind": "probe", "parameters": {"steps":', 400),
    (json.dumps({"kind": "probe", "parameters": {"pad": "x" * 70_000}}).encode(), 413),
])
def test_malformed_and_oversized_bodies_are_refused(client: Any, raw: bytes, status: int) -> None:
    response = _post(client, None, raw=raw)
    assert response.status_code == status
    assert response.get_json()["error"]


@pytest.mark.parametrize(("path", "status"), [
    (f"{API}/abc", 400), (f"{API}/0", 400), (f"{API}/-1", 400), (f"{API}/1e3", 400), (f"{API}/{'9' * 40}", 400),
    (f"{API}/999999", 404), (f"{API}/999999/result", 404), (f"{API}/%00", 400), (f"{API}/1.5/result", 400),
])
def test_bad_job_ids_get_a_clear_4xx(client: Any, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.get_json()["error"]


def test_bad_cancels_and_listings_get_a_clear_4xx(client: Any) -> None:
    assert client.post(f"{API}/abc/cancel").status_code == 400
    assert client.post(f"{API}/999999/cancel").status_code == 404
    assert client.get(f"{API}/1/cancel").status_code == 405
    for query, name in [("state=DONE", "state"), ("limit=0", "limit"), ("limit=10000", "limit"),
                        ("limit=ten", "limit"), ("kind=evil", "kind"), ("owner=someone", "owner")]:
        response = client.get(f"{API}?{query}")
        assert response.status_code == 400 and name in response.get_json()["error"], query


def test_one_owner_cannot_flood_the_queue(client: Any) -> None:
    blocker = _post(client, {"kind": "probe", "parameters": {"steps": 400, "step_seconds": 0.05}}).get_json()
    _watch(client, blocker["id"], "RUNNING")
    waiting = [_post(client, {"kind": "probe", "parameters": {"steps": 1}}) for _ in range(5)]
    assert [r.status_code for r in waiting] == [202] * 5
    refused = _post(client, {"kind": "probe", "parameters": {"steps": 1}})
    assert refused.status_code == 429 and "already waiting" in refused.get_json()["error"]
    positions = [client.get(f"{API}/{r.get_json()['id']}").get_json()["queue_position"] for r in waiting]
    assert positions == [1, 2, 3, 4, 5]
    client.post(f"{API}/{blocker['id']}/cancel")
    for r in waiting:
        _watch(client, r.get_json()["id"], "COMPLETED", "FAILED")
    assert client.get(f"{API}?state=QUEUED").get_json()["jobs"] == []
