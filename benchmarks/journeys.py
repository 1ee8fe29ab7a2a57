"""Deskboard as a trader meets it, in a real browser: ``python -m benchmarks.journeys``.

    .venv/bin/python -m benchmarks.journeys                       # demo data, a few minutes
    .venv/bin/python -m benchmarks.journeys --rows 200000 20000000  # demo and 20 M rows, one table
    .venv/bin/python -m benchmarks.journeys --only pivot --loads 9 --no-screens

Starts ``app.py`` as the README runs it (127.0.0.1, a free port, its own data
directory under /tmp/deskboard-journeys; other sizes than the demo are generated and
loaded there once) and drives Debian's headless Chromium through Playwright:

- navigation → first *data* drawn on /, /pivot, /board and /market (p50 of ``--loads``
  loads with the browser cache warm), with what each page waited for;
- pivot actions → the grid showing the new data (hierarchy, expand, sort, date range);
- live pages: tick delay (server publish → cell or index level shown), blank or waiting
  panels while the feed is live, and the server time (the app's own Server-Timing
  header: wall time inside the server, and CPU), rate and size of their updates;
- screenshots of every page at 1366 and 1920 px in light, dark and kiosk, in
  artifacts/journeys/ (git-ignored), with notes on what a picture can hide.

Every measurement runs with /board open in a second tab, and again with five more live
tabs (3 × /board, 2 × /market). Every budget is judged with the /board tab; with the five
more live tabs only the live pages' budgets are (tick delay, server time per update,
nothing blank) — first data and pivot actions are shown there as measured, unjudged, to
see what contention costs. The simulated session starts at ``--session-start``
(VN time; 09:20 is continuous trading). It measures; it does not judge: the exit code
is 0 whenever the measurements ran, and the budgets missed are listed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.browser import (
    DEMO_ROWS,
    ROOT,
    App,
    data_dir_for,
    exit_on_signals,
    launch,
    new_context,
    open_tabs,
    pct,
    prepare_data,
    stop_everything,
)
from benchmarks.journeys_live import BoardPoller, SummaryPoller
from benchmarks.journeys_steps import (
    ACTIONS,
    LIVE_PAGES,
    critical_path,
    first_data,
    live_window,
    load_summary,
    pivot_actions,
    screenshots,
)

PAGES = {"overview": "/", "pivot": "/pivot", "board": "/board", "market": "/market"}
SCENARIOS = (
    ("+ /board tab", ("/board",)),
    ("+ /board + 5 live tabs", ("/board", "/board", "/board", "/board", "/market", "/market")),
)
# The budgets for first data and pivot actions hold with /board in a second tab; with
# five more live tabs only the live pages' budgets are set (ticks shown in time, server time).
STRESS = SCENARIOS[1][0]
# A different starting view per scenario, so the second does not replay the first's
# (server-cached) pivot answers.
PIVOT_START = ("", "?rows=desk,asset_class,symbol")
ARTIFACTS = ROOT / "artifacts" / "journeys"
BUDGET_FIRST_DATA, BUDGET_ACTION, BUDGET_TICK, BUDGET_UPDATE = 1500.0, 500.0, 1000.0, 100.0


@dataclass
class Figure:
    name: str
    scenario: str
    values: list[float]
    stat: str  # p50 | p95 | count
    budget: float | None  # None: measured, not judged
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def judged(self) -> float | None:
        if self.stat == "count":
            return sum(self.values)
        if not self.values:
            return None
        return pct(self.values, 0.5 if self.stat == "p50" else 0.95)

    @property
    def verdict(self) -> str:
        value = self.judged
        if self.budget is None:
            return "shown"
        return "n/a" if value is None else "met" if value <= self.budget else "MISSED"

    def shown(self) -> str:
        if self.stat == "count":
            return f"{sum(self.values):.0f} of {self.extra.get('samples', 0)} {self.extra.get('of', '')}".strip()
        if not self.values:
            return "n/a"
        return f"{pct(self.values, 0.5):,.0f} / {pct(self.values, 0.95):,.0f} ({len(self.values)})"

    def budget_text(self) -> str:
        if self.budget is None:
            return "(not set)"
        return "0" if self.stat == "count" else f"{self.stat} ≤ {self.budget:,.0f}"


@dataclass
class Run:
    label: str
    figures: list[Figure] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _scenario(run: Run, browser: Any, app: App, index: int, label: str, background_paths: tuple[str, ...],
              pages: list[str], args: argparse.Namespace, board: BoardPoller, summary: SummaryPoller) -> None:
    """Every journey in one browser context, with ``background_paths`` open in other tabs."""
    context = new_context(browser)
    try:
        background = list(zip(background_paths, open_tabs(context, app.url, background_paths), strict=True))
        tab = context.new_page()
        for path in pages:
            _first_data(run, label, first_data(tab, app.url, path, args.loads), path)
        if "/pivot" in pages:
            _pivot(run, label, pivot_actions(tab, app.url, args.actions, PIVOT_START[index % len(PIVOT_START)]))
        for path in (p for p in pages if p in LIVE_PAGES):
            _live(run, label, path, live_window(tab, app.url, path, args.live_seconds, background, board, summary))
    finally:
        context.close()


def _first_data(run: Run, label: str, loads: Any, path: str) -> None:
    budget = None if label == STRESS else BUDGET_FIRST_DATA
    run.figures.append(Figure(f"first data {path}", label, loads.times, "p50", budget, loads.note(),
                              {"cold": loads.cold}))
    if path not in LIVE_PAGES:
        run.figures.append(Figure(f"blank after first data {path}", label, [float(loads.problem_loads)], "count", 0,
                                  "; ".join(sorted(set(loads.problems))), {"samples": len(loads.times), "of": "loads"}))
    run.details.append(_breakdown(path, label, loads))


def _pivot(run: Run, label: str, acts: Any) -> None:
    for kind in ACTIONS:
        note = acts.failed.get(kind) or acts.failed.get("all", "")
        if acts.cached.get(kind):
            note = (note + "; " if note else "") + f"{acts.cached[kind]} answered from the server cache"
        budget = None if label == STRESS else BUDGET_ACTION
        run.figures.append(Figure(f"pivot: {kind}", label, acts.times[kind], "p50", budget, note))
        run.details.append(f"pivot {kind} ({label}): {acts.detail(kind)}")


def _live(run: Run, label: str, path: str, live: Any) -> None:
    delays = live.delays
    note = live.note
    if delays is not None:
        note = f"{len(delays.delays)} values matched, {delays.unmatched} unmatched, {delays.ambiguous} ambiguous; " \
               f"basis: {delays.basis}"
    if live.errors:
        note += f"; {len(live.errors)} errors, e.g. {live.errors[0][:160]!r}"
    run.figures.append(Figure(f"tick delay {path}", label, delays.delays if delays else [], "p95", BUDGET_TICK, note))
    run.figures.append(Figure(f"blank while live {path}", label, [float(live.blank_samples)], "count", 0,
                              "; ".join(f"{k} ×{v}" for k, v in live.blanks.items()),
                              {"samples": live.samples, "of": "checks"}))
    up = live.updates
    rate = len(up.server_ms) / max(up.seconds, 1e-9) / max(up.tabs, 1)
    size = sum(up.bytes) / len(up.bytes) / 1024 if up.bytes else 0.0
    queued = f"; queued in the browser p95 {pct(up.queued_ms, 0.95):,.0f} ms" if up.queued_ms else ""
    cpu = f"; CPU p50/p95 {pct(up.cpu_ms, 0.5):,.1f}/{pct(up.cpu_ms, 0.95):,.1f} ms" if up.cpu_ms else ""
    trip = f"; round trip in the browser p95 {pct(up.round_trip_ms, 0.95):,.0f} ms" if up.round_trip_ms else ""
    run.figures.append(Figure(f"server time per update {path}", label, up.server_ms, "p95", BUDGET_UPDATE,
                              f"{up.tabs} tabs, {rate:.1f} updates/s per tab, {size:.1f} KiB each{cpu}{trip}{queued}"))
    run.details.append(_update_detail(path, label, live))


def _breakdown(path: str, scenario: str, loads: Any) -> str:
    lines = [f"{path} ({scenario}): first data p50 {pct(loads.times, 0.5):,.0f} ms" if loads.times
             else f"{path} ({scenario}): no data shown", "  warm-up (first) load: "
             + (f"{loads.cold:,.0f} ms" if loads.cold is not None else "no data in 60 s"),
             f"  {'request (median of loads)':<58}{'start':>7}{'end':>7}{'server':>8}{'queued':>8}"]
    wide = 58
    if loads.times:
        for name, start, end, server, queued in critical_path(loads):
            if len(name) > wide:  # long names (chunk lists, pattern ids) get a line of their own
                lines.append(f"  {name[:200]}")
                name = ""
            lines.append(f"  {name:<{wide}}{start:>7,.0f}{end:>7,.0f}{server:>8,.0f}{queued:>8,.0f}")
        summary = load_summary(loads)
        lines.append(f"  before first data: main thread in long tasks {summary['long_ms']:,.0f} ms "
                     f"({summary['long_n']:.0f} tasks); no request in flight {summary['idle_ms']:,.0f} ms")
    return "\n".join(lines)


def _update_detail(path: str, scenario: str, live: Any) -> str:
    up = live.updates
    lines = [f"{path} ({scenario}): updates of {up.tabs} tab(s) over {up.seconds:.0f} s"]
    if live.busy_share is not None:
        lines.append(f"  main thread of the watched tab in long tasks {live.busy_share:.0%} of the time")
    if live.cpu:
        c = live.cpu
        lines.append(f"  watched tab, per second: renderer CPU {c.get('ProcessTime', 0):,.0f} ms, main thread CPU "
                     f"{c.get('ThreadTime', 0):,.0f} ms; in scripts {c.get('ScriptDuration', 0):,.0f} ms, style "
                     f"{c.get('RecalcStyleDuration', 0):,.0f} ms, layout {c.get('LayoutDuration', 0):,.0f} ms")
    if live.parts:
        lines.append("  tick delay, median parts: " + ", ".join(f"{k} {v:,.0f} ms" for k, v in live.parts.items())
                     + "  (wait: publish → page asks; request: asks → answer; draw: answer → shown)")
    for name, values in sorted(up.by_callback.items()):
        lines.append(f"  {name[:56]:<56} n={len(values):<4} server p50 {pct(values, 0.5):>5,.0f} "
                     f"p95 {pct(values, 0.95):>5,.0f} ms")
    return "\n".join(lines)


def run_dataset(browser: Any, rows: int, data_dir: Path, pages: list[str], args: argparse.Namespace) -> Run:
    label = "demo" if rows == DEMO_ROWS else f"{rows / 1e6:g} M" if rows >= 1_000_000 else f"{rows:,}"
    run = Run(label)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    if args.data_dir is None:  # a folder given on the command line is served as it is
        prepare_data(rows, data_dir)
    env = {"DESKBOARD_MARKET_START_TIME": args.session_start}
    print(f"[{label}] starting the app on {data_dir} ...", flush=True)
    with App(data_dir, demo_rows=DEMO_ROWS if rows == DEMO_ROWS else 0, extra_env=env) as app:
        feed = app.wait_feed_live()
        if feed != "live":
            run.details.append(f"market feed state at start: {feed}")
        board, summary = BoardPoller(app.port), SummaryPoller(app.port)
        board.start()
        if summary.probe():
            summary.start()
        try:
            for index, (label_s, background) in enumerate(SCENARIOS):
                print(f"[{label}] measuring with {label_s} ...", flush=True)
                _scenario(run, browser, app, index, label_s, background, pages, args, board, summary)
            if board.visible_lag:
                run.details.append(f"board API: a tick is readable {pct(board.visible_lag, 0.5):,.0f} ms (p50) after "
                                   f"its publish time, as seen by a 20 Hz poller")
            if not args.no_screens:
                print(f"[{label}] screenshots ...", flush=True)
                folder = ARTIFACTS / label.replace(" ", "")
                for name, notes in screenshots(browser, app.url, pages, folder):
                    run.details.append(f"screen {folder.name}/{name}: " + ("; ".join(notes) if notes else "nothing noted"))
        finally:
            board.stop()
            if summary.is_alive():
                summary.stop()
    run.details.append(_app_log_note(app.log_path))
    run.seconds = time.monotonic() - started
    run.details.insert(0, f"machine load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
                          f"({os.cpu_count()} cores): figures from a busy machine are noisy, compare ratios")
    return run


def _app_log_note(path: Path) -> str:
    """How many errors the app logged during the run, with the first one."""
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    errors = [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
    if not errors:
        return f"app log {path}: no errors"
    return f"app log {path}: {len(errors)} errors, first: {errors[0][:200]}"


def print_table(runs: list[Run]) -> list[str]:
    """One line per figure and scenario, one column pair per data set; returns the misses."""
    keys: list[tuple[str, str]] = []
    for run in runs:
        for f in run.figures:
            if (f.name, f.scenario) not in keys:
                keys.append((f.name, f.scenario))
    head = f"{'figure':<34}{'with':<24}{'budget (ms)':<13}" + "".join(f"{r.label + ' p50 / p95 (n)':<24}{'':<8}"
                                                                      for r in runs)
    print("\n" + head + "\n" + "-" * len(head))
    misses = []
    for name, scenario in keys:
        cells = ""
        budget = ""
        for run in runs:
            fig = next((f for f in run.figures if (f.name, f.scenario) == (name, scenario)), None)
            if fig is None:
                cells += f"{'-':<24}{'':<8}"
                continue
            budget = fig.budget_text()
            cells += f"{fig.shown():<24}{fig.verdict:<8}"
            if fig.verdict == "MISSED":
                misses.append(f"{run.label}: {name} ({scenario}) {fig.shown()} vs {budget}")
        print(f"{name:<34}{scenario:<24}{budget:<13}{cells}")
    notes = [(run.label, f) for run in runs for f in run.figures if f.note]
    if notes:
        print("\nnotes")
        for label, f in notes:
            print(f"  {label}: {f.name} ({f.scenario}): {f.note}")
    return misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.journeys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[DEMO_ROWS],
                        help=f"data sets by row count ({DEMO_ROWS:,} = the app's demo data); several: one column each")
    parser.add_argument("--loads", type=int, default=5, help="timed loads per page (after one warm-up load)")
    parser.add_argument("--actions", type=int, default=5, help="rounds of the four pivot actions")
    parser.add_argument("--live-seconds", type=float, default=15.0, help="how long each live page is watched")
    parser.add_argument("--only", choices=sorted(PAGES), action="append", help="measure only this page (repeatable)")
    parser.add_argument("--no-screens", action="store_true", help="take no screenshots")
    parser.add_argument("--data-dir", type=Path,
                        help="serve this data directory as it is (one --rows value only, which labels it; "
                             f"with {DEMO_ROWS:,} an empty folder gets the demo data)")
    parser.add_argument("--session-start", default="09:20", help="VN time the simulated session starts at")
    args = parser.parse_args(argv)
    if args.data_dir and len(args.rows) != 1:
        parser.error("--data-dir goes with a single --rows value")
    if args.loads < 1 or args.actions < 0 or args.live_seconds < 2:
        parser.error("--loads must be at least 1, --actions at least 0, --live-seconds at least 2")
    pages = [PAGES[name] for name in (args.only or PAGES)]
    exit_on_signals()

    from playwright.sync_api import sync_playwright

    runs: list[Run] = []
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                for rows in args.rows:
                    runs.append(run_dataset(browser, rows, args.data_dir or data_dir_for(rows), pages, args))
            finally:
                browser.close()
    finally:
        stop_everything()
    for run in runs:
        print(f"\n== {run.label}: details ({run.seconds:.0f} s) ==")
        for block in run.details:
            print(block)
    misses = print_table(runs)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "results.json").write_text(json.dumps([asdict(r) for r in runs], indent=1, default=str))
    print(f"\nfigures in ms: measured p50 / p95 (number of samples); raw results in {ARTIFACTS / 'results.json'}")
    if misses:
        print(f"\n{len(misses)} budget(s) missed:")
        for miss in misses:
            print("  MISSED " + miss)
    else:
        print("\nall measured budgets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
