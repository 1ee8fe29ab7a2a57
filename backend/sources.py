"""The data sources Deskboard reads, in one registry: each with its status, lag, message rate
and last error, for the data-sources admin page.

Built from what this process has: the live market feed (simulator, replay or SSI FastConnect)
as the market service reports it, the history it writes, the warehouse, the records store,
the cache and the job runner. The stores are probed by ``store_checks``, as ``/health`` probes them:
ok or not, how long it took, and only the error's type and its message for users.

A message rate needs two readings: the caller passes the previous ``Sample`` back (the page
keeps it in the browser), so no process keeps per-viewer state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from backend.jobs.states import JobState
from backend.stores import Stores

Status = Literal["ok", "degraded", "down", "off"]
STATUSES: Final = ("ok", "degraded", "down", "off")
FEED_NAMES: Final = {"simulator": "Market feed (simulator)", "replay": "Market feed (replay)",
                     "ssi": "Market feed (SSI FastConnect)"}
_FEED_STATUS: Final[dict[str, Status]] = {"live": "ok", "starting": "degraded", "stale": "degraded",
                                          "disconnected": "down", "stopped": "off"}
ERROR_MAX: Final = 300



def timed_probe(probe: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    """Run one probe: ok or not, how long it took, and an error only as its type and its message for users."""
    started = time.perf_counter()
    try:
        detail = probe() or {}
        ok = True
    except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
        detail, ok = {"error": type(exc).__name__}, False
        reason = getattr(exc, "user_message", None)
        if isinstance(reason, str):
            detail["reason"] = reason[:300]
    return {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 2), **detail}


@dataclass(frozen=True)
class SourceStatus:
    name: str
    kind: str  # feed | history | warehouse | records | cache | jobs
    status: Status
    lag_seconds: float | None = None
    message_rate: float | None = None  # messages per second since the previous reading
    last_error: str | None = None
    detail: str = ""

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    """One reading of the feed's message counter (monotonic seconds)."""

    at: float
    messages: int

    @classmethod
    def from_dict(cls, data: object) -> Sample | None:
        """A sample the browser sent back; anything malformed counts as no previous reading."""
        if not isinstance(data, Mapping):
            return None
        at, messages = data.get("at"), data.get("messages")
        if isinstance(at, bool) or isinstance(messages, bool) or not isinstance(at, (int, float)) \
                or not isinstance(messages, int) or messages < 0:
            return None
        return cls(float(at), messages)


def _error(value: object) -> str | None:
    return None if value in (None, "") else str(value)[:ERROR_MAX]


def _probe_error(check: Mapping[str, Any]) -> str | None:
    if check.get("ok"):
        return None
    return _error(check.get("reason") or check.get("error") or "did not answer")


def feed_sources(settings: Any, service: Any, previous: Sample | None,
                 now: float) -> tuple[list[SourceStatus], Sample | None]:
    """The live feed and the history it writes; the sample to pass back next time."""
    name = FEED_NAMES.get(settings.market.source, f"Market feed ({settings.market.source})")
    if service is None:
        why = ("DESKBOARD_FEED=off" if settings.feed == "off" else
               "the market is disabled (DESKBOARD_MARKET_ENABLED=false)" if not settings.market.enabled else
               "this server runs no market service")
        return [SourceStatus(name, "feed", "off", detail=f"not running: {why}")], None
    try:
        st = service.status()
    except Exception as exc:  # noqa: BLE001 - the registry reports a broken source, it does not fail
        return [SourceStatus(name, "feed", "down", last_error=type(exc).__name__, detail="status unavailable")], None
    messages = st.get("messages")
    sample = Sample(now, messages) if isinstance(messages, int) and not isinstance(messages, bool) else None
    rate = None
    if sample is not None and previous is not None and sample.at > previous.at and sample.messages >= previous.messages:
        rate = round((sample.messages - previous.messages) / (sample.at - previous.at), 1)
    state = str(st.get("state"))
    detail = [f"state {state}", f"{messages if sample else '?'} messages", f"{st.get('rejected', 0)} rejected"]
    if settings.feed == "process":
        detail.append("read from the feed process")
    if st.get("catching_up"):
        detail.append("catching up")
    out = [SourceStatus(name, "feed", _FEED_STATUS.get(state, "degraded"), lag_seconds=st.get("age_seconds"),
                        message_rate=rate, last_error=_error(st.get("error")), detail=", ".join(detail))]
    history = getattr(service, "history_status", None)
    hist = history() if callable(history) else None
    if hist:
        error = _error(hist.get("error"))
        held = int(hist.get("dropped") or 0) + int(hist.get("refused") or 0)
        out.append(SourceStatus(
            "Market history", "history", "degraded" if error or held else "ok", last_error=error,
            detail=f"{hist.get('pending', 0)} rows waiting, {hist.get('dropped', 0)} dropped, "
                   f"{hist.get('refused', 0)} refused, {hist.get('flushes', 0)} writes"))
    return out, sample


