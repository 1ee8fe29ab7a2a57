"""Live-page measurements for benchmarks/journeys.py: when did the server have a value, when
did the page show it, and what did each page update cost the server.

``BoardPoller`` reads ``/api/v1/market/board?since=V`` at about 20 Hz. Board versions are the
server's wall-clock publish time in ms (``backend/market/board.py``), so each changed cell
value gets the time the server published it. Pages record (wall time, symbol, field, text)
for every cell they redraw (``journeys_probe.js``); the tick delay of a shown value is the
time it was shown minus the time it was published, on the same machine clock.

On /market every chart drawn with new data carries the server time of that data as its
datarevision (``revision_delays``): a sample on every answer, not only when an index level
changes. ``SummaryPoller`` (the index levels of ``/api/v1/market/summary``) is the fallback
for a page without it; a summary without a wall-clock publish time falls back to the time
the poller first saw a level, which makes the delay slightly shorter than it is.
"""

from __future__ import annotations

import http.client
import json
import re
import statistics
import threading
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BOARD_FIELDS = ("last", "total_vol", "bid1", "ask1", "bid1_vol", "ask1_vol")
TICK_MS = 250.0  # the feed publishes at most one board tick per 250 ms (ServiceSettings.tick_seconds)
TOLERANCE_MS = 2.0
_NUMBER = re.compile(r"^[+-]?\d+(?:\.(\d+))?$")
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9}


def parse_shown(text: str) -> tuple[float, float] | None:
    """A cell's text as (value, the step it is rounded to): ``24.45`` → (24.45, 0.01), ``14.0K`` → (14000, 100).

    Pages choose their own formats (grouping, thousands of VND, K/M suffixes), so shown
    values are compared with raw ones as numbers at the precision shown, not as text.
    """
    t = text.replace(",", "").replace("\u202f", "").replace("\u2212", "-").replace(" ", "").strip()
    scale = 1.0
    if t and t[-1].lower() in _SUFFIX:
        scale, t = _SUFFIX[t[-1].lower()], t[:-1]
    m = _NUMBER.match(t)
    if m is None:
        return None
    return float(t) * scale, 10.0 ** -len(m.group(1) or "") * scale


def fits(raw: float | None, shown: tuple[float, float]) -> bool:
    """Whether ``raw`` shows as ``shown``, as it is or in thousands (board prices are in thousands of VND)."""
    if raw is None:
        return False
    value, step = shown
    return any(abs(raw * unit - value) <= step / 2 + 1e-9 * max(1.0, abs(value)) for unit in (1.0, 0.001))


def now_ms() -> float:
    return time.time() * 1000.0


class _Poller(threading.Thread):
    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.stop_event = threading.Event()
        self.errors = 0
        self._conn: http.client.HTTPConnection | None = None

    def _get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self._conn.request("GET", path)
                reply = self._conn.getresponse()
                return reply.status, reply.read()
            except (OSError, http.client.HTTPException):
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def run(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except (OSError, http.client.HTTPException, ValueError):
                self.errors += 1
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))
        if self._conn is not None:
            self._conn.close()

    def poll(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)


@dataclass
class Matched:
    """Delays of the values a page showed that the poller saw published."""

    delays: list[float] = field(default_factory=list)
    pairs: list[tuple[float, float]] = field(default_factory=list)  # (published, shown) wall ms
    unmatched: int = 0
    ambiguous: int = 0
    basis: str = "server publish time"


Event = tuple[float, float | None, bool]  # (publish time ms, raw value, ambiguous)


def _match(events: Mapping[Any, Sequence[Event]], shown: Iterable[tuple[float, Any, str]], after: float) -> Matched:
    """Each (time shown, key, text) → time shown minus the publish of the value it shows.

    The value shown is the latest one published by then that reads as the text; when a
    coarse format (``14.0K``) reads the same for several values in a row, the delay runs
    from the first of them, when the text could first have changed.
    """
    out = Matched()
    for at, key, text in shown:
        parsed = parse_shown(text) if at >= after else None
        if parsed is None:
            continue  # before the window, or blank: not a value
        series = events.get(key, ())
        j = bisect_right(series, at + TOLERANCE_MS, key=lambda e: e[0]) - 1
        while j >= 0 and not fits(series[j][1], parsed):
            j -= 1
        if j < 0:
            out.unmatched += 1
            continue
        while j > 0 and fits(series[j - 1][1], parsed):
            j -= 1
        if series[j][2]:
            out.ambiguous += 1
        else:
            out.delays.append(at - series[j][0])
            out.pairs.append((series[j][0], at))
    return out


