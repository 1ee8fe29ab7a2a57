"""Metrics read from their source at scrape time: the live feed's status and the job records.

These values already live somewhere authoritative (the market service's status
record, the jobs table that every web process, worker and Celery worker writes),
so a scrape reads them there instead of every process keeping its own copy:
counts stay right however many processes there are. Every web pod therefore reports
the same figures; queries combine pods with ``max`` (one copy), never ``sum``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Float, and_, case, cast, func, literal_column, select

from backend.observability.metrics import JOB_BUCKETS

log = logging.getLogger(__name__)

FEED_STATES = ("starting", "live", "stale", "disconnected", "stopped")


class MarketCollector(Collector):
    """Feed lag, state and message counts from ``MarketService.status()`` (any object with ``status()``)."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        if self.service is None:
            return
        status: Mapping[str, Any] = self.service.status()
        state = GaugeMetricFamily("deskboard_feed_state", "1 for the feed's current state.", labels=["state"])
        current = str(status.get("state"))
        for name in FEED_STATES:
            state.add_metric([name], 1.0 if current == name else 0.0)
        yield state
        age = status.get("age_seconds")
        if age is not None:
            yield GaugeMetricFamily("deskboard_feed_lag_seconds",
                                    "Seconds since the feed's last message.", value=float(age))
        yield GaugeMetricFamily("deskboard_feed_stale_after_seconds", "Message age past which the feed is stale.",
                                value=float(status.get("stale_after_seconds") or 0.0))
        yield CounterMetricFamily("deskboard_feed_messages", "Feed messages received since the service started.",
                                  value=float(status.get("messages") or 0))
        yield CounterMetricFamily("deskboard_feed_rejected", "Feed messages refused as malformed.",
                                  value=float(status.get("rejected") or 0))
        yield GaugeMetricFamily("deskboard_feed_simulated", "1 when prices are not live from the exchange.",
                                value=1.0 if status.get("simulated") else 0.0)


def _duration_seconds(dialect: str, started: Any, finished: Any) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", finished - started)
    # SQLite keeps datetimes as ISO text; julianday() reads them (fractions of a day).
    return (func.julianday(finished) - func.julianday(started)) * literal_column("86400.0")


class JobsCollector(Collector):
    """Jobs by kind and state, and the durations of finished jobs, from the job records.

    One grouped query per scrape; finished jobs never change, so the duration buckets only
    grow, as a Prometheus histogram's must.
    """

    def __init__(self, meta: Any, known_kinds: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self.meta = meta
        self.known_kinds = known_kinds

    def _kinds(self) -> set[str]:
        if self.known_kinds is not None:
            return set(self.known_kinds())
        from backend.jobs.kinds import KINDS

        return set(KINDS)

    def collect(self) -> Iterator[Metric]:
        from backend.meta.models import Job

        jobs = Job.__table__
        try:
            with self.meta.read() as conn:
                counts = conn.execute(
                    select(jobs.c.kind, jobs.c.state, func.count()).group_by(jobs.c.kind, jobs.c.state)
                ).all()
                durations = conn.execute(self._duration_query(jobs, conn.dialect.name)).all()
        except Exception as exc:  # noqa: BLE001 - a records store that is down must not fail the scrape
            log.warning("job metrics unavailable: %s", type(exc).__name__)
            return
        kinds = self._kinds()

        def kind_of(value: str) -> str:
            return value if value in kinds else "other"

        gauge = GaugeMetricFamily("deskboard_jobs", "Job records by kind and state.", labels=["kind", "state"])
        folded: dict[tuple[str, str], float] = {}
        for kind, state, n in counts:
            key = (kind_of(kind), str(state))
            folded[key] = folded.get(key, 0.0) + n
        for (kind, state), n in sorted(folded.items()):
            gauge.add_metric([kind, state], n)
        yield gauge

        hist = HistogramMetricFamily("deskboard_job_duration_seconds",
                                     "Run time of finished jobs (start to finish), by kind and final state.",
                                     labels=["kind", "state"])
        merged: dict[tuple[str, str], list[float]] = {}
        for row in durations:
            key = (kind_of(row[0]), str(row[1]))
            values = [float(v or 0) for v in row[2:]]
            merged[key] = [a + b for a, b in zip(merged[key], values, strict=True)] if key in merged else values
        for (kind, state), values in sorted(merged.items()):
            *cumulative, total, count = values
            buckets = [(_le(b), c) for b, c in zip(JOB_BUCKETS, cumulative, strict=True)] + [("+Inf", count)]
            hist.add_metric([kind, state], buckets, total)
        yield hist

    @staticmethod
    def _duration_query(jobs: Any, dialect: str) -> Any:
        seconds = cast(_duration_seconds(dialect, jobs.c.started_at, jobs.c.finished_at), Float)
        finished = and_(jobs.c.finished_at.is_not(None), jobs.c.started_at.is_not(None))
        columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in JOB_BUCKETS]
        return (
            select(jobs.c.kind, jobs.c.state, *columns, func.sum(seconds), func.count())
            .where(finished)
            .group_by(jobs.c.kind, jobs.c.state)
        )


def _le(bound: float) -> str:
    return repr(float(bound))
