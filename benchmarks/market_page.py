"""/market updates under load: ``python -m benchmarks.market_page [--screens 5] [--seconds 20] [--browser]``.

Starts the real app with the market simulator at its default rate and speed (live from
``auto``) in a subprocess on 127.0.0.1, and measures one /market update — the page's update
callback, asked exactly as the browser asks it: twice a second per screen, never while its
previous question is unanswered, with the cursor from the previous answer.

- server time per update: wall and CPU time of each callback request inside the server
  process (a WSGI wrapper around the app, part of this benchmark only), with the feed thread
  busy; and the client's round trip.
- reference: the page's earlier way of updating, five figures rebuilt with
  ``plotly.graph_objects`` from the same data, timed in the same process under the same feed.
- ``--browser``: Chromium with /board and one /market tab (the other screens keep polling over
  HTTP, as tabs a trader is not looking at would): how long after navigation the first numbers
  are drawn, and how long after the server first had a change its points are drawn (each figure
  carries, as ``datarevision``, the server-clock time of the oldest view its answer brings).

Numbers on a shared machine are noisy: read medians and ratios.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BUDGET_MS = 100.0
ANSWER_OUTPUT = "market-answer.data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _q(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if len(values) < 2:
        return {"n": len(values), "p50": values[0] if values else float("nan"), "p95": float("nan"), "max": float("nan")}
    q = statistics.quantiles(values, n=100)
    return {"n": len(values), "p50": q[49], "p95": q[94], "max": values[-1]}


# -- the server side ------------------------------------------------------------------------


def _reference_figures(view: Any) -> None:
    """What /market did per update before: five figures built and validated by graph_objects."""
    from datetime import datetime

    import plotly.graph_objects as go

    def times(series: Any) -> list[datetime]:
        return [datetime.fromtimestamp(x / 1000) for x in series.x]

    def layout(fig: go.Figure, title: str) -> go.Figure:
        fig.update_layout(title={"text": title, "font": {"size": 14}, "x": 0.01}, height=260, template="plotly_white",
                          margin={"l": 48, "r": 16, "t": 36, "b": 28}, uirevision="keep")
        return fig

    for key in ("vn30", "vnindex"):
        s = view.series[key]
        fig = go.Figure(go.Scatter(x=times(s), y=list(s.cols["value"]), mode="lines", line={"width": 2}))
        fig.add_hline(y=view.parts[key]["prior"] or 0, line={"dash": "dot", "width": 1})
        layout(fig, view.parts[key]["title"]).to_plotly_json()
    s = view.series["foreign"]
    fig = go.Figure([go.Scatter(x=times(s), y=list(s.cols["buy"])), go.Scatter(x=times(s), y=list(s.cols["sell"]))])
    fig.add_hline(y=0)
    layout(fig, view.parts["foreign"]["title"]).to_plotly_json()
    leaders = view.parts["leaders"]
    layout(go.Figure(go.Bar(y=leaders["symbols"], x=leaders["values"], orientation="h")), "leaders").to_plotly_json()
    s = view.series["basis"]
    fig = go.Figure([go.Scatter(x=times(s), y=list(s.cols["index"])), go.Scatter(x=times(s), y=list(s.cols["futures"])),
                     go.Bar(x=times(s), y=list(s.cols["basis"]), yaxis="y2")])
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right"})
    layout(fig, view.parts["basis"]["title"]).to_plotly_json()


def serve(port: int, data_dir: Path) -> None:
    """Run the app with the simulator until killed (the subprocess side)."""
    from flask import jsonify
    from werkzeug.serving import WSGIRequestHandler, make_server

    from app import create_app
    from backend.config import load_settings
    from backend.market.feed.simulated import SimulatorFeed
    from backend.market.runtime import install_market_service
    from backend.stores import EXTENSION_KEY as STORES_KEY

    app = create_app(load_settings(data_dir=data_dir, demo_rows=0), market=False)
    service = install_market_service(app.server, app.server.extensions[STORES_KEY],
                                     feed_factory=lambda: SimulatorFeed(seed=7), start=False)
    times: list[tuple[str, float, float]] = []

    def timed(environ: dict, start_response: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        name = environ.get("PATH_INFO", "")
        if name == "/_dash-update-component":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(size)
            import io

            environ["wsgi.input"] = io.BytesIO(raw)
            name = json.loads(raw).get("output", "?")
        body = list(app.server.wsgi_app(environ, start_response))
        times.append((name, (time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3))
        return body

    @app.server.get("/_bench/times")
    def _times() -> Any:
        out = [t for t in times if t[0] != "/_bench/times"]
        times.clear()
        return jsonify(out)

    @app.server.get("/_bench/reference")
    def _reference() -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        _reference_figures(service.view)
        return jsonify({"wall": (time.perf_counter() - wall) * 1e3, "cpu": (time.thread_time() - cpu) * 1e3})

    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    server = make_server("127.0.0.1", port, timed, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    service.start(service.pipeline)  # after the server is up
    while True:
        time.sleep(3600)


# -- the client side ------------------------------------------------------------------------


def _get(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return json.loads(body)


def _answer_callback(port: int) -> dict[str, Any]:
    for cb in _get(port, "/_dash-dependencies"):
        if ANSWER_OUTPUT in cb["output"]:
            return cb
    raise RuntimeError("the /market update callback is not registered")


class _Screen(threading.Thread):
    """One /market screen's update loop, as assets/market.js runs it."""

    def __init__(self, port: int, callback: dict[str, Any], until: float, start_at: float) -> None:
        super().__init__(daemon=True)
        self.port, self.callback, self.until, self.start_at = port, callback, until, start_at
        self.latencies: list[float] = []
        self.bytes: list[int] = []
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]}
                   for o in self.callback["output"].strip(".").split("...")]
        cursor, status, seq, next_at = None, None, 0, self.start_at
        while True:
            time.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= self.until:
                break
            seq += 1
            payload = json.dumps({
                "output": self.callback["output"], "outputs": outputs, "changedPropIds": ["market-request.data"],
                "inputs": [{"id": "market-request", "property": "data",
                            "value": {"seq": seq, "cursor": cursor, "status": status, "sent": 0}}],
                "state": [],
            })
            started = time.perf_counter()
            try:
                conn.request("POST", "/_dash-update-component", payload, {"Content-Type": "application/json"})
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                next_at += 0.5
                continue
            self.latencies.append((time.perf_counter() - started) * 1e3)
            self.bytes.append(len(body))
            if response.status == 200:
                answer = json.loads(body)["response"]["market-answer"]["data"]
                cursor = {"run": answer["run"], "v": answer["v"], "n": answer["n"]}
                status = answer["status"]
            elif response.status != 204:
                self.errors += 1
            next_at = max(next_at + 0.5, time.monotonic())  # 2 Hz, never overlapping


