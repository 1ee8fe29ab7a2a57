"""Server mode: jobs on a real Celery worker through the test Redis, watched and cancelled through the app.

The test command exports ``DESKBOARD_TEST_REDIS_URL``; each test module uses a queue
of its own so that messages of another run never reach these workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.config import load_settings
from backend.jobs import JobSettings
from backend.jobs.runtime import install_jobs
from backend.stores import EXTENSION_KEY
from tests.backend.jobs.conftest import HEARTBEAT_SECONDS, wait_for
from tests.conftest import free_port

API = "/api/v1/jobs"
ROOT = Path(__file__).resolve().parents[3]


class CeleryWorker:
    """A ``celery worker`` process of the jobs application, in a session of its own."""

    def __init__(self, env: dict[str, str], log: Path, pool: str = "prefork", concurrency: int = 2) -> None:
        self.log = log
        self.handle = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "backend.jobs.celery_worker", "worker", "-Q",
             env["DESKBOARD_JOBS_CELERY_QUEUE"], "--pool", pool, "--concurrency", str(concurrency),
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
             "-n", f"jobs-test-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for(lambda: self.proc.poll() is not None or b" ready." in log.read_bytes(), 90, "the Celery worker")
        assert self.proc.poll() is None, log.read_text()[-3000:]

    def kill_all(self) -> None:
        """The whole worker at once (main process and pool), as when its machine dies."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill_all()
        if not self.handle.closed:
            self.handle.close()


@pytest.fixture(scope="module")
def server_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("jobs-celery")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_")}
    env.update({
        "DESKBOARD_DATA_DIR": str(data_dir), "DESKBOARD_META_URL": f"sqlite:///{data_dir / 'meta.sqlite3'}",
        "DESKBOARD_REDIS_URL": redis_url, "DESKBOARD_JOBS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "DESKBOARD_JOBS_CELERY_QUEUE": f"deskboard-test-{uuid.uuid4().hex[:8]}", "DESKBOARD_JOBS_CONCURRENCY": "2",
        "PYTHONPATH": str(ROOT), "DESKBOARD_PROCESS_HTTP_PORT": str(free_port()), "DESKBOARD_HOST": "127.0.0.1",
    })
    return env


@pytest.fixture(scope="module")
def app_client(server_env: dict[str, str], warehouse_url: str, loaded_warehouse) -> Iterator[Any]:
    """The web app as a server runs it: jobs go to Celery, the embedded warehouse's exports to its threads."""
    from app import create_app

    settings = load_settings(data_dir=server_env["DESKBOARD_DATA_DIR"], meta_url=server_env["DESKBOARD_META_URL"],
                             redis_url=server_env["DESKBOARD_REDIS_URL"], warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0)
    app = create_app(settings, market=False)
    runner = install_jobs(app.server, app.server.extensions[EXTENSION_KEY], JobSettings(
        runner="celery", concurrency=2, heartbeat_seconds=HEARTBEAT_SECONDS,
        celery_queue=server_env["DESKBOARD_JOBS_CELERY_QUEUE"]), replace=True)
    assert runner.name == "celery"
    yield app.server.test_client()
    runner.stop(5.0)


@pytest.fixture(scope="module")
def worker(server_env: dict[str, str], app_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        CeleryWorker]:
    started = CeleryWorker(server_env, tmp_path_factory.mktemp("celery-log") / "worker.log")
    yield started
    started.stop()


