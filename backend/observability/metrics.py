"""The app's Prometheus metrics, one process or many (gunicorn workers).

Multi-process mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is
first imported (the gunicorn config sets it), every worker writes its samples to
files in that folder and a scrape of any worker adds all of them up. The
gunicorn config calls ``child_exit`` when a worker exits, so the live-process
gauges (memory) forget that worker.

Labels are bounded: routes are Flask URL rules (never raw paths), callbacks are
the app's own registered outputs, cache kinds are names in code. Values that
belong to a store (the feed's status, job records) are read at scrape time by
the collectors in ``collectors.py`` rather than counted here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Request latency: a page load or an API answer is slow past a second; 10 s is a hung request.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


# The first metric writes its file there at once: a folder named but not yet made is made.
if (_folder := multiprocess_dir()) is not None:
    _folder.mkdir(parents=True, exist_ok=True)

HTTP_REQUESTS = Counter(
    "deskboard_http_requests", "HTTP requests served, by URL rule, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "deskboard_http_request_duration_seconds", "Time to answer an HTTP request, by URL rule and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS,
)
CALLBACK_LATENCY = Histogram(
    "deskboard_dash_callback_duration_seconds", "Time to answer a Dash callback request, by the callback's outputs.",
    ["callback"], buckets=LATENCY_BUCKETS,
)
CALLBACK_ERRORS = Counter(
    "deskboard_dash_callback_errors", "Dash callbacks that raised an error, by the callback's outputs.",
    ["callback"],
)
PIVOT_LATENCY = Histogram(
    "deskboard_pivot_query_duration_seconds", "Time to answer a pivot request, answered from the cache or not.",
    ["cached"], buckets=LATENCY_BUCKETS,
)
CACHE_LOOKUPS = Counter(
    "deskboard_cache_lookups", "Result-cache lookups by kind of answer and result (hit or miss).",
    ["kind", "result"],
)
PROCESS_RSS = Gauge(
    "deskboard_process_resident_memory_bytes", "Resident memory of each serving process.",
    multiprocess_mode="liveall",
)

# Kinds of cached answer are names in code ("pivot", "overview", ...); anything else is folded
# into one label value so a malformed key can never create series.
_KIND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def observe_pivot(seconds: float, *, cached: bool) -> None:
    PIVOT_LATENCY.labels(cached="true" if cached else "false").observe(seconds)


def observe_cache(key: str, *, hit: bool) -> None:
    """Count one result-cache lookup; ``key`` is ``request_key``'s ``kind:digest``."""
    kind = key.split(":", 1)[0][:40]
    if not kind or not set(kind) <= _KIND_CHARS:
        kind = "other"
    CACHE_LOOKUPS.labels(kind=kind, result="hit" if hit else "miss").inc()


def resident_memory_bytes() -> int | None:
    """This process's resident set size, from ``/proc`` (None where there is no ``/proc``)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def update_process_gauges() -> None:
    rss = resident_memory_bytes()
    if rss is not None:
        PROCESS_RSS.set(rss)


def base_registry() -> CollectorRegistry:
    """The registry holding every process's counted metrics (all workers' in multi-process mode)."""
    folder = multiprocess_dir()
    if folder is None:
        return REGISTRY
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=str(folder))
    return registry


def exposition(scrape_collectors: list[Collector] | tuple[Collector, ...] = ()) -> bytes:
    """The text a scrape returns: counted metrics, then values read from stores right now."""
    update_process_gauges()
    text = generate_latest(base_registry())
    if scrape_collectors:
        now = CollectorRegistry(auto_describe=False)
        for collector in scrape_collectors:
            now.register(collector)
        text += generate_latest(now)
    return text


def collect_families(scrape_collectors: list[Collector] | tuple[Collector, ...] = ()) -> list[Any]:
    """The same metrics as ``exposition``, as metric families (for the system page)."""
    update_process_gauges()
    families = list(base_registry().collect())
    for collector in scrape_collectors:
        families.extend(collector.collect())
    return families


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn ``child_exit`` hook: a worker's live gauges (memory) leave with it."""
    if multiprocess_dir() is not None:
        _multiprocess.mark_process_dead(worker.pid)


def reset_multiprocess_dir() -> None:
    """Empty the multi-process folder before workers start (gunicorn ``on_starting``): files left by
    an earlier run would otherwise be added to this run's counts."""
    folder = multiprocess_dir()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    # Only the sample files: the folder is named by configuration and may hold other things.
    for stale in folder.glob("*.db"):
        stale.unlink()
