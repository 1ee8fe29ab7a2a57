"""How long a simulated feed takes to show a day in progress: the ``catchup`` section of benchmarks.market.

For starts at 10:00, 11:29 and 14:44 (VN clock) the simulator first emits the session so
far, unpaced. Two figures per start, against the 5 s budget:

- *feed + core*: the feed's messages straight into a ``MarketCore`` on one thread, from
  the feed's construction until it reports it is no longer catching up;
- *service*: the real market service (feed pipeline, ticker, board) in its threads, from
  ``start`` until the board holds every VN30 row with volume and quotes, the VN30 minute
  series reaches the start time, foreign flow is non-zero and alerts have been raised.
"""

from __future__ import annotations

import statistics
import time
from datetime import date, datetime

from backend.market.board import BoardState
from backend.market.core import MarketCore
from backend.market.feed.simulated import SimulatorFeed
from backend.market.pipeline import BOARD_FIELDS, FeedPipeline
from backend.market.reference import VN30_SYMBOLS, VN_TZ, vn_epoch
from backend.market.service import MarketService, ServiceSettings

BUDGET_SECONDS = 5.0
DAY = date(2024, 3, 4)
STARTS = ("10:00", "11:29", "14:44")


def _feed(start: str) -> SimulatorFeed:
    # A fixed evening "now": the start time alone decides how much of the day is replayed.
    return SimulatorFeed(seed=7, start_time=start, now=lambda: datetime(2024, 3, 4, 20, 0, tzinfo=VN_TZ))


def feed_and_core(start: str) -> tuple[int, float, float]:
    """(messages caught up, wall seconds, CPU seconds) with the core applying each message as it comes."""
    t, cpu = time.perf_counter(), time.process_time()
    feed = _feed(start)
    core = MarketCore()
    n = 0
    for message in feed.messages():
        if not feed.catching_up:
            break
        core.process(message)
        n += 1
    feed.close()
    return n, time.perf_counter() - t, time.process_time() - cpu


def _day_in_progress(service: MarketService, until: float) -> bool:
    rows = [service.board.row(s) for s in VN30_SYMBOLS]
    if not all(r and r.get("total_vol") and r.get("bid1") for r in rows):
        return False
    series = ((service.summary.get("indices") or {}).get("VN30") or {}).get("series") or []
    foreign = service.summary.get("foreign") or {}
    return bool(series) and series[-1][0] >= until - 120 and foreign.get("buy_val", 0) > 0 and bool(service.alerts())


def through_service(start: str) -> tuple[float, float]:
    """(wall, CPU) seconds from starting the service until its board and summary show the day so far."""
    service = MarketService(settings=ServiceSettings(tick_seconds=0.25), board=BoardState(fields=BOARD_FIELDS))
    core = MarketCore()
    service.attach_core(core)
    hh, mm = (int(x) for x in start.split(":"))
    until = vn_epoch(DAY) + hh * 3600 + mm * 60
    t, cpu = time.perf_counter(), time.process_time()
    service.start(FeedPipeline(service, core, lambda: _feed(start)))
    try:
        while not _day_in_progress(service, until):
            if time.perf_counter() - t > 60:
                return float("inf"), float("inf")
            time.sleep(0.02)
        return time.perf_counter() - t, time.process_time() - cpu
    finally:
        service.stop()


def catch_up_section(_day: object = None, repeats: int = 3) -> None:
    print(f"\n== catch-up: a simulated feed started mid-session, until a day in progress shows (budget {BUDGET_SECONDS:.0f} s) ==")
    print(f"{'start':>6} {'messages':>9} {'feed + core: wall':>18} {'CPU':>7} {'service: wall':>14} {'CPU':>7}"
          f" {'budget':>7}")
    for start in STARTS:
        runs = [feed_and_core(start) for _ in range(repeats)]
        service = [through_service(start) for _ in range(repeats)]
        core_wall, core_cpu = (statistics.median(r[i] for r in runs) for i in (1, 2))
        service_wall, service_cpu = (statistics.median(r[i] for r in service) for i in (0, 1))
        verdict = "ok" if service_wall <= BUDGET_SECONDS else "OVER"
        print(f"{start:>6} {runs[0][0]:>9,} {core_wall:>16.2f} s {core_cpu:>5.2f} s {service_wall:>12.2f} s"
              f" {service_cpu:>5.2f} s {verdict:>7}")
    print(f"(medians of {repeats} runs; CPU is this process's time, which the machine's other load does not add to)")


if __name__ == "__main__":
    catch_up_section()
