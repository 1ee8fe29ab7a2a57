"""The figures of the system page, computed from the same metrics ``/metrics`` exports.

Latency percentiles are estimated from histogram buckets the way Prometheus'
``histogram_quantile`` does (linear inside the bucket that holds the rank), over the
last few minutes (``window.py``) or over everything counted since the metrics were
last reset (the server's start, or in multi-process mode the gunicorn master's start).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from backend.observability import metrics, window


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a histogram given as (upper bound, cumulative count), ``+Inf`` last.

    None for an empty histogram; the highest finite bound when the rank falls in ``+Inf``.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within 0..1, got {q}")
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in ordered:
        if cumulative >= rank and cumulative > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        if not math.isinf(bound):
            lower = bound
        below = cumulative
    return lower


@dataclass(frozen=True)
class Latency:
    name: str
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    errors: int

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass
class SystemSummary:
    routes: list[Latency] = field(default_factory=list)
    callbacks: list[Latency] = field(default_factory=list)
    requests: int = 0
    server_errors: int = 0  # HTTP 5xx answers
    callback_errors: int = 0
    pivot: Latency | None = None
    cache_hits: int = 0
    cache_lookups: int = 0
    feed: dict[str, Any] | None = None
    memory: dict[str, float] = field(default_factory=dict)  # process id (or "this") → resident bytes
    jobs: dict[str, int] = field(default_factory=dict)  # state → count

    @property
    def error_rate(self) -> float | None:
        """Failed answers (HTTP 5xx, callbacks that raised) per request."""
        return (self.server_errors + self.callback_errors) / self.requests if self.requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        return self.cache_hits / self.cache_lookups if self.cache_lookups else None

    @property
    def memory_bytes(self) -> float | None:
        return sum(self.memory.values()) if self.memory else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _latencies(samples: list[Any], base: str, key: Any, errors: dict[Any, float]) -> list[Latency]:
    buckets: dict[Any, list[tuple[float, float]]] = defaultdict(list)
    counts: dict[Any, float] = defaultdict(float)
    for s in samples:
        if s.name == f"{base}_bucket":
            buckets[key(s.labels)].append((float(s.labels["le"]), s.value))
        elif s.name == f"{base}_count":
            counts[key(s.labels)] += s.value
    out = [
        Latency(name=name, requests=int(counts[name]), p50_ms=_ms(histogram_quantile(0.5, _merge(b))),
                p95_ms=_ms(histogram_quantile(0.95, _merge(b))), errors=int(errors.get(name, 0)))
        for name, b in buckets.items()
    ]
    return sorted(out, key=lambda x: (-x.requests, x.name))


def _merge(buckets: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: dict[float, float] = defaultdict(float)
    for bound, count in buckets:
        merged[bound] += count
    return sorted(merged.items())


def summarize(families: Iterable[Any]) -> SystemSummary:
    """The page's figures from collected metric families (see ``metrics.collect_families``)."""
    by_name: dict[str, list[Any]] = defaultdict(list)
    for family in families:
        by_name[family.name].extend(family.samples)
    out = SystemSummary()

    route_errors: dict[str, float] = defaultdict(float)
    for s in by_name["deskboard_http_requests"]:
        if s.name.endswith("_total"):
            out.requests += int(s.value)
            if s.labels["status"].startswith("5"):
                out.server_errors += int(s.value)
                route_errors[f'{s.labels["method"]} {s.labels["route"]}'] += s.value
    out.routes = _latencies(by_name["deskboard_http_request_duration_seconds"],
                            "deskboard_http_request_duration_seconds",
                            lambda labels: f'{labels["method"]} {labels["route"]}', route_errors)

    callback_errors: dict[str, float] = defaultdict(float)
    for s in by_name["deskboard_dash_callback_errors"]:
        if s.name.endswith("_total"):
            callback_errors[s.labels["callback"]] += s.value
            out.callback_errors += int(s.value)
    out.callbacks = _latencies(by_name["deskboard_dash_callback_duration_seconds"],
                               "deskboard_dash_callback_duration_seconds",
                               lambda labels: labels["callback"], callback_errors)

    pivot = _latencies(by_name["deskboard_pivot_query_duration_seconds"], "deskboard_pivot_query_duration_seconds",
                       lambda labels: "pivot", {})
    out.pivot = pivot[0] if pivot else None
    for s in by_name["deskboard_cache_lookups"]:
        if s.name.endswith("_total") and s.labels.get("kind") == "pivot":
            out.cache_lookups += int(s.value)
            out.cache_hits += int(s.value) if s.labels["result"] == "hit" else 0

    for s in by_name["deskboard_process_resident_memory_bytes"]:
        out.memory[s.labels.get("pid", "this")] = s.value

    feed: dict[str, Any] = {}
    for s in by_name["deskboard_feed_state"]:
        if s.value == 1:
            feed["state"] = s.labels["state"]
    for name, key in (("deskboard_feed_lag_seconds", "lag_seconds"),
                      ("deskboard_feed_stale_after_seconds", "stale_after_seconds"),
                      ("deskboard_feed_messages", "messages"), ("deskboard_feed_rejected", "rejected")):
        for s in by_name[name]:
            if not s.name.endswith("_created"):
                feed[key] = s.value
    out.feed = feed or None

    for s in by_name["deskboard_jobs"]:
        out.jobs[s.labels["state"]] = out.jobs.get(s.labels["state"], 0) + int(s.value)
    return out


def system_summary(server: Flask, *, recent: bool = False) -> tuple[SystemSummary, float | None]:
    """This server's figures, read the way a scrape of its ``/metrics`` reads them, and the span in
    seconds they cover: with ``recent``, the last few minutes (``window.py``); otherwise, or when no
    window can be taken, everything since the server started (span None)."""
    from backend.observability.install import metrics_collectors

    families = metrics.collect_families(metrics_collectors(server))
    baseline = window.RING.baseline() if recent else None
    recent_families = window.subtract(families, baseline) if baseline is not None else None
    if baseline is None or recent_families is None:
        return summarize(families), None
    return summarize(recent_families), max(0.0, window.RING.clock() - baseline.at)
