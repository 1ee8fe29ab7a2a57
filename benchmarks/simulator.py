"""Trading simulator speed beside vectorbt, on the same bars, signals and costs in the same run.

    .venv/bin/python -m benchmarks.simulator [--bars 1000000] [--columns 100] [--runs 5] [--figure-seconds 60]
                                             [--only check|single|columns|sweep|stats|first-call|memory] [--quiet]

The reference is vectorbt's ``Portfolio.from_signals`` (``pip install -r requirements-bench.txt``;
without it our figures are still printed and the reference reads "not installed"). Each timed
figure is the median of ``--runs`` calls after one warm-up call, ours and vectorbt's alternately
in every round; a ratio is ours / vectorbt's, the median of the per-round ratios (the machine is
shared, and alternating keeps a busy neighbour from landing on one side only). A figure stops
adding rounds once it has run 3 and taken ``--figure-seconds``, and says how many it ran: vectorbt takes most of
a minute a call on 1 M bars × 100 columns, and the whole script should take minutes, not a
quarter of an hour.

- **check**: both on the same small series (10 accounts, 5,000 bars, fractional all-in sizing,
  fees and slippage, no stops) end with the same equity to within 1e-6, relative.
- **single**: ``--bars`` bars × 1 column, random entries and exits (about 1 % of bars each), then
  an SMA 50/200 crossover. Target: ratio ≤ 1.0.
- **columns**: ``--bars`` bars × ``--columns`` accounts on one asset, a random signal column each,
  ours with ``keep_position=False``. Target: ratio ≤ 1.0.
- **sweep**: SMA fast × slow, 20 × 20 = 400 cells (fast 5..100, slow 20..400), on ``--bars``/10
  bars in one call with 400 columns; the SMAs (TA-Lib) and crossovers are made once, untimed.
  Target: ratio ≤ 1.0.
- **stats**: ``compute_stats`` of one account of ``--bars`` bars with its trades. Target ≤ 50 ms.
- **first-call**: the first ``Simulator(...).run(...)`` in a fresh process with numba's cache
  warm (a warm-up process runs first), imports timed apart; the median of ``--runs`` processes.
  Target ≤ 1 s, imports excluded.
- **memory**: peak RSS of the sweep above the process's baseline (after imports and data), in a
  fresh process that never imports vectorbt. Target ≤ 1 GB.

How the two setups correspond
-----------------------------
Fill rule: we decide at a bar's close and fill at the next bar's open; vectorbt fills an order on
the bar its signal stands on, at ``price``. So vectorbt gets every signal shifted one bar later
and ``price=open``: our signal on bar i and its shifted copy on bar i + 1 both fill at
open[i + 1]. Our signals on the last bar are dropped (no next bar); shifted, they fall off the end.

Sizing and costs: ``sizing="all_in", fractional=True`` is ``size=np.inf``; both buy
(cash − fixed fee) / (fill × (1 + fees)) units and sell the whole position on an exit. Fees are a
fraction of the traded value on every fill in both, and slippage moves the price by 5 bp
against the trader in both (``slippage_bps=5`` is ``slippage=0.0005``).

Conventions that differ, and how the setups meet them:

- Slippage at the bar's edge: we cap a slipped fill inside the bar's low–high range, vectorbt
  does not. The generated bars reach at least 6 bp beyond their open and close, so the cap never
  binds; on narrower bars the final equities differ by the capped amounts (the check's series
  with bars 2 bp wider than open and close: about 5 %).
- An entry and an exit on the same bar while long: we exit; vectorbt's default
  (``upon_long_conflict="ignore"``) stays long, so it is given ``upon_long_conflict="exit"``
  (with the default, the check's final equities differ by about 2 %). Flat, both do nothing.
- The index: vectorbt gets the same UTC times without their zone. Given a zone-aware index, its
  shape checks turn the index into Timestamp objects (about 1.7 s a check on 1 M bars under
  pandas 3), which would time a pandas conversion rather than a simulation.

What is timed: ours, ``run`` from the bars' DataFrame (``Bars.from_frame``'s price checks
included) to equity (bars × accounts) and the trades DataFrame; vectorbt's, ``from_signals``,
``.value()`` (its equity) and ``.trades.records`` (its trades table; ``records_readable``, with
times, costs seconds more on 1 M bars and is left out). vectorbt runs its numba engine unless
vectorbt-rust is installed; the first note line says which.
Data: seeded geometric random walks, minute bars, generated in memory; nothing is written but
numba's cache, and nothing is fetched.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import talib

from backend.research.simulator.cache import numba
from backend.research.simulator.engine import Simulator
from backend.research.simulator.stats import compute_stats

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("check", "single", "columns", "sweep", "stats", "first-call", "memory")
FEES = 0.001
SLIPPAGE_BPS = 5.0
INIT_CASH = 100_000.0
DENSITY = 0.01
FAST = tuple(range(5, 101, 5))
SLOW = tuple(range(20, 401, 20))
# minute bars around the clock, as generated
PERIODS_PER_YEAR = 365.25 * 24 * 60
# a warm-up compiles (or loads) every kernel at the timed calls' types and array layouts; a
# full-size one would add about a minute on the 100-column line for nothing more
WARM_BARS = 10_000
NOT_INSTALLED = "vectorbt: not installed (pip install -r requirements-bench.txt)"
GB = 1024**3


def simulator() -> Simulator:
    return Simulator(fill="next_open", fees=FEES, fixed_fee=0.0, slippage_bps=SLIPPAGE_BPS, init_cash=INIT_CASH,
                     sizing="all_in", fractional=True)


def ohlc(n: int, seed: int = 7) -> pd.DataFrame:
    """Seeded random-walk minute bars. Each bar reaches 6 to 30 bp beyond its open and close, so a
    fill slipped by 5 bp stays inside the bar, where both simulators fill at the same price."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.empty(n)
    open_[0] = 100.0
    open_[1:] = close[:-1] * np.exp(rng.normal(0.0, 0.0003, n - 1))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0006, 0.003, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0006, 0.003, n))
    return pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=n, freq="min", tz="UTC"),
                         "open": open_, "high": high, "low": low, "close": close})


