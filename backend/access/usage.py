"""Usage events: who used which page, route, pivot dimension and job, recorded in the warehouse.

``UsageRecorder.record(event)`` is what the request path calls: an append to an in-memory
buffer under a lock held for a few instructions, which never raises. A writer thread turns
the buffer into rows and writes them with one insert every ``flush_seconds``. While the
warehouse refuses writes the rows wait, up to ``cap`` of them; beyond it the oldest go and
are counted (``status()``, for /health-like reporting), so an outage cannot exhaust memory.

What is recorded (``note_request`` is called by the request hooks after every request):

* ``page_view``: Dash's page-content callback, which names the pathname and query string.
  It runs on every page load *and* on every navigation inside the app, so the page HTML
  load itself (always followed by that callback) is not counted again.
* ``api_call``: every ``/api/...`` request, under its route template (never the raw path).
* ``callback``: other Dash callbacks a person triggered, counted by their registered name per
  user and per ``callback_seconds`` window (one row with ``count`` = calls, ``duration_ms`` =
  mean). What a person triggered is decided as for the idle sign-out
  (``sessions.is_user_activity``): callbacks set off only by ``dcc.Interval`` ticks or store
  updates (live refreshes, a board's polls) and background-job polling are not counted at all.
* ``pivot``: the dimensions and metrics of each pivot request (``record_pivot`` / ``note_pivot``).
* ``job``: each job submitted, by kind (``record_job`` / ``note_job``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode

from flask import current_app, g, has_app_context, request

from backend.access.current import current_principal
from backend.access.sessions import is_user_activity
from backend.warehouse.usage_schema import USAGE_COLUMNS, USAGE_EVENTS_DDL, USAGE_RETENTION_DAYS, USAGE_TABLE

if TYPE_CHECKING:  # the request hooks import this module: keep the warehouse client out of their import
    from backend.warehouse import Warehouse

log = logging.getLogger(__name__)

EXTENSION_KEY: Final = "deskboard.usage"
TABLE: Final = USAGE_TABLE
KINDS: Final[tuple[str, ...]] = ("page_view", "api_call", "callback", "pivot", "job")
COLUMNS: Final[tuple[str, ...]] = USAGE_COLUMNS
RETENTION_DAYS: Final = USAGE_RETENTION_DAYS
DDL: Final = USAGE_EVENTS_DDL
MAX_USER_CHARS: Final = 200
MAX_ROUTE_CHARS: Final = 300
MAX_DETAIL_CHARS: Final = 2_000
MAX_ITEMS: Final = 64  # dimensions or metrics kept per event
MAX_ITEM_CHARS: Final = 100
MAX_SEARCH_CHARS: Final = 1_000
# Kept out of a view's identity: they change how a view is shown, not which view it is.
PRESENTATION_KEYS: Final = frozenset({"embed", "kiosk"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PAGES_OUTPUT: Final = "_pages_content.children"  # Dash's page-content callback names this output first


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~4x more to build, and events are built per request
class UsageEvent:
    """One thing a user did. Values are cleaned when written, not when recorded (that is the request path)."""

    kind: str
    user: str
    route: str = ""
    status: int = 0
    duration_ms: float = 0.0
    dimensions: Sequence[str] = ()
    metrics: Sequence[str] = ()
    detail: Mapping[str, Any] | str | None = None
    time: float = field(default_factory=time.time)  # epoch seconds, UTC
    count: int = 1


def ensure_table(warehouse: Warehouse) -> None:
    """Create ``usage_events`` in the warehouse's (migrated) database when it is missing."""
    warehouse.command(DDL)


def _utf8(text: str) -> str:
    # A lone surrogate cannot be encoded: left in, it would fail every insert of its batch for ever.
    return text.encode("utf-8", "replace").decode("utf-8")


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return _utf8(_CONTROL.sub("", text[: limit * 2])[:limit])


