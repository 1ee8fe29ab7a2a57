"""The job records: the one place where a job's state changes.

Every change is one transaction that names the states it may start from
(``UPDATE … WHERE state IN (…)``), so two processes racing on one job — a worker
finishing it while a user cancels it, a reaper failing it while its heartbeat
arrives — leave exactly one winner and never an illegal move. Any process may
use this: the web server, worker processes, Celery workers, a notebook.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.jobs.states import (
    FINISHED,
    IllegalTransitionError,
    JobNotFoundError,
    JobState,
    QueueFullError,
    sources_of,
)
from backend.meta.migrate import upgrade_store
from backend.meta.models import JOB_MESSAGE_MAX, User, utc_now
from backend.meta.models import Job as JobRow
from backend.meta.store import MetaStore, create_meta_engine

JOBS = JobRow.__table__
_USERS = User.__table__
LOG_TAIL_MAX = 8_000
TRACEBACK_MAX = 16_000
LIST_MAX = 500


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _tail(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    parameters: dict[str, Any]
    owner: str
    state: JobState
    runner: str
    placement: str
    progress: float
    message: str
    cancel_requested: bool
    result: dict[str, Any] | None
    error: str | None
    traceback: str | None
    log_tail: str | None
    worker: str | None
    pid: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    # 1 for the next job to start in its runner's queue; None unless QUEUED.
    queue_position: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def public(self) -> dict[str, Any]:
        """The record as the API and pages show it (no traceback: it may hold internals)."""
        data = asdict(self)
        data.pop("traceback")
        data["state"] = self.state.value
        for key in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def _job(row: Any, position: int | None = None) -> Job:
    return Job(
        id=row.id, kind=row.kind, parameters=row.parameters, owner=row.owner, state=JobState(row.state),
        runner=row.runner, placement=row.placement, progress=float(row.progress), message=row.message,
        cancel_requested=bool(row.cancel_requested), result=row.result, error=row.error,
        traceback=row.traceback, log_tail=row.log_tail, worker=row.worker, pid=row.pid,
        created_at=_as_utc(row.created_at) or utc_now(), started_at=_as_utc(row.started_at),
        finished_at=_as_utc(row.finished_at), heartbeat_at=_as_utc(row.heartbeat_at),
        queue_position=position if row.state == JobState.QUEUED else None,
    )


def _positions():
    """Each queued job's place in its runner's queue (1 = next), oldest first."""
    return (
        select(JOBS.c.id, func.row_number().over(partition_by=JOBS.c.runner, order_by=JOBS.c.id).label("pos"))
        .where(JOBS.c.state == JobState.QUEUED.value)
        .subquery()
    )


class JobStore:
    """Reads and state changes of job records in one records store."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    # -- reading -----------------------------------------------------------------
    def get(self, job_id: int) -> Job:
        pos = _positions()
        query = select(JOBS, pos.c.pos).outerjoin(pos, pos.c.id == JOBS.c.id).where(JOBS.c.id == job_id)
        with self.meta.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise JobNotFoundError(f"job {job_id} not found")
        return _job(row, row.pos)

    def list(self, owner: str | None = None, states: Iterable[JobState] | None = None, kind: str | None = None,
             limit: int = 100) -> list[Job]:
        """Newest first; queued jobs carry their queue position."""
        pos = _positions()
        query = select(JOBS, pos.c.pos).outerjoin(pos, pos.c.id == JOBS.c.id)
        if owner is not None:
            query = query.where(JOBS.c.owner == owner)
        if states is not None:
            query = query.where(JOBS.c.state.in_([JobState(s).value for s in states]))
        if kind is not None:
            query = query.where(JOBS.c.kind == kind)
        query = query.order_by(JOBS.c.id.desc()).limit(max(1, min(limit, LIST_MAX)))
        with self.meta.read() as conn:
            return [_job(row, row.pos) for row in conn.execute(query).all()]

    def running(self, runner: str | None = None) -> list[Job]:
        query = select(JOBS).where(JOBS.c.state == JobState.RUNNING.value)
        if runner is not None:
            query = query.where(JOBS.c.runner == runner)
        with self.meta.read() as conn:
            return [_job(row) for row in conn.execute(query.order_by(JOBS.c.id)).all()]

    def queued_placements(self, runner: str) -> set[str]:
        """The placements that have jobs waiting in ``runner``'s queue (a read: no write lock)."""
        query = (select(JOBS.c.placement).distinct()
                 .where(JOBS.c.state == JobState.QUEUED.value, JOBS.c.runner == runner))
        with self.meta.read() as conn:
            return {row.placement for row in conn.execute(query).all()}

    # -- creating ----------------------------------------------------------------
    def create(self, *, kind: str, parameters: Mapping[str, Any], owner: str, runner: str, placement: str,
               max_queued_per_owner: int | None = None) -> Job:
        now = utc_now()
        with self.meta.write() as conn:
            _ensure_user(conn, owner)
            if max_queued_per_owner is not None:
                waiting = conn.execute(
                    select(func.count()).select_from(JOBS)
                    .where(JOBS.c.owner == owner, JOBS.c.state == JobState.QUEUED.value)
                ).scalar_one()
                if waiting >= max_queued_per_owner:
                    raise QueueFullError(
                        f"{waiting} of your jobs are already waiting (at most {max_queued_per_owner}); "
                        "cancel one or wait for them to start"
                    )
            new_id = conn.execute(
                insert(JOBS).values(
                    kind=kind, parameters=dict(parameters), owner=owner, state=JobState.QUEUED.value,
                    runner=runner, placement=placement, progress=0.0, message="waiting to start",
                    cancel_requested=False, created_at=now,
                ).returning(JOBS.c.id)
            ).scalar_one()
        return self.get(new_id)

    # -- state changes -----------------------------------------------------------
    def _move(self, conn: Connection, job_id: int, target: JobState, values: Mapping[str, Any],
              extra: Sequence[Any] = ()) -> bool:
        result = conn.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.state.in_([s.value for s in sources_of(target)]), *extra)
            .values(state=target.value, **values)
        )
        return result.rowcount == 1

    def transition(self, job_id: int, target: JobState, **values: Any) -> Job:
        """Move the job to ``target`` or raise ``IllegalTransitionError`` naming its state."""
        values = _clean_values(target, values)
        with self.meta.write() as conn:
            if not self._move(conn, job_id, target, values):
                current = conn.execute(select(JOBS.c.state).where(JOBS.c.id == job_id)).scalar_one_or_none()
                if current is None:
                    raise JobNotFoundError(f"job {job_id} not found")
                raise IllegalTransitionError(f"job {job_id} is {current}: it cannot become {target.value}")
        return self.get(job_id)

    def try_transition(self, job_id: int, target: JobState, **values: Any) -> bool:
        """Like ``transition``, but answers False instead of raising when the move is not allowed."""
        with self.meta.write() as conn:
            return self._move(conn, job_id, target, _clean_values(target, values))

    def claim_next(self, runner: str, identities: Mapping[str, tuple[str, int | None]]) -> Job | None:
        """Start the oldest queued job of ``runner`` whose placement has an identity here.

        ``identities`` maps each placement this caller can run now to the worker name
        and pid recorded on the job (a free worker process, or this web process).
        """
        if not identities:
            return None
        with self.meta.write() as conn:
            query = (
                select(JOBS.c.id, JOBS.c.placement)
                .where(JOBS.c.state == JobState.QUEUED.value, JOBS.c.runner == runner,
                       JOBS.c.placement.in_(list(identities)))
                .order_by(JOBS.c.id).limit(1)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None
            worker, pid = identities[row.placement]
            if not self._move(conn, row.id, JobState.RUNNING, _started(worker, pid)):
                return None
        return self.get(row.id)

    def claim(self, job_id: int, worker: str, pid: int | None) -> bool:
        """QUEUED → RUNNING for one job (a Celery task starting); False if it was cancelled."""
        return self.try_transition(job_id, JobState.RUNNING, **_started(worker, pid))

    def set_pid(self, job_id: int, pid: int) -> None:
        with self.meta.write() as conn:
            conn.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state == JobState.RUNNING.value)
                         .values(pid=pid))

    def report(self, job_id: int, progress: float | None, message: str | None,
               log_tail: str | None = None) -> bool:
        """Progress and heartbeat of a running job; answers whether it should stop.

        True when cancellation was asked for, or when the job is no longer RUNNING
        (the reaper failed it, or it was finished elsewhere).
        """
        values: dict[str, Any] = {"heartbeat_at": utc_now()}
        if progress is not None:
            values["progress"] = min(1.0, max(0.0, float(progress)))
        if message is not None:
            values["message"] = message[:JOB_MESSAGE_MAX]
        if log_tail is not None:
            values["log_tail"] = _tail(log_tail, LOG_TAIL_MAX)
        with self.meta.write() as conn:
            row = conn.execute(
                update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state == JobState.RUNNING.value)
                .values(**values).returning(JOBS.c.cancel_requested)
            ).first()
        return row is None or bool(row.cancel_requested)

    def cancel(self, job_id: int, owner: str | None = None) -> Job:
        """A queued job is cancelled at once; a running one is asked to stop at its next check."""
        with self.meta.write() as conn:
            row = conn.execute(select(JOBS.c.state, JOBS.c.owner).where(JOBS.c.id == job_id)).first()
            if row is None or (owner is not None and row.owner != owner):
                raise JobNotFoundError(f"job {job_id} not found")
            state = JobState(row.state)
            if state.finished:
                raise IllegalTransitionError(f"job {job_id} already finished ({state.value}): nothing to cancel")
            moved = state == JobState.QUEUED and self._move(
                conn, job_id, JobState.CANCELLED, _clean_values(JobState.CANCELLED, {"message": "cancelled before it started"}))
            if not moved:
                conn.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state == JobState.RUNNING.value)
                             .values(cancel_requested=True, message="cancelling…"))
        return self.get(job_id)

    def reap(self, stale_after_seconds: float, runner: str | None = None) -> list[int]:
        """Fail running jobs whose heartbeat stopped: their worker is gone."""
        cutoff = utc_now() - timedelta(seconds=stale_after_seconds)
        query = select(JOBS.c.id, JOBS.c.worker, JOBS.c.heartbeat_at).where(
            JOBS.c.state == JobState.RUNNING.value, JOBS.c.heartbeat_at < cutoff)
        if runner is not None:
            query = query.where(JOBS.c.runner == runner)
        reaped = []
        with self.meta.read() as conn:
            stale = conn.execute(query).all()
        for job_id, worker, beat in stale:
            when = _as_utc(beat)
            error = (f"the worker running this job ({worker or 'unknown'}) stopped: no heartbeat since "
                     f"{when:%Y-%m-%d %H:%M:%S} UTC" if when else "the worker running this job stopped")
            with self.meta.write() as conn:
                if self._move(conn, job_id, JobState.FAILED, _clean_values(JobState.FAILED, {"error": error}),
                              extra=[JOBS.c.heartbeat_at < cutoff]):
                    reaped.append(job_id)
        return reaped

    def fail_queued(self, runner: str, placement: str, error: str, log_tail: str | None = None) -> list[int]:
        """Fail every job waiting for ``placement`` in ``runner``'s queue (nothing there can run it)."""
        values = _clean_values(JobState.FAILED, {"error": error, "log_tail": log_tail})
        with self.meta.write() as conn:
            ids = conn.execute(select(JOBS.c.id).where(
                JOBS.c.state == JobState.QUEUED.value, JOBS.c.runner == runner, JOBS.c.placement == placement)
            ).scalars().all()
            return [job_id for job_id in ids if self._move(conn, job_id, JobState.FAILED, values)]

    def finish_times(self, job_ids: Sequence[int]) -> dict[int, datetime | None]:
        """When each of these jobs finished (None: not finished); unknown ids are left out."""
        if not job_ids:
            return {}
        query = select(JOBS.c.id, JOBS.c.finished_at).where(JOBS.c.id.in_(list(job_ids)))
        with self.meta.read() as conn:
            return {row.id: _as_utc(row.finished_at) for row in conn.execute(query).all()}


