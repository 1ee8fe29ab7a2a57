"""The Celery application of the job runner (server mode: Redis as the broker).

Celery is imported lazily: the embedded runner never needs it. Job tasks keep no
Celery result (the job record is the result, and pages poll it); the Redis result
backend is there for other users of this Celery app, such as Dash's ``CeleryManager``.
"""

from __future__ import annotations

from typing import Any, Final

from backend.jobs.settings import JobSettings

TASK_NAME: Final = "deskboard.jobs.run"


def make_celery(redis_url: str, job_settings: JobSettings | None = None) -> Any:
    """A Celery app on ``redis_url`` whose job tasks go to the jobs queue."""
    try:
        from celery import Celery
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError("server-mode jobs need Celery: pip install -r requirements.txt (celery)") from None
    job_settings = job_settings or JobSettings()
    app = Celery("deskboard", broker=redis_url, backend=redis_url)
    app.conf.update(
        task_routes={TASK_NAME: {"queue": job_settings.celery_queue}},
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # A worker takes a message only when one of its processes is free, so jobs
        # start in the order they were queued and the pool size is the concurrency limit.
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        worker_concurrency=job_settings.concurrency,
        # A job that cannot be queued fails at once rather than hanging its request.
        broker_connection_timeout=5,
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5,
                                   "interval_max": 1},
        worker_hijack_root_logger=False,
        broker_transport_options={"socket_connect_timeout": 5},
    )
    return app