def _items(values: Any) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        return []
    out = []
    for value in values:
        if len(out) >= MAX_ITEMS:
            break
        item = _text(value, MAX_ITEM_CHARS)
        if item:
            out.append(item)
    return out


def _detail(detail: Mapping[str, Any] | str | None) -> str:
    """Small JSON text; an oversized detail is cut (and says so), never refused."""
    if detail is None or detail == "":
        return ""
    try:
        text = detail if isinstance(detail, str) else json.dumps(detail, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(detail)
    text = _utf8(text)
    if len(text) <= MAX_DETAIL_CHARS:
        return text
    # Still valid JSON, so queries that read a field of it keep working on other events.
    return json.dumps({"truncated": True, "chars": len(text), "head": text[: MAX_DETAIL_CHARS - 80]},
                      ensure_ascii=False)[:MAX_DETAIL_CHARS]


def view_query(search: str | None) -> str:
    """The query string that identifies a view: keys sorted, presentation-only keys dropped."""
    text = (search or "")[:MAX_SEARCH_CHARS].lstrip("?")
    pairs = [(k, v) for k, v in parse_qsl(text, keep_blank_values=True) if k not in PRESENTATION_KEYS]
    return urlencode(sorted(pairs))


def to_row(event: UsageEvent) -> tuple[Any, ...]:
    """The warehouse row of an event; raises ValueError for an event that cannot be one."""
    if event.kind not in KINDS:
        raise ValueError(f"unknown usage kind {event.kind!r}")
    at = datetime.fromtimestamp(float(event.time), UTC)
    status = int(event.status)
    duration = float(event.duration_ms)
    count = int(event.count)
    detail = event.detail
    if event.kind == "page_view" and isinstance(detail, Mapping) and "search" in detail:
        # Normalised here, on the writer thread, rather than on the request path.
        detail = {**detail, "search": view_query(str(detail["search"]))}
    return (
        at, at.date(), _text(event.user, MAX_USER_CHARS) or "?", event.kind, _text(event.route, MAX_ROUTE_CHARS),
        min(max(status, 0), 65_535), duration if 0 <= duration < 1e9 else 0.0, min(max(count, 1), 2**32 - 1),
        _items(event.dimensions), _items(event.metrics), _detail(detail),
    )


class UsageRecorder:
    """Buffered writer of usage events (see the module doc)."""

    def __init__(self, warehouse: Warehouse, *, flush_seconds: float = 2.0, cap: int = 50_000,
                 callback_seconds: float = 60.0) -> None:
        if not 0.01 <= flush_seconds <= 600:
            raise ValueError(f"flush_seconds must be between 0.01 and 600, got {flush_seconds!r}")
        if not 1 <= cap <= 10_000_000:
            raise ValueError(f"cap must be between 1 and 10,000,000, got {cap!r}")
        if not 0 <= callback_seconds <= 3600:
            raise ValueError(f"callback_seconds must be between 0 and 3600, got {callback_seconds!r}")
        self.warehouse = warehouse
        self.flush_seconds = flush_seconds
        self.cap = cap
        self.callback_seconds = callback_seconds
        self.dropped = 0  # events lost at the cap while the warehouse refused writes
        self.rejected = 0  # events that could not be made into rows (an unknown kind, a bad value)
        self.written = 0
        self.last_error: str | None = None
        self._buffer: deque[UsageEvent] = deque()
        self._callbacks: dict[tuple[str, str], list[float]] = {}  # (user, name) -> [calls, total ms, max status]
        self._callbacks_since = time.monotonic()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._table_ready = False

    # -- the request path ----------------------------------------------------------
    def record(self, event: UsageEvent) -> None:
        """Queue one event. O(1); never waits on the warehouse (the lock guards a few instructions only).

        Nothing is checked here: a bad event is rejected (and counted) by the writer, not the request.
        """
        with self._lock:
            if len(self._buffer) >= self.cap:
                self._buffer.popleft()
                self.dropped += 1
            self._buffer.append(event)

    def count_callback(self, user: str, name: str, duration_ms: float, status: int) -> None:
        """Count one callback call under its name (written as one row per user and window)."""
        key = (user, name)
        with self._lock:
            slot = self._callbacks.get(key)
            if slot is None:
                if len(self._callbacks) >= self.cap:
                    self.dropped += 1
                    return
                self._callbacks[key] = [1.0, duration_ms, float(status)]
            else:
                slot[0] += 1
                slot[1] += duration_ms
                if status > slot[2]:
                    slot[2] = float(status)

    def record_pivot(self, user: str, dimensions: Sequence[str], metrics: Sequence[str],
                     detail: Mapping[str, Any] | None = None) -> None:
        """One pivot request: the dimensions (rows and columns) and metrics it asked for."""
        self.record(UsageEvent("pivot", user, route="pivot", dimensions=tuple(dimensions or ()),
                               metrics=tuple(metrics or ()), detail=detail))

    def record_job(self, user: str, kind: str, detail: Mapping[str, Any] | None = None) -> None:
        """One job submitted, by kind."""
        self.record(UsageEvent("job", user, route=str(kind), detail=detail))

    # -- writing -------------------------------------------------------------------
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer) + len(self._callbacks)

    def status(self) -> dict[str, Any]:
        """For health reporting: events waiting, written, dropped at the cap, rejected, last error."""
        return {"pending": self.pending(), "written": self.written, "dropped": self.dropped,
                "rejected": self.rejected, "last_error": self.last_error}

    def _take(self, force: bool) -> list[UsageEvent]:
        now = time.monotonic()
        with self._lock:
            taken, self._buffer = self._buffer, deque()  # a swap: request threads never wait for a copy
            callbacks: dict[tuple[str, str], list[float]] = {}
            if self._callbacks and (force or now - self._callbacks_since >= self.callback_seconds):
                callbacks, self._callbacks = self._callbacks, {}
                self._callbacks_since = now
        events = list(taken)
        stamp = time.time()
        for (user, name), (calls, total, status) in callbacks.items():
            events.append(UsageEvent("callback", user, route=name, status=int(status), duration_ms=total / calls,
                                     count=int(calls), time=stamp))
        return events

    def _put_back(self, events: list[UsageEvent]) -> None:
        """Failed events go back in front of newer ones; beyond the cap the oldest are dropped."""
        with self._lock:
            merged = events + list(self._buffer)
            overflow = len(merged) - self.cap
            if overflow > 0:
                self.dropped += overflow
                merged = merged[overflow:]
            self._buffer = deque(merged)

    def flush(self, *, force: bool = True) -> int:
        """Write what is buffered in one insert; return how many events were written."""
        with self._flush_lock:
            events = self._take(force)
            if not events:
                return 0
            rows = []
            for event in events:
                try:
                    rows.append(to_row(event))
                except (TypeError, ValueError, OverflowError, OSError):
                    self.rejected += 1
            if not rows:
                return 0
            try:
                if not self._table_ready:
                    ensure_table(self.warehouse)
                    self._table_ready = True
                self.warehouse.insert_rows(TABLE, rows, COLUMNS)
            except (TypeError, ValueError):
                # The client refused a value before sending anything: the data, not the warehouse. Retrying
                # the batch would fail for ever, so each row is tried alone and the ones refused are counted.
                return self._insert_one_by_one(rows)
            except Exception as exc:  # noqa: BLE001 - keep the events and retry on the next flush
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                log.warning("usage events not written (%s); keeping %d", self.last_error, len(events))
                self._table_ready = False  # a table dropped meanwhile is created again on the next try
                self._put_back(events)
                return 0
            self.written += len(rows)
            self.last_error = None
            return len(rows)

    def _insert_one_by_one(self, rows: list[tuple[Any, ...]]) -> int:
        written = 0
        for row in rows:
            try:
                self.warehouse.insert_rows(TABLE, [row], COLUMNS)
                written += 1
            except (TypeError, ValueError):
                self.rejected += 1
        self.written += written
        return written

    # -- writer thread -------------------------------------------------------------
    def start(self) -> UsageRecorder:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
            self._thread.start()
            _RUNNING.add(self)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the writer and write whatever is still buffered (callback counts included)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        _RUNNING.discard(self)
        self.flush(force=True)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush(force=False)
            except Exception:
                log.exception("usage writer")