def _started(worker: str, pid: int | None) -> dict[str, Any]:
    now = utc_now()
    return {"started_at": now, "heartbeat_at": now, "worker": worker[:200], "pid": pid, "message": "started"}


def _clean_values(target: JobState, values: Mapping[str, Any]) -> dict[str, Any]:
    allowed = {"started_at", "heartbeat_at", "worker", "pid", "message", "progress", "result", "error",
               "traceback", "log_tail", "finished_at"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"not a job field: {min(unknown)}")
    out = dict(values)
    if target in FINISHED:
        out.setdefault("finished_at", utc_now())
    if target == JobState.COMPLETED:
        out.setdefault("progress", 1.0)
        out.setdefault("message", "completed")
    if target == JobState.FAILED:
        out.setdefault("message", "failed")
    if target == JobState.CANCELLED:
        out.setdefault("message", "cancelled")
    if "message" in out:
        out["message"] = str(out["message"])[:JOB_MESSAGE_MAX]
    if "error" in out and out["error"] is not None:
        out["error"] = _tail(str(out["error"]), 2_000)
    if "traceback" in out:
        out["traceback"] = _tail(out["traceback"], TRACEBACK_MAX)
    if "log_tail" in out:
        out["log_tail"] = _tail(out["log_tail"], LOG_TAIL_MAX)
    return out


