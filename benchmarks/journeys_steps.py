"""The journeys of benchmarks/journeys.py, each on an open browser tab.

- ``first_data``: navigation → first data drawn, with what the page waited for;
- ``pivot_actions``: click → the pivot grid showing the new data, for four analyst actions;
- ``live_window``: a live page watched for a while — tick delay, blank panels, update cost;
- ``screenshots``: every page at two sizes in light, dark and kiosk, with notes on what
  a picture can hide (cut-off columns, sideways scrolling, low-contrast text).
"""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.browser import new_context, wait_first_data
from benchmarks.journeys_live import (
    BoardPoller,
    Matched,
    SummaryPoller,
    Updates,
    callback_label,
    collect_updates,
    delay_parts,
    now_ms,
    revision_delays,
)

LIVE_PAGES = ("/board", "/market")
FIRST_DATA_TIMEOUT = 60.0
MIN_SAMPLES = 30  # tick delays per live page and scenario, for a p95 that is not one outlier
# The update request that brings a live page its new values (the first one found is used).
UPDATE_OUTPUTS = {"/board": ("board-grid",), "/market": ("market-answer", "market-vn30")}


# -- first data -------------------------------------------------------------------------------
@dataclass
class Loads:
    """Timed loads of one page: ms to first data, and each load's requests."""

    times: list[float] = field(default_factory=list)
    cold: float | None = None
    failed: int = 0
    reports: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    problem_loads: int = 0
    errors: list[str] = field(default_factory=list)  # browser console errors, HTTP 5xx answers

    def note(self) -> str:
        parts = []
        if self.failed:
            parts.append(f"{self.failed} load(s) showed no data within {FIRST_DATA_TIMEOUT:.0f} s")
        if self.errors:
            parts.append(f"{len(self.errors)} errors, e.g. {self.errors[0][:160]!r}")
        return "; ".join(parts)


def _errors(report: dict[str, Any]) -> list[str]:
    found = list(report.get("errors") or ())
    found += [f"HTTP {e['status']} {e['url'][:60]}" for e in report["resources"] if (e.get("status") or 0) >= 500]
    return found


def settle(tab: Any, limit: float) -> None:
    """Wait until the page asks the server nothing more (two checks in a row), at most ``limit`` s.

    Live pages always have a request coming, so for them this is just a pause of ``limit``.
    """
    deadline = time.monotonic() + limit
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        quiet = quiet + 1 if tab.evaluate("() => window.__jr.pendingCallbacks()") == 0 else 0
        time.sleep(0.15)


def _load(tab: Any, url: str) -> tuple[float | None, dict[str, Any]]:
    tab.goto(url, wait_until="commit")
    shown = wait_first_data(tab, FIRST_DATA_TIMEOUT)
    if shown is not None:
        # What is still blank once the page has finished loading is blank, not loading.
        settle(tab, 1.0 if urlsplit(url).path in LIVE_PAGES else 8.0)
    return shown, tab.evaluate("() => window.__jr.loadReport()")


def first_data(tab: Any, base: str, path: str, loads: int) -> Loads:
    """One warm-up load (browser cache, server caches), then ``loads`` timed ones."""
    tab.bring_to_front()
    out = Loads()
    out.cold, report = _load(tab, base + path)
    if out.cold is None:  # a page that shows nothing once will not be timed five times
        out.failed, out.errors = 1, _errors(report)
        return out
    for _ in range(loads):
        shown, report = _load(tab, base + path)
        out.errors += _errors(report)
        if shown is None:
            out.failed += 1
            continue
        out.times.append(shown)
        out.reports.append(report)
        out.problems += report["problems"]
        out.problem_loads += bool(report["problems"])
    return out


def load_summary(loads: Loads) -> dict[str, float]:
    """Medians over the loads: main-thread long tasks and time with no request in flight before first data."""
    busy, tasks, idle = [], [], []
    for shown, report in zip(loads.times, loads.reports, strict=True):
        before = [(s, min(s + d, shown)) for s, d in report.get("longTasks", ()) if s < shown]
        busy.append(sum(e - s for s, e in before))
        tasks.append(len(before))
        spans = sorted((e["start"], min(e["end"], shown)) for e in report["resources"] if e["start"] < shown)
        spans.insert(0, (0.0, min(report["nav"].get("responseEnd") or 0.0, shown)))
        covered, reach = 0.0, 0.0
        for start, end in spans:
            if end > reach:
                covered += end - max(start, reach)
                reach = end
        idle.append(shown - covered)
    if not busy:
        return {}
    return {"long_ms": statistics.median(busy), "long_n": statistics.median(tasks), "idle_ms": statistics.median(idle)}


