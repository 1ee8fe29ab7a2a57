"""The Celery runner: jobs go to Celery workers through Redis.

Submitting writes the QUEUED record, then sends a task that names only the job
id; the worker claims the record (QUEUED → RUNNING) when it starts it, so a job
cancelled while queued never starts. Warehouse-bound kinds run on this web
process's threads when the warehouse is embedded (see ``JobRunner.placement``).
``start()`` runs those threads and the reaper that fails jobs whose worker died.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from backend.jobs.celery_app import TASK_NAME, make_celery
from backend.jobs.embedded import LocalExecutor
from backend.jobs.kinds import Placement
from backend.jobs.runner import CELERY, JobRunner
from backend.jobs.states import JobError, JobState
from backend.jobs.store import Job

log = logging.getLogger(__name__)


class QueueUnavailableError(JobError):
    status = 503


class CeleryRunner(JobRunner):
    name = CELERY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._celery: Any = None
        self._celery_pid = 0
        self.executor: LocalExecutor | None = None

    @property
    def celery(self) -> Any:
        # One Celery app (and broker connection pool) per process: a forked
        # background callback must not share its parent's sockets.
        if self._celery is None or self._celery_pid != os.getpid():
            self._celery = make_celery(self.settings.redis_url or "", self.job_settings)
            self._celery_pid = os.getpid()
        return self._celery

    def start(self) -> None:
        if self.executor is None:
            self.executor = LocalExecutor(self, {Placement.WEB}, processes=0)
            self.executor.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.executor is not None and os.getpid() == self._owner_pid:
            self.executor.stop(timeout)
            self.executor = None

    def _hand_over(self, job: Job) -> None:
        if job.runner != CELERY:
            if self.executor is not None and os.getpid() == self._owner_pid:
                self.executor.wake()
            return
        try:
            # No Celery result is kept (the record is the result): without ignore_result the
            # client would also wait on the result store, so a dead Redis took 20 s to say so.
            self.celery.send_task(TASK_NAME, args=[job.id], task_id=f"deskboard-job-{job.id}",
                                  queue=self.job_settings.celery_queue, ignore_result=True)
        except Exception as exc:
            log.warning("could not queue job %s: %s", job.id, exc, exc_info=True)
            self.store.try_transition(job.id, JobState.FAILED,
                                      error="the job queue (Redis) could not be reached; try again later")
            raise QueueUnavailableError("the job queue (Redis) could not be reached; try again later") from None