# Every recorder whose writer runs in this process (a process that builds many apps, such as a
# test run, stops the ones it no longer serves).
_RUNNING: weakref.WeakSet[UsageRecorder] = weakref.WeakSet()


def running_recorders() -> list[UsageRecorder]:
    return list(_RUNNING)


# -- the app's recorder ------------------------------------------------------------
def install_usage(server: Any, warehouse: Warehouse, **options: Any) -> UsageRecorder:
    """Start a recorder for a Flask server; the request hooks find it in ``server.extensions``."""
    recorder = server.extensions.get(EXTENSION_KEY)
    if recorder is None:
        recorder = UsageRecorder(warehouse, **options).start()
        server.extensions[EXTENSION_KEY] = recorder
    return recorder


def current_recorder() -> UsageRecorder | None:
    return current_app.extensions.get(EXTENSION_KEY) if has_app_context() else None


def _user() -> str:
    return current_principal().id


def note_pivot(dimensions: Sequence[str], metrics: Sequence[str], *, user: str | None = None) -> None:
    """For the pivot service: record a pivot request of the current user (a no-op without a recorder)."""
    recorder = current_recorder()
    if recorder is not None:
        recorder.record_pivot(user or _user(), dimensions, metrics)


def note_job(kind: str, *, user: str | None = None) -> None:
    """For the job runner: record a job submitted by the current user (a no-op without a recorder)."""
    recorder = current_recorder()
    if recorder is not None:
        recorder.record_job(user or _user(), kind)


