"""Celery worker entry point for jobs (server mode)::

    celery -A backend.jobs.celery_worker worker -Q deskboard-jobs --concurrency 2

Settings come from the environment like the web server's (``DESKBOARD_REDIS_URL``,
``DESKBOARD_META_URL``, ``DESKBOARD_DATA_DIR`` on storage the web servers share,
``DESKBOARD_WAREHOUSE_DSN`` of a ClickHouse server for warehouse-bound kinds);
the pool size defaults to ``DESKBOARD_JOBS_CONCURRENCY``. Each pool process opens
its own records-store connection (and warehouse client) when its first job starts.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import setup_logging, task_failure, worker_ready
from celery.worker.request import WorkerLostError

from backend.config import load_settings
from backend.jobs.celery_app import TASK_NAME, make_celery
from backend.jobs.context import execute_job, worker_name
from backend.jobs.states import JobState
from backend.jobs.store import JobStore, records
from backend.observability.logs import configure_logging
from backend.observability.process_server import start_from_env

log = logging.getLogger(__name__)

settings = load_settings()
job_settings = settings.jobs  # the DESKBOARD_JOBS_* variables, as the web server reads them
if not settings.redis_url:
    raise SystemExit("the job worker needs DESKBOARD_REDIS_URL (the broker)")
app = make_celery(settings.redis_url, job_settings)


def _store() -> JobStore:
    return JobStore(records(settings.meta_database_url))


def _warehouse() -> Any:
    from backend.warehouse import open_warehouse

    return open_warehouse(settings.warehouse_url, settings.warehouse_database)


@app.task(name=TASK_NAME, ignore_result=True, acks_late=False)
def run_job(job_id: int) -> str:
    """Claim the job (it may have been cancelled while queued) and run it."""
    store = _store()
    if not store.claim(int(job_id), worker_name(f"celery-{os.getpid()}"), os.getpid()):
        return "not started: no longer queued"
    job = execute_job(store, int(job_id), settings, heartbeat_seconds=job_settings.heartbeat_seconds,
                      warehouse=_warehouse)
    return job.state.value


@task_failure.connect
def _worker_lost(sender: Any = None, task_id: str | None = None, exception: BaseException | None = None,
                 args: Any = None, **_: Any) -> None:
    # Sent by the worker's main process when a pool process dies mid-task: fail the
    # job now instead of waiting for the reaper to notice the missing heartbeat.
    if not isinstance(exception, WorkerLostError) or getattr(sender, "name", None) != TASK_NAME or not args:
        return
    try:
        _store().try_transition(int(args[0]), JobState.FAILED,
                                error=f"the Celery worker process running this job stopped: {exception}")
    except Exception:
        log.exception("could not record the failure of job %s", args[0])


@setup_logging.connect
def _logging(**_: Any) -> None:
    # Connected, so Celery leaves the root logger alone: the same JSON lines as the web server's.
    configure_logging()


@worker_ready.connect
def _probe_server(**_: Any) -> None:
    # /health and /metrics for the pod's probes (DESKBOARD_PROCESS_HTTP_PORT; unset: none).
    start_from_env(health=lambda: (True, {"role": "job-worker", "pid": os.getpid()}))
