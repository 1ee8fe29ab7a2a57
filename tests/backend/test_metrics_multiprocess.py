"""/metrics under gunicorn with several workers: counts add up across processes, an exited worker's gauge goes."""

from __future__ import annotations

from tests.backend.observability_support import LATENCY, label_values, parse, value

_MP_APP = '''
import os
from flask import Flask
from backend.observability.install import install_metrics_route
from backend.observability.requests import install_request_hooks

app = Flask("multiprocess-probe")
install_request_hooks(app)
install_metrics_route(app)


@app.get("/ping")
def ping():
    return str(os.getpid())
'''


_MP_CONF = '''
from backend.observability import child_exit, reset_multiprocess_dir  # noqa: F401  (gunicorn hooks)


def on_starting(server):
    reset_multiprocess_dir()
'''


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _wait_until(predicate, timeout: float, what: str):
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except OSError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_gunicorn_workers_add_up_and_an_exited_worker_leaves_no_memory_gauge(tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import free_port

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "mp_app.py").write_text(_MP_APP)
    (tmp_path / "mp_conf.py").write_text(_MP_CONF)
    folder = tmp_path / "prom"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": f"{tmp_path}:{root}"}
    # Samples left by an earlier run in the same folder must not be counted in this one.
    earlier_run = ("from backend.observability import metrics as m; "
                   "m.HTTP_REQUESTS.labels(route='/ping', method='GET', status='200').inc(1000)")
    subprocess.run([sys.executable, "-c", earlier_run],
                   env={**env, "PYTHONPATH": str(root)}, check=True, cwd=root)
    assert list(folder.glob("counter_*.db"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(tmp_path / "mp_conf.py"), "--workers", "2",
         "--worker-class", "gthread", "--threads", "2", "--no-control-socket", "--bind", f"127.0.0.1:{port}",
         "mp_app:app"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_until(lambda: _get(f"{base}/ping"), 60, "gunicorn to answer")
        pids = ["warm-up"] + [_get(f"{base}/ping") for _ in range(30)]
        served = set(pids) - {"warm-up"}
        made = len(pids)  # the warm-up request counts too

        def ping_count(samples: dict) -> float:
            return value(samples, "deskboard_http_requests_total", route="/ping", method="GET", status="200")

        for _ in range(4):  # each scrape may be answered by either worker: all must say the same
            samples = parse(_get(f"{base}/metrics"))
            assert ping_count(samples) == made
            assert value(samples, f"{LATENCY}_count", route="/ping", method="GET") == made
        # A worker reports its memory with its first request: every worker that served has its sample.
        assert served <= label_values(samples, "deskboard_process_resident_memory_bytes", "pid")

        # One worker exits (gunicorn starts another): its gauge goes, its counts stay, and requests
        # served by the other processes add to them, whichever worker answers the scrape.
        victim = min(served)
        os.kill(int(victim), signal.SIGTERM)

        def victim_forgotten() -> bool:
            scraped = parse(_get(f"{base}/metrics"))
            return victim not in label_values(scraped, "deskboard_process_resident_memory_bytes", "pid")

        _wait_until(victim_forgotten, 30, "the exited worker's memory gauge to go")
        later = [_get(f"{base}/ping") for _ in range(10)]
        assert victim not in later
        for _ in range(4):
            assert ping_count(parse(_get(f"{base}/metrics"))) == made + len(later)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
