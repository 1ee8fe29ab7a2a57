"""Figures over the last few minutes: counts since a snapshot taken that long ago.

Each process keeps a few snapshots of the counted metrics (requests, latency buckets,
errors, pivot and cache counts), taken when a request starts, at most every
``SPACING`` seconds. The system page subtracts the newest snapshot at least
``HORIZON`` old — or the oldest there is, in a process younger than that — from the
current values. In multi-process mode the snapshots hold every worker's counts, so
any worker's ring gives the same kind of window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from backend.observability import metrics

SPACING = 15.0
HORIZON = 300.0
# The families whose samples only grow (counters and histograms); gauges are shown as they are.
CUMULATIVE = frozenset({
    "deskboard_http_requests", "deskboard_http_request_duration_seconds", "deskboard_dash_callback_duration_seconds",
    "deskboard_dash_callback_errors", "deskboard_pivot_query_duration_seconds", "deskboard_cache_lookups",
})

Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Snapshot:
    at: float  # the ring's clock (monotonic seconds)
    values: dict[Key, float]


@dataclass(frozen=True)
class _Family:
    name: str
    samples: list[Any]


def _key(sample: Any) -> Key:
    return sample.name, tuple(sorted(sample.labels.items()))


def take(families: Iterable[Any]) -> dict[Key, float]:
    """The cumulative samples of collected families, by name and labels."""
    return {_key(s): s.value for f in families if f.name in CUMULATIVE for s in f.samples
            if not s.name.endswith("_created")}


class SnapshotRing:
    """Snapshots of one process, the newest ``horizon`` seconds of them plus the one just before."""

    def __init__(self, *, spacing: float = SPACING, horizon: float = HORIZON,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spacing, self.horizon, self.clock = spacing, horizon, clock
        self._entries: deque[Snapshot] = deque()
        self._lock = threading.Lock()

    def due(self) -> bool:
        with self._lock:
            return not self._entries or self.clock() - self._entries[-1].at >= self.spacing

    def add(self, values: dict[Key, float]) -> None:
        with self._lock:
            now = self.clock()
            self._entries.append(Snapshot(now, values))
            # Keep one snapshot at least `horizon` old (the baseline), drop those before it.
            while len(self._entries) > 1 and self._entries[1].at <= now - self.horizon:
                self._entries.popleft()

    def baseline(self) -> Snapshot | None:
        with self._lock:
            if not self._entries:
                return None
            now = self.clock()
            old = [e for e in self._entries if e.at <= now - self.horizon]
            return old[-1] if old else self._entries[0]


def subtract(families: Iterable[Any], baseline: Snapshot) -> list[Any] | None:
    """The families with ``baseline`` taken off every cumulative sample; None when counts went
    down (the counters were reset: the server restarted, or its multi-process folder was emptied)."""
    out: list[Any] = []
    seen = 0
    for family in families:
        if family.name not in CUMULATIVE:
            out.append(family)
            continue
        samples = []
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            key = _key(s)
            before = baseline.values.get(key, 0.0)
            if s.value < before:
                return None
            seen += key in baseline.values
            samples.append(s._replace(value=s.value - before))
        out.append(_Family(family.name, samples))
    # A series never disappears while the counters live (a worker's stay after it exits).
    return out if seen == len(baseline.values) else None


RING = SnapshotRing()


def note_request() -> None:
    """Called as a request starts (before it is counted): keep a snapshot when one is due."""
    if RING.due():
        RING.add(take(metrics.base_registry().collect()))