def delay_parts(pairs: Sequence[tuple[float, float]], report: Mapping[str, Any], output: str) -> dict[str, float]:
    """Median split of tick delays by the page's update request that brought each value.

    ``wait``: publish → the page asking (its polling interval); ``request``: asking →
    answer received (browser queue + server); ``draw``: answer → value on screen.
    """
    origin = report["wallOrigin"]
    updates = sorted((origin + e["start"], origin + e["end"]) for e in report["resources"]
                     if output in (e.get("output") or "") and e.get("end"))
    ends = [end for _, end in updates]
    parts: dict[str, list[float]] = {"wait": [], "request": [], "draw": []}
    for published, shown in pairs:
        i = bisect_right(ends, shown + TOLERANCE_MS) - 1
        if i < 0:
            continue
        start, end = updates[i]
        parts["wait"].append(start - published)
        parts["request"].append(end - start)
        parts["draw"].append(shown - end)
    return {k: statistics.median(v) for k, v in parts.items() if v}


class BoardPoller(_Poller):
    """Every board cell value change with its publish time (the board version)."""

    def __init__(self, port: int, interval: float = 0.05) -> None:
        super().__init__(port, interval)
        self.version: int | None = None
        self.values: dict[tuple[str, str], Any] = {}
        self.events: dict[tuple[str, str], list[Event]] = defaultdict(list)
        self.visible_lag: list[float] = []  # ms from publish to the API answering with it

    def poll(self) -> None:
        path = "/api/v1/market/board" + (f"?since={self.version}" if self.version is not None else "")
        status, body = self._get(path)
        received = now_ms()
        if status != 200:
            self.errors += 1
            return
        answer = json.loads(body)
        version = int(answer["version"])
        # Ticks are at least TICK_MS apart: with less than two of them between the previous
        # version and this one, every row in this answer changed at exactly this version;
        # otherwise a row may have changed at a tick this poller never saw.
        ambiguous = self.version is None or version - self.version >= 2 * TICK_MS
        fresh = not answer.get("full") and self.version is not None
        if fresh and answer["rows"] and version != self.version:
            self.visible_lag.append(received - version)
        for row in answer["rows"]:
            for name in BOARD_FIELDS:
                key = (row["symbol"], name)
                value = row.get(name)
                if name in row and self.values.get(key) != value:
                    self.values[key] = value
                    if fresh:
                        number = float(value) if isinstance(value, int | float) and value else None
                        self.events[key].append((float(version), number, ambiguous))
        self.version = version

    def match(self, cells: Iterable[Sequence[Any]], after: float) -> Matched:
        """Page cell records ``[wall ms, symbol, field, text]`` → tick delays."""
        return _match(self.events, ((c[0], (c[1], c[2]), c[3]) for c in cells), after)


_TIME_KEYS = ("published_ms", "publish_ms", "published_at", "updated_ms", "updated_at", "at_ms", "board_version",
              "version_ms", "version", "ts_ms")


def _wall_ms(body: Mapping[str, Any]) -> float | None:
    """A wall-clock publish time in the summary, if it carries one (ms or s since the epoch)."""
    now = now_ms()
    for key in _TIME_KEYS:
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            for scale in (1.0, 1000.0):
                if abs(value * scale - now) < 86_400_000:
                    return float(value * scale)
    return None


def index_levels(body: Any) -> dict[str, float]:
    """VN30 / VNINDEX levels from a summary answer, whichever of the usual shapes it has."""
    found: dict[str, float] = {}
    holders: list[Any] = [body.get("indices"), body] if isinstance(body, dict) else []
    for holder in holders:
        items = holder.items() if isinstance(holder, dict) else (
            ((i.get("id") or i.get("index_id") or i.get("symbol"), i) for i in holder if isinstance(i, dict))
            if isinstance(holder, list) else ())
        for name, state in items:
            if str(name).upper() in ("VN30", "VNINDEX") and isinstance(state, dict):
                value = state.get("value", state.get("level"))
                if isinstance(value, int | float):
                    found[str(name).upper()] = float(value)
    return found


