"""Long jobs: one runner, embedded (worker processes + web threads) or Celery on Redis.

The job record in the records store is the truth about every job:
QUEUED → RUNNING (progress 0..1, a message, heartbeats) → COMPLETED (a result,
often a file under the data dir) | FAILED (error, traceback, log tail) | CANCELLED.
This package never imports Dash: pages (``components.job_progress``) and the REST
API both reach the server's runner through ``current_jobs()`` and watch a job by
reading its record; ``backend.jobs.view`` says what a page shows of it.
"""

from backend.access.current import current_principal
from backend.jobs.kinds import KINDS, JobKind, Placement, get_kind
from backend.jobs.runner import CELERY, EMBEDDED, JobRunner, ResultFile, open_runner
from backend.jobs.settings import JobSettings
from backend.jobs.states import (
    IllegalTransitionError,
    InvalidJobError,
    JobCancelled,
    JobError,
    JobNotFoundError,
    JobState,
    QueueFullError,
    ResultUnavailableError,
)
from backend.jobs.store import Job, JobStore


def current_owner() -> str:
    """Who is asking for a job: pages hand this to the runner as the job's owner.

    The request's signed-in user (the records store's local user when sign-in is off,
    and outside requests), the same owner the REST API and saved views use.
    """
    return current_principal().id


__all__ = [
    "CELERY", "EMBEDDED", "KINDS", "IllegalTransitionError", "InvalidJobError", "Job", "JobCancelled", "JobError",
    "JobKind", "JobNotFoundError", "JobRunner", "JobSettings", "JobState", "JobStore", "Placement",
    "QueueFullError", "ResultFile", "ResultUnavailableError", "current_owner", "get_kind", "open_runner",
]
