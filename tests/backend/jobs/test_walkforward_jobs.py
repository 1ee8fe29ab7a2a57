"""Walk-forward runs as jobs: on the embedded runner a run reports every fold ("fold k of K") and
ends with its record; a cancelled run records nothing and keeps its finished folds, and a job
resuming it fits only the rest and ends with the predictions of a run that was never stopped. On a
real Celery worker (the test Redis), a pool process killed mid-run fails its job with a reason
while the app keeps serving, and resuming it completes the run."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend.config import Settings, load_settings
from backend.jobs import JobRunner, JobSettings, JobState
from backend.jobs.context import CHECKPOINTS, result_dir
from backend.jobs.runtime import install_jobs
from backend.measurements.frames import as_table
from backend.meta import open_meta
from backend.research.datasets import Bars
from backend.research.runtime import EXTENSION_KEY, open_datasets
from backend.research.walkforward.service import Runs
from backend.stores import EXTENSION_KEY as STORES_KEY
from tests.backend.jobs.conftest import HEARTBEAT_SECONDS, wait_for, wait_state
from tests.backend.jobs.test_celery import CeleryWorker
from tests.backend.research.walkforward.conftest import FAST_LGBM, HORIZON, market
from tests.conftest import free_port

FOLDS = 6
REQUEST = {"dataset": "walk", "features": ["ret1", "ret5"], "target": {"kind": "return", "horizon": HORIZON},
           "model": FAST_LGBM, "folds": {"train": 250, "validation": 100, "test": 100, "embargo": 5}, "seed": 3}
# Enough trees that a fold takes a noticeable moment: a cancel or a kill lands between folds.
SLOW = {**REQUEST, "model": {**FAST_LGBM, "n_estimators": 600}}
STEADY = {**REQUEST, "model": {**FAST_LGBM, "n_estimators": 100}}
# Heartbeats far apart: these tests are about folds, not about finding dead workers on a busy machine.
BEAT = {"heartbeat_seconds": 3.0}


@pytest.fixture
def runs(job_app_settings: Settings) -> Runs:
    datasets = open_datasets(job_app_settings, open_meta(job_app_settings.meta_database_url), None)
    datasets.add("walk", Bars(as_table(market()), "UTC"), source="a random walk")
    return Runs(datasets)


def _checkpoints(settings: Settings, job_id: int) -> list[str]:
    folder = result_dir(settings.data_dir, job_id) / CHECKPOINTS
    return sorted(p.name for p in folder.glob("fold-*.json")) if folder.is_dir() else []


def test_a_run_job_reports_every_fold_and_records_its_run(make_runner: Callable[..., JobRunner], runs: Runs,
                                                          job_app_settings: Settings) -> None:
    runner = make_runner(**BEAT)
    job = runner.submit("walkforward", {"request": STEADY, "created_by": "ana"}, "ana")
    seen: dict[str, float] = {}

    def done() -> bool:
        current = runner.get(job.id)
        if current.state == JobState.RUNNING and current.message.startswith("fold "):
            seen[current.message] = current.progress
            # a fold's checkpoint is on disk no later than its report: the report is never late
            # (after the last fold the run is recorded and its checkpoints removed)
            k = int(current.message.split()[1])
            assert k == FOLDS or len(_checkpoints(job_app_settings, job.id)) >= k
        return current.finished

    wait_for(done, 180, "the run to finish")
    final = runner.get(job.id)
    assert final.state == JobState.COMPLETED, final.error
    assert len(seen) >= 2, seen
    for message, share in seen.items():
        k, of = int(message.split()[1]), int(message.split()[3])
        assert of == FOLDS and share == pytest.approx(k / FOLDS)
    name = final.result["run"]
    assert final.result["folds"] == FOLDS and final.result["resumed_folds"] == 0
    record = runs.get(name)
    assert record["created_by"] == "ana" and len(record["folds"]) == FOLDS
    assert _checkpoints(job_app_settings, job.id) == []  # recorded: the checkpoints are gone


@pytest.mark.slow
def test_a_cancelled_run_records_nothing_and_its_resume_equals_an_uninterrupted_run(
        make_runner: Callable[..., JobRunner], runs: Runs, job_app_settings: Settings) -> None:
    runner = make_runner(**BEAT)
    job = runner.submit("walkforward", {"request": SLOW}, "ana")
    wait_for(lambda: runner.get(job.id).progress >= 2 / FOLDS or runner.get(job.id).finished, 180, "two folds")
    runner.cancel(job.id, "ana")
    final = wait_state(runner, job.id, JobState.CANCELLED, JobState.COMPLETED, JobState.FAILED, timeout=120)
    assert final.state == JobState.CANCELLED
    assert [r.kind for r in runs.records.list(include_deleted=True)] == ["dataset"]
    kept = _checkpoints(job_app_settings, job.id)
    assert 2 <= len(kept) < FOLDS

    resumed = runner.submit("walkforward", {"request": SLOW, "resume_from": job.id}, "ana")
    messages: list[str] = []

    def finished() -> bool:
        current = runner.get(resumed.id)
        if current.message.startswith("fold "):
            messages.append(current.message)
        return current.finished

    wait_for(finished, 180, "the resumed run to finish")
    done = runner.get(resumed.id)
    assert done.state == JobState.COMPLETED, done.error
    assert done.result["resumed_folds"] == len(kept) and done.result["resumed_from"] == job.id
    assert all(int(m.split()[1]) > len(kept) for m in messages)  # the folds taken up were not fitted again
    straight = runs.run(SLOW, record=False)
    got = runs.predictions(done.result["run"])
    np.testing.assert_array_equal(got["prediction"].to_numpy(), straight.result.predictions["prediction"].to_numpy())
    assert runs.get(done.result["run"])["summary"] == straight.inputs["summary"]
    assert _checkpoints(job_app_settings, job.id) == [] == _checkpoints(job_app_settings, resumed.id)


@pytest.mark.slow
def test_a_resume_of_another_request_fails_naming_it(make_runner: Callable[..., JobRunner], runs: Runs) -> None:
    runner = make_runner(**BEAT)
    job = runner.submit("walkforward", {"request": SLOW}, "ana")
    wait_for(lambda: runner.get(job.id).progress >= 1 / FOLDS or runner.get(job.id).finished, 180, "a fold")
    runner.cancel(job.id, "ana")
    assert wait_state(runner, job.id, JobState.CANCELLED, JobState.COMPLETED, timeout=120).state == JobState.CANCELLED
    other = runner.submit("walkforward", {"request": {**SLOW, "seed": 9}, "resume_from": job.id}, "ana")
    failed = wait_state(runner, other.id, JobState.FAILED, JobState.COMPLETED, timeout=120)
    assert failed.state == JobState.FAILED and failed.error.startswith("resume_from: that job ran another request")
    stranger = runner.submit("walkforward", {"request": SLOW, "resume_from": job.id}, "bob")
    refused = wait_state(runner, stranger.id, JobState.FAILED, JobState.COMPLETED, timeout=120)
    assert refused.state == JobState.FAILED and "not a walk-forward job of yours" in refused.error
    assert [r.kind for r in runs.records.list(include_deleted=True)] == ["dataset"]


# -- a real Celery worker ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def celery_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("walkforward-celery")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_")}
    env.update({
        "DESKBOARD_DATA_DIR": str(data_dir), "DESKBOARD_META_URL": f"sqlite:///{data_dir / 'meta.sqlite3'}",
        "DESKBOARD_REDIS_URL": redis_url, "DESKBOARD_JOBS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "DESKBOARD_JOBS_CELERY_QUEUE": f"deskboard-test-wf-{os.getpid()}", "DESKBOARD_JOBS_CONCURRENCY": "2",
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]), "DESKBOARD_PROCESS_HTTP_PORT": str(free_port()),
        "DESKBOARD_HOST": "127.0.0.1",
    })
    return env


@pytest.fixture(scope="module")
def celery_app(celery_env: dict[str, str], warehouse_url: str, loaded_warehouse) -> Iterator[Any]:
    from app import create_app

    settings = load_settings(data_dir=celery_env["DESKBOARD_DATA_DIR"], meta_url=celery_env["DESKBOARD_META_URL"],
                             redis_url=celery_env["DESKBOARD_REDIS_URL"], warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0)
    app = create_app(settings, market=False)
    runner = install_jobs(app.server, app.server.extensions[STORES_KEY], JobSettings(
        runner="celery", concurrency=2, heartbeat_seconds=HEARTBEAT_SECONDS,
        celery_queue=celery_env["DESKBOARD_JOBS_CELERY_QUEUE"]), replace=True)
    assert runner.name == "celery"
    app.server.extensions[EXTENSION_KEY].add("walk", Bars(as_table(market()), "UTC"), created_by="test")
    yield app
    runner.stop(5.0)


@pytest.fixture(scope="module")
def celery_worker(celery_env: dict[str, str], celery_app: Any,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryWorker]:
    started = CeleryWorker(celery_env, tmp_path_factory.mktemp("celery-wf-log") / "worker.log")
    yield started
    started.stop()


def _job(client: Any, url: str) -> dict[str, Any]:
    answer = client.get(url)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return answer.get_json()


@pytest.mark.slow
def test_a_killed_celery_worker_fails_the_run_and_a_resume_completes_it(celery_app: Any,
                                                                       celery_worker: CeleryWorker) -> None:
    client = celery_app.server.test_client()
    queued = client.post("/api/v1/research/runs", data=json.dumps(SLOW), content_type="application/json")
    assert queued.status_code == 202, queued.get_json()
    url = queued.headers["Location"]
    wait_for(lambda: _job(client, url)["progress"] >= 2 / FOLDS, 180, "two folds to finish on the worker")
    running = _job(client, url)
    assert running["state"] == "RUNNING" and running["runner"] == "celery"
    os.kill(running["pid"], signal.SIGKILL)
    failed = wait_for(lambda: (job := _job(client, url))["state"] in ("FAILED", "COMPLETED", "CANCELLED") and job,
                      60, "the killed run to end")
    assert failed["state"] == "FAILED", failed  # type: ignore[index]
    assert "stopped" in failed["error"] and "resume" in failed["links"]  # type: ignore[index]
    assert client.get("/health").status_code in (200, 503)  # the app kept serving
    assert client.get("/api/v1/research/runs").get_json()["total"] == 0

    resumed = client.post(failed["links"]["resume"])  # type: ignore[index]
    assert resumed.status_code == 202, resumed.get_json()
    done = wait_for(lambda: (job := _job(client, resumed.headers["Location"]))["state"] in (
        "FAILED", "COMPLETED", "CANCELLED") and job, 180, "the resumed run to finish")
    assert done["state"] == "COMPLETED", done["error"]  # type: ignore[index]
    assert done["result"]["resumed_folds"] >= 2  # type: ignore[index]
    runs = Runs(celery_app.server.extensions[EXTENSION_KEY])
    straight = runs.run(SLOW, record=False)
    got = runs.predictions(done["result"]["run"])  # type: ignore[index]
    np.testing.assert_array_equal(got["prediction"].to_numpy(), straight.result.predictions["prediction"].to_numpy())