def _ensure_user(conn: Connection, owner: str) -> None:
    # Two first jobs of a new owner may race; the loser's insert is a no-op.
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        dialect_insert(_USERS).values(id=owner, display_name=owner, created_at=utc_now())
        .on_conflict_do_nothing(index_elements=[_USERS.c.id])
    )


# -- one records store per process ---------------------------------------------------
_stores: dict[str, tuple[int, MetaStore]] = {}
_stores_lock = threading.Lock()


def records(url: str, *, meta: MetaStore | None = None) -> MetaStore:
    """This process's records store for ``url``, safe across fork.

    A process forked from the web server (Dash's background callbacks) inherits
    the parent's pooled connections, which must never be used by two processes:
    a new process gets an engine of its own. A fresh interpreter (worker, Celery)
    brings the schema to the latest revision once, as the web server does.
    """
    pid = os.getpid()
    with _stores_lock:
        held = _stores.get(url)
        if held is not None and held[0] == pid:
            return held[1]
        if meta is not None and held is None:
            _stores[url] = (pid, meta)
            return meta
        store = MetaStore(create_meta_engine(url))
        if held is not None:
            held[1].engine.dispose(close=False)  # the parent's connections stay the parent's
            store.migrated = held[1].migrated
        if not store.migrated:
            upgrade_store(store)
        _stores[url] = (pid, store)
        return store