def _request_name(entry: dict[str, Any]) -> str:
    url = entry["url"]
    if "_dash-update-component" in url:
        return "update " + callback_label(entry.get("output"))
    if "/_dash-component-suites/" in url or "/assets/" in url or url.endswith((".js", ".css")):
        return "static files"
    return url.split("?")[0] or "/"


def critical_path(loads: Loads) -> list[tuple[str, float, float, float, float]]:
    """Median (start, end, server ms, queued ms) per request before first data, in start order.

    Static files are folded into two lines: those the page document asks for, and the
    chunks the page's components ask for once its layout is drawn (charts, date pickers),
    named. The page document itself is the first line; the last line is the time from
    the last answer to the data drawn.
    """
    per: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    renders = []
    late_names: set[str] = set()
    for shown, report in zip(loads.times, loads.reports, strict=True):
        nav = report["nav"]
        per["page document"].append((0.0, nav.get("responseEnd") or 0.0, nav.get("responseStart") or 0.0, 0.0))
        layout_at = min((e["start"] for e in report["resources"] if e["url"].startswith("/_dash-layout")),
                        default=shown)
        static: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        seen: dict[str, int] = defaultdict(int)
        last_end = nav.get("responseEnd") or 0.0
        for entry in report["resources"]:
            if entry["start"] > shown:
                continue
            name = _request_name(entry)
            last_end = max(last_end, min(entry["end"], shown))
            if name == "static files":
                late = entry["start"] > layout_at
                static[late].append((entry["start"], entry["end"]))
                if late:
                    late_names.add(entry["url"].split("?")[0].rsplit("/", 1)[-1])
                continue
            seen[name] += 1
            label = name if seen[name] == 1 else f"{name} (#{seen[name]})"
            server = entry["end"] - entry["requestStart"] if entry.get("requestStart") else 0.0
            queued = entry["requestStart"] - entry["start"] if entry.get("requestStart") else 0.0
            per[label].append((entry["start"], entry["end"], server, queued))
        for late, spans in static.items():
            if spans:  # from the browser cache once warm: their time is reading and running them
                per["static: components' chunks" if late else "static: scripts and styles"].append(
                    (min(s for s, _ in spans), max(e for _, e in spans), 0.0, 0.0))
        renders.append(shown - last_end)
    half = max(1, len(loads.times) // 2)
    rows = [(name, *(statistics.median(v[i] for v in values) for i in range(4)))
            for name, values in per.items() if len(values) >= half]
    rows = [(f"{r[0]} ({', '.join(sorted(late_names))})" if r[0] == "static: components' chunks" else r[0], *r[1:])
            for r in rows]
    rows.sort(key=lambda r: r[1])
    if renders:
        rows.append(("drawing after the last answer", 0.0, statistics.median(renders), 0.0, 0.0))
    return rows


# -- pivot actions ----------------------------------------------------------------------------
PIVOT_GRID = "pivot-grid"
ACTIONS = ("row dimension", "expand group", "sort by metric", "date range")


@dataclass
class Actions:
    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in ACTIONS})
    cached: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: dict[str, str] = field(default_factory=dict)
    engine_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Per action, from the click: (first request sent, last answer received, server ms summed, requests).
    requests: dict[str, list[tuple[float, float, float, int]]] = field(default_factory=lambda: defaultdict(list))

    def detail(self, kind: str) -> str:
        """Median timeline of one kind of action, from the click."""
        rows = self.requests.get(kind) or []
        asked = [r for r in rows if r[3]]
        text = f"{len(rows)} done"
        if asked:
            text += (f"; first request {statistics.median(r[0] for r in asked):,.0f} ms after the click, last answer "
                     f"at {statistics.median(r[1] for r in asked):,.0f} ms, {statistics.median(r[3] for r in asked):.0f}"
                     f" requests taking {statistics.median(r[2] for r in asked):,.0f} ms of server time")
        elif rows:
            text += "; no request to the server"
        if self.engine_ms.get(kind):
            text += f"; pivot engine {statistics.median(self.engine_ms[kind]):,.0f} ms (page's own figure)"
        return text


_ENGINE = re.compile(r"(?:computed|cached) in ([\d,.]+) ms")


def _timeline(tab: Any, clicked: float, shown: float) -> tuple[float, float, float, int]:
    """(first request sent, last answer in, server ms summed, requests) between a click and its data shown."""
    entries = [e for e in tab.evaluate(f"() => window.__jr.resources({clicked})")
               if "_dash-update-component" in e["url"] and e["start"] <= clicked + shown]
    if not entries:
        return 0.0, 0.0, 0.0, 0
    return (min(e["start"] for e in entries) - clicked, max(e["end"] for e in entries) - clicked,
            sum(e["end"] - e["requestStart"] for e in entries if e.get("requestStart")), len(entries))


