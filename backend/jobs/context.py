"""Running one job: its context (progress, cancellation, log, result folder) and the run itself.

``execute_job`` is the same wherever a job runs — an embedded worker process, a
web-process thread or a Celery worker — so a kind behaves the same everywhere.
While it runs, a heartbeat thread writes to the record; the reaper fails a job
whose heartbeat stops (its process died). Progress reports double as
cancellation checks: once a cancel is asked for, the next ``progress`` call
raises ``JobCancelled`` and the job ends CANCELLED.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from backend.config import Settings
from backend.jobs.kinds import get_kind
from backend.jobs.states import InvalidJobError, JobCancelled, JobError, JobState
from backend.jobs.store import Job, JobStore

log = logging.getLogger(__name__)

RESULTS_FOLDER: Final = "job-results"
CHECKPOINTS: Final = "checkpoints"  # kept when a job does not complete: what it finished, to resume from
MIN_REPORT_SECONDS: Final = 0.2
LOG_LINES: Final = 200
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


class WarehouseNotHereError(RuntimeError):
    """A worker process asked for the warehouse, which only the web process may open."""


def result_dir(data_dir: Path, job_id: int) -> Path:
    return data_dir / RESULTS_FOLDER / str(int(job_id))


def safe_file_name(name: str) -> str:
    if not _SAFE_FILE.match(name) or name.startswith(".") or ".." in name:
        raise ValueError(f"not a safe result file name: {name!r}")
    return name


def worker_name(role: str) -> str:
    return f"{socket.gethostname()}/{role}"


class JobContext:
    """What a running job may do: report progress, log, write its result, read the warehouse."""

    def __init__(self, store: JobStore, job: Job, settings: Settings, *,
                 warehouse: Callable[[], Any] | None) -> None:
        self.store = store
        self.job = job
        self.settings = settings
        self._warehouse = warehouse
        self._lines: deque[str] = deque(maxlen=LOG_LINES)
        self._last_report = 0.0
        self.stop_requested = threading.Event()

    @property
    def job_id(self) -> int:
        return self.job.id

    def log(self, line: str) -> None:
        self._lines.append(f"{time.strftime('%H:%M:%S')} {line}")

    def log_tail(self) -> str:
        return "\n".join(self._lines)

    def progress(self, fraction: float | None, message: str | None = None, *, force: bool = False) -> None:
        """Record progress (0..1) and a message; raise ``JobCancelled`` if the job must stop.

        Writes are spaced at least ``MIN_REPORT_SECONDS`` apart unless ``force``;
        a cancel noticed by the heartbeat stops the job at the next call either way.
        """
        if self.stop_requested.is_set():
            raise JobCancelled()
        now = time.monotonic()
        if not force and now - self._last_report < MIN_REPORT_SECONDS:
            return
        self._last_report = now
        if self.store.report(self.job_id, fraction, message, self.log_tail() or None):
            self.stop_requested.set()
            raise JobCancelled()

    def check(self) -> None:
        """A cancellation check without new progress."""
        self.progress(None)

    def warehouse(self) -> Any:
        if self._warehouse is None:
            raise WarehouseNotHereError(
                "this process never opens the warehouse: warehouse-bound jobs run on the web process "
                "(embedded warehouse) or on workers that reach a warehouse server")
        return self._warehouse()

    def result_dir(self) -> Path:
        folder = result_dir(self.settings.data_dir, self.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: JobContext, seconds: float) -> None:
        super().__init__(name=f"job-{ctx.job_id}-heartbeat", daemon=True)
        self.ctx, self.seconds = ctx, seconds
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.seconds):
            try:
                if self.ctx.store.report(self.ctx.job_id, None, None):
                    self.ctx.stop_requested.set()
            except Exception:  # a busy records store must not kill the job; the next beat retries
                log.warning("heartbeat of job %s failed", self.ctx.job_id, exc_info=True)


def _public_error(exc: BaseException) -> str:
    # Messages of our own errors are written for users; anything else may carry
    # internals (SQL, paths), kept in the traceback for whoever runs the system.
    if isinstance(exc, (JobError, ValueError, WarehouseNotHereError)):
        return f"{exc}"[:2_000] or type(exc).__name__
    return f"the job failed on the server ({type(exc).__name__}); the details are in its record"


def execute_job(store: JobStore, job_id: int, settings: Settings, *, heartbeat_seconds: float,
                warehouse: Callable[[], Any] | None) -> Job:
    """Run a job that was moved to RUNNING for this process; return its final record."""
    job = store.get(job_id)
    if job.state != JobState.RUNNING:
        return job
    ctx = JobContext(store, job, settings, warehouse=warehouse)
    beat = _Heartbeat(ctx, heartbeat_seconds)
    beat.start()
    try:
        kind = get_kind(job.kind)
        params = kind.validate(job.parameters)
        ctx.log(f"{kind.title} started in pid {os.getpid()}")
        result = kind.function()(ctx, params)
    except JobCancelled:
        _discard(ctx)
        done = round(store.get(job_id).progress * 100)
        store.try_transition(job_id, JobState.CANCELLED, message=f"cancelled at {done}%",
                             log_tail=ctx.log_tail())
    except BaseException as exc:  # every failure ends in the record
        _discard(ctx)
        log.warning("job %s (%s) failed", job_id, job.kind, exc_info=True)
        ctx.log(f"failed: {type(exc).__name__}")
        store.try_transition(job_id, JobState.FAILED, error=_public_error(exc), traceback=traceback.format_exc(),
                             log_tail=ctx.log_tail())
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
    else:
        ctx.log("completed")
        summary = str(result.get("summary") or "completed")
        if not store.try_transition(job_id, JobState.COMPLETED, result=result, message=summary,
                                    log_tail=ctx.log_tail()):
            _discard(ctx)  # failed or cancelled meanwhile (its worker was given up for lost)
    finally:
        beat.done.set()
    return store.get(job_id)


def _discard(ctx: JobContext) -> None:
    """A job that did not complete leaves no result behind; its checkpoints (the work finished so
    far) stay until the results' retention time, so that a later job can resume it."""
    folder = result_dir(ctx.settings.data_dir, ctx.job_id)
    if not folder.exists():
        return
    for path in folder.iterdir():
        if path.name == CHECKPOINTS and path.is_dir():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


__all__ = ["InvalidJobError", "JobContext", "execute_job", "result_dir", "safe_file_name", "worker_name"]
