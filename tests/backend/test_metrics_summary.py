"""The system page's figures from metrics: percentiles, error rate, and the last few minutes' window."""

from __future__ import annotations

import pytest

from backend.observability import metrics


def test_histogram_quantile_follows_prometheus_rules() -> None:
    from backend.observability.summary import histogram_quantile

    inf = float("inf")
    buckets = [(1.0, 10.0), (2.0, 20.0), (inf, 20.0)]
    assert histogram_quantile(0.5, buckets) == 1.0
    assert histogram_quantile(0.75, buckets) == 1.5
    assert histogram_quantile(0.25, buckets) == 0.5  # linear from 0 inside the first bucket
    assert histogram_quantile(0.99, [(1.0, 1.0), (inf, 100.0)]) == 1.0  # rank in +Inf: the highest finite bound
    assert histogram_quantile(0.5, [(1.0, 0.0), (inf, 0.0)]) is None
    assert histogram_quantile(0.5, []) is None
    with pytest.raises(ValueError, match="0..1"):
        histogram_quantile(1.5, buckets)


def test_page_percentiles_fall_in_the_bucket_of_the_true_percentile() -> None:
    import numpy as np
    from prometheus_client import CollectorRegistry, Histogram

    from backend.observability.summary import summarize

    rng = np.random.default_rng(5)
    observed = rng.lognormal(mean=-3.0, sigma=1.2, size=5_000)
    registry = CollectorRegistry()
    hist = Histogram("deskboard_http_request_duration_seconds", "t", ["route", "method"],
                     buckets=metrics.LATENCY_BUCKETS, registry=registry)
    for seconds in observed:
        hist.labels(route="/x", method="GET").observe(float(seconds))
    summary = summarize(registry.collect())
    (route,) = summary.routes
    assert route.name == "GET /x" and route.requests == len(observed)
    bounds = (0.0, *metrics.LATENCY_BUCKETS)
    for q, got_ms in ((0.5, route.p50_ms), (0.95, route.p95_ms)):
        truth = float(np.quantile(observed, q))
        upper = next(b for b in bounds if b >= truth)
        lower = bounds[bounds.index(upper) - 1]
        assert lower * 1000 - 0.05 <= got_ms <= upper * 1000 + 0.05, (q, truth, got_ms)


def test_error_rate_counts_server_errors_and_failed_callbacks() -> None:
    from prometheus_client import CollectorRegistry, Counter

    from backend.observability.summary import summarize

    registry = CollectorRegistry()
    requests = Counter("deskboard_http_requests", "r", ["route", "method", "status"], registry=registry)
    failed = Counter("deskboard_dash_callback_errors", "e", ["callback"], registry=registry)
    requests.labels(route="/a", method="GET", status="200").inc(90)
    requests.labels(route="/a", method="GET", status="503").inc(4)
    requests.labels(route="/b", method="POST", status="404").inc(6)
    failed.labels(callback="x.children").inc(2)
    summary = summarize(registry.collect())
    assert summary.requests == 100 and summary.server_errors == 4 and summary.callback_errors == 2
    assert summary.error_rate == pytest.approx(0.06)


# -- the system page's last few minutes ---------------------------------------------------------------


def test_recent_figures_count_only_what_happened_since_the_baseline() -> None:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from backend.observability.summary import summarize
    from backend.observability.window import SnapshotRing, subtract, take

    clock = [1000.0]
    ring = SnapshotRing(spacing=15, horizon=300, clock=lambda: clock[0])
    registry = CollectorRegistry()
    requests = Counter("deskboard_http_requests", "r", ["route", "method", "status"], registry=registry)
    latency = Histogram("deskboard_http_request_duration_seconds", "l", ["route", "method"],
                        buckets=metrics.LATENCY_BUCKETS, registry=registry)

    def serve(n: int, seconds: float, status: str = "200") -> None:
        for _ in range(n):
            requests.labels(route="/x", method="GET", status=status).inc()
            latency.labels(route="/x", method="GET").observe(seconds)

    assert ring.baseline() is None
    serve(50, 4.0, "503")  # a slow, failing start, long ago
    for _ in range(25):  # snapshots every 15 s for over 6 minutes
        if ring.due():
            ring.add(take(registry.collect()))
        clock[0] += 15
    serve(10, 0.02)  # the last few minutes: fast and fine
    base = ring.baseline()
    assert base is not None and clock[0] - base.at >= 300 and clock[0] - base.at < 315
    recent = summarize(subtract(list(registry.collect()), base))
    since_start = summarize(registry.collect())
    assert (recent.requests, recent.server_errors) == (10, 0)
    assert (since_start.requests, since_start.server_errors) == (60, 50)
    (route,) = recent.routes
    assert route.requests == 10 and route.p95_ms <= 25.0
    assert since_start.routes[0].p50_ms > 2500

    # Counts below the baseline mean the counters restarted: no window is made from them.
    fresh = CollectorRegistry()
    Counter("deskboard_http_requests", "r", ["route", "method", "status"], registry=fresh).labels(
        route="/x", method="GET", status="200").inc()
    assert subtract(list(fresh.collect()), base) is None


def test_the_ring_keeps_one_baseline_and_what_came_after() -> None:
    from backend.observability.window import SnapshotRing

    clock = [0.0]
    ring = SnapshotRing(spacing=10, horizon=60, clock=lambda: clock[0])
    for n in range(100):
        if ring.due():
            ring.add({("n", ()): float(n)})
        clock[0] += 1
    kept = list(ring._entries)
    assert len(kept) <= 60 // 10 + 2 and kept[0].at <= clock[0] - 60
    # The baseline is the newest snapshot at least the horizon old.
    assert ring.baseline().at == max(e.at for e in kept if e.at <= clock[0] - 60) == 40