def _wait_ready(port: int, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app server exited with {server.returncode}")
        try:
            summary = _get(port, "/api/v1/market/summary")
            if summary["status"]["state"] == "live" and "VN30" in summary["indices"]:
                return
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    raise TimeoutError("the app server did not go live in time")


def _http_phase(port: int, screens: int, seconds: float) -> dict[str, Any]:
    callback = _answer_callback(port)
    _get(port, "/_bench/times")  # forget what came before
    start = time.monotonic() + 0.2
    pool = [_Screen(port, callback, start + seconds, start + i * 0.5 / screens) for i in range(screens)]
    for s in pool:
        s.start()
    for s in pool:
        s.join(timeout=seconds + 60)
    server = [t for t in _get(port, "/_bench/times") if ANSWER_OUTPUT in t[0]]
    reference = [_get(port, "/_bench/reference") for _ in range(20)]
    return {
        "round trip": _q([x for s in pool for x in s.latencies]),
        "server wall": _q([t[1] for t in server]),
        "server cpu": _q([t[2] for t in server]),
        "reference wall": _q([r["wall"] for r in reference]),
        "reference cpu": _q([r["cpu"] for r in reference]),
        "bytes": statistics.median(b for s in pool for b in s.bytes[1:] or [0]),
        "errors": sum(s.errors for s in pool),
    }


_INIT = """
window.__db = {lat: [], drawn: null, seen: {}};
setInterval(() => {
  const first = document.querySelector('#market-vn30 .js-plotly-plot');
  if (window.__db.drawn === null && first && first.data && first.data[0] && first.data[0].x.length)
    window.__db.drawn = performance.now();
  document.querySelectorAll('.market-graph .js-plotly-plot').forEach(g => {
    if (!g.on || g.__dbHooked === g) return;
    g.__dbHooked = g;
    g.on('plotly_afterplot', () => {
      const v = g.layout.datarevision;  // one sample per answer, whichever figure draws it first
      if (v > 1e12 && !window.__db.seen[v]) { window.__db.seen[v] = 1; window.__db.lat.push(Date.now() - v); }
    });
  });
}, 20);
"""


def _browser_phase(port: int, screens: int, seconds: float) -> dict[str, Any]:

    url = f"http://127.0.0.1:{port}"
    callback = _answer_callback(port)
    start = time.monotonic()
    others = [_Screen(port, callback, start + 600, start + i * 0.5 / screens) for i in range(screens - 1)]
    for other in others:
        other.start()
    try:
        return _in_browser(url, port, seconds)
    finally:
        for other in others:
            other.until = 0.0
        for other in others:
            other.join(timeout=30)


def _in_browser(url: str, port: int, seconds: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(_INIT)
        board = context.new_page()
        board.goto(url + "/board")
        board.wait_for_selector("#board-grid .ag-row", timeout=120_000)
        _get(port, "/_bench/times")
        first, nav = [], []
        page = context.new_page()
        for _ in range(3):  # a fresh page load (scripts cached after the first)
            page.goto(url + "/market")
            page.wait_for_function("() => window.__db.drawn !== null", timeout=120_000)
            first.append(page.evaluate("() => window.__db.drawn"))
        for _ in range(3):  # in-app navigation: from /board back to /market
            page.click("a.shell-nav-link[href='/board']")
            page.wait_for_selector("#board-grid .ag-row", timeout=120_000)
            page.evaluate("() => { window.__db.drawn = null; window.__db.t0 = performance.now(); }")
            page.click("a.shell-nav-link[href='/market']")
            page.wait_for_function("() => window.__db.drawn !== null", timeout=120_000)
            nav.append(page.evaluate("() => window.__db.drawn - window.__db.t0"))
        page.evaluate("() => { window.__db.lat = []; }")
        _get(port, "/_bench/times")
        time.sleep(seconds)
        lat = page.evaluate("() => window.__db.lat")
        server = [t for t in _get(port, "/_bench/times") if ANSWER_OUTPUT in t[0]]
        browser.close()
    return {"first data, page load": _q(first), "first data, in-app navigation": _q(nav),
            "tick to screen": _q(lat), "server wall": _q([t[1] for t in server]),
            "server cpu": _q([t[2] for t in server])}


def _row(name: str, q: dict[str, float]) -> str:
    return f"{name:34} {q['n']:6d} {q['p50']:9.1f} {q['p95']:9.1f} {q['max']:9.1f}"


def market_page(screens: int = 5, seconds: float = 20.0, browser: bool = False) -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="deskboard-bench-") as tmp, open(Path(tmp) / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "benchmarks.market_page", "--serve", str(port),
                                   "--data-dir", tmp], env={**os.environ}, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_ready(port, server)
            _http_phase(port, screens, 3.0)  # warm-up: connections and server threads, not measured
            http_result = _http_phase(port, screens, seconds)
            browser_result = _browser_phase(port, screens, seconds) if browser else None
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
    print(f"\n== /market update: {screens} screens at 2 Hz for {seconds:.0f} s, simulator at its default rate ==")
    print(f"{'ms':34} {'n':>6} {'p50':>9} {'p95':>9} {'max':>9}")
    for name in ("server wall", "server cpu", "round trip", "reference wall", "reference cpu"):
        label = {"reference wall": "reference: 5 go.Figure, wall", "reference cpu": "reference: 5 go.Figure, cpu",
                 "server wall": "server time per update, wall", "server cpu": "server time per update, cpu",
                 "round trip": "client round trip"}[name]
        print(_row(label, http_result[name]))
    ratio = http_result["reference wall"]["p50"] / http_result["server wall"]["p50"]
    print(f"median answer {http_result['bytes']:.0f} bytes; errors {http_result['errors']}; "
          f"update vs reference (p50 wall): {ratio:.0f}× less; budget ≤ {BUDGET_MS:.0f} ms")
    if browser_result:
        print(f"\n== browser: /board and one /market tab, {screens - 1} more screens polling, {seconds:.0f} s ==")
        print(f"{'ms':34} {'n':>6} {'p50':>9} {'p95':>9} {'max':>9}")
        for name, q in browser_result.items():
            print(_row(name, q))
        print("budgets: first data ≤ 1500 ms after navigation; tick to screen ≤ 1000 ms (p95)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--browser", action="store_true", help="also measure in Chromium (Playwright)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.data_dir)
        return
    market_page(args.screens, args.seconds, args.browser)


if __name__ == "__main__":
    main()
