"""Server mode with its broker down: a job is refused at once with a clear 503, never left waiting."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backend.config import load_settings
from backend.jobs import JobError, JobSettings, JobState, open_runner
from tests.conftest import free_port


def test_a_job_is_refused_quickly_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0", demo_rows=0)
    runner = open_runner(settings, JobSettings(runner="celery"))
    started = time.monotonic()
    with pytest.raises(JobError, match=r"the job queue \(Redis\) could not be reached") as refused:
        runner.submit("probe", {"steps": 1}, "local")
    assert refused.value.status == 503
    assert time.monotonic() - started < 10  # the request that asked is answered, not hung
    (job,) = runner.list()
    assert job.state == JobState.FAILED and "could not be reached" in (job.error or "")
