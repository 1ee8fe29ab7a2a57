"""What the runner does beside running jobs: resume after a restart, expire results, give up on broken workers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from backend.jobs import JobRunner, JobState, ResultUnavailableError
from backend.jobs.context import result_dir
from backend.jobs.embedded import sweep_results
from backend.jobs.store import JOBS, JobStore
from backend.meta.models import utc_now
from tests.backend.jobs.conftest import wait_for, wait_state


def test_a_restarted_server_runs_what_was_queued_and_fails_what_its_predecessor_was_running(
        store: JobStore, make_runner: Callable[..., JobRunner]) -> None:
    # Left behind by a server that stopped: one job waiting, one running on a thread that is gone.
    waiting = store.create(kind="probe", parameters={"steps": 1, "step_seconds": 0}, owner="local",
                           runner="embedded", placement="worker").id
    orphan = store.create(kind="trades_csv", parameters={"view": "?"}, owner="local", runner="embedded",
                          placement="web").id
    store.claim(orphan, "old-host/web-1", 1)
    with store.meta.write() as conn:
        conn.execute(update(JOBS).where(JOBS.c.id == orphan).values(heartbeat_at=utc_now() - timedelta(minutes=5)))

    runner = make_runner()
    assert wait_state(runner, waiting, JobState.COMPLETED, JobState.FAILED).state == JobState.COMPLETED
    failed = wait_state(runner, orphan, JobState.FAILED, JobState.COMPLETED)
    assert failed.state == JobState.FAILED and "(old-host/web-1) stopped: no heartbeat since" in (failed.error or "")


def test_results_past_their_retention_are_deleted_and_the_download_says_so(
        make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner(result_retention_hours=1)
    job = runner.submit("probe", {"steps": 1, "step_seconds": 0}, "local")
    wait_state(runner, job.id, JobState.COMPLETED)
    assert runner.result_file(job.id, "local").path.is_file()
    stray = result_dir(runner.settings.data_dir, 987_654)  # a folder no record knows
    stray.mkdir(parents=True)

    # The runner's own upkeep sweeps too: wait on the files, whoever deletes them.
    sweep_results(runner)
    wait_for(lambda: not stray.exists(), 10, "the stray folder to go")
    assert runner.result_file(job.id, "local").path.is_file()  # the fresh result stays
    with runner.store.meta.write() as conn:
        conn.execute(update(JOBS).where(JOBS.c.id == job.id).values(finished_at=utc_now() - timedelta(hours=2)))
    sweep_results(runner)
    wait_for(lambda: not result_dir(runner.settings.data_dir, job.id).exists(), 10, "the expired result to go")
    with pytest.raises(ResultUnavailableError, match="was deleted") as gone:
        runner.result_file(job.id, "local")
    assert gone.value.status == 410
    assert runner.get(job.id).state == JobState.COMPLETED  # the record stays


def test_worker_processes_that_cannot_start_fail_the_waiting_jobs(
        make_runner: Callable[..., JobRunner], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")  # every worker exits at once with code 1
    runner = make_runner(concurrency=1)
    job = runner.submit("probe", {"steps": 1}, "local")
    failed = wait_state(runner, job.id, JobState.FAILED, JobState.COMPLETED)
    assert failed.error is not None
    assert failed.error.startswith("job worker processes cannot start (exited with code 1); see ")
    assert failed.started_at is None