class SummaryPoller(_Poller):
    """Index levels of /api/v1/market/summary with the time each was first there."""

    PATH = "/api/v1/market/summary"

    def __init__(self, port: int, interval: float = 0.1) -> None:
        super().__init__(port, interval)
        self.available: bool | None = None
        self.basis = "server publish time"
        self.levels: dict[str, float] = {}
        self.events: dict[str, list[Event]] = defaultdict(list)
        self._seen = False

    def probe(self, wait: float = 20.0) -> bool:
        """Whether the server has the endpoint; waits up to ``wait`` s for the feed's first index levels."""
        deadline = time.monotonic() + wait
        while True:
            try:
                status, body = self._get(self.PATH)
            except (OSError, http.client.HTTPException):
                status, body = 0, b""
            self.available = status == 200 and bool(index_levels(_loads(body)))
            if self.available or status == 404 or time.monotonic() > deadline:
                return self.available
            time.sleep(0.5)

    def poll(self) -> None:
        status, body = self._get(self.PATH)
        received = now_ms()
        if status != 200:
            self.errors += 1
            return
        answer = _loads(body)
        published = _wall_ms(answer) if isinstance(answer, dict) else None
        if published is None:
            self.basis = "first seen by a 10 Hz poller (a lower bound)"
            published = received
        for name, value in index_levels(answer).items():
            if self.levels.get(name) != value:
                self.levels[name] = value
                if self._seen:
                    self.events[name].append((published, value, False))
        self._seen = True

    def match(self, index_records: Iterable[Sequence[Any]], after: float) -> Matched:
        """Page records ``[wall ms, chart id, level text, points]`` → delays of new levels."""
        shown = []
        last: dict[str, str] = {}
        for at, chart, text, _points in index_records:
            name = "VN30" if chart.endswith("vn30") else "VNINDEX"
            if text and last.get(name) != text:
                shown.append((at, name, text))
            last[name] = text
        result = _match(self.events, shown, after)
        result.basis = self.basis
        return result


def revision_delays(records: Iterable[Sequence[Any]], after: float) -> Matched:
    """/market chart records ``[wall ms shown, chart id, datarevision]`` → tick delays.

    A chart's datarevision is the server-clock time (ms) of the earliest view change the
    answer that drew it brought, so shown minus revision is the delay of that change — the
    longest of the answer's. Each chart drawing a new revision is one value shown.
    """
    out = Matched(basis="chart datarevision (server time of the earliest change drawn)")
    for at, _chart, revision in records:
        if at < after or not isinstance(revision, int | float):
            continue
        out.delays.append(at - revision)
        out.pairs.append((float(revision), at))
    return out


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def callback_label(output: str | None) -> str:
    """``..a.b...c.d..`` (Dash's multi-output id) → ``a.b +1``."""
    if not output:
        return "(unnamed)"
    parts = [p for p in output.strip(".").split("...") if p]
    return parts[0] + (f" +{len(parts) - 1}" if len(parts) > 1 else "") if parts else output


@dataclass
class Updates:
    """``_dash-update-component`` requests of live tabs during a window."""

    server_ms: list[float] = field(default_factory=list)  # the server's own wall time (Server-Timing "app")
    cpu_ms: list[float] = field(default_factory=list)  # CPU time of the request's thread (Server-Timing "cpu")
    round_trip_ms: list[float] = field(default_factory=list)  # requestStart → responseEnd, seen by the browser
    queued_ms: list[float] = field(default_factory=list)  # fetch call → requestStart (browser's connection queue)
    bytes: list[int] = field(default_factory=list)
    by_callback: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0
    tabs: int = 0


def collect_updates(reports: Iterable[tuple[str, Mapping[str, Any]]], page_path: str, seconds: float) -> Updates:
    """Resource timing of one page kind's update requests over all tabs showing it."""
    out = Updates(seconds=seconds)
    for path, report in reports:
        if path != page_path:
            continue
        out.tabs += 1
        for entry in report["resources"]:
            if "_dash-update-component" not in entry["url"] or not entry.get("requestStart"):
                continue
            round_trip = entry["end"] - entry["requestStart"]
            timing = entry.get("timing") or {}
            # The server's own figure when it sends one; the browser's round trip otherwise.
            server = float(timing["app"]) if "app" in timing else round_trip
            out.server_ms.append(server)
            out.round_trip_ms.append(round_trip)
            if "cpu" in timing:
                out.cpu_ms.append(float(timing["cpu"]))
            out.queued_ms.append(entry["requestStart"] - entry["start"])
            out.bytes.append(int(entry.get("transfer") or entry.get("body") or 0))
            out.by_callback[callback_label(entry.get("output"))].append(server)
    return out
