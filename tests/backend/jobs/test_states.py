"""Job states: only the legal moves happen, whoever races on a job."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import make_url

from backend.jobs import IllegalTransitionError, JobNotFoundError, JobState, QueueFullError
from backend.jobs.states import FINISHED, TRANSITIONS
from backend.jobs.store import JOBS, JobStore, records
from backend.meta.models import utc_now


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """Job records in a SQLite file (embedded) or a fresh PostgreSQL database (server mode)."""
    if request.param == "sqlite":
        yield JobStore(records(f"sqlite:///{tmp_path / 'meta.sqlite3'}"))
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"jobs_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    job_store = JobStore(records(make_url(server_url).set(database=name).render_as_string(hide_password=False)))
    try:
        yield job_store
    finally:
        job_store.meta.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


LEGAL = {
    (JobState.QUEUED, JobState.RUNNING), (JobState.QUEUED, JobState.CANCELLED), (JobState.QUEUED, JobState.FAILED),
    (JobState.RUNNING, JobState.COMPLETED), (JobState.RUNNING, JobState.FAILED),
    (JobState.RUNNING, JobState.CANCELLED),
}


def _new(store: JobStore, **kw: object) -> int:
    args = {"kind": "probe", "parameters": {}, "owner": "local", "runner": "embedded", "placement": "worker", **kw}
    return store.create(**args).id  # type: ignore[arg-type]


def _put_in(store: JobStore, state: JobState) -> int:
    """A job brought to ``state`` through legal moves only."""
    job_id = _new(store)
    if state == JobState.QUEUED:
        return job_id
    if state != JobState.CANCELLED:
        store.transition(job_id, JobState.RUNNING)
    if state != JobState.RUNNING:
        store.transition(job_id, state)
    return job_id


def test_the_transition_table_is_the_product_s_state_machine() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == LEGAL
    assert FINISHED == {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(JobState, JobState)))
def test_every_move_is_allowed_exactly_when_legal(store: JobStore, source: JobState, target: JobState) -> None:
    job_id = _put_in(store, source)
    assert store.get(job_id).state == source
    if (source, target) in LEGAL:
        job = store.transition(job_id, target)
        assert job.state == target
        assert (job.finished_at is not None) == (target in FINISHED)
    else:
        with pytest.raises(IllegalTransitionError, match=f"is {source.value}: it cannot become {target.value}"):
            store.transition(job_id, target)
        assert store.try_transition(job_id, target) is False
        assert store.get(job_id).state == source  # nothing changed


def test_a_finished_job_never_changes_again(store: JobStore) -> None:
    job_id = _put_in(store, JobState.COMPLETED)
    before = store.get(job_id)
    with pytest.raises(IllegalTransitionError):
        store.cancel(job_id)
    assert store.report(job_id, 0.3, "late progress") is True  # told to stop, record untouched
    assert store.reap(0.0) == []
    assert store.get(job_id) == before


def test_unknown_jobs_and_fields_are_refused(store: JobStore) -> None:
    with pytest.raises(JobNotFoundError):
        store.get(999_999)
    with pytest.raises(JobNotFoundError):
        store.transition(999_999, JobState.RUNNING)
    with pytest.raises(JobNotFoundError):
        store.cancel(999_999)
    job_id = _new(store)
    with pytest.raises(ValueError, match="not a job field: state"):
        store.transition(job_id, JobState.RUNNING, state="COMPLETED")
    with pytest.raises(JobNotFoundError):  # someone else's job is not found, not "forbidden"
        store.cancel(job_id, owner="someone-else")


def test_racing_finishers_leave_exactly_one_winner(store: JobStore) -> None:
    for _ in range(5):
        job_id = _put_in(store, JobState.RUNNING)
        targets = [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED] * 3
        wins: list[JobState] = []
        barrier = threading.Barrier(len(targets))

        def finish(target: JobState, job_id: int = job_id, barrier: threading.Barrier = barrier,
                   wins: list[JobState] = wins) -> None:
            barrier.wait()
            if store.try_transition(job_id, target):
                wins.append(target)

        threads = [threading.Thread(target=finish, args=(t,)) for t in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1
        assert store.get(job_id).state == wins[0]


def test_cancel_stops_a_queued_job_at_once_and_asks_a_running_one(store: JobStore) -> None:
    queued = _new(store)
    job = store.cancel(queued)
    assert job.state == JobState.CANCELLED and job.finished_at is not None
    assert store.claim(queued, "w", 1) is False  # a cancelled job is never started

    running = _put_in(store, JobState.RUNNING)
    job = store.cancel(running)
    assert job.state == JobState.RUNNING and job.cancel_requested
    assert store.report(running, 0.5, "half") is True  # the job learns it must stop


def test_progress_is_clamped_and_the_message_and_log_are_bounded(store: JobStore) -> None:
    job_id = _put_in(store, JobState.RUNNING)
    assert store.report(job_id, 7.0, "x" * 5_000, "line\n" * 10_000) is False
    job = store.get(job_id)
    assert job.progress == 1.0 and len(job.message) == 500 and len(job.log_tail or "") <= 8_000
    store.report(job_id, -3, None)
    assert store.get(job_id).progress == 0.0


def test_queue_positions_follow_submission_order_per_runner(store: JobStore) -> None:
    ids = [_new(store) for _ in range(4)]
    other = _new(store, runner="celery")
    store.transition(ids[0], JobState.RUNNING)
    store.cancel(ids[2])
    assert store.get(ids[0]).queue_position is None
    assert [store.get(i).queue_position for i in (ids[1], ids[3])] == [1, 2]
    assert store.get(other).queue_position == 1
    listed = {j.id: j.queue_position for j in store.list(states=[JobState.QUEUED])}
    assert listed == {ids[1]: 1, ids[3]: 2, other: 1}


def test_an_owner_cannot_queue_without_limit(store: JobStore) -> None:
    for _ in range(3):
        _new(store, max_queued_per_owner=3)
    with pytest.raises(QueueFullError, match="3 of your jobs are already waiting"):
        _new(store, max_queued_per_owner=3)
    _new(store, owner="another", max_queued_per_owner=3)  # the limit is per owner


def test_the_reaper_fails_only_jobs_whose_heartbeat_stopped(store: JobStore) -> None:
    stale, fresh = _put_in(store, JobState.RUNNING), _put_in(store, JobState.RUNNING)
    with store.meta.write() as conn:
        conn.execute(update(JOBS).where(JOBS.c.id == stale).values(heartbeat_at=utc_now() - timedelta(seconds=60)))
    assert store.reap(30.0) == [stale]
    job = store.get(stale)
    assert job.state == JobState.FAILED and "stopped: no heartbeat since" in (job.error or "")
    assert store.get(fresh).state == JobState.RUNNING
    assert store.report(stale, 0.9, None) is True  # a worker that comes back is told to stop


def test_racing_dispatchers_never_start_one_job_twice(store: JobStore) -> None:
    ids = [_new(store) for _ in range(12)]
    claimed: list[int] = []
    barrier = threading.Barrier(4)

    def dispatcher(name: str) -> None:
        barrier.wait()
        while (job := store.claim_next("embedded", {"worker": (name, None)})) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=dispatcher, args=(f"d{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ids  # each job started exactly once
    assert all(store.get(i).state == JobState.RUNNING for i in ids)
