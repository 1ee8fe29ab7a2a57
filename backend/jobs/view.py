"""What a page shows of one job: pure formatting of a job record, no Dash.

``job_view(job)`` answers the questions a progress control asks — how far along,
what to say, may it be cancelled, where is its result — from the record alone,
so every face (a page, a notebook) says the same thing about the same job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from backend.jobs.states import JobState
from backend.jobs.store import Job

RESULT_URL: Final = "/api/v1/jobs/{id}/result"
COLORS: Final = {
    JobState.QUEUED: "gray", JobState.RUNNING: "blue", JobState.COMPLETED: "teal",
    JobState.FAILED: "red", JobState.CANCELLED: "orange",
}


@dataclass(frozen=True)
class JobView:
    job_id: int | None
    state: str  # "" when no job is watched
    percent: float
    text: str
    color: str
    active: bool  # queued or running: keep watching, allow cancel
    result_href: str | None
    result_name: str | None
    log: str | None  # the failed job's log tail, shown on demand


IDLE: Final = JobView(None, "", 0.0, "", "gray", False, None, None, None)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def job_view(job: Job) -> JobView:
    state = job.state
    percent = round(job.progress * 100, 1)
    result = job.result or {}
    href = name = None
    if state == JobState.QUEUED:
        place = f"{ordinal(job.queue_position)} in line" if job.queue_position else "waiting"
        text = f"Queued — {place}"
    elif state == JobState.RUNNING:
        text = f"Running — {percent:g}%" + (f" · {job.message}" if job.message else "")
        if job.cancel_requested:
            text = f"Cancelling — stopped at {percent:g}%"
    elif state == JobState.COMPLETED:
        text = f"Completed — {job.message}" if job.message and job.message != "completed" else "Completed"
        if isinstance(result.get("file"), str):
            href, name = RESULT_URL.format(id=job.id), str(result["file"])
    elif state == JobState.FAILED:
        text = f"Failed — {job.error or 'the job stopped'}"
    else:
        text = f"Cancelled — {job.message}" if job.message and job.message != "cancelled" else "Cancelled"
    return JobView(
        job_id=job.id, state=state.value, percent=percent if state != JobState.COMPLETED else 100.0, text=text,
        color=COLORS[state], active=not job.finished, result_href=href, result_name=name,
        log=job.log_tail if state == JobState.FAILED else None,
    )