def _settled(tab: Any, before: str, timeout: float = 60.0, quiet: float = 200.0) -> float | None:
    """Click → last grid change, once the grid changed and nothing moved or waited for ``quiet`` ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = tab.evaluate(f"() => window.__jr.settleState('{PIVOT_GRID}')")
        if s["sig"] != before and s["lastClick"] is not None:
            still = s["now"] - s["lastMutation"]
            if (s["pending"] == 0 and still >= quiet) or still >= 1500:
                return s["lastMutation"] - s["lastClick"]
        time.sleep(0.03)
    return None


def _month(text: str) -> date:
    return datetime.strptime(text.strip(), "%B %Y").date()


def _pick_dates(tab: Any, target: date, i: int) -> None:
    """Open the date picker, go to ``target``'s month and click a range of its days."""
    tab.click("#pivot-dates")
    dropdown = "[data-dates-dropdown]"
    tab.wait_for_selector(f"{dropdown} button[aria-label]", state="visible")
    for _ in range(36):
        shown = _month(tab.inner_text(f"{dropdown} .mantine-DatePickerInput-calendarHeaderLevel"))
        if shown == target:
            break
        direction = "previous" if shown > target else "next"
        tab.click(f"{dropdown} button[data-direction='{direction}']")
    days = tab.locator(f"{dropdown} button[aria-label]:not([data-outside])")
    count = days.count()
    first = (2 + 5 * i) % max(1, count - 10)
    last = min(count - 1, first + 4 + 3 * (i % 3))
    days.nth(first).click()
    days.nth(last).click()


def _act(tab: Any, kind: str, i: int, month: date) -> None:
    if kind == "row dimension":
        buttons = tab.locator(".pivot-row-item button[aria-label^='Move']:not([disabled])")
        buttons.nth(i % max(1, buttons.count())).click()
    elif kind == "expand group":
        chevrons = tab.locator(f"#{PIVOT_GRID} .pivot-chevron[aria-expanded='false']")
        chevrons.nth(i % max(1, min(5, chevrons.count()))).click()
    elif kind == "sort by metric":
        tab.click(f"#{PIVOT_GRID} .ag-header-cell[col-id='pnl'] .ag-header-cell-label")
    else:
        _pick_dates(tab, month, i)


def pivot_actions(tab: Any, base: str, rounds: int, start_query: str = "") -> Actions:
    """``rounds`` × (change the hierarchy, expand a group, sort by P&L, choose a date range)."""
    out = Actions()
    tab.bring_to_front()
    tab.goto(base + "/pivot" + start_query, wait_until="commit")
    if wait_first_data(tab, FIRST_DATA_TIMEOUT) is None:
        out.failed["all"] = "the pivot grid never showed data"
        return out
    tab.evaluate(f"() => window.__jr.watchGrid('{PIVOT_GRID}')")
    try:
        latest = date.fromisoformat(tab.inner_text("#pivot-dates")[:10])
    except ValueError:
        latest = date.today()
    month = (latest.replace(day=1) - timedelta(days=1)).replace(day=1)
    for i in range(rounds):
        for kind in ACTIONS:
            if kind in out.failed:
                continue
            before = tab.evaluate(f"() => window.__jr.gridSignature('{PIVOT_GRID}')")
            try:
                _act(tab, kind, i, month)
            except Exception as exc:  # noqa: BLE001 - a control that moved is reported, not fatal
                out.failed[kind] = f"could not act: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                tab.keyboard.press("Escape")
                continue
            took = _settled(tab, before)
            if took is None:
                out.failed[kind] = "the grid did not change within 60 s"
                continue
            out.times[kind].append(took)
            out.requests[kind].append(_timeline(tab, tab.evaluate("() => window.__jr.lastClick"), took))
            fresh = tab.inner_text("#pivot-freshness") if tab.locator("#pivot-freshness").count() else ""
            engine = _ENGINE.search(fresh)
            if kind != "expand group" and engine:
                out.cached[kind] += fresh.find("cached") >= 0
                out.engine_ms[kind].append(float(engine.group(1).replace(",", "")))
    return out


# -- live pages -------------------------------------------------------------------------------
@dataclass
class Live:
    delays: Matched | None
    blanks: dict[str, int]
    samples: int
    updates: Updates
    note: str = ""
    parts: dict[str, float] = field(default_factory=dict)
    blank_samples: int = 0
    busy_share: float | None = None  # of the window, in main-thread long tasks
    cpu: dict[str, float] = field(default_factory=dict)  # renderer CPU and main-thread work, ms per s
    errors: list[str] = field(default_factory=list)


