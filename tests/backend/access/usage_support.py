"""A reproducible month of usage events, shared by the usage tests."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from backend.access.usage import UsageEvent

FIRST_DAY = date(2026, 3, 1)
DAYS = 20
USERS = ("alice", "bob", "chloé", "đức", "x'; DROP TABLE usage_events; --", "李")
PAGES = ("/pivot", "/board", "/market", "/", "/admin/usage")
SEARCHES = ("", "?rows=desk", "?rows=desk&m=pnl", "?m=pnl&rows=desk&embed=1", "?date=2024-01-08")
ROUTES = ("/api/v1/pivot", "/api/v1/trades", "/health/x")
DIMENSIONS = ("desk", "portfolio_manager_id", "symbol", "asset_class", "region", "book")
METRICS = ("pnl", "notional", "quantity", "market_value")
CALLBACKS = ("board-grid.rowData", "pivot-state.data + pivot-url-shown.data")


def make_events(seed: int = 5, n: int = 1_500) -> list[UsageEvent]:
    rng = random.Random(seed)
    events = []
    for _ in range(n):
        at = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC) + timedelta(
            seconds=rng.uniform(0, DAYS * 86_400))
        user = rng.choice(USERS)
        kind = rng.choices(("page_view", "api_call", "callback", "pivot", "job"), (5, 4, 3, 3, 1))[0]
        ms = round(rng.lognormvariate(3, 1), 3)
        status = rng.choice((200, 200, 200, 204, 400, 500))
        if kind == "page_view":
            e = UsageEvent(kind, user, route=rng.choice(PAGES), status=200, duration_ms=ms,
                           detail={"search": rng.choice(SEARCHES)}, time=at.timestamp())
        elif kind == "api_call":
            e = UsageEvent(kind, user, route=rng.choice(ROUTES), status=status, duration_ms=ms,
                           detail={"method": "POST"}, time=at.timestamp())
        elif kind == "callback":
            e = UsageEvent(kind, user, route=rng.choice(CALLBACKS), status=status, duration_ms=ms,
                           count=rng.randint(1, 30), time=at.timestamp())
        elif kind == "pivot":
            e = UsageEvent(kind, user, route="pivot", dimensions=tuple(rng.sample(DIMENSIONS, rng.randint(1, 3))),
                           metrics=tuple(rng.sample(METRICS, rng.randint(1, 3))), time=at.timestamp())
        else:
            e = UsageEvent(kind, user, route=rng.choice(("backup", "export", "walk_forward")), time=at.timestamp())
        events.append(e)
    return events


def view_key(search: str) -> str:
    """The view identity, written independently of the recorder: sorted pairs, embed/kiosk dropped."""
    pairs = [p.split("=", 1) for p in search.lstrip("?").split("&") if p]
    kept = sorted((k, v) for k, v in pairs if k not in ("embed", "kiosk"))
    return "&".join(f"{k}={v}" for k, v in kept)


def frame(events: list[UsageEvent]) -> pd.DataFrame:
    return pd.DataFrame([{
        "day": datetime.fromtimestamp(e.time, UTC).date(), "user": e.user, "kind": e.kind, "route": e.route,
        "status": e.status, "duration_ms": e.duration_ms, "count": e.count, "dimensions": list(e.dimensions),
        "metrics": list(e.metrics),
        "search": view_key(e.detail["search"]) if isinstance(e.detail, dict) and "search" in e.detail else "",
    } for e in events])
