"""Board endpoint under load: ``python -m benchmarks.market_board [--clients 100] [--seconds 15]``.

Starts the real app (create_app + the market service on the seeded simulator,
real time by default, see --speed and --rate) in a subprocess on 127.0.0.1 with a free
port, then runs N simulated kiosk clients, each polling
``GET /api/v1/market/board?since=VERSION`` at 2 Hz, and prints latency
percentiles. The reference run is the same clients fetching the full board every
time (no ``since``). Both phases are bounded in time and the server stops at the
end. Also a section of ``python -m benchmarks.market``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TARGET_P95_MS = 100.0
_VERSION = re.compile(rb'\{"version":(\d+)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, data_dir: Path, speed: float, rate: float, universe: str) -> None:
    """Run the app with the simulator until killed (the subprocess side)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from app import create_app
    from backend.config import load_settings
    from backend.market.feed.simulated import SimulatorFeed
    from backend.market.runtime import install_market_service
    from backend.market.service import ServiceSettings
    from backend.stores import EXTENSION_KEY as STORES_KEY

    app = create_app(load_settings(data_dir=data_dir, demo_rows=0), market=False)
    install_market_service(app.server, app.server.extensions[STORES_KEY],
                           feed_factory=lambda: SimulatorFeed(rate=rate, speed=speed, seed=7, start_time="09:20",
                                                                      universe=universe),
                           settings=ServiceSettings(tick_seconds=0.25))
    WSGIRequestHandler.protocol_version = "HTTP/1.1"  # keep-alive, as browsers poll
    make_server("127.0.0.1", port, app.server, threaded=True).serve_forever()


class _Client(threading.Thread):
    def __init__(self, port: int, until: float, mode: str, start_at: float) -> None:
        super().__init__(daemon=True)
        self.port, self.until, self.mode, self.start_at = port, until, mode, start_at
        self.latencies: list[float] = []
        self.bytes = 0
        self.rows = 0
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        since: int | None = None
        next_at = self.start_at
        while True:
            time.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= self.until:
                break
            if self.mode == "status":
                path = "/api/v1/market/status"
            else:
                path = "/api/v1/market/board" + (f"?since={since}" if self.mode == "diff" and since is not None else "")
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                next_at += 0.5
                continue
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.bytes += len(body)
            if response.status == 200:
                # Only the version is needed to poll (a screen decodes the rows in its own process);
                # rows are counted by their symbol key, the first key of every row.
                match = _VERSION.match(body)
                since = int(match.group(1)) if match else None
                self.rows += body.count(b'{"symbol":')
            else:
                self.errors += 1
            next_at += 0.5  # 2 Hz
        conn.close()


def _phase(port: int, clients: int, seconds: float, mode: str) -> dict[str, Any]:
    start = time.monotonic() + 0.2
    until = start + seconds
    # Spread the clients over one polling period, as independent screens would be.
    pool = [_Client(port, until, mode, start + i * 0.5 / clients) for i in range(clients)]
    for c in pool:
        c.start()
    for c in pool:
        c.join(timeout=seconds + 30)
    lat = sorted(x for c in pool for x in c.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    return {
        "requests": len(lat), "errors": sum(c.errors for c in pool), "p50": q[49], "p95": q[94], "p99": q[98],
        "max": max(lat, default=float("nan")), "rate": len(lat) / seconds,
        "kb": sum(c.bytes for c in pool) / max(1, len(lat)) / 1024, "rows": sum(c.rows for c in pool) / max(1, len(lat)),
    }


def _wait_ready(port: int, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app server exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/market/board")
            body = json.loads(conn.getresponse().read())
            if len(body.get("rows", [])) >= 30:  # every VN30 stock has traded
                return
        except (OSError, ValueError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    raise TimeoutError("the app server did not publish a board in time")


def board_endpoint(clients: int = 100, seconds: float = 15.0, speed: float = 1.0, rate: float = 100.0,
                   universe: str = "vn30") -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="deskboard-bench-") as tmp, open(Path(tmp) / "server.log", "wb") as log:
        env = {**os.environ, "DESKBOARD_MARKET_ENABLED": "true"}
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.market_board", "--serve", str(port), "--data-dir", tmp,
             "--speed", str(speed), "--rate", str(rate), "--universe", universe],
            env=env, stdout=subprocess.DEVNULL, stderr=log,
        )
        try:
            _wait_ready(port, server)
            # Reference first, then diffs, then the reference again: drift in the
            # server (history growing, the simulated day moving on) shows as a gap
            # between the two reference runs.
            # The status endpoint (no board at all) is the floor this server and machine allow.
            _phase(port, clients, 3.0, "full")  # warm-up: connections and server threads, not measured
            results = {"reference: full board": _phase(port, clients, seconds, "full")}
            results["since=VERSION (diffs)"] = _phase(port, clients, seconds, "diff")
            results["reference: full again"] = _phase(port, clients, seconds, "full")
            results["floor: /status only"] = _phase(port, clients, seconds, "status")
        except (TimeoutError, RuntimeError):
            log.flush()
            print((Path(tmp) / "server.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    ref = results["reference: full board"]
    print(f"\n== board endpoint: {clients} clients polling at 2 Hz for {seconds:.0f} s each, loopback; "
          f"simulator ({universe}) {rate:.0f} msg/s at {speed:g}× ==")
    print(f"{'run':24} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'KB/resp':>8} {'rows/resp':>9} {'errors':>6} {'p95 vs ref':>10}")
    for name, r in results.items():
        print(f"{name:24} {r['rate']:7.0f} {r['p50']:8.1f} {r['p95']:8.1f} {r['p99']:8.1f} {r['max']:8.1f} "
              f"{r['kb']:8.1f} {r['rows']:9.1f} {r['errors']:6d} {r['p95'] / ref['p95']:9.2f}×")
    print(f"target: p95 < {TARGET_P95_MS:.0f} ms with diffs")


def board_section(_day: object = None) -> None:
    """``python -m benchmarks.market`` entry (the simulated day is not needed here)."""
    board_endpoint()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--rate", type=float, default=100.0, help="feed messages per wall second")
    parser.add_argument("--universe", choices=["vn30", "hose"], default="vn30")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.data_dir, args.speed, args.rate, args.universe)
        return
    board_endpoint(args.clients, args.seconds, args.speed, args.rate, args.universe)


if __name__ == "__main__":
    main()
