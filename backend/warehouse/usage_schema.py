"""The ``usage_events`` table (usage of the app by user, written by ``backend.access.usage``): columns and DDL."""

from __future__ import annotations

from typing import Final

USAGE_TABLE: Final = "usage_events"
USAGE_COLUMNS: Final[tuple[str, ...]] = (
    "time", "day", "user", "kind", "route", "status", "duration_ms", "count", "dimensions", "metrics", "detail",
)
USAGE_RETENTION_DAYS: Final = 400

# ``count`` is how many calls a row stands for (callbacks are counted per user and window; every
# other kind is one event per row), so every question sums it.
USAGE_EVENTS_DDL: Final = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{USAGE_TABLE} (
    `time` DateTime64(3, 'UTC'),
    `day` Date,
    `user` LowCardinality(String),
    `kind` LowCardinality(String),
    `route` String,
    `status` UInt16,
    `duration_ms` Float64,
    `count` UInt32,
    `dimensions` Array(LowCardinality(String)),
    `metrics` Array(LowCardinality(String)),
    `detail` String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, kind, user)
TTL day + INTERVAL {USAGE_RETENTION_DAYS} DAY
"""