def _start(client: Any, kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    response = client.post(API, data=json.dumps({"kind": kind, "parameters": parameters}),
                           content_type="application/json")
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def _get(client: Any, job_id: int) -> dict[str, Any]:
    response = client.get(f"{API}/{job_id}")
    assert response.status_code == 200
    return response.get_json()


def _watch(client: Any, job_id: int, *states: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(lambda: (job := _get(client, job_id))["state"] in states and job, timeout,  # type: ignore[return-value]
                    f"job {job_id} to be {states}")


def test_a_celery_job_reports_progress_and_completes(app_client: Any, worker: CeleryWorker) -> None:
    job = _start(app_client, "probe", {"steps": 10, "step_seconds": 0.15})
    assert job["runner"] == "celery" and job["placement"] == "worker"
    seen: set[float] = set()

    def finished() -> dict[str, Any] | None:
        current = _get(app_client, job["id"])
        if current["state"] == "RUNNING":
            seen.add(current["progress"])
        return current if current["state"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    done = wait_for(finished, 90, "the Celery job to finish")
    assert done["state"] == "COMPLETED", done["error"]
    assert any(0 < p < 1 for p in seen), seen
    assert done["worker"].split("/")[-1].startswith("celery-") and done["pid"] != os.getpid()
    assert done["pid"] in {c.pid for c in _children(worker.proc.pid)}  # it ran in the worker's pool
    body = app_client.get(done["links"]["result"]).data.decode()
    assert body.count(f"done in pid {done['pid']}") == 10


def _children(pid: int) -> list[Any]:
    class _Proc:
        def __init__(self, child: int) -> None:
            self.pid = child

    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True,
                         check=False).stdout
    return [_Proc(int(p)) for p in out.split()]


def test_a_celery_job_is_cancelled_running_or_queued(app_client: Any, worker: CeleryWorker) -> None:
    running = [_start(app_client, "probe", {"steps": 400, "step_seconds": 0.05}) for _ in range(2)]
    queued = _start(app_client, "probe", {"steps": 2})
    for job in running:
        wait_for(lambda job=job: _get(app_client, job["id"])["progress"] > 0, 60, "progress")
    waiting = _get(app_client, queued["id"])
    assert waiting["state"] == "QUEUED" and waiting["queue_position"] == 1  # two at once: the third waits
    assert app_client.post(f"{API}/{queued['id']}/cancel").get_json()["state"] == "CANCELLED"
    for job in running:
        app_client.post(f"{API}/{job['id']}/cancel")
    for job in running:
        final = _watch(app_client, job["id"], "CANCELLED", "COMPLETED", "FAILED")
        assert final["state"] == "CANCELLED" and 0 < final["progress"] < 1
    # The cancelled queued job's message reaches a worker, which leaves it as it is.
    after = _start(app_client, "probe", {"steps": 1})
    assert _watch(app_client, after["id"], "COMPLETED", "FAILED")["state"] == "COMPLETED"
    assert _get(app_client, queued["id"])["started_at"] is None


def test_a_killed_pool_process_fails_its_job_while_the_app_serves(app_client: Any, worker: CeleryWorker) -> None:
    victim = _start(app_client, "probe", {"steps": 400, "step_seconds": 0.05})
    survivor = _start(app_client, "probe", {"steps": 40, "step_seconds": 0.1})
    for job in (victim, survivor):
        wait_for(lambda job=job: _get(app_client, job["id"])["progress"] > 0, 60, "progress")
    pid = _get(app_client, victim["id"])["pid"]
    os.kill(pid, signal.SIGKILL)
    failed = _watch(app_client, victim["id"], "FAILED", "COMPLETED", "CANCELLED", timeout=30)
    assert failed["state"] == "FAILED"
    # Whichever notices first: the worker's main process (it saw its pool process die) or the
    # reaper (the heartbeat stopped); both name the lost worker.
    assert failed["error"].startswith(("the Celery worker process running this job stopped",
                                       f"the worker running this job ({failed['worker']}) stopped")), failed["error"]
    # The app kept serving, and the other job on the same worker carried on.
    assert app_client.get("/health").status_code in (200, 503)
    assert _get(app_client, survivor["id"])["state"] == "RUNNING"
    assert _watch(app_client, survivor["id"], "COMPLETED", "FAILED")["state"] == "COMPLETED"
    after = _start(app_client, "probe", {"steps": 1})
    assert _watch(app_client, after["id"], "COMPLETED", "FAILED")["state"] == "COMPLETED"  # the pool recovered


def test_an_export_under_celery_runs_on_the_web_process_that_holds_the_warehouse(app_client: Any,
                                                                                   worker: CeleryWorker) -> None:
    job = _start(app_client, "trades_csv", {"view": "?date=2024-02-26..2024-02-29"})
    assert job["placement"] == "web" and job["runner"] == "embedded"
    done = _watch(app_client, job["id"], "COMPLETED", "FAILED", timeout=120)
    assert done["state"] == "COMPLETED", done["error"]
    assert done["pid"] == os.getpid() and done["result"]["rows"] > 0


def test_the_worker_answers_its_health_probe_and_logs_json(worker: CeleryWorker, server_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{server_env['DESKBOARD_PROCESS_HTTP_PORT']}"
    health = wait_for(lambda: _fetch(url + "/health"), 30, "the worker's health server")
    assert json.loads(health)["role"] == "job-worker"
    assert "process_resident_memory_bytes" in (_fetch(url + "/metrics") or "")
    lines = [line for line in worker.log.read_text().splitlines() if line.startswith("{")]
    assert lines and all("pid" in json.loads(line) for line in lines)


def _fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def test_a_dead_worker_machine_is_found_by_the_reaper(app_client: Any, server_env: dict[str, str],
                                                      worker: CeleryWorker, tmp_path: Path) -> None:
    """The whole worker is gone (no process left to report the loss): the heartbeat's silence fails the job."""
    worker.stop()  # so that the job goes to the worker this test kills
    lost = CeleryWorker(server_env, tmp_path / "lost.log", pool="solo", concurrency=1)
    try:
        job = _start(app_client, "probe", {"steps": 400, "step_seconds": 0.05})
        wait_for(lambda: _get(app_client, job["id"])["progress"] > 0, 60, "progress")
        assert _get(app_client, job["id"])["pid"] == lost.proc.pid
        started = time.monotonic()
        lost.kill_all()
        failed = _watch(app_client, job["id"], "FAILED", "COMPLETED", "CANCELLED", timeout=30)
        assert failed["state"] == "FAILED" and "no heartbeat since" in failed["error"]
        assert time.monotonic() - started < 3 * HEARTBEAT_SECONDS + 10
        assert app_client.get(f"{API}?limit=5").status_code == 200
    finally:
        lost.stop()