def live_window(tab: Any, base: str, path: str, seconds: float, background: Sequence[tuple[str, Any]],
                board: BoardPoller, summary: SummaryPoller | None) -> Live:
    """Watch ``path`` for ``seconds`` with the background tabs open; the first second is not counted."""
    tab.bring_to_front()
    tab.goto(base + path, wait_until="commit")
    if wait_first_data(tab, FIRST_DATA_TIMEOUT) is None:
        return Live(None, {"never showed data": 1}, 1, Updates(), "no first data", blank_samples=1)
    tabs = [(path, tab), *background]
    for _, t in tabs:
        t.evaluate("() => { window.__jr.windowStart = performance.now(); }")
    tab.evaluate("() => window.__jr.startLive()")
    after = now_ms() + 1000
    cdp = tab.context.new_cdp_session(tab)
    cdp.send("Performance.enable")
    before = _metrics(cdp)
    started = time.monotonic()
    time.sleep(seconds)
    # A p95 needs samples: watch on (up to three times as long) until there are enough.
    counted = "() => (window.__jr.revisions.length || 0) + (window.__jr.cells.length || 0)"
    while tab.evaluate(counted) < MIN_SAMPLES and time.monotonic() - started < 3 * seconds:
        time.sleep(1.0)
    seconds = time.monotonic() - started
    report = tab.evaluate("() => window.__jr.liveReport()")
    spent = _metrics(cdp)
    cdp.detach()
    cpu = {k: (spent[k] - before[k]) * 1000 / max(spent["Timestamp"] - before["Timestamp"], 1e-9)
           for k in CPU_METRICS if k in spent and k in before}
    reports = [(p, t.evaluate("() => ({resources: window.__jr.resources(window.__jr.windowStart)})")) for p, t in tabs]
    updates = collect_updates(reports, path, seconds)
    note = ""
    if path == "/board":
        delays: Matched | None = board.match(report["cells"], after)
    elif report.get("revisions"):
        delays = revision_delays(report["revisions"], after)
    elif summary is not None and summary.available:
        delays = summary.match(report["index"], after)
    else:
        delays = None
        note = "no /api/v1/market/summary with index levels on this server: tick delay not measurable"
    parts = {}
    for hint in UPDATE_OUTPUTS.get(path, ()):
        parts = delay_parts(delays.pairs, report, hint) if delays else {}
        if parts:
            break
    busy = sum(d for _, d in report.get("longTasks", ())) / (seconds * 1000)
    return Live(delays, report["blanks"], report["samples"], updates, note, parts, report.get("blankSamples", 0), busy,
                cpu, _errors(report))


# Chromium's own counters for a tab (DevTools Performance domain): CPU time of its renderer
# process and main thread, and wall time in scripts, style and layout. Unlike long tasks,
# CPU time does not grow when the machine is busy with other work.
CPU_METRICS = ("ProcessTime", "ThreadTime", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")


def _metrics(cdp: Any) -> dict[str, float]:
    return {m["name"]: float(m["value"]) for m in cdp.send("Performance.getMetrics")["metrics"]}


# -- screenshots ------------------------------------------------------------------------------
SIZES = ((1366, 900), (1920, 1080))
SCREEN_TIMEOUT = 20.0
THEMES = ("light", "dark", "kiosk")


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.strip("/")) or "overview"


def screenshots(browser: Any, base: str, paths: Sequence[str], folder: Path) -> list[tuple[str, list[str]]]:
    """Each page × size × theme as a PNG in ``folder``, with what the picture may hide."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for theme in THEMES:
        for width, height in SIZES:
            context = new_context(browser, width, height)
            try:
                tab = context.new_page()
                if theme == "dark":
                    tab.goto(base + "/", wait_until="commit")
                    wait_first_data(tab, FIRST_DATA_TIMEOUT)
                    tab.click("#shell-theme-toggle")
                    tab.wait_for_function("document.documentElement.getAttribute('data-db-theme') === 'dark'",
                                          timeout=10_000)
                for path in paths:
                    tab.goto(base + path + ("?kiosk=1" if theme == "kiosk" else ""), wait_until="commit")
                    shown = wait_first_data(tab, SCREEN_TIMEOUT)
                    settle(tab, 1.5 if path in LIVE_PAGES else 8.0)
                    time.sleep(0.4)  # flashes and transitions end
                    seen = tab.evaluate("() => window.__jr.screenNotes()")
                    notes = list(seen["notes"])
                    wanted = "light" if theme == "light" else "dark"
                    if seen["theme"] != wanted:
                        notes.insert(0, f"shown in {seen['theme']} instead of {wanted}")
                    if shown is None:
                        notes.insert(0, f"no data within {SCREEN_TIMEOUT:.0f} s")
                    name = f"{_slug(path)}-{width}-{theme}.png"
                    tab.screenshot(path=str(folder / name))
                    out.append((name, notes))
            finally:
                context.close()
    return out
