"""The embedded runner end to end: worker processes, progress, failure, cancel, the queue, dead workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from backend.jobs import JobRunner, JobState
from backend.jobs.context import result_dir
from backend.jobs.store import JobStore
from tests.backend.jobs.conftest import HEARTBEAT_SECONDS, wait_for, wait_state

ROOT = Path(__file__).resolve().parents[3]


def _probe(runner: JobRunner, steps: int = 10, step_seconds: float = 0.1, **extra: object):
    return runner.submit("probe", {"steps": steps, "step_seconds": step_seconds, **extra}, "local")


def test_a_job_runs_in_a_worker_process_with_progress_to_completed(make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner()
    job = _probe(runner, steps=8, step_seconds=0.15)
    assert job.state == JobState.QUEUED and job.progress == 0.0 and job.placement == "worker"
    seen: set[float] = set()

    def done() -> bool:
        current = runner.get(job.id)
        if current.state == JobState.RUNNING:
            seen.add(current.progress)
        return current.finished

    wait_for(done, 60, "the probe to finish")
    final = runner.get(job.id)
    assert final.state == JobState.COMPLETED, final.error
    # Progress was reported while it ran, in steps of 1/8, and it ends at 1.
    assert any(0 < p < 1 for p in seen), seen
    assert all(round(p * 8, 6) == round(p * 8) for p in seen)
    assert final.progress == 1.0 and final.message == f"8 steps in pid {final.result['pid']}"
    assert final.result["pid"] != os.getpid() and final.pid == final.result["pid"]
    assert final.started_at <= final.finished_at and final.heartbeat_at is not None
    text = runner.result_file(job.id, "local").path.read_text()
    assert text.splitlines() == [f"step {i} done in pid {final.pid}" for i in range(1, 9)]


def test_a_failing_job_ends_failed_with_its_traceback_and_log(make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner()
    job = _probe(runner, steps=5, step_seconds=0.01, fail_at_step=3)
    final = wait_state(runner, job.id, JobState.FAILED, JobState.COMPLETED)
    assert final.state == JobState.FAILED
    # The user sees a plain message; the details are in the record's traceback and log.
    assert final.error == "the job failed on the server (ProbeFailure); the details are in its record"
    assert "ProbeFailure: the probe failed at step 3 as asked" in (final.traceback or "")
    assert 'backend/jobs/probe.py' in (final.traceback or "")
    log = final.log_tail or ""
    assert "step 2 done" in log and "step 3: failing as asked" in log and "failed: ProbeFailure" in log
    assert "traceback" not in final.public()
    assert not result_dir(runner.settings.data_dir, job.id).exists()  # a failed job leaves no result


def test_cancel_stops_a_running_job_and_a_queued_one_never_starts(make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner(concurrency=1)
    running = _probe(runner, steps=200, step_seconds=0.05)
    queued = _probe(runner, steps=2, step_seconds=0.01)
    wait_for(lambda: runner.get(running.id).progress > 0, 60, "progress of the first job")
    assert runner.get(queued.id).queue_position == 1

    assert runner.cancel(queued.id, "local").state == JobState.CANCELLED
    asked = runner.cancel(running.id, "local")
    assert asked.state == JobState.RUNNING and asked.cancel_requested
    final = wait_state(runner, running.id, JobState.CANCELLED, JobState.COMPLETED, JobState.FAILED)
    assert final.state == JobState.CANCELLED and final.message.startswith("cancelled at ")
    assert 0 < final.progress < 1
    assert runner.get(queued.id).started_at is None
    assert not result_dir(runner.settings.data_dir, running.id).exists()
    # The worker is free again: the next job runs.
    after = _probe(runner, steps=2, step_seconds=0.01)
    assert wait_state(runner, after.id, JobState.COMPLETED, JobState.FAILED).state == JobState.COMPLETED


def test_the_concurrency_limit_queues_the_rest_visibly_and_in_order(make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner(concurrency=2)
    jobs = [_probe(runner, steps=10, step_seconds=0.1) for _ in range(5)]
    ids = [j.id for j in jobs]

    def two_running() -> dict | None:
        snapshot = {j.id: j for j in runner.list()}  # one read: a consistent picture
        return snapshot if sum(j.state == JobState.RUNNING for j in snapshot.values()) == 2 else None

    snapshot = wait_for(two_running, 60, "two jobs running")
    assert [snapshot[i].state for i in ids[:2]] == [JobState.RUNNING, JobState.RUNNING]
    assert [snapshot[i].state for i in ids[2:]] == [JobState.QUEUED] * 3
    assert [snapshot[i].queue_position for i in ids[2:]] == [1, 2, 3]

    for i in ids:
        wait_state(runner, i, JobState.COMPLETED, JobState.FAILED, timeout=90)
    finals = [runner.get(i) for i in ids]
    assert all(j.state == JobState.COMPLETED for j in finals)
    # First come, first served, and never more than two at once.
    starts = [j.started_at for j in finals]
    assert starts == sorted(starts)
    for j in finals:
        overlapping = sum(o.started_at <= j.started_at < o.finished_at for o in finals)
        assert overlapping <= 2
    assert len({j.pid for j in finals}) <= 2  # two worker processes served them all


def test_a_killed_worker_fails_its_job_while_the_others_keep_running(make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner(concurrency=2)
    victim = _probe(runner, steps=400, step_seconds=0.05)
    survivor = _probe(runner, steps=30, step_seconds=0.1)
    wait_for(lambda: runner.get(victim.id).progress > 0 and runner.get(survivor.id).progress > 0, 60,
             "both jobs to report progress")
    pid = runner.get(victim.id).pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)

    failed = wait_state(runner, victim.id, JobState.FAILED, JobState.COMPLETED, timeout=20)
    assert failed.state == JobState.FAILED
    assert failed.error == f"the worker process (pid {pid}) running this job stopped: killed by SIGKILL"
    assert runner.get(survivor.id).state == JobState.RUNNING  # untouched by its neighbour's death
    assert wait_state(runner, survivor.id, JobState.COMPLETED, JobState.FAILED).state == JobState.COMPLETED
    # A new worker takes the next job.
    after = _probe(runner, steps=2, step_seconds=0.01)
    done = wait_state(runner, after.id, JobState.COMPLETED, JobState.FAILED)
    assert done.state == JobState.COMPLETED and done.pid != pid


def test_the_reaper_fails_a_job_whose_worker_died_unwatched(make_runner: Callable[..., JobRunner],
                                                             store: JobStore) -> None:
    """A job whose process nobody here supervises (another server's worker) is failed by its silence."""
    runner = make_runner(concurrency=1)
    settings = runner.settings
    orphan = store.create(kind="probe", parameters={"steps": 400, "step_seconds": 0.05}, owner="local",
                          runner="elsewhere", placement="worker")
    config = {"data_dir": str(settings.data_dir), "meta_url": settings.meta_database_url,
              "heartbeat_seconds": HEARTBEAT_SECONDS}
    proc = subprocess.Popen([sys.executable, "-m", "backend.jobs.worker", json.dumps(config)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert "ready" in json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert store.claim(orphan.id, "another-host/worker", proc.pid)
        proc.stdin.write(json.dumps({"run": orphan.id}) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        neighbour = _probe(runner, steps=40, step_seconds=0.1)
        wait_for(lambda: store.get(orphan.id).progress > 0, 60, "the orphan's progress")
        os.kill(proc.pid, signal.SIGKILL)
        reaped = wait_state(store, orphan.id, JobState.FAILED, JobState.COMPLETED, timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert reaped.state == JobState.FAILED
    assert reaped.error.startswith("the worker running this job (another-host/worker) stopped: no heartbeat since")
    assert runner.get(neighbour.id).state in (JobState.QUEUED, JobState.RUNNING)
    assert wait_state(runner, neighbour.id, JobState.COMPLETED, JobState.FAILED).state == JobState.COMPLETED


def test_a_stopped_runner_leaves_no_job_running(make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner(concurrency=1)
    job = _probe(runner, steps=400, step_seconds=0.05)
    wait_for(lambda: runner.get(job.id).progress > 0, 60, "progress")
    pid = runner.get(job.id).pid
    runner.stop(1.0)  # the worker does not finish in time: it is killed
    final = runner.get(job.id)
    assert final.state == JobState.FAILED and "stopped" in (final.error or "")
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
                    .lower(), 10, "the worker to exit")