def store_checks(stores: Stores) -> dict[str, dict[str, Any]]:
    """The warehouse, records store and cache, each probed once: what ``/health`` reports, and
    what the registry shows."""
    wh = stores.warehouse

    def warehouse() -> dict[str, Any]:
        if not wh.ping():
            raise ConnectionError("warehouse did not answer")
        return {"backend": "chdb" if wh.embedded else "clickhouse", "schema_version": wh.schema_version()}

    def meta() -> dict[str, Any]:
        stores.meta.ping()
        return {"backend": stores.meta.engine.dialect.name}

    def cache() -> dict[str, Any]:
        key = "deskboard:store-probe"
        stores.cache.set(key, 1, timeout=10)
        if stores.cache.get(key) != 1:
            raise ConnectionError("cache did not keep a value")
        return {"backend": "redis" if stores.settings.redis_url else "file"}

    return {"warehouse": timed_probe(warehouse), "meta": timed_probe(meta), "cache": timed_probe(cache)}


def store_sources(stores: Stores) -> list[SourceStatus]:
    checks = store_checks(stores)
    out = []
    for name, kind, key in (("Warehouse", "warehouse", "warehouse"), ("Records store", "records", "meta"),
                            ("Cache", "cache", "cache")):
        check = checks[key]
        parts = [f"{check['backend']}" if check.get("backend") else "", f"answered in {check['ms']:g} ms"]
        if key == "warehouse" and check["ok"]:
            parts.append(f"data version {stores.warehouse.data_version()}")
        out.append(SourceStatus(name, kind, "ok" if check["ok"] else "down", last_error=_probe_error(check),
                                detail=", ".join(p for p in parts if p)))
    return out


def jobs_source(runner: Any) -> SourceStatus:
    if runner is None:
        return SourceStatus("Job runner", "jobs", "off", detail="no job runner in this process")
    try:
        queued = len(runner.list(states=[JobState.QUEUED], limit=1000))
        running = len(runner.list(states=[JobState.RUNNING], limit=1000))
    except Exception as exc:  # noqa: BLE001
        return SourceStatus("Job runner", "jobs", "down", last_error=_error(str(exc) or type(exc).__name__),
                            detail=str(getattr(runner, "name", "")))
    return SourceStatus("Job runner", "jobs", "ok", detail=f"{getattr(runner, 'name', '?')}: {queued} queued, "
                                                           f"{running} running")


def data_sources(stores: Stores, *, market: Any = None, jobs: Any = None, previous: Sample | None = None,
                 now: float | None = None) -> list[SourceStatus]:
    """Every data source this process reads; the feed's rate is measured since ``previous``."""
    feeds, _ = feed_sources(stores.settings, market, previous, time.monotonic() if now is None else now)
    return [*feeds, *store_sources(stores), jobs_source(jobs)]


def feed_sample(market: Any, now: float | None = None) -> Sample | None:
    """This reading of the feed's message counter, to pass back as ``previous`` next time."""
    if market is None:
        return None
    try:
        messages = market.status().get("messages")
    except Exception:  # noqa: BLE001 - no reading, no rate
        return None
    if isinstance(messages, bool) or not isinstance(messages, int):
        return None
    return Sample(time.monotonic() if now is None else now, messages)
