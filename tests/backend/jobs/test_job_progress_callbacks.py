"""The job control's callbacks with what a hostile browser could put in its stores: no error, nothing started."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backend.config import Settings
from backend.jobs import JobSettings, JobState
from backend.jobs.runtime import install_jobs
from components import job_progress as control


@pytest.fixture
def server(job_app_settings: Settings) -> Iterator[Any]:
    from flask import Flask

    from backend.stores import EXTENSION_KEY

    app = Flask(__name__)
    stores = type("S", (), {"settings": job_app_settings, "meta": None})()
    app.extensions[EXTENSION_KEY] = stores
    runner = install_jobs(app, stores, JobSettings(runner="embedded", concurrency=1))  # type: ignore[arg-type]
    with app.test_request_context():
        yield runner
    runner.stop(5.0)


@pytest.mark.parametrize("stored", [None, "7", {"id": "7"}, {"id": True}, {"id": -1}, {"id": 0}, {"id": 10**30},
                                    {"id": 1.5}, {"id": 424242}, [1], {"nope": 1}])
def test_a_hostile_or_stale_job_store_shows_nothing_to_watch(server: Any, stored: Any) -> None:
    shown = control._show(stored, None)
    assert shown["text"] == "" and shown["start_disabled"] is False and shown["cancel_disabled"] is True
    assert shown["tick_disabled"] is True  # idle, not polling
    expected = "job 424242 not found" if stored == {"id": 424242} else ""  # a stale id is named, not an error
    assert control._cancel(1, stored) == (control.no_update, expected)


@pytest.mark.parametrize("asked", [None, "x", {"kind": "rm -rf"}, {"kind": None}, {"kind": ["trades_csv"]},
                                   {"kind": "trades_csv", "parameters": "?date=x"},
                                   {"kind": "trades_csv", "parameters": {"view": "x" * 10_000}},
                                   {"kind": "probe", "parameters": {"steps": -1}}])
def test_a_hostile_start_request_is_refused_with_a_message(server: Any, asked: Any) -> None:
    job, message = control._submit(asked)
    assert job is control.no_update
    assert message == "" if not isinstance(asked, dict) else message.startswith(("kind", "parameters"))
    assert server.list() == []


def test_a_started_job_is_watched_and_cancelled_through_the_record(server: Any) -> None:
    job, message = control._submit({"kind": "probe", "parameters": {"steps": 500, "step_seconds": 0.05}})
    assert message == "" and isinstance(job["id"], int)
    shown = control._show(job, None)
    assert shown["text"].startswith(("Queued", "Running")) and shown["start_disabled"] is True
    assert shown["tick_disabled"] is False
    control._cancel(1, job)
    record = server.get(job["id"])
    assert record.state == JobState.CANCELLED or record.cancel_requested
