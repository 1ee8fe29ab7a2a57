"""Server mode under load: ``python -m benchmarks.server [--clients 50] [--seconds 10]``.

Board endpoint throughput and latency for three ways of serving Deskboard on 127.0.0.1:

- the single-process server (``python app.py``: Werkzeug's threaded server, feed thread inside),
- gunicorn (gthread) with 1 web worker + the feed process publishing through Redis,
- gunicorn with 2 web workers + the same feed process.

Each run keeps ``--clients`` connections busy (closed loop: a client sends its next request
when the previous answer arrived) against ``GET /api/v1/market/board``, first the full board
(no ``since``), then diffs (``since`` = the client's last version, as screens poll). Everything
(a Redis server, the feed process, the web servers) is started here on free 127.0.0.1 ports
in a temporary folder and stopped at the end. The warehouse address answers nothing: the
board endpoint does not touch it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_VERSION = re.compile(rb'\{"version":(\d+)')
_WORKER = re.compile(rb"\r\nX-Deskboard-Worker: (\d+)", re.IGNORECASE)
_LENGTH = re.compile(rb"\r\nContent-Length: (\d+)", re.IGNORECASE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- load generator: one asyncio loop, keep-alive HTTP/1.1 where the server allows it --------------
async def _client(port: int, until: float, mode: str, out: dict[str, Any]) -> None:
    reader = writer = None
    since: int | None = None
    while time.monotonic() < until:
        path = "/api/v1/market/board" + (f"?since={since}" if mode == "diff" and since is not None else "")
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                out["connections"] += 1
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = _LENGTH.search(head)
            body = await reader.readexactly(int(length.group(1))) if length else await reader.read()
            if not length or b"Connection: close" in head or head.startswith(b"HTTP/1.0"):
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
            out["errors"] += 1
            out["kinds"][type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)
            continue
        out["latencies"].append((time.perf_counter() - started) * 1000)
        if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            out["errors"] += 1
            out["kinds"][head[:12].decode(errors="replace")] += 1
            continue
        worker = _WORKER.search(head)
        out["workers"][worker.group(1).decode() if worker else "-"] += 1
        match = _VERSION.match(body)
        since = int(match.group(1)) if match else None


async def _load(port: int, clients: int, seconds: float, mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "errors": 0, "workers": Counter(), "connections": 0, "kinds": Counter()}
    until = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(_client(port, until, mode, out) for _ in range(clients)))
    elapsed = time.monotonic() - started
    lat = sorted(out["latencies"])
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    return {"rate": len(lat) / elapsed, "p50": q[49], "p95": q[94], "errors": out["errors"],
            "workers": dict(out["workers"]), "connections": out["connections"], "kinds": dict(out["kinds"])}


def measure(port: int, clients: int, seconds: float, mode: str) -> dict[str, Any]:
    return asyncio.run(_load(port, clients, seconds, mode))


# -- servers --------------------------------------------------------------------------------------
class _Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.log = (folder / f"{name}.log").open("wb")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log.close()


def _wait_board(port: int, proc: _Proc, timeout: float = 120) -> None:
    """Until the board has every VN30 stock (the feed is publishing and the server answers)."""
    import http.client
    import json

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log.name}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/market/board")
            if len(json.loads(conn.getresponse().read()).get("rows", [])) >= 30:
                return
        except (OSError, ValueError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{proc.name} did not serve a board in {timeout:.0f} s")


def _base_env(folder: Path, port: int, rate: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_")}
    env.update({"DESKBOARD_DATA_DIR": str(folder / "data"), "DESKBOARD_HOST": "127.0.0.1",
                "DESKBOARD_PORT": str(port), "DESKBOARD_DEMO_ROWS": "0", "DESKBOARD_MARKET_RATE": str(rate),
                "DESKBOARD_MARKET_START_TIME": "10:00", "PYTHONUNBUFFERED": "1",
                # As the single local user: the access check's own cost is benchmarks.access's figure.
                "DESKBOARD_AUTH": "off"})
    return env


def _run_config(name: str, procs: list[_Proc], port: int, clients: int, seconds: float) -> dict[str, Any]:
    try:
        _wait_board(port, procs[-1])
    except (TimeoutError, RuntimeError):
        for proc in procs:
            proc.log.flush()
            print(f"--- {proc.name} ---\n" + Path(proc.log.name).read_text(errors="replace")[-2000:], file=sys.stderr)
        raise
    measure(port, clients, 2.0, "full")  # warm-up: connections, imports, caches
    return {"full": measure(port, clients, seconds, "full"), "diff": measure(port, clients, seconds, "diff")}


def run(clients: int, seconds: float, rate: float) -> dict[str, dict[str, Any]]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed: server mode needs Redis (apt-get install redis-server)")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="deskboard-server-bench-") as tmp:
        folder = Path(tmp)
        # 1. The single-process server, as `python app.py` serves today.
        port = _free_port()
        env = _base_env(folder / "single", port, rate) | {"DESKBOARD_FEED": "embedded"}
        single = _Proc("single", [sys.executable, "app.py"], env, folder)
        try:
            results["python app.py (1 process)"] = _run_config("single", [single], port, clients, seconds)
        finally:
            single.stop()
        # 2. Redis, one feed process, then gunicorn with 1 and with 2 workers.
        redis_port = _free_port()
        redis_proc = _Proc("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no"], dict(os.environ), folder)
        closed = _free_port()
        env = _base_env(folder / "server", _free_port(), rate) | {
            "DESKBOARD_FEED": "process", "DESKBOARD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "DESKBOARD_WAREHOUSE_DSN": f"http://127.0.0.1:{closed}/"}
        feed = _Proc("feed", [sys.executable, "-m", "backend.market.feed_process"], env, folder)
        try:
            gunicorn = str(Path(sys.executable).with_name("gunicorn"))
            for workers in (1, 2):
                port = _free_port()
                web = _Proc(f"gunicorn-{workers}", [gunicorn, "-c", "deploy/gunicorn.conf.py", "--workers", str(workers)],
                            env | {"DESKBOARD_PORT": str(port), "DESKBOARD_WORKERS": str(workers)}, folder)
                try:
                    results[f"gunicorn, {workers} worker{'s' if workers > 1 else ''}"] = _run_config(
                        web.name, [feed, web], port, clients, seconds)
                finally:
                    web.stop()
        finally:
            feed.stop()
            redis_proc.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured run")
    parser.add_argument("--rate", type=float, default=300.0, help="simulator messages per second")
    args = parser.parse_args()
    results = run(args.clients, args.seconds, args.rate)
    cores = os.cpu_count()
    print(f"\n== board endpoint, {args.clients} concurrent clients (closed loop), {args.seconds:.0f} s per run, "
          f"127.0.0.1; simulator {args.rate:.0f} msg/s ==")
    print(f"NOTE: the load generator (one asyncio process), the feed process, Redis and the web workers all share "
          f"this machine's {cores} cores; figures compare the servers on it, they are not capacity figures.")
    ref = results["python app.py (1 process)"]
    print(f"{'server':28} {'answer':6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6} {'conns':>6} "
          f"{'vs app.py':>9}  requests per worker pid")
    for name, runs in results.items():
        for mode, r in runs.items():
            ratio = r["rate"] / ref[mode]["rate"] if ref[mode]["rate"] else float("nan")
            spread = ", ".join(f"{pid}: {n}" for pid, n in sorted(r["workers"].items()))
            if r["kinds"]:
                spread += "  errors: " + ", ".join(f"{kind} ×{n}" for kind, n in sorted(r["kinds"].items()))
            print(f"{name:28} {mode:6} {r['rate']:8.0f} {r['p50']:8.1f} {r['p95']:8.1f} {r['errors']:6d} "
                  f"{r['connections']:6d} {ratio:8.2f}×  {spread}")
    print("full = the whole board each time (no since); diff = since=<the client's last version>, as screens poll; "
          "conns = TCP connections the clients opened (keep-alive reuses them).")
    if ref["full"]["connections"] > 10 * args.clients:
        print("python app.py (Werkzeug's development server) closed the connection after most answers: part of its "
              "gap is a new TCP connection per request; gunicorn keeps them open.")


if __name__ == "__main__":
    main()
