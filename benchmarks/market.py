"""Live market benchmarks: ``python -m benchmarks.market [--density N]``.

Core section: throughput of the processing core on one thread (messages per second,
CPU time) on a simulated full trading day, per-message latency percentiles, and a
reference run over the same messages side by side (decoding the envelope and content
with orjson and with json only) as ratios; then memory over the day (tracemalloc,
sampled each simulated half hour) to show that the core's state stays flat.
The catch-up section times a simulated feed started mid-session until a day in progress
shows; the realism section prints the simulated market's figures on the default seed. Other sections (the board endpoints) add their own function to ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import date

import orjson

from backend.market.core import MarketCore
from backend.market.feed.simulator import MarketSimulator, vn_start
from benchmarks.market_board import board_section
from benchmarks.market_catch_up import catch_up_section
from benchmarks.market_realism import realism_section


def simulated_day(density: float, seed: int = 7) -> list[tuple[float, str]]:
    sim = MarketSimulator(seed=seed, start=vn_start(date(2024, 3, 4)), density=density, days=1)
    return list(sim.stream())


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} msg/s"


def core_throughput(day: list[tuple[float, str]]) -> None:
    messages = [m for _, m in day]
    n = len(messages)
    runs = {}
    for name, run in (
        ("reference: json.loads ×2", lambda: [json.loads(json.loads(m)["Content"]) for m in messages]),
        ("reference: orjson.loads ×2", lambda: [orjson.loads(orjson.loads(m)["Content"]) for m in messages]),
        ("MarketCore.process_many", lambda: MarketCore().process_many(messages)),
    ):
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        runs[name] = (time.process_time() - cpu, time.perf_counter() - wall)
    core_cpu = runs["MarketCore.process_many"][0]
    print(f"\n== core throughput: {n:,} messages of one simulated day, one thread ==")
    print(f"{'run':32} {'CPU rate':>18} {'wall rate':>18} {'core time / run time':>22}")
    for name, (cpu, wall) in runs.items():
        print(f"{name:32} {_rate(n, cpu):>18} {_rate(n, wall):>18} {core_cpu / cpu:>21.1f}×")
    print("target: ≥ 50,000 msg/s")


def core_latency(day: list[tuple[float, str]]) -> None:
    messages = [m for _, m in day]
    core = MarketCore()
    samples = []
    clock = time.perf_counter_ns
    for m in messages:
        t = clock()
        core.process(m)
        samples.append(clock() - t)
    ref = []
    for m in messages:
        t = clock()
        orjson.loads(orjson.loads(m)["Content"])
        ref.append(clock() - t)
    q = statistics.quantiles(samples, n=1000)
    r = statistics.quantiles(ref, n=1000)
    print("\n== per-message latency (µs), MarketCore.process vs orjson.loads ×2 ==")
    for label, idx in (("p50", 499), ("p99", 989), ("p99.9", 998)):
        print(f"{label:6} core {q[idx] / 1000:8.1f}   reference {r[idx] / 1000:8.1f}   ratio {q[idx] / r[idx]:6.1f}×")
    print(f"max    core {max(samples) / 1000:8.1f}   (target p99 < 1,000 µs)")


def day_memory(day: list[tuple[float, str]]) -> None:
    core = MarketCore()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    next_sample = day[0][0]
    print("\n== memory over the simulated day (core state, tracemalloc) ==")
    for ts, m in day:
        core.process(m)
        if ts >= next_sample:
            current, peak = tracemalloc.get_traced_memory()
            clock = time.strftime("%H:%M", time.gmtime(ts + 7 * 3600))
            print(f"{clock}  current {(current - base) / 1e6:7.2f} MB   peak {(peak - base) / 1e6:7.2f} MB")
            next_sample = ts + 1800
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"close  current {(current - base) / 1e6:7.2f} MB   peak {(peak - base) / 1e6:7.2f} MB")


SECTIONS: dict[str, Callable[[list[tuple[float, str]]], None]] = {
    "throughput": core_throughput,
    "latency": core_latency,
    "memory": day_memory,
    "board": board_section,
    "catchup": catch_up_section,
    "realism": realism_section,
}
NEEDS_DAY = {"throughput", "latency", "memory", "board"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--density", type=float, default=20.0, help="simulated messages per market second")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    args = parser.parse_args()
    sections = args.only or list(SECTIONS)
    day: list[tuple[float, str]] = []
    if NEEDS_DAY & set(sections):
        t = time.perf_counter()
        day = simulated_day(args.density)
        print(f"simulated one HOSE day: {len(day):,} messages in {time.perf_counter() - t:.1f} s "
              f"({len(day) / (time.perf_counter() - t):,.0f} msg/s from the simulator)")
    for name in sections:
        SECTIONS[name](day)


if __name__ == "__main__":
    main()
