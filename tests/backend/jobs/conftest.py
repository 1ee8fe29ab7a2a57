"""Fixtures of the job-runner tests: a records store and runners on a data folder of their own."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backend.config import Settings, load_settings
from backend.jobs import EMBEDDED, Job, JobRunner, JobSettings, JobState, open_runner
from backend.jobs.store import JobStore, records

# Short heartbeats so that a dead worker is noticed within two seconds in tests.
HEARTBEAT_SECONDS = 0.5


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll until ``predicate()`` is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def wait_state(runner_or_store: JobRunner | JobStore, job_id: int, *states: JobState, timeout: float = 30.0) -> Job:
    def reached() -> Job | None:
        job = runner_or_store.get(job_id)
        return job if job.state in states else None

    return wait_for(reached, timeout, f"job {job_id} to be {' or '.join(states)}")  # type: ignore[return-value]


@pytest.fixture
def job_data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def job_app_settings(job_data_dir: Path, warehouse_url: str) -> Settings:
    return load_settings(data_dir=job_data_dir, warehouse_dsn=warehouse_url, warehouse_database="fixture",
                         demo_rows=0, redis_url=None)


@pytest.fixture
def store(job_app_settings: Settings) -> JobStore:
    return JobStore(records(job_app_settings.meta_database_url))


@pytest.fixture
def make_runner(job_app_settings: Settings) -> Iterator[Callable[..., JobRunner]]:
    """Start embedded runners (stopped at the end of the test)."""
    started: list[JobRunner] = []

    def make(concurrency: int = 2, **overrides: object) -> JobRunner:
        options = {"runner": EMBEDDED, "concurrency": concurrency, "heartbeat_seconds": HEARTBEAT_SECONDS,
                   **overrides}
        runner = open_runner(job_app_settings, JobSettings(**options))  # type: ignore[arg-type]
        runner.start()
        started.append(runner)
        return runner

    yield make
    for runner in started:
        runner.stop(5.0)
