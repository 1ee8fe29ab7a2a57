"""One job runner interface; the embedded and the Celery runner implement it side by side.

A runner is built from settings in any process. Submitting validates the kind
and its parameters, writes a QUEUED record and hands the job to whoever runs
it; reading, listing and cancelling only touch the records, which are the
truth about every job. ``start()`` (the web server calls it) brings up what
runs jobs in this process: the embedded runner's worker processes and web
threads, or — under Celery — the web threads for warehouse-bound kinds when the
warehouse is embedded; both start the reaper that fails jobs whose worker died.
"""

from __future__ import annotations

import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from backend.access.usage import note_job
from backend.config import Settings
from backend.jobs.context import result_dir, safe_file_name
from backend.jobs.kinds import JobKind, Placement, get_kind
from backend.jobs.settings import JobSettings
from backend.jobs.states import InvalidJobError, JobNotFoundError, JobState, ResultUnavailableError
from backend.jobs.store import Job, JobStore, records
from backend.meta.store import MetaStore

log = logging.getLogger(__name__)

EMBEDDED: Final = "embedded"
CELERY: Final = "celery"
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")


@dataclass(frozen=True)
class ResultFile:
    path: Path
    download_name: str
    media_type: str


class JobRunner(ABC):
    """Submit, watch and cancel jobs; ``start``/``stop`` the machinery that runs them here."""

    name: str

    def __init__(self, settings: Settings, job_settings: JobSettings | None = None,
                 meta: MetaStore | None = None) -> None:
        self.settings = settings
        self.job_settings = job_settings or settings.jobs
        self._meta = meta
        self._owner_pid = os.getpid()

    # -- records ---------------------------------------------------------------
    @property
    def store(self) -> JobStore:
        meta = self._meta if os.getpid() == self._owner_pid else None
        return JobStore(records(self.settings.meta_database_url, meta=meta))

    def placement(self, kind: JobKind) -> tuple[str, Placement]:
        """(runner, placement) for a kind: who dispatches it and where it runs."""
        if not kind.needs_warehouse:
            return self.name, Placement.WORKER
        where = self.job_settings.warehouse_jobs
        if where == "auto":
            where = "web" if self.settings.embedded_warehouse else "worker"
        return (EMBEDDED, Placement.WEB) if where == "web" else (self.name, Placement.WORKER)

    def submit(self, kind: str, parameters: Mapping[str, Any] | None, owner: str) -> Job:
        """Validate and queue a job; raises ``InvalidJobError`` naming the field, or ``QueueFullError``."""
        job_kind = get_kind(kind)
        params = job_kind.validate(parameters if parameters is not None else {})
        owner = _clean_owner(owner)
        runner, placement = self.placement(job_kind)
        job = self.store.create(
            kind=job_kind.name, parameters=params.model_dump(mode="json", exclude_defaults=True), owner=owner,
            runner=runner, placement=placement.value, max_queued_per_owner=self.job_settings.max_queued_per_owner,
        )
        note_job(job_kind.name, user=owner)  # usage: jobs run, by kind and user
        self._hand_over(job)
        return self.store.get(job.id)

    def get(self, job_id: int, owner: str | None = None) -> Job:
        job = self.store.get(job_id)
        if owner is not None and job.owner != owner:
            raise JobNotFoundError(f"job {job_id} not found")
        return job

    def list(self, owner: str | None = None, states: Iterable[JobState] | None = None, kind: str | None = None,
             limit: int = 100) -> list[Job]:
        return self.store.list(owner=owner, states=states, kind=kind, limit=limit)

    def cancel(self, job_id: int, owner: str | None = None) -> Job:
        job = self.store.cancel(job_id, owner)
        self._cancelled(job)
        return job

    def result_file(self, job_id: int, owner: str | None = None) -> ResultFile:
        """The finished job's file, or ``ResultUnavailableError`` saying why there is none."""
        job = self.get(job_id, owner)
        if job.state != JobState.COMPLETED:
            status = 409 if not job.finished else 404
            raise ResultUnavailableError(f"job {job_id} is {job.state.value}: only a completed job has a result",
                                         status)
        file = (job.result or {}).get("file")
        if not isinstance(file, str):
            raise ResultUnavailableError(f"job {job_id} produced no file", 404)
        path = result_dir(self.settings.data_dir, job_id) / safe_file_name(file)
        if not path.is_file():
            hours = self.job_settings.result_retention_hours
            raise ResultUnavailableError(
                f"the result of job {job_id} was deleted (results are kept {hours:g} hours); run it again", 410)
        return ResultFile(path, file, str((job.result or {}).get("media_type") or "application/octet-stream"))

    # -- what implementations provide ------------------------------------------
    @abstractmethod
    def _hand_over(self, job: Job) -> None:
        """Make sure the queued ``job`` will be picked up."""

    def _cancelled(self, job: Job) -> None:
        """Called after a cancel was recorded."""

    @abstractmethod
    def start(self) -> None:
        """Start running jobs in this process (the web server calls it once)."""

    @abstractmethod
    def stop(self, timeout: float = 10.0) -> None:
        """Stop what ``start`` started; jobs still running here end FAILED."""


def _clean_owner(owner: object) -> str:
    if not isinstance(owner, str) or not _OWNER.match(owner):
        raise InvalidJobError("not a valid user id", "owner")
    return owner


def open_runner(settings: Settings, job_settings: JobSettings | None = None, meta: MetaStore | None = None) -> JobRunner:
    """The runner the settings ask for: Celery when Redis is configured (or asked for), else embedded."""
    job_settings = job_settings or settings.jobs
    choice = job_settings.runner
    if choice == "auto":
        choice = CELERY if settings.redis_url else EMBEDDED
    if choice == CELERY:
        if not settings.redis_url:
            raise ValueError("DESKBOARD_JOBS_RUNNER=celery needs DESKBOARD_REDIS_URL (the broker)")
        from backend.jobs.celery_runner import CeleryRunner

        return CeleryRunner(settings, job_settings, meta)
    from backend.jobs.embedded import EmbeddedRunner

    return EmbeddedRunner(settings, job_settings, meta)