def _page_inputs(body: Any) -> tuple[str, str] | None:
    """(pathname, search) of a page-content callback request, else None."""
    if not isinstance(body, dict):
        return None
    output = body.get("output")
    if not isinstance(output, str) or not output.lstrip(".").startswith(PAGES_OUTPUT):
        return None
    values: dict[str, Any] = {}
    for item in body.get("inputs") or ():
        if isinstance(item, dict) and item.get("id") == "_pages_location":
            values[str(item.get("property"))] = item.get("value")
    pathname = values.get("pathname")
    if not isinstance(pathname, str):
        return None
    search = values.get("search")
    return pathname, search if isinstance(search, str) else ""


def note_request(route: str, status: int, seconds: float) -> None:
    """Called once per finished request by the request hooks: classify it and hand it to the recorder.

    Cheap by design (string checks and one append); anything unexpected is ignored, never raised.
    """
    try:
        recorder = current_recorder()
        if recorder is None:
            return
        path = request.path
        ms = seconds * 1000.0
        if path.startswith("/api/"):
            recorder.record(UsageEvent("api_call", _user(), route=route, status=status, duration_ms=ms,
                                       detail={"method": request.method}))
        elif path == "/_dash-update-component" and request.method == "POST":
            body = request.get_json(silent=True)  # parsed once already by Flask for Dash
            page = _page_inputs(body)
            if page is not None:
                pathname, search = page
                recorder.record(UsageEvent("page_view", _user(), route=pathname, status=status, duration_ms=ms,
                                           detail={"search": search[:MAX_SEARCH_CHARS]}))
            elif is_user_activity():  # the same test the idle sign-out uses: ticks, stores and job polls are not
                recorder.count_callback(_user(), str(g.get("dash_callback") or "<unknown>"), ms, status)
    except Exception:
        log.debug("usage: request not recorded", exc_info=True)
