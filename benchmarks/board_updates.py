"""Server cost of the live /board: ``python -m benchmarks.board_updates [--screens 5] [--seconds 20]``.

Builds the real app in this process with the market service on the seeded simulator
(real time, the default rate) and plays N board screens against it, each polling at
2 Hz exactly as the page does: a POST to ``/_dash-update-component`` for the board's
update callback with its poll number, watchlist and the client state of its previous
answer. It prints, per update, the server's wall time and the CPU time of the thread
that served it (CPU time is what the update costs; wall time also counts waiting for
a core on a busy machine), the answer size, and how many answers carried rows.

Reference: the same screens reading ``GET /api/v1/market/board?since=V`` (the REST
face of the same snapshot, rows only), and the budget of 100 ms of server time per
update with five live screens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BUDGET_MS = 100.0
CALLBACK_OUTPUT = "board-ack.data"


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (float("nan"),) * 3
    q = statistics.quantiles(values, n=100)
    return q[49], q[94], max(values)


class Screen(threading.Thread):
    """One /board screen polling twice a second, in this process through Flask's test client."""

    def __init__(self, app: Any, key: str, spec: dict[str, Any], until: float, offset: float, rest: bool) -> None:
        super().__init__(daemon=True)
        self.client = app.server.test_client()
        self.key, self.spec, self.until, self.offset, self.rest = key, spec, until, offset, rest
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.sizes: list[int] = []
        self.with_rows = 0
        self.errors = 0

    def _body(self, poll: int, state: dict[str, Any] | None) -> dict[str, Any]:
        selection = {"id": "vn30", "symbols": self.spec["symbols"], "futures": True}
        return {
            "output": self.key,
            "outputs": [{"id": o.component_id, "property": o.component_property} for o in self.spec["output"]],
            "inputs": [{"id": "board-poll", "property": "data", "value": poll},
                       {"id": "board-symbols", "property": "data", "value": selection}],
            "changedPropIds": ["board-poll.data"],
            "state": [{"id": "board-client", "property": "data", "value": state}],
        }

    def run(self) -> None:
        state: dict[str, Any] | None = None
        since: int | None = None
        poll = 0
        next_at = time.monotonic() + self.offset
        while True:
            time.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= self.until:
                return
            poll += 1
            wall, cpu = time.perf_counter(), time.thread_time()
            if self.rest:
                reply = self.client.get("/api/v1/market/board" + (f"?since={since}" if since else ""))
            else:
                reply = self.client.post("/_dash-update-component", json=self._body(poll, state))
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            if reply.status_code not in (200, 204):
                self.errors += 1
            else:
                self.wall.append(wall * 1000)
                self.cpu.append(cpu * 1000)
                self.sizes.append(len(reply.data))
                answer = json.loads(reply.data) if reply.status_code == 200 else {}
                if self.rest:
                    since = answer.get("version")
                    self.with_rows += bool(answer.get("rows"))
                else:
                    out = answer.get("response", {})
                    state = out.get("board-client", {}).get("data", state)
                    self.with_rows += "board-grid" in out or "board-changes" in out
            next_at += 0.5


def run(screens: int, seconds: float, rest: bool, app: Any, key: str, spec: dict[str, Any]) -> dict[str, Any]:
    until = time.monotonic() + seconds
    pool = [Screen(app, key, spec, until, i * 0.5 / screens, rest) for i in range(screens)]
    for s in pool:
        s.start()
    for s in pool:
        s.join(timeout=seconds + 60)
    wall = [x for s in pool for x in s.wall]
    cpu = [x for s in pool for x in s.cpu]
    return {"updates": len(wall), "errors": sum(s.errors for s in pool), "wall": _quantiles(wall),
            "cpu": _quantiles(cpu), "kb": statistics.fmean([x for s in pool for x in s.sizes] or [0]) / 1024,
            "with_rows": sum(s.with_rows for s in pool) / max(1, len(wall))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    from app import create_app
    from backend.config import load_settings
    from backend.market.feed.simulated import SimulatorFeed
    from backend.market.reference import VN30_SYMBOLS
    from backend.market.runtime import install_market_service
    from backend.market.service import ServiceSettings
    from backend.stores import EXTENSION_KEY as STORES_KEY

    folder = Path(tempfile.mkdtemp(prefix="deskboard-board-bench-"))
    app = create_app(load_settings(data_dir=folder, warehouse_dsn=f"chdb://{folder}/warehouse",
                                   warehouse_database="bench", demo_rows=0), market=False)
    service = install_market_service(app.server, app.server.extensions[STORES_KEY],
                                     feed_factory=lambda: SimulatorFeed(seed=7, start_time="10:00"),
                                     settings=ServiceSettings(tick_seconds=0.25))
    assert service is not None
    app.server.test_client().get("/")  # Dash registers its callbacks on the first request
    key = next(k for k in app.callback_map if CALLBACK_OUTPUT in k)
    spec = {"output": app.callback_map[key]["output"], "symbols": sorted(VN30_SYMBOLS)}
    deadline = time.monotonic() + 120
    while len(service.board.rows()) < len(VN30_SYMBOLS) and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        print(f"/board updates, {args.screens} screens at 2 Hz for {args.seconds:.0f} s each phase "
              f"(simulator, real time); ms per update")
        print(f"{'':34}{'n':>6}{'err':>5}{'p50':>8}{'p95':>8}{'max':>8}{'KB':>7}{'rows%':>7}")
        for label, rest in (("Dash update callback", False), ("reference: REST board diff", True)):
            r = run(args.screens, args.seconds, rest, app, key, spec)
            for kind in ("cpu", "wall"):
                p50, p95, top = r[kind]
                print(f"{label + ' — ' + kind:34}{r['updates']:>6}{r['errors']:>5}{p50:>8.1f}{p95:>8.1f}{top:>8.1f}"
                      f"{r['kb']:>7.1f}{r['with_rows'] * 100:>6.0f}%")
        print(f"budget: {BUDGET_MS:.0f} ms of server time per update with {args.screens} live screens")
    finally:
        service.stop()


if __name__ == "__main__":
    main()
