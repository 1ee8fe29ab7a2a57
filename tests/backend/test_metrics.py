"""/metrics on the real app: counts that match the requests made, bounded labels, feed and job figures."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from dash import Dash, Input, Output, html, set_props

from backend.config import load_settings
from backend.jobs.store import JOBS, JobStore, records
from backend.meta.models import utc_now
from backend.observability import metrics
from backend.observability.collectors import JobsCollector, MarketCollector
from backend.observability.install import MARKET_KEY, install_observability
from backend.observability.metrics import JOB_BUCKETS
from tests.backend.observability_support import dash_update, label_values, names, parse, scrape, value

LATENCY = "deskboard_http_request_duration_seconds"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    from app import create_app

    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("metrics-data"),
        warehouse_dsn=warehouse_url,
        warehouse_database=loaded_warehouse.database,
        demo_rows=0,
    )
    return create_app(settings, market=False)


@pytest.fixture
def client(app):
    return app.server.test_client()


def test_request_counts_and_latency_counts_match_the_requests_made(client) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert client.get("/api/v1/instruments").status_code == 200
    assert client.get("/api/v1/no-such-thing").status_code == 404
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("deskboard_http_requests_total", route="/health", method="GET", status="200") == 3
    assert delta(f"{LATENCY}_count", route="/health", method="GET") == 3
    assert delta("deskboard_http_requests_total", route="/api/v1/instruments", method="GET", status="200") == 1
    assert delta("deskboard_http_requests_total", route="/api/<path:rest>", method="GET", status="404") == 1
    # The first scrape is counted once it has been answered, the second not yet.
    assert delta("deskboard_http_requests_total", route="/metrics", method="GET", status="200") == 1
    # Every observation is in the +Inf bucket, and the latency sum grew by a positive amount.
    assert delta(f"{LATENCY}_bucket", route="/health", method="GET", le="+Inf") == 3
    assert delta(f"{LATENCY}_sum", route="/health", method="GET") > 0


def test_routes_are_labelled_by_rule_so_random_paths_add_no_series(client) -> None:
    for n in range(20):
        client.get(f"/api/v1/probe-{n}-zz")
        client.get(f"/no/such/page/{n}-zz")
    samples = scrape(client)
    routes = label_values(samples, "deskboard_http_requests_total", "route")
    assert not [r for r in routes if "zz" in r], routes
    assert "/<path:path>" in routes  # Dash's page route answers unknown pages


def test_hostile_methods_and_paths_do_not_reach_labels(client) -> None:
    client.open("/api/v1/pivot", method="PROPFIND")
    client.get("/%0Ainjected%22label")
    text = client.get("/metrics").get_data(as_text=True)
    assert "PROPFIND" not in text and "injected" not in text
    # Routing refused the method, so there is no rule to name: one shared label value.
    assert value(parse(text), "deskboard_http_requests_total", route="<unmatched>", method="OTHER",
                 status="405") >= 1


def test_pivot_time_and_cache_hits_follow_the_pivot_answers(client) -> None:
    body = {"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"trade_date": "2024-01-05"}, "limit": 7}
    before = scrape(client)
    answers = [client.post("/api/v1/pivot", json=body).get_json() for _ in range(3)]
    answers.append(client.post("/api/v1/pivot", json={**body, "cache": False}).get_json())
    after = scrape(client)
    cached = [a["meta"]["cached"] for a in answers]
    assert cached == [False, True, True, False]

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    pivot = "deskboard_pivot_query_duration_seconds"
    assert delta(f"{pivot}_count", cached="false") == 2
    assert delta(f"{pivot}_count", cached="true") == 2
    # The histogram's sum is the answers' own response_ms, added up.
    total = sum(a["meta"]["response_ms"] for a in answers) / 1000
    assert delta(f"{pivot}_sum", cached="false") + delta(f"{pivot}_sum", cached="true") == pytest.approx(total, abs=1e-5)
    # A bypassed answer does not look in the cache: one miss, two hits.
    assert delta("deskboard_cache_lookups_total", kind="pivot", result="miss") == 1
    assert delta("deskboard_cache_lookups_total", kind="pivot", result="hit") == 2


def test_cache_kind_labels_come_from_code_not_from_keys() -> None:
    before = parse(metrics.exposition())
    metrics.observe_cache('evil"kind\n{x}:abc', hit=True)
    metrics.observe_cache("x" * 500 + ":abc", hit=False)
    after = parse(metrics.exposition())
    kinds = label_values(after, "deskboard_cache_lookups_total", "kind")
    assert all(len(k) <= 40 and '"' not in k for k in kinds)
    hits = "deskboard_cache_lookups_total"
    assert value(after, hits, kind="other", result="hit") - value(before, hits, kind="other", result="hit") == 1


def test_process_memory_is_exported(client) -> None:
    rss = value(scrape(client), "deskboard_process_resident_memory_bytes")
    with open("/proc/self/statm") as fh:
        statm = int(fh.read().split()[1]) * 4096
    assert rss > 10 * 2**20
    assert abs(rss - statm) < 0.5 * statm  # the same process's figure, read a moment apart


class _Service:
    """A market service as the collector sees it: only ``status()``."""

    def __init__(self, status: dict) -> None:
        self._status = status

    def status(self) -> dict:
        return self._status


def test_feed_lag_state_and_counts_come_from_the_market_status(app, client) -> None:
    from backend.market.service import MarketService, ServiceSettings

    service = MarketService(settings=ServiceSettings(stale_seconds=5.0), monotonic=lambda: clock[0])
    clock = [100.0]
    service._started = True  # the state a started service reports; no feed thread needed here
    for _ in range(7):
        service.note_message(market_ts=1_700_000_000.0)
    service.note_rejected("bad price")
    clock[0] = 112.5
    app.server.extensions[MARKET_KEY] = service
    try:
        samples = scrape(client)
    finally:
        del app.server.extensions[MARKET_KEY]
    status = service.status()
    assert status["state"] == "stale"
    assert value(samples, "deskboard_feed_lag_seconds") == pytest.approx(status["age_seconds"]) == 12.5
    assert value(samples, "deskboard_feed_messages_total") == 7
    assert value(samples, "deskboard_feed_rejected_total") == 1
    assert value(samples, "deskboard_feed_state", state="stale") == 1
    assert sum(value(samples, "deskboard_feed_state", state=s) for s in ("live", "starting", "stopped")) == 0
    assert value(samples, "deskboard_feed_stale_after_seconds") == 5.0
    # Without a market service the feed metrics are absent, not zero (a zero lag would look healthy).
    assert "deskboard_feed_lag_seconds" not in names(scrape(client))


def test_a_feed_that_never_spoke_has_no_lag_sample() -> None:
    families = list(MarketCollector(_Service({"state": "starting", "age_seconds": None, "messages": 0})).collect())
    assert "deskboard_feed_lag_seconds" not in {f.name for f in families}


def test_job_durations_match_the_records(tmp_path) -> None:
    store = JobStore(records(f"sqlite:///{tmp_path / 'meta.sqlite3'}"))
    seconds = [0.5, 3.0, 3.0, 70.0, 4000.0, 20_000.0, 100_000.0]
    now = utc_now()
    for n, run in enumerate(seconds):
        job = store.create(kind="probe", parameters={}, owner="ana", runner="embedded", placement="worker")
        state = "FAILED" if n == 0 else "COMPLETED"
        with store.meta.write() as conn:
            conn.execute(JOBS.update().where(JOBS.c.id == job.id).values(
                state=state, started_at=now, finished_at=now + timedelta(seconds=run)))
    store.create(kind="probe", parameters={}, owner="ana", runner="embedded", placement="worker")
    store.create(kind="nonsense-kind", parameters={}, owner="ana", runner="embedded", placement="worker")

    text = b"".join(_exposition(JobsCollector(store.meta))).decode()
    samples = parse(text)
    assert value(samples, "deskboard_jobs", kind="probe", state="QUEUED") == 1
    assert value(samples, "deskboard_jobs", kind="other", state="QUEUED") == 1
    assert value(samples, "deskboard_jobs", kind="probe", state="COMPLETED") == 6
    done = seconds[1:]
    hist = "deskboard_job_duration_seconds"
    for bound in JOB_BUCKETS:
        expected = sum(1 for s in done if s <= bound)
        got = value(samples, f"{hist}_bucket", kind="probe", state="COMPLETED", le=repr(float(bound)))
        assert got == expected, bound
    assert value(samples, f"{hist}_count", kind="probe", state="COMPLETED") == len(done)
    assert value(samples, f"{hist}_sum", kind="probe", state="COMPLETED") == pytest.approx(sum(done), rel=1e-6)
    assert value(samples, f"{hist}_count", kind="probe", state="FAILED") == 1


def test_a_records_store_that_is_down_leaves_the_other_metrics(tmp_path) -> None:
    class Broken:
        def read(self):
            raise ConnectionError("down")

    assert list(JobsCollector(Broken()).collect()) == []


def _exposition(collector) -> list[bytes]:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return [generate_latest(registry)]


def _tiny_dash_app() -> Dash:
    app = Dash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="ok"), html.Div(id="ok2"), html.Div(id="bad")])

    @app.callback(Output("ok", "children"), Output("ok2", "children"), Input("go", "n_clicks"))
    def fine(n):
        return n, n

    @app.callback(Output("bad", "children"), Input("go", "n_clicks"))
    def broken(n):
        raise ZeroDivisionError("no")

    install_observability(app, notify=set_props, configure_logs=False)
    return app


def test_callbacks_are_timed_and_failures_counted_by_their_outputs() -> None:
    app = _tiny_dash_app()
    client = app.server.test_client()
    client.get("/")  # Dash registers its callbacks on the first request
    before = scrape(client)
    two = [{"id": "ok", "property": "children"}, {"id": "ok2", "property": "children"}]
    for n in range(4):
        assert dash_update(client, "..ok.children...ok2.children..", two, n).status_code == 200
    assert dash_update(client, "bad.children", {"id": "bad", "property": "children"}).status_code == 200
    assert dash_update(client, "forged.children", {"id": "forged", "property": "children"}).status_code >= 400
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    cb = "deskboard_dash_callback_duration_seconds_count"
    assert delta(cb, callback="ok.children + ok2.children") == 4
    assert delta(cb, callback="bad.children") == 1
    assert delta(cb, callback="<unknown>") == 1
    assert delta("deskboard_dash_callback_errors_total", callback="bad.children") == 1
    assert delta("deskboard_dash_callback_errors_total", callback="ok.children + ok2.children") == 0
    assert "forged.children" not in label_values(after, "deskboard_dash_callback_duration_seconds_count", "callback")


def test_metrics_can_require_a_bearer_token(client, monkeypatch) -> None:
    monkeypatch.setenv("DESKBOARD_METRICS_TOKEN", "s3cret-token")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def test_market_key_is_the_market_services_own() -> None:
    from backend.market.service import EXTENSION_KEY

    assert MARKET_KEY == EXTENSION_KEY


# -- several gunicorn workers ------------------------------------------------------------------------

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


# -- percentiles of the system page ------------------------------------------------------------------


def test_histogram_quantile_follows_prometheus_rules() -> None:
    from backend.observability.summary import histogram_quantile

    inf = float("inf")
    buckets = [(1.0, 10.0), (2.0, 20.0), (inf, 20.0)]
    assert histogram_quantile(0.5, buckets) == 1.0
    assert histogram_quantile(0.75, buckets) == 1.5
    assert histogram_quantile(0.25, buckets) == 0.5  # linear from 0 inside the first bucket
    assert histogram_quantile(0.99, [(1.0, 1.0), (inf, 100.0)]) == 1.0  # rank in +Inf: the highest finite bound
    assert histogram_quantile(0.5, [(1.0, 0.0), (inf, 0.0)]) is None
    assert histogram_quantile(0.5, []) is None
    with pytest.raises(ValueError, match="0..1"):
        histogram_quantile(1.5, buckets)


def test_page_percentiles_fall_in_the_bucket_of_the_true_percentile() -> None:
    import numpy as np
    from prometheus_client import CollectorRegistry, Histogram

    from backend.observability.summary import summarize

    rng = np.random.default_rng(5)
    observed = rng.lognormal(mean=-3.0, sigma=1.2, size=5_000)
    registry = CollectorRegistry()
    hist = Histogram("deskboard_http_request_duration_seconds", "t", ["route", "method"],
                     buckets=metrics.LATENCY_BUCKETS, registry=registry)
    for seconds in observed:
        hist.labels(route="/x", method="GET").observe(float(seconds))
    summary = summarize(registry.collect())
    (route,) = summary.routes
    assert route.name == "GET /x" and route.requests == len(observed)
    bounds = (0.0, *metrics.LATENCY_BUCKETS)
    for q, got_ms in ((0.5, route.p50_ms), (0.95, route.p95_ms)):
        truth = float(np.quantile(observed, q))
        upper = next(b for b in bounds if b >= truth)
        lower = bounds[bounds.index(upper) - 1]
        assert lower * 1000 - 0.05 <= got_ms <= upper * 1000 + 0.05, (q, truth, got_ms)


def test_error_rate_counts_server_errors_and_failed_callbacks() -> None:
    from prometheus_client import CollectorRegistry, Counter

    from backend.observability.summary import summarize

    registry = CollectorRegistry()
    requests = Counter("deskboard_http_requests", "r", ["route", "method", "status"], registry=registry)
    failed = Counter("deskboard_dash_callback_errors", "e", ["callback"], registry=registry)
    requests.labels(route="/a", method="GET", status="200").inc(90)
    requests.labels(route="/a", method="GET", status="503").inc(4)
    requests.labels(route="/b", method="POST", status="404").inc(6)
    failed.labels(callback="x.children").inc(2)
    summary = summarize(registry.collect())
    assert summary.requests == 100 and summary.server_errors == 4 and summary.callback_errors == 2
    assert summary.error_rate == pytest.approx(0.06)


# -- /health and /metrics of the feed process and job workers ---------------------------------------


def test_process_server_answers_health_and_metrics_and_nothing_else() -> None:
    import urllib.error
    import urllib.request

    from backend.observability.process_server import start_process_server

    state = {"ok": True}

    def health() -> tuple[bool, dict]:
        if state.get("raise"):
            raise ConnectionError("redis down")
        return state["ok"], {"state": "live" if state["ok"] else "disconnected"}

    service = _Service({"state": "live", "age_seconds": 0.4, "stale_after_seconds": 10.0, "messages": 12,
                        "rejected": 0})
    server = start_process_server(0, health=health, collectors=[MarketCollector(service)], host="127.0.0.1")
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        status, body = get("/health")
        assert status == 200 and json.loads(body) == {"status": "ok", "state": "live"}
        state["ok"] = False
        status, body = get("/health")
        assert status == 503 and json.loads(body)["state"] == "disconnected"
        state["raise"] = True
        status, body = get("/health")
        assert status == 503 and json.loads(body)["error"] == "ConnectionError"
        status, body = get("/metrics")
        samples = parse(body)
        assert status == 200 and value(samples, "deskboard_feed_messages_total") == 12
        assert value(samples, "deskboard_feed_lag_seconds") == 0.4
        assert get("/metrics/../etc/passwd")[0] == 404 and get("/")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("raw", ["http", "0", "70000", "-1", "80 80", "9" * 30])
def test_process_server_port_from_the_environment_is_checked(monkeypatch, raw: str) -> None:
    from backend.observability.process_server import PORT_ENV, start_from_env

    monkeypatch.setenv(PORT_ENV, raw)
    with pytest.raises(ValueError, match=PORT_ENV):
        start_from_env(health=lambda: (True, {}))


def test_no_process_server_without_a_port(monkeypatch) -> None:
    from backend.observability.process_server import PORT_ENV, start_from_env

    monkeypatch.delenv(PORT_ENV, raising=False)
    assert start_from_env(health=lambda: (True, {})) is None


def test_pattern_matching_callbacks_are_labelled_by_their_pattern_not_by_each_item() -> None:
    from dash import MATCH

    app = Dash(__name__)
    app.layout = html.Div([html.Button(id={"type": "row-btn", "index": n}) for n in range(3)])

    @app.callback(Output({"type": "row-out", "index": MATCH}, "children"),
                  Input({"type": "row-btn", "index": MATCH}, "n_clicks"))
    def per_row(n):
        return n

    install_observability(app, notify=set_props, configure_logs=False)
    client = app.server.test_client()
    client.get("/")
    (key,) = [k for k in app.callback_map if "row-out" in k]
    for n in range(25):  # as the renderer sends it: the pattern as the name, the concrete ids beside it
        body = {"output": key, "outputs": {"id": {"type": "row-out", "index": n}, "property": "children"},
                "inputs": [{"id": {"type": "row-btn", "index": n}, "property": "n_clicks", "value": 1}],
                "changedPropIds": [json.dumps({"index": n, "type": "row-btn"}) + ".n_clicks"], "state": []}
        assert client.post("/_dash-update-component", json=body).status_code == 200
    callbacks = label_values(scrape(client), "deskboard_dash_callback_duration_seconds_count", "callback")
    row_labels = {c for c in callbacks if "row-out" in c}
    assert row_labels == {key} and "MATCH" in key


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"output": {"id": "ok"}}', b'{"output": null}',
                                 b'{"output": "' + b"x" * 1_000_000 + b'.children"}', b"\xff\xfe"])
def test_malformed_callback_bodies_are_counted_as_unknown(raw: bytes) -> None:
    from backend.observability.requests import callback_label

    app = _tiny_dash_app()
    client = app.server.test_client()
    client.get("/")
    before = scrape(client)
    response = client.post("/_dash-update-component", data=raw, content_type="application/json")
    assert response.headers["X-Request-ID"]
    after = scrape(client)
    cb = "deskboard_dash_callback_duration_seconds_count"
    assert value(after, cb, callback="<unknown>") - value(before, cb, callback="<unknown>") == 1
    assert not [c for c in label_values(after, cb, "callback") if "xxxxxxxx" in c or "ok" == c]
    assert callback_label([1], {"x"}) == "<unknown>"


# -- the system page's last few minutes ---------------------------------------------------------------


def test_recent_figures_count_only_what_happened_since_the_baseline() -> None:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from backend.observability.summary import summarize
    from backend.observability.window import SnapshotRing, subtract, take

    clock = [1000.0]
    ring = SnapshotRing(spacing=15, horizon=300, clock=lambda: clock[0])
    registry = CollectorRegistry()
    requests = Counter("deskboard_http_requests", "r", ["route", "method", "status"], registry=registry)
    latency = Histogram("deskboard_http_request_duration_seconds", "l", ["route", "method"],
                        buckets=metrics.LATENCY_BUCKETS, registry=registry)

    def serve(n: int, seconds: float, status: str = "200") -> None:
        for _ in range(n):
            requests.labels(route="/x", method="GET", status=status).inc()
            latency.labels(route="/x", method="GET").observe(seconds)

    assert ring.baseline() is None
    serve(50, 4.0, "503")  # a slow, failing start, long ago
    for _ in range(25):  # snapshots every 15 s for over 6 minutes
        if ring.due():
            ring.add(take(registry.collect()))
        clock[0] += 15
    serve(10, 0.02)  # the last few minutes: fast and fine
    base = ring.baseline()
    assert base is not None and clock[0] - base.at >= 300 and clock[0] - base.at < 315
    recent = summarize(subtract(list(registry.collect()), base))
    since_start = summarize(registry.collect())
    assert (recent.requests, recent.server_errors) == (10, 0)
    assert (since_start.requests, since_start.server_errors) == (60, 50)
    (route,) = recent.routes
    assert route.requests == 10 and route.p95_ms <= 25.0
    assert since_start.routes[0].p50_ms > 2500

    # Counts below the baseline mean the counters restarted: no window is made from them.
    fresh = CollectorRegistry()
    Counter("deskboard_http_requests", "r", ["route", "method", "status"], registry=fresh).labels(
        route="/x", method="GET", status="200").inc()
    assert subtract(list(fresh.collect()), base) is None


def test_the_ring_keeps_one_baseline_and_what_came_after() -> None:
    from backend.observability.window import SnapshotRing

    clock = [0.0]
    ring = SnapshotRing(spacing=10, horizon=60, clock=lambda: clock[0])
    for n in range(100):
        if ring.due():
            ring.add({("n", ()): float(n)})
        clock[0] += 1
    kept = list(ring._entries)
    assert len(kept) <= 60 // 10 + 2 and kept[0].at <= clock[0] - 60
    # The baseline is the newest snapshot at least the horizon old.
    assert ring.baseline().at == max(e.at for e in kept if e.at <= clock[0] - 60) == 40
