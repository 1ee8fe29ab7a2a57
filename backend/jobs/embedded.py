"""The embedded runner: a small pool of worker processes plus web-process threads.

Worker processes are fresh interpreters (``backend.jobs.worker``) that never open
the chDB folder; warehouse-bound kinds run on threads of the web process, which
holds it. Workers start when the first job needs one (a server that runs no job
keeps no idle interpreters) and stay for the next. One dispatcher thread starts
queued jobs in order while fewer than ``concurrency`` run, finds jobs queued by
other processes by polling the records (a cheap read; the write lock is taken only
to claim a job that is there), fails the job of a worker process that dies, reaps
jobs whose heartbeat stopped and deletes expired result files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, Final

from backend.jobs.context import RESULTS_FOLDER, execute_job, result_dir, worker_name
from backend.jobs.kinds import Placement
from backend.jobs.runner import EMBEDDED, JobRunner
from backend.jobs.states import JobState
from backend.jobs.store import Job
from backend.meta.models import utc_now

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 0.5
# A worker that exits before it is ready this many times in a row cannot start:
# the jobs waiting for one fail with its log instead of waiting forever.
START_FAILURES_MAX: Final = 3
LOG_FOLDER: Final = "job-logs"
LOG_MAX_BYTES: Final = 5_000_000
_ROOT = Path(__file__).resolve().parents[2]


def _exit_text(code: int | None) -> str:
    if code is None:
        return "stopped"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 16_000))
            return "\n".join(handle.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return ""


class _Worker:
    """One worker process and the job it runs (at most one at a time)."""

    def __init__(self, slot: int, runner: JobRunner, on_exit: Callable[[_Worker], None],
                 on_idle: Callable[[], None]) -> None:
        self.slot = slot
        self.job_id: int | None = None
        self.ready = threading.Event()
        folder = runner.settings.data_dir / LOG_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / f"worker-{slot}.log"
        if self.log_path.exists() and self.log_path.stat().st_size > LOG_MAX_BYTES:
            self.log_path.unlink()
        config = {"data_dir": str(runner.settings.data_dir), "meta_url": runner.settings.meta_database_url,
                  "heartbeat_seconds": runner.job_settings.heartbeat_seconds}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
        with self.log_path.open("ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "backend.jobs.worker", json.dumps(config)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, cwd=str(_ROOT), env=env,
                text=True, bufsize=1, start_new_session=True,
            )
        self.name = worker_name(f"embedded-worker-{slot}")
        self._on_exit, self._on_idle = on_exit, on_idle
        threading.Thread(target=self._read, name=f"jobs-worker-{slot}-reader", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def idle(self) -> bool:
        return self.ready.is_set() and self.job_id is None and self.proc.poll() is None

    def run(self, job_id: int) -> None:
        self.job_id = job_id
        stdin: IO[str] = self.proc.stdin  # type: ignore[assignment]
        try:
            stdin.write(json.dumps({"run": job_id}) + "\n")
            stdin.flush()
        except OSError:
            pass  # the worker is gone: the reader sees its exit and fails the job

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "ready" in message:
                self.ready.set()
                self._on_idle()
            elif "done" in message and message["done"] == self.job_id:
                self.job_id = None
                self._on_idle()
        self.proc.wait()
        self._on_exit(self)

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass


class LocalExecutor:
    """Starts this process's share of queued jobs: worker processes and/or web threads."""

    def __init__(self, runner: JobRunner, placements: set[Placement], processes: int) -> None:
        self.runner = runner
        self.placements = placements
        self.limit = runner.job_settings.concurrency
        self._processes = processes
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._workers: dict[int, _Worker] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._thread: threading.Thread | None = None
        self._web_name = worker_name(f"web-{os.getpid()}")
        self._start_failures = 0

    # -- life cycle ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="jobs-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self._wake.set()
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.close()  # a worker finishes its job, then exits at end of input
        deadline = time.monotonic() + timeout
        for worker in workers:
            try:
                worker.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
        # Recorded here rather than left to the readers: when stop returns, no job is RUNNING
        # on this server (a job that finished meanwhile is left as it ended).
        running = [w.job_id for w in workers if w.job_id is not None] + list(self._threads)
        for job_id in running:
            if job_id is not None:
                self.runner.store.try_transition(job_id, JobState.FAILED,
                                                 error="the server stopped while the job ran")
        if self._thread is not None:
            self._thread.join(timeout=2)

    def wake(self) -> None:
        self._wake.set()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers.values()]

    # -- workers --------------------------------------------------------------------
    def _spawn_locked(self) -> None:
        """Start one more worker process in the first free slot (the caller holds the lock)."""
        slot = next(i for i in range(self._processes) if i not in self._workers)
        self._workers[slot] = _Worker(slot, self.runner, self._worker_exited, self._worker_ready)

    def _worker_ready(self) -> None:
        self._start_failures = 0
        self.wake()

    def _worker_exited(self, worker: _Worker) -> None:
        with self._lock:
            job_id, worker.job_id = worker.job_id, None
            if self._workers.get(worker.slot) is worker:
                del self._workers[worker.slot]
        code = worker.proc.returncode
        if job_id is not None:
            error = f"the worker process (pid {worker.pid}) running this job stopped: {_exit_text(code)}"
            if self.runner.store.try_transition(job_id, JobState.FAILED, error=error, log_tail=_tail(worker.log_path)):
                log.warning("job %s failed: %s", job_id, error)
        if self._stopping.is_set():
            return
        log.warning("job worker %s (pid %s) %s", worker.slot, worker.pid, _exit_text(code))
        if not worker.ready.is_set():
            self._start_failures += 1
            if self._start_failures >= START_FAILURES_MAX:
                self._start_failures = 0
                error = f"job worker processes cannot start ({_exit_text(code)}); see {worker.log_path}"
                for failed in self.runner.store.fail_queued(EMBEDDED, Placement.WORKER.value, error,
                                                            _tail(worker.log_path)):
                    log.error("job %s failed: %s", failed, error)
        self.wake()  # the dispatcher starts a new worker if a job waits for one

    # -- dispatching -----------------------------------------------------------------
    def _loop(self) -> None:
        upkeep_at = 0.0
        while not self._stopping.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                if time.monotonic() >= upkeep_at:
                    upkeep_at = time.monotonic() + min(self.runner.job_settings.heartbeat_seconds, 5.0)
                    upkeep(self.runner)
                self._dispatch()
            except Exception:  # the dispatcher must outlive a busy or briefly unreachable store
                log.exception("job dispatcher round failed")

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            identities: dict[str, tuple[str, int | None]] = {}
            with self._lock:
                busy = len(self._threads) + sum(w.job_id is not None for w in self._workers.values())
                if busy >= self.limit:
                    return
                waiting = self.runner.store.queued_placements(EMBEDDED)
                if not waiting & {p.value for p in self.placements}:
                    return
                idle = next((w for w in self._workers.values() if w.idle()), None)
                if Placement.WORKER in self.placements and Placement.WORKER.value in waiting and idle is None:
                    # The whole pool starts on first need: jobs queued together start together.
                    while len(self._workers) < self._processes:
                        self._spawn_locked()  # each says "ready" and wakes this loop
                if Placement.WORKER in self.placements and idle is not None:
                    identities[Placement.WORKER.value] = (idle.name, idle.pid)
                if Placement.WEB in self.placements:
                    identities[Placement.WEB.value] = (self._web_name, os.getpid())
                if not identities:
                    return
                # Claimed under the lock: the worker chosen stays free until it has its job.
                job = self.runner.store.claim_next(EMBEDDED, identities)
                if job is None:
                    return
                if job.placement == Placement.WORKER.value and idle is not None:
                    idle.run(job.id)
                else:
                    self._start_thread(job)

    def _start_thread(self, job: Job) -> None:
        thread = threading.Thread(target=self._run_here, args=(job.id,), name=f"job-{job.id}", daemon=True)
        self._threads[job.id] = thread
        thread.start()

    def _run_here(self, job_id: int) -> None:
        from backend.warehouse import open_warehouse

        settings = self.runner.settings
        try:
            execute_job(self.runner.store, job_id, settings, heartbeat_seconds=self.runner.job_settings.heartbeat_seconds,
                        warehouse=lambda: open_warehouse(settings.warehouse_url, settings.warehouse_database))
        finally:
            with self._lock:
                self._threads.pop(job_id, None)
            self.wake()


