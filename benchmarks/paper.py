"""How long a marketable paper order takes to fill: through the API, ten clients at once, against
the same orders placed on the ledger directly (no HTTP, no app) — side by side, round by round.

    python -m benchmarks.paper --part fills [--orders 200] [--clients 10] [--rounds 3] [--paced-rate 50]
                               [--meta-url URL] [--clients-in-process]

The app runs behind a real threaded server on 127.0.0.1 with the embedded records store (SQLite)
unless ``--meta-url`` names a PostgreSQL database (portfolios are named afresh each run, so the
same database serves run after run); its live board holds the thirty VN30 stocks with deep offers.
Each client has its own portfolio and its own connection and sends market buys of one lot, each
with its own idempotency key, the next as soon as the last is answered (Werkzeug's server, the
embedded one, closes the connection after every answer: each request connects anew, on a new
server thread, as it does for every browser); the time is from sending the request to reading the
whole answer (the fill is in it). The clients run in a process
of their own, as a desk's browsers and programs do (``--clients-in-process``: as threads of the
server's process, sharing its interpreter lock). The reference places the same orders with
``Ledger.place`` from ten threads. A paced pass then sends the same clients' orders at random
moments, ``--paced-rate`` a second in all (a desk at work rather than ten programs flat out), each
order timed from when it was due. A last, separate pass through the API says where an order's
write goes: the statements it runs, the time it waits for the records store's write lock (this
process's writer queue and SQLite's file lock, or PostgreSQL's lock on the portfolio's row) and the
time it works under it. Budget: fill p99 ≤ 20 ms through the API, judged on the rounds (every
client flat out).

    python -m benchmarks.paper --part strategies [--runs 3] [--density 20] [--pace-minutes 30]

The strategy engine beside the processing core: messages a second through ``MarketCore`` fed by
the simulated feed (400 stocks) alone, and with the paper matcher's round after each board tick
running moving-average cross, VWAP deviation and volume spike on every stock — the app's path
(core → board tick → ``Matcher.round`` → ``StrategyEngine.on_row`` per changed row). At full speed
a tick and a round come every 0.25 s of CPU, so a round takes at most one update per stock; at
market pace they come every 0.25 s of the stream's own clock, so nearly every update reaches the
strategies. Budget: the strategies cost ≤ 20 % of the core's throughput at full speed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import io
import json
import logging
import multiprocessing
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from werkzeug.serving import make_server

from backend.config import load_settings
from backend.market.board import BoardState
from backend.market.core import MarketCore
from backend.market.feed.simulator import MarketSimulator, vn_start
from backend.market.pipeline import BOARD_FIELDS
from backend.market.reference import VN30_SYMBOLS, ceiling_price, floor_price
from backend.market.runtime import install_market_service
from backend.meta import close_meta, open_meta
from backend.meta.models import PaperSignal
from backend.meta.store import MetaStore
from backend.paper.engine import StrategyBook, StrategyEngine
from backend.paper.ledger import Ledger
from backend.paper.matcher import Matcher
from backend.paper.quotes import Quote
from backend.paper.runtime import board_quote
from backend.paper.strategies import KINDS as STRATEGY_KINDS
from backend.stores import EXTENSION_KEY as STORES_KEY

BUDGET_P99_MS = 20.0


def board_rows() -> list[dict[str, Any]]:
    rows = []
    for i, symbol in enumerate(sorted(VN30_SYMBOLS)):
        ref = 20_000 + 1_000 * i
        tick = 100 if ref >= 50_000 else 50
        rows.append({"symbol": symbol, "kind": "stock", "ref": ref, "ceiling": ceiling_price(ref),
                     "floor": floor_price(ref), "open": ref, "last": ref, "session": "LO",
                     **{f"ask{k}": ref + k * tick for k in (1, 2, 3)},
                     **{f"ask{k}_vol": 10_000_000 for k in (1, 2, 3)},
                     **{f"bid{k}": ref - k * tick for k in (1, 2, 3)},
                     **{f"bid{k}_vol": 10_000_000 for k in (1, 2, 3)}})
    return rows


def build(data_dir: Path, meta_url: str | None) -> Any:
    from app import create_app

    # sign-in off: what access control adds to a request is measured by benchmarks.access
    settings = load_settings(data_dir=data_dir, demo_rows=0, warehouse_dsn=f"chdb://{data_dir}/warehouse", auth="off",
                             **({"meta_url": meta_url} if meta_url else {}))
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            app = create_app(settings, market=False)
            app.server.test_client().get("/_dash-layout")
    finally:
        logging.disable(logging.NOTSET)
    logging.getLogger().setLevel(logging.WARNING)
    market = install_market_service(app.server, app.server.extensions[STORES_KEY], start=False)
    market.board.publish(board_rows())
    return app


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


Client = Callable[[int, int, Callable[[], None]], list[float]]


def in_threads(pids: list[int], client: Client) -> list[float]:
    """``client(k, pid, start)`` in a thread per portfolio, all starting together (each calls
    ``start()`` once ready); every latency, or the first client's error raised here."""
    times: list[float] = []
    errors: list[Exception] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(pids))

    def run(k: int, pid: int) -> None:
        try:
            mine = client(k, pid, barrier.wait)
        except Exception as exc:  # noqa: BLE001 (the round fails with it, in the main thread)
            errors.append(exc)
            barrier.abort()
            return
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=run, args=(k, pid)) for k, pid in enumerate(pids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return times


def order(k: int, i: int, tag: str) -> dict[str, Any]:
    symbols = sorted(VN30_SYMBOLS)
    return {"symbol": symbols[(k + i) % len(symbols)], "side": "buy", "quantity": 100, "type": "market",
            "idempotency_key": f"{tag}-{k}-{i}"}


def through_api(port: int, pids: list[int], orders: int, tag: str, rate: float = 0.0) -> list[float]:
    """Each client's orders one after another, the next as soon as the last is answered; with
    ``rate`` (orders a second, all clients together) each client sends at random moments (a Poisson
    process) instead, and an order's time runs from the moment it was due — an answer that comes
    late delays the next order, and that wait is counted (no coordinated omission)."""
    gap = len(pids) / rate if rate > 0 else 0.0

    def client(k: int, pid: int, start: Callable[[], None]) -> list[float]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        draw = random.Random(k)
        start()
        due = time.perf_counter()
        for i in range(orders):
            body = json.dumps(order(k, i, tag))
            if gap:
                due += draw.expovariate(1 / gap)
                time.sleep(max(0.0, due - time.perf_counter()))
            began = due if gap else time.perf_counter()
            conn.request("POST", f"/api/v1/portfolios/{pid}/orders", body, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            data = answer.read()
            mine.append((time.perf_counter() - began) * 1000)
            if answer.status != 201 or not json.loads(data)["fills"]:
                raise RuntimeError(f"order not filled: {answer.status} {data[:200]!r}")
        conn.close()
        return mine

    return in_threads(pids, client)


def direct(app: Any, ledger: Ledger, pids: list[int], orders: int, tag: str) -> list[float]:
    def client(k: int, pid: int, start: Callable[[], None]) -> list[float]:
        mine = []
        start()
        with app.server.app_context():
            for i in range(orders):
                asked = order(k, i, tag)
                began = time.perf_counter()
                ledger.place(pid, "local", asked, board_quote(asked["symbol"]))
                mine.append((time.perf_counter() - began) * 1000)
        return mine

    return in_threads(pids, client)


def _clients_apart(port: int, pids: list[int], orders: int, tag: str, rate: float, out: Any) -> None:
    try:
        out.put((through_api(port, pids, orders, tag, rate), ""))
    except Exception as exc:  # noqa: BLE001 (reported to the parent, which fails the round with it)
        out.put(([], f"{type(exc).__name__}: {exc}"))


def through_api_apart(port: int, pids: list[int], orders: int, tag: str, rate: float = 0.0) -> list[float]:
    """``through_api`` from a process of its own: the clients take nothing of the server's
    interpreter lock."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    worker = context.Process(target=_clients_apart, args=(port, pids, orders, tag, rate, out))
    worker.start()
    try:
        times, error = out.get(timeout=600)
    finally:
        worker.join(30)
    if error:
        raise RuntimeError(f"the clients failed: {error}")
    return times


class WriteProbe:
    """Where an order's write transaction spends its time, on one records store: waiting for the
    write lock (from asking for the transaction to holding it — this process's writer queue and
    SQLite's file lock — plus, on PostgreSQL, the statement that locks the portfolio's row) and
    working under it (to the commit's end); and the statements it runs, BEGIN and COMMIT aside."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        self.waits: list[float] = []
        self.work: list[float] = []
        self.statements: list[int] = []
        self._mine = threading.local()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def attached(self) -> Iterator[WriteProbe]:
        write = self.meta.write
        mine = self._mine

        @contextlib.contextmanager
        def timed() -> Iterator[Any]:
            asked = time.perf_counter()
            with write() as conn:
                mine.count, mine.row_wait, mine.inside = 0, 0.0, True
                held = time.perf_counter()
                yield conn
            done = time.perf_counter()
            mine.inside = False
            with self._lock:
                self.waits.append((held - asked + mine.row_wait) * 1000)
                self.work.append((done - held - mine.row_wait) * 1000)
                self.statements.append(mine.count)

        def before(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            if getattr(mine, "inside", False):
                mine.count += 1
                mine.began = time.perf_counter() if "FOR UPDATE" in statement else None

        def after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            if getattr(mine, "inside", False) and getattr(mine, "began", None) is not None:
                mine.row_wait += time.perf_counter() - mine.began

        self.meta.write = timed  # type: ignore[method-assign]
        event.listen(self.meta.engine, "before_cursor_execute", before)
        event.listen(self.meta.engine, "after_cursor_execute", after)
        try:
            yield self
        finally:
            del self.meta.write
            event.remove(self.meta.engine, "before_cursor_execute", before)
            event.remove(self.meta.engine, "after_cursor_execute", after)


def _line(name: str, values: list[float], unit: str = "ms") -> str:
    return (f"  {name:34} p50 {statistics.median(values):7.2f} {unit}   p99 {percentile(values, 0.99):7.2f} {unit}"
            f"   ({len(values):,})")


def fill_latency(orders: int, clients: int, rounds: int, meta_url: str | None, apart: bool,
                 rate: float = 0.0) -> bool:
    """The fill part: API and ledger side by side, round by round, the clients at ``rate`` orders
    a second, then one probed pass; whether the budget (judged on the rounds: every client sending
    as fast as it is answered) is met."""
    send = through_api_apart if apart else through_api
    run = uuid.uuid4().hex[:8]  # portfolio names are unique per owner: a reused database takes new ones
    with tempfile.TemporaryDirectory(prefix="deskboard-paper-bench-") as folder:
        app = build(Path(folder), meta_url)
        meta = app.server.extensions[STORES_KEY].meta
        ledger = Ledger(meta)
        api_pids = [ledger.create("local", f"api {k} {run}", 10**14)["id"] for k in range(clients)]
        direct_pids = [ledger.create("local", f"direct {k} {run}", 10**14)["id"] for k in range(clients)]
        server = make_server("127.0.0.1", 0, app.server.wsgi_app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            send(server.server_port, api_pids, 5, f"warm{run}")  # first requests build caches: not counted
            api: list[float] = []
            ref: list[float] = []
            for r in range(rounds):  # alternate, so a busy moment of the machine hits both sides
                api += send(server.server_port, api_pids, orders, f"api{r}{run}")
                ref += direct(app, ledger, direct_pids, orders, f"direct{r}{run}")
            paced = send(server.server_port, api_pids, orders, f"paced{run}", rate) if rate > 0 else []
            with WriteProbe(meta).attached() as probe:
                probed = send(server.server_port, api_pids, min(orders, 50), f"probe{run}")
        finally:
            server.shutdown()
            thread.join(5)
    store = "PostgreSQL" if meta_url else "SQLite"
    where = "their own process" if apart else "the server's process"
    print(f"paper fills: {clients} clients (in {where}) × {orders} market orders × {rounds} rounds, "
          f"records in {store}")
    print(_line("API (HTTP, whole request)", api))
    print(_line("ledger directly", ref))
    print(f"  API / ledger p99 ratio: {percentile(api, 0.99) / percentile(ref, 0.99):.2f}")
    if paced:
        print(f"  the same clients at {rate:g} orders a second in all, each at random moments (times from when "
              "each order was due):")
        print(_line(f"API at {rate:g} orders/s", paced))
    print(f"  where an order's write goes (a probed pass through the API, {len(probed):,} orders, "
          f"{len(probe.statements):,} write transactions):")
    print(_line("whole request", probed))
    print(_line("waiting for the write lock", probe.waits))
    print(_line("working under it (to the commit)", probe.work))
    print(f"  {'statements per write':34} median {statistics.median(probe.statements):.0f}, "
          f"most {max(probe.statements)} (BEGIN and COMMIT aside)")
    p99 = percentile(api, 0.99)
    met = p99 <= BUDGET_P99_MS
    print(f"  budget fill p99 ≤ {BUDGET_P99_MS:.0f} ms through the API: {'met' if met else 'MISSED'} ({p99:.2f} ms)")
    return met


# -- the strategy engine beside the processing core ------------------------------------------------------

STRATEGY_SHARE = 0.20  # the strategies may take at most this share of the core's throughput
TICK_SECONDS = 0.25  # the board's tick and the paper matcher's round, as the app runs them
BATCH = 64  # messages handed to the core between looks at the clock


def hose_day(density: float, seed: int = 7) -> list[tuple[float, str]]:
    """A simulated HOSE day's messages: the VN30 and 370 other stocks (400), two futures and the
    indices, ``density`` events a market second."""
    sim = MarketSimulator(seed=seed, start=vn_start(date(2024, 3, 4)), density=density, days=1, universe="hose")
    return list(sim.stream())


class TimedEngine(StrategyEngine):
    """The strategy engine, its own CPU time counted apart from the rest of the matcher's round."""

    seconds = 0.0
    updates = 0

    def refresh(self, force: bool = False) -> int:
        began = time.process_time()
        try:
            return super().refresh(force)
        finally:
            self.seconds += time.process_time() - began

    def on_row(self, row: Mapping[str, Any], quote: Quote | None) -> list[dict[str, Any]]:
        began = time.process_time()
        try:
            return super().on_row(row, quote)
        finally:
            self.seconds += time.process_time() - began
            self.updates += 1


class FeedSide:
    """The app's feed side: the processing core and, each tick, the rows it changed published to the
    board (``backend.market.pipeline.FeedPipeline.tick``); with ``meta``, the paper matcher's round
    after the tick, the strategies of ``meta`` in its engine. Quotes are dated by the market's clock;
    the engine reads its strategies again by ``wall`` (the app: the wall clock)."""

    def __init__(self, meta: MetaStore | None = None, wall: Callable[[], float] | None = None) -> None:
        self.core = MarketCore()
        self.board = BoardState(fields=BOARD_FIELDS)
        self.version = 0
        self.meta = meta
        self.matcher: Matcher | None = None
        self.engine: TimedEngine | None = None
        self.round_seconds = 0.0
        if meta is not None:
            ledger = Ledger(meta)
            self.engine = TimedEngine(meta, ledger, clock=wall or (lambda: self.core.clock))
            self.matcher = Matcher(ledger, self.board, clock=lambda: self.core.clock, engine=self.engine)

    def tick(self) -> None:
        self.version, rows = self.core.changed_rows(self.version)
        for row in rows:
            row.pop("v", None)
        self.board.publish(rows)
        if self.matcher is not None:
            began = time.process_time()
            self.matcher.round()
            self.round_seconds += time.process_time() - began


def at_full_speed(side: FeedSide, stream: list[tuple[float, str]]) -> float:
    """Messages in as fast as the core takes them, a tick (and round) ``TICK_SECONDS`` of this
    process's CPU time after the previous one ended, as the app's ticker and matcher threads wait
    between theirs; the CPU seconds it took."""
    messages = [m for _, m in stream]
    began = time.process_time()
    due = began + TICK_SECONDS
    for at in range(0, len(messages), BATCH):
        side.core.process_many(messages[at:at + BATCH])
        if time.process_time() >= due:
            side.tick()
            due = time.process_time() + TICK_SECONDS
    side.tick()
    return time.process_time() - began


def at_market_pace(side: FeedSide, stream: list[tuple[float, str]]) -> float:
    """A tick (and round) every ``TICK_SECONDS`` of the stream's own clock, as the day arrives live:
    nearly every update of a stock reaches the strategies; the CPU seconds it took."""
    began = time.process_time()
    edge = stream[0][0] + TICK_SECONDS
    batch: list[str] = []
    for ts, message in stream:
        if ts >= edge:
            side.core.process_many(batch)
            batch = []
            side.tick()
            edge += TICK_SECONDS * (1 + int((ts - edge) // TICK_SECONDS))
        batch.append(message)
    side.core.process_many(batch)
    side.tick()
    return time.process_time() - began


def strategies_on(url: str) -> MetaStore:
    """A records store with one portfolio running the three built-in strategies on every stock,
    their signals kept (not traded)."""
    meta = open_meta(url)
    pid = Ledger(meta).create("local", "strategies")["id"]
    book = StrategyBook(meta)
    for kind in STRATEGY_KINDS:
        book.add(pid, "local", kind)
    return meta


def signals_kept(meta: MetaStore) -> int:
    with meta.read() as conn:
        return conn.execute(select(func.count()).select_from(PaperSignal.__table__)).scalar_one()


def side_by_side(name: str, stream: list[tuple[float, str]], feed: Callable[[FeedSide, list[tuple[float, str]]], float],
                 runs: int, folder: Path, wall: Callable[[], float] | None) -> float:
    """The core alone and with the strategies over ``stream``, alternating run by run; the ratio of
    the median rates."""
    n = len(stream)
    alone: list[float] = []
    both: list[float] = []
    for r in range(runs):  # alternate, so a busy moment of the machine hits both sides
        gc.collect()
        alone.append(n / feed(FeedSide(), stream))
        url = f"sqlite:///{folder}/{name.replace(' ', '-')}-{r}.db"
        side = FeedSide(strategies_on(url), wall)
        gc.collect()
        both.append(n / feed(side, stream))
        assert side.engine is not None and side.meta is not None
        updates, engine, rounds, signals = side.engine.updates, side.engine.seconds, side.round_seconds, \
            signals_kept(side.meta)
        close_meta(url)
    core, with_strategies = statistics.median(alone), statistics.median(both)
    print(f"  {name:11} {n:>9,} messages   core alone {core:8,.0f} msg/s   core + strategies "
          f"{with_strategies:8,.0f} msg/s   ratio {with_strategies / core:.2f}")
    print(f"  {'':11} runs alone {', '.join(f'{x:,.0f}' for x in alone)}; with {', '.join(f'{x:,.0f}' for x in both)}")
    total = n / both[-1]
    print(f"  {'':11} last run: {updates:,} stock updates to the strategies, {signals:,} signals kept; matcher "
          f"rounds {rounds:.2f} s of {total:.2f} s CPU, the strategy engine {engine:.2f} s of them")
    return with_strategies / core


def strategy_throughput(density: float, pace_minutes: float, runs: int) -> bool:
    """Messages a second through the processing core alone and with the strategy engine fed by it."""
    began = time.perf_counter()
    day = hose_day(density)
    piece = [m for m in day if m[0] - day[0][0] <= pace_minutes * 60]
    print(f"\nstrategies beside the processing core: a simulated HOSE day, 400 stocks, {density:g} events a "
          f"market second (made in {time.perf_counter() - began:.0f} s); ma_cross, vwap_deviation and "
          f"volume_spike on every stock, signals kept in SQLite; {runs} runs each, CPU time, medians; full "
          f"speed: the whole day; market pace: its first {pace_minutes:g} minutes")
    with tempfile.TemporaryDirectory(prefix="deskboard-strategies-bench-") as folder:
        full = side_by_side("full speed", day, at_full_speed, runs, Path(folder), time.process_time)
        paced = side_by_side("market pace", piece, at_market_pace, runs, Path(folder), None)
    met = full >= 1 - STRATEGY_SHARE
    print(f"  at market pace, nearly every update its own round, the rounds take {1 - paced:.0%} of the core's "
          "throughput (the strategy engine's part of them: above)")
    print(f"  budget strategies cost ≤ {STRATEGY_SHARE:.0%} of the core's throughput (full speed): "
          f"{'met' if met else 'missed'} ({1 - full:.0%})")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200, help="orders per client per round")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-rate", type=float, default=50.0,
                        help="orders a second, all clients together, of the paced pass (0 skips it) (fills)")
    parser.add_argument("--meta-url", default=None, help="a PostgreSQL URL for the records store")
    parser.add_argument("--clients-in-process", action="store_true",
                        help="the API's clients as threads of the server's process (fills)")
    parser.add_argument("--part", choices=("fills", "strategies", "all"), default="all",
                        help="fills: an order's fill through the API; strategies: the strategy engine beside the core")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side (strategies)")
    parser.add_argument("--density", type=float, default=20.0, help="simulated events a market second (strategies)")
    parser.add_argument("--pace-minutes", type=float, default=30.0,
                        help="minutes of the day run at market pace (strategies)")
    args = parser.parse_args(argv)
    strategies_met = None if args.part == "fills" else strategy_throughput(args.density, args.pace_minutes,
                                                                           args.runs)
    if args.part == "strategies":
        print(f"Budgets met: {int(bool(strategies_met))} of 1")
        return 0 if strategies_met else 1
    met = fill_latency(args.orders, args.clients, args.rounds, args.meta_url, not args.clients_in_process,
                       args.paced_rate)
    if strategies_met is None:
        print(f"Budgets met: {int(met)} of 1")
        return 0 if met else 1
    print(f"  strategies beside the processing core: {'met' if strategies_met else 'missed'} (above)")
    print(f"Budgets met: {int(met) + int(strategies_met)} of 2")
    return 0 if met and strategies_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