def random_signals(n: int, columns: int, seed: int, density: float = DENSITY) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (n, columns)
    # float32 draws halve the temporary on 1 M × 100
    entries = rng.random(shape, dtype=np.float32) < density
    exits = rng.random(shape, dtype=np.float32) < density
    return entries, exits


def crossovers(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries where ``fast`` crosses above ``slow``, exits where it crosses below; ``fast`` (n,)
    or (n, 1) against every column of ``slow`` (n, k). A NaN (an SMA's first bars) crosses nothing."""
    fast = fast.reshape(len(fast), -1)
    slow = slow.reshape(len(slow), -1)
    entries = np.zeros(np.broadcast_shapes(fast.shape, slow.shape), dtype=bool)
    exits = np.zeros_like(entries)
    entries[1:] = (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1])
    exits[1:] = (fast[1:] < slow[1:]) & (fast[:-1] >= slow[:-1])
    return entries, exits


def sma_grid(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 400-cell sweep's signals, column ``a × 20 + b`` for FAST[a] and SLOW[b]: the 40 SMAs
    (35 distinct periods) computed once, then one crossover test per fast period."""
    sma = {p: talib.SMA(close, timeperiod=p) for p in sorted({*FAST, *SLOW})}
    slow = np.column_stack([sma[p] for p in SLOW])
    entries = np.empty((len(close), len(FAST) * len(SLOW)), dtype=bool)
    exits = np.empty_like(entries)
    for a, p in enumerate(FAST):
        cols = slice(a * len(SLOW), (a + 1) * len(SLOW))
        entries[:, cols], exits[:, cols] = crossovers(sma[p], slow)
    return entries, exits


def shifted(signal: np.ndarray) -> np.ndarray:
    """A signal one bar later: vectorbt fills on its signal's bar, we on the bar after ours."""
    out = np.zeros_like(signal)
    out[1:] = signal[:-1]
    return out


def load_vectorbt() -> Any | None:
    # imported only here: the memory figure's process must not carry vectorbt
    try:
        import vectorbt
    except ImportError:
        return None
    return vectorbt


@dataclass
class Case:
    """One comparison: the bars and our signals; vectorbt's view of them (shifted signals, price
    Series) is made when its call is built, outside the timing."""

    frame: pd.DataFrame
    entries: np.ndarray
    exits: np.ndarray
    keep_position: bool = False

    def ours(self, rows: int | None = None) -> Callable[[], Any]:
        frame = self.frame if rows is None else self.frame.iloc[:rows]
        entries, exits = self.entries[:rows], self.exits[:rows]
        sim = simulator()
        return lambda: sim.run(frame, entries=entries, exits=exits, keep_position=self.keep_position)

    def theirs(self, vbt: Any, rows: int | None = None) -> Callable[[], Any]:
        frame = self.frame if rows is None else self.frame.iloc[:rows]
        index = pd.DatetimeIndex(frame["timestamp"]).tz_localize(None)
        price = {name: pd.Series(frame[name].to_numpy(), index=index) for name in ("open", "high", "low", "close")}
        entries, exits = shifted(self.entries[:rows]), shifted(self.exits[:rows])

        def run() -> tuple[Any, Any]:
            pf = vbt.Portfolio.from_signals(
                price["close"], entries, exits, open=price["open"], high=price["high"], low=price["low"],
                price=price["open"], fees=FEES, slippage=SLIPPAGE_BPS / 10_000.0, init_cash=INIT_CASH,
                size=np.inf, upon_long_conflict="exit", freq="1min")
            return pf.value(), pf.trades.records

        return run


@dataclass(frozen=True)
class Rounds:
    """How many timed rounds a figure gets: ``runs``, but no more than ``floor`` once the figure has
    spent ``seconds`` (vectorbt takes most of a minute a call on 1 M × 100, and the whole script
    should stay within minutes)."""

    runs: int
    seconds: float
    floor: int = 3

    def more(self, done: int, spent: float) -> bool:
        return done < self.runs and (done < self.floor or spent < self.seconds)


def paired(ours: Callable[[], Any], theirs: Callable[[], Any], rounds: Rounds,
           warm: tuple[Callable[[], Any], Callable[[], Any]]) -> tuple[float, float, float, int]:
    """Median seconds of ``ours`` and ``theirs`` timed alternately, the median per-round ratio, and
    the rounds run."""
    for call in warm:
        call()
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    ratios: list[float] = []
    started = time.perf_counter()
    while rounds.more(len(ratios), time.perf_counter() - started):
        first = len(ratios) % 2 == 0
        for name, call in (("ours", ours), ("theirs", theirs)) if first else (("theirs", theirs), ("ours", ours)):
            gc.collect()
            begun = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - begun)
        ratios.append(times["ours"][-1] / times["theirs"][-1])
    return statistics.median(times["ours"]), statistics.median(times["theirs"]), statistics.median(ratios), len(ratios)


def timed(fn: Callable[[], Any], rounds: Rounds, warm: Callable[[], Any] | None = None) -> float:
    (warm or fn)()
    out: list[float] = []
    started = time.perf_counter()
    while rounds.more(len(out), time.perf_counter() - started):
        gc.collect()
        begun = time.perf_counter()
        fn()
        out.append(time.perf_counter() - begun)
    return statistics.median(out)


def duration(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


class Report:
    """Figure lines as they are measured; ``quiet`` leaves out everything else."""

    WIDTHS = (46, 10, 72)

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.verdicts: list[bool] = []
        w = self.WIDTHS
        print(f"{'figure':<{w[0]}}  {'ours':>{w[1]}}  {'beside':<{w[2]}}  budget", flush=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            print(f"  · {text}", flush=True)

    def row(self, figure: str, measured: str, beside: str, budget: str, ok: bool | None) -> None:
        if ok is not None:
            self.verdicts.append(ok)
        state = "not measured" if ok is None else "met" if ok else "missed"
        w = self.WIDTHS
        print(f"{figure:<{w[0]}}  {measured:>{w[1]}}  {beside:<{w[2]}}  {budget} · {state}", flush=True)

    def against(self, figure: str, case: Case, vbt: Any | None, rounds: Rounds) -> None:
        """One ours-against-vectorbt figure with its ratio; target ratio ≤ 1.0."""
        rows = min(WARM_BARS, len(case.frame))
        if vbt is None:
            ours = timed(case.ours(), rounds, warm=case.ours(rows))
            self.row(figure, duration(ours), NOT_INSTALLED, "ratio ≤ 1.00", None)
            return
        ours, theirs, ratio, runs = paired(case.ours(), case.theirs(vbt), rounds,
                                           warm=(case.ours(rows), case.theirs(vbt, rows)))
        fewer = "" if runs == rounds.runs else f" ({runs} runs)"
        self.row(figure, duration(ours), f"vectorbt {duration(theirs)} → ratio {ratio:.2f} against reference{fewer}",
                 "ratio ≤ 1.00", ratio <= 1.0)

    def close(self) -> None:
        print(f"budgets met: {sum(self.verdicts)} of {len(self.verdicts)}", flush=True)


# -- the figures --------------------------------------------------------------------------------
def check_section(report: Report, vbt: Any | None, args: argparse.Namespace, rounds: Rounds) -> None:
    n, columns = min(args.bars, 5_000), 10
    entries, exits = random_signals(n, columns, seed=5, density=0.05)
    case = Case(ohlc(n, seed=3), entries, exits)
    figure = f"check: final equity, {columns} accounts × {n:,} bars"
    result = case.ours()()
    if vbt is None:
        report.row(figure, f"{len(result.trades):,} tr.", NOT_INSTALLED, "rel. diff ≤ 1e-6", None)
        return
    value, trades = case.theirs(vbt)()
    theirs = np.asarray(value).reshape(n, -1)[-1]
    diff = float(np.max(np.abs(result.equity[-1] / theirs - 1.0)))
    report.note(f"check: ours {result.equity[-1, 0]:,.6f}, vectorbt {theirs[0]:,.6f} on account 0; trades "
                f"{len(result.trades):,} and {len(trades):,}")
    report.row(figure, f"{diff:.1e}", f"max relative difference against reference (trades {len(result.trades):,}"
               f" / {len(trades):,})", "rel. diff ≤ 1e-6", diff <= 1e-6 and len(result.trades) == len(trades))


def single_section(report: Report, vbt: Any | None, args: argparse.Namespace, rounds: Rounds) -> None:
    frame = ohlc(args.bars)
    entries, exits = random_signals(args.bars, 1, seed=1)
    report.against(f"{args.bars:,} bars × 1 column, random signals", Case(frame, entries, exits), vbt, rounds)
    close = frame["close"].to_numpy()
    entries, exits = crossovers(talib.SMA(close, timeperiod=50), talib.SMA(close, timeperiod=200))
    report.note(f"SMA 50/200: {int(entries.sum()):,} entries, {int(exits.sum()):,} exits")
    report.against(f"{args.bars:,} bars × 1 column, SMA 50/200 cross", Case(frame, entries, exits), vbt, rounds)


def columns_section(report: Report, vbt: Any | None, args: argparse.Namespace, rounds: Rounds) -> None:
    entries, exits = random_signals(args.bars, args.columns, seed=2)
    report.against(f"{args.bars:,} bars × {args.columns} columns, random", Case(ohlc(args.bars), entries, exits),
                   vbt, rounds)


def sweep_bars(args: argparse.Namespace) -> int:
    return max(args.bars // 10, 1_000)


def sweep_section(report: Report, vbt: Any | None, args: argparse.Namespace, rounds: Rounds) -> None:
    n = sweep_bars(args)
    frame = ohlc(n, seed=4)
    started = time.perf_counter()
    entries, exits = sma_grid(frame["close"].to_numpy())
    report.note(f"sweep signals (40 SMAs, 400 crossover columns) made in {duration(time.perf_counter() - started)}: "
                f"{int(entries.sum()):,} entries")
    report.against(f"sweep {len(FAST)} × {len(SLOW)} SMA cells on {n:,} bars", Case(frame, entries, exits), vbt,
                   rounds)


def stats_section(report: Report, vbt: Any | None, args: argparse.Namespace, rounds: Rounds) -> None:
    entries, exits = random_signals(args.bars, 1, seed=1)
    # the statistics read the position column, which a run keeps only when asked
    result = Case(ohlc(args.bars), entries, exits, keep_position=True).ours()()
    started = time.perf_counter()
    equity, trades = result.equity_frame(0), result.trades_frame(0)
    frames = time.perf_counter() - started
    seconds = timed(lambda: compute_stats(trades, equity, periods_per_year=PERIODS_PER_YEAR, init_cash=INIT_CASH),
                    rounds)
    report.row(f"statistics, {args.bars:,} bars, {len(trades):,} trades", duration(seconds),
               f"the account's two frames from the result {duration(frames)}", "≤ 50 ms", seconds <= 0.05)


FIRST_CALL = """
import json, time
started = time.perf_counter()
import numpy as np
import pandas as pd
from backend.research.simulator import kernel
from backend.research.simulator.cache import numba
from backend.research.simulator.engine import Simulator
imported = time.perf_counter()
n = 2_000
rng = np.random.default_rng(1)
close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
frame = pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=n, freq="min", tz="UTC"),
                      "open": close, "high": close * 1.002, "low": close * 0.998, "close": close})
entries, exits = rng.random(n) < 0.01, rng.random(n) < 0.01
called = time.perf_counter()
Simulator(fill="next_open", fees=0.001, slippage_bps=5, init_cash=100_000, sizing="all_in",
          fractional=True).run(frame, entries=entries, exits=exits)
done = time.perf_counter()
stats = kernel.simulate.stats
print(json.dumps({"imports": imported - started, "first_call": done - called,
                  "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


def child(code: str) -> tuple[dict[str, Any], float]:
    """Run ``code`` in a fresh interpreter at the repository's root (where the app finds its data
    folder, and so numba's cache); its last output line is JSON."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the child process failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def first_call_section(report: Report, vbt: Any | None, args: argparse.Namespace, rounds: Rounds) -> None:
    warm, _ = child(FIRST_CALL)
    report.note(f"warm-up process: first call {duration(warm['first_call'])}, numba cache "
                f"{'hit' if warm['hits'] else 'missed (compiled, now cached)'}")
    runs = [child(FIRST_CALL) for _ in range(rounds.runs)]
    first = statistics.median(r["first_call"] for r, _ in runs)
    imports = statistics.median(r["imports"] for r, _ in runs)
    process = statistics.median(wall for _, wall in runs)
    cached = all(r["hits"] and not r["misses"] for r, _ in runs)
    report.row("first call in a fresh process, cache warm", duration(first),
               f"imports {duration(imports)} apart; whole process {duration(process)}; cache "
               f"{'hit' if cached else 'MISSED'}", "≤ 1 s", first <= 1.0)


def memory_child(bars: int) -> None:
    """In a fresh process: the sweep's peak resident memory above the baseline taken after the
    imports, the data and a small warm call (which loads the compiled kernel). Prints JSON."""
    frame = ohlc(bars, seed=4)
    entries, exits = sma_grid(frame["close"].to_numpy())
    simulator().run(frame.iloc[:1_000], entries=entries[:1_000], exits=exits[:1_000], keep_position=False)
    gc.collect()
    baseline = psutil.Process().memory_info().rss
    try:
        # resets the kernel's peak (VmHWM) to the current size, so the data's own peak is not counted
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    result = simulator().run(frame, entries=entries, exits=exits, keep_position=False)
    peak = _peak_rss() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"baseline": baseline, "peak": peak, "reset": reset, "accounts": result.accounts,
                      "vectorbt": "vectorbt" in sys.modules}))


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_section(report: Report, vbt: Any | None, args: argparse.Namespace, rounds: Rounds) -> None:
    n = sweep_bars(args)
    out, _ = child(f"from benchmarks.simulator import memory_child; memory_child({n})")
    grown = max(out["peak"] - out["baseline"], 0)
    how = "peak reset before the sweep" if out["reset"] else "peak since start"
    report.row(f"sweep peak memory, {out['accounts']} cells on {n:,} bars", f"{grown / GB:.2f} GB",
               f"above baseline {out['baseline'] / GB:.2f} GB, {how}, vectorbt "
               f"{'LOADED' if out['vectorbt'] else 'not loaded'}", "≤ 1 GB", grown <= GB)


RUNNERS: dict[str, Callable[[Report, Any, argparse.Namespace, Rounds], None]] = {
    "check": check_section,
    "single": single_section,
    "columns": columns_section,
    "sweep": sweep_section,
    "stats": stats_section,
    "first-call": first_call_section,
    "memory": memory_section,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000, help="bars of the 1- and many-column figures and "
                        "the statistics; the sweep uses a tenth (at least 1,000)")
    parser.add_argument("--columns", type=int, default=100, help="accounts of the many-column figure")
    parser.add_argument("--runs", type=int, default=5, help="timed calls (or fresh processes) behind each median")
    parser.add_argument("--figure-seconds", type=float, default=60.0,
                        help="after 3 rounds, a figure stops adding rounds once it has taken this long")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="measure only this figure (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="print the figure lines only")
    args = parser.parse_args(argv)
    if args.bars < 2 or args.columns < 1 or args.runs < 1:
        parser.error("--bars needs at least 2, --columns and --runs at least 1")
    vbt = load_vectorbt()
    rounds = Rounds(args.runs, args.figure_seconds, floor=min(3, args.runs))
    started = time.perf_counter()
    report = Report(args.quiet)
    engine = NOT_INSTALLED
    if vbt is not None:
        rust = getattr(getattr(vbt, "_engine", None), "is_rust_available", lambda: False)()
        engine = f"vectorbt {vbt.__version__} ({'Rust' if rust else 'numba'} engine)"
    report.note(f"numpy {np.__version__}, pandas {pd.__version__}, numba {numba.__version__}; {engine}; "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name in SECTIONS:
        if not args.only or name in args.only:
            RUNNERS[name](report, vbt, args, rounds)
    report.close()
    report.note(f"took {time.perf_counter() - started:,.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
