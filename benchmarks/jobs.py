"""The job runner's own cost per job: submit → RUNNING and submit → COMPLETED for a job that does nothing.

    .venv/bin/python -m benchmarks.jobs [--jobs 40] [--burst 20] [--no-celery] [--export-rows 1000000]

Runs the ``probe`` kind with one step of no work, so every millisecond measured is
the runner's: the records writes, the hand-over (worker process pipe, or Redis and a
Celery worker) and the heartbeat thread's start and stop. Embedded: the runner's
own worker processes (started on first need: the cold start is shown apart).
Celery: a Redis server and a ``celery worker`` (prefork, 2 processes) started here
on 127.0.0.1 and stopped at the end. The reference row is the records store alone:
the same three writes (create, start, complete) made in one process, no runner.

Times are read from the job record (created_at, started_at, finished_at: one clock,
one machine) and, for the caller's view, from submit() to the first read that sees
the job finished (reads every 2 ms). Medians and p95 over ``--jobs`` jobs run one
after another; the burst row submits ``--burst`` jobs at once and reports jobs/s.

The export section runs the raw-trades CSV export job over ``--export-rows`` generated
trades (the folder benchmarks.export keeps under /tmp/deskboard-bench, loaded into a
throwaway chDB folder) and times it beside streaming the same rows directly (the
reference: the same queries without a job around them), counting the progress
updates a page polling every 250 ms would have drawn (0 skips the section).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOOP = {"steps": 1, "step_seconds": 0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _wait(runner: Any, job_id: int, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = runner.get(job_id)
        if job.finished:
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} did not finish in {timeout:g} s: {job.state} {job.message}")
        time.sleep(0.002)


def _measure(runner: Any, jobs: int, burst: int) -> dict[str, Any]:
    first_started = time.perf_counter()
    cold = _wait(runner, runner.submit("probe", NOOP, "bench").id)  # workers start on first need
    cold_s = time.perf_counter() - first_started
    if cold.state.value != "COMPLETED":
        raise RuntimeError(f"the warm-up job ended {cold.state}: {cold.error}")
    running, completed, seen = [], [], []
    for _ in range(jobs):
        t0 = time.perf_counter()
        job = runner.submit("probe", NOOP, "bench")
        done = _wait(runner, job.id)
        seen.append(time.perf_counter() - t0)
        running.append((done.started_at - done.created_at).total_seconds())
        completed.append((done.finished_at - done.created_at).total_seconds())
    t0 = time.perf_counter()
    ids = [runner.submit("probe", NOOP, "bench").id for _ in range(burst)]
    for job_id in ids:
        _wait(runner, job_id)
    burst_s = time.perf_counter() - t0
    return {"cold": cold_s, "running": running, "completed": completed, "seen": seen, "burst": burst / burst_s}


def _records_only(data_dir: Path, jobs: int) -> dict[str, Any]:
    from backend.jobs.states import JobState
    from backend.jobs.store import JobStore, records

    store = JobStore(records(f"sqlite:///{data_dir / 'reference.sqlite3'}"))
    running, completed = [], []
    for _ in range(jobs):
        t0 = time.perf_counter()
        job = store.create(kind="probe", parameters=NOOP, owner="bench", runner="embedded", placement="worker")
        store.claim(job.id, "bench", os.getpid())
        t1 = time.perf_counter()
        store.transition(job.id, JobState.COMPLETED, result={})
        running.append(t1 - t0)
        completed.append(time.perf_counter() - t0)
    return {"cold": None, "running": running, "completed": completed, "seen": completed, "burst": None}


def _embedded(data_dir: Path, jobs: int, burst: int) -> dict[str, Any]:
    from backend.config import load_settings
    from backend.jobs import JobSettings, open_runner

    settings = load_settings(data_dir=data_dir / "embedded", demo_rows=0, redis_url=None)
    runner = open_runner(settings, JobSettings(runner="embedded", concurrency=2))
    runner.start()
    try:
        return _measure(runner, jobs, burst)
    finally:
        runner.stop(5.0)


def _celery(data_dir: Path, jobs: int, burst: int) -> dict[str, Any]:
    from backend.config import load_settings
    from backend.jobs import JobSettings, open_runner

    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed")
    folder = data_dir / "celery"
    folder.mkdir(parents=True)
    port = _free_port()
    pidfile = folder / "redis.pid"
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "yes", "--pidfile", str(pidfile), "--logfile", str(folder / "redis.log")],
                   check=True)
    redis_url = f"redis://127.0.0.1:{port}/0"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_")}
    env |= {"DESKBOARD_DATA_DIR": str(folder), "DESKBOARD_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT),
            "DESKBOARD_JOBS_CONCURRENCY": "2"}
    worker: subprocess.Popen[bytes] | None = None
    runner = None
    try:
        _until(lambda: pidfile.exists(), 10, "Redis")
        log = folder / "worker.log"
        with log.open("wb") as handle:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "backend.jobs.celery_worker", "worker", "-Q", "deskboard-jobs",
                 "--pool", "prefork", "--concurrency", "2", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "-l", "WARNING"],
                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        settings = load_settings(data_dir=folder, redis_url=redis_url, demo_rows=0)
        runner = open_runner(settings, JobSettings(runner="celery", concurrency=2))
        runner.start()
        return _measure(runner, jobs, burst)
    finally:
        if runner is not None:
            runner.stop(5.0)
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        if pidfile.exists():
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


def _export(data_dir: Path, rows: int) -> None:
    from backend.config import load_settings
    from backend.jobs import JobSettings, open_runner
    from backend.pivot.drill import drill_scope
    from backend.pivot.export import stream_trades_csv
    from backend.warehouse import close_all, open_warehouse
    from backend.warehouse.loader import load_folder
    from benchmarks.export import _data

    folder = _data(rows)
    dsn = f"chdb://{data_dir / 'export' / 'warehouse'}"
    wh = open_warehouse(dsn, "bench")
    load_folder(wh, folder)
    (first, last), = wh.query_rows("SELECT min(trade_date), max(trade_date) FROM {db}.trades_1d")
    body = {"dimensions": ["desk"], "metrics": ["notional"],
            "filters": {"trade_date": {"from": first.isoformat(), "to": last.isoformat()}}}
    settings = load_settings(data_dir=data_dir / "export", warehouse_dsn=dsn, warehouse_database="bench",
                             demo_rows=0, redis_url=None)
    runner = open_runner(settings, JobSettings(runner="embedded", concurrency=2))
    runner.start()
    try:
        t0 = time.perf_counter()
        size = sum(len(piece) for piece in stream_trades_csv(wh, drill_scope(body, [])))
        direct = time.perf_counter() - t0
        t0 = time.perf_counter()
        job = runner.submit("trades_csv", {"request": body}, "bench")
        drawn: list[float] = []
        while not (current := runner.get(job.id)).finished:
            if current.state.value == "RUNNING" and (not drawn or current.progress != drawn[-1]):
                drawn.append(current.progress)
            time.sleep(0.25)
        as_job = time.perf_counter() - t0
        if current.state.value != "COMPLETED":
            raise RuntimeError(f"the export job ended {current.state}: {current.error}")
    finally:
        runner.stop(5.0)
        close_all()
    done = current.result or {}
    print(f"\nRaw-trades CSV export, {done.get('rows', 0):,} rows as held, {first} .. {last} "
          f"({done.get('bytes', 0) / 1e6:,.0f} MB)")
    print(f"{'':<34}{'seconds':>10}{'rows/s':>12}")
    print(f"{'reference: direct stream':<34}{direct:>10.2f}{done.get('rows', 0) / direct:>12,.0f}")
    print(f"{'export job (submit to file)':<34}{as_job:>10.2f}{done.get('rows', 0) / as_job:>12,.0f}")
    print(f"ratio job / direct: {as_job / direct:.2f}x; distinct progress values a 250 ms poll saw: {len(drawn)} "
          f"({', '.join(f'{p:.0%}' for p in drawn[:12])}{' …' if len(drawn) > 12 else ''}); "
          f"direct stream wrote {size / 1e6:,.0f} MB")


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start in {timeout:g} s")
        time.sleep(0.05)


def _row(name: str, figures: dict[str, Any]) -> str:
    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:8.1f} {_p95(values) * 1000:8.1f}"

    cold = f"{figures['cold'] * 1000:8.0f}" if figures["cold"] is not None else f"{'-':>8}"
    burst = f"{figures['burst']:8.1f}" if figures["burst"] is not None else f"{'-':>8}"
    return (f"{name:<22} {ms(figures['running'])}   {ms(figures['completed'])}   {ms(figures['seen'])}"
            f"   {cold} {burst}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--no-celery", action="store_true")
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="deskboard-jobs-bench-"))
    try:
        results = {"records only (ref.)": _records_only(work, args.jobs)}
        results["embedded"] = _embedded(work, args.jobs, args.burst)
        if not args.no_celery:
            results["celery (redis)"] = _celery(work, args.jobs, args.burst)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nNo-op job, {args.jobs} run one after another (ms; record timestamps unless noted); "
          f"burst: {args.burst} at once")
    print(f"{'':<22} {'submit→RUNNING':>17}   {'submit→COMPLETED':>17}   {'caller sees done':>17}"
          f"   {'cold':>8} {'burst':>8}")
    print(f"{'':<22} {'median':>8} {'p95':>8}   {'median':>8} {'p95':>8}   {'median':>8} {'p95':>8}"
          f"   {'ms':>8} {'jobs/s':>8}")
    for name, figures in results.items():
        print(_row(name, figures))
    if args.export_rows > 0:
        work = Path(tempfile.mkdtemp(prefix="deskboard-jobs-bench-"))
        try:
            _export(work, args.export_rows)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
