"""One runner per server: installed once, replaced only when asked, and the replaced one stopped."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

from backend.config import Settings
from backend.jobs import JobSettings, JobState
from backend.jobs.runtime import EXTENSION_KEY, install_jobs, jobs_of
from tests.backend.jobs.conftest import wait_state


def test_a_server_keeps_one_runner_until_it_is_replaced(job_app_settings: Settings) -> None:
    server = Flask(__name__)
    stores = SimpleNamespace(settings=job_app_settings, meta=None)
    first = install_jobs(server, stores, JobSettings(runner="embedded", concurrency=1))  # type: ignore[arg-type]
    try:
        assert install_jobs(server, stores, JobSettings(runner="embedded", concurrency=3)) is first  # type: ignore[arg-type]
        assert jobs_of(server) is first and first.job_settings.concurrency == 1
        second = install_jobs(server, stores, JobSettings(runner="embedded", concurrency=3),  # type: ignore[arg-type]
                              replace=True)
        assert second is not first and server.extensions[EXTENSION_KEY] is second
        assert first.executor is None  # the replaced runner no longer dispatches
        job = second.submit("probe", {"steps": 1, "step_seconds": 0}, "local")
        assert wait_state(second, job.id, JobState.COMPLETED, JobState.FAILED).state == JobState.COMPLETED
    finally:
        jobs_of(server).stop(5.0)


def test_the_runner_takes_its_limits_from_the_settings_it_is_given(job_data_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.config import load_settings
    from backend.jobs import open_runner

    monkeypatch.setenv("DESKBOARD_JOBS_CONCURRENCY", "3")
    monkeypatch.setenv("DESKBOARD_JOBS_HEARTBEAT_SECONDS", "1.5")
    settings = load_settings(data_dir=job_data_dir, demo_rows=0, redis_url=None)
    runner = open_runner(settings)
    assert runner.name == "embedded"
    assert (runner.job_settings.concurrency, runner.job_settings.heartbeat_seconds) == (3, 1.5)
    assert open_runner(settings, JobSettings(concurrency=1)).job_settings.concurrency == 1  # given wins
