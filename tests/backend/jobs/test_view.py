"""What the progress control says about a job, read from its record."""

from __future__ import annotations

import pytest

from backend.jobs import JobState
from backend.jobs.store import JobStore
from backend.jobs.view import job_view, ordinal


def _job(store: JobStore) -> int:
    return store.create(kind="trades_csv", parameters={"view": "?"}, owner="local", runner="embedded",
                        placement="web").id


@pytest.mark.parametrize(("n", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                         (12, "12th"), (13, "13th"), (21, "21st"), (102, "102nd"), (111, "111th")])
def test_queue_places_read_as_ordinals(n: int, text: str) -> None:
    assert ordinal(n) == text


def test_each_state_reads_as_the_record_says(store: JobStore) -> None:
    first, second = _job(store), _job(store)
    view = job_view(store.get(second))
    assert (view.state, view.text, view.active, view.percent) == ("QUEUED", "Queued — 2nd in line", True, 0.0)

    store.claim(first, "w", 1)
    store.report(first, 0.4567, "4,567 of 10,000 rows")
    view = job_view(store.get(first))
    assert view.text == "Running — 45.7% · 4,567 of 10,000 rows" and view.active and view.result_href is None
    assert job_view(store.get(second)).text == "Queued — 1st in line"

    store.cancel(first)
    assert job_view(store.get(first)).text == "Cancelling — stopped at 45.7%"
    store.transition(first, JobState.CANCELLED, message="cancelled at 46%")
    view = job_view(store.get(first))
    assert (view.text, view.active, view.color) == ("Cancelled — cancelled at 46%", False, "orange")

    store.claim(second, "w", 1)
    store.transition(second, JobState.COMPLETED, message="10,000 rows (1.2 MB)",
                     result={"file": "trades-2024-01-02.csv", "rows": 10_000})
    view = job_view(store.get(second))
    assert view.text == "Completed — 10,000 rows (1.2 MB)" and view.percent == 100.0 and not view.active
    assert view.result_href == f"/api/v1/jobs/{second}/result" and view.result_name == "trades-2024-01-02.csv"


def test_a_failed_job_shows_its_error_and_log_but_never_its_traceback(store: JobStore) -> None:
    job_id = _job(store)
    store.claim(job_id, "w", 1)
    store.transition(job_id, JobState.FAILED, error="there is no data in the warehouse yet",
                     traceback="Traceback: secret internals", log_tail="12:00:00 started\n12:00:01 failed")
    view = job_view(store.get(job_id))
    assert view.text == "Failed — there is no data in the warehouse yet" and view.color == "red"
    assert view.log == "12:00:00 started\n12:00:01 failed"
    assert "secret internals" not in repr(view)