def upkeep(runner: JobRunner) -> None:
    """Fail jobs whose worker stopped beating; delete result files past their retention."""
    for job_id in runner.store.reap(runner.job_settings.stale_after_seconds):
        log.warning("job %s failed: its worker stopped sending heartbeats", job_id)
    sweep_results(runner)


def sweep_results(runner: JobRunner) -> list[int]:
    """Delete the result folders of jobs finished longer ago than the retention (or no longer on record)."""
    root = runner.settings.data_dir / RESULTS_FOLDER
    try:
        ids = [int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    except OSError:
        return []
    cutoff = utc_now() - timedelta(hours=runner.job_settings.result_retention_hours)
    finished = runner.store.finish_times(ids)
    removed = []
    for job_id in ids:
        if job_id not in finished or (finished[job_id] is not None and finished[job_id] < cutoff):
            shutil.rmtree(result_dir(runner.settings.data_dir, job_id), ignore_errors=True)
            removed.append(job_id)
    return removed


class EmbeddedRunner(JobRunner):
    """Jobs on this machine: worker processes for plain kinds, web threads for warehouse-bound ones."""

    name = EMBEDDED

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.executor: LocalExecutor | None = None

    def start(self) -> None:
        if self.executor is None:
            self.executor = LocalExecutor(self, {Placement.WORKER, Placement.WEB},
                                          processes=self.job_settings.concurrency)
            self.executor.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.executor is not None and os.getpid() == self._owner_pid:
            self.executor.stop(timeout)
            self.executor = None

    def _hand_over(self, job: Job) -> None:
        # Submitted here: start it now. Submitted by another process (a background
        # callback): the dispatcher finds it within POLL_SECONDS.
        if self.executor is not None and os.getpid() == self._owner_pid:
            self.executor.wake()
