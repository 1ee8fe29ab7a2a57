"""/metrics on the real app: counts that match the requests and callbacks made, bounded labels, feed figures."""

from __future__ import annotations

import json

import pytest
from dash import Dash, Input, Output, html, set_props

from backend.config import load_settings
from backend.observability import metrics
from backend.observability.install import MARKET_KEY, install_observability
from tests.backend.observability_support import LATENCY, dash_update, label_values, names, parse, scrape, value


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


def test_metrics_can_require_a_bearer_token(client, monkeypatch) -> None:
    monkeypatch.setenv("DESKBOARD_METRICS_TOKEN", "s3cret-token")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def test_market_key_is_the_market_services_own() -> None:
    from backend.market.service import EXTENSION_KEY

    assert MARKET_KEY == EXTENSION_KEY


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
