"""The REST API's contract, route by route, with the routes read from the app itself.

Every rule of ``app.server.url_map`` under ``/api/`` (and ``/health``) must be in the
served OpenAPI document with its path parameters and error responses, must refuse bad
input (malformed JSON, wrong types, oversized bodies, strings and lists, unknown
fields, hostile strings) with a 4xx and the error body ``{"error": "..."}`` — never a
500 — and must answer as the document says (real answers are checked against the
document's schemas with jsonschema).
"""

from __future__ import annotations

import io
import json
import re
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest
from flask import Flask
from werkzeug.routing import Rule

from backend.api.spec import DOC_ENDPOINTS, DOCS_URL, SPEC_URL, ViewQuery, body_limit
from backend.config import load_settings
from backend.warehouse import Warehouse, open_warehouse

HOSTILE = ["'; DROP TABLE trades_1d; --", "<script>alert(1)</script>", "\u0000", "%00", "..%2F..%2Fetc%2Fpasswd",
           "\u202e\u0000Ω≈ç√", "{db}", "' OR 1=1 --"]
SECRET_WORDS = ("SELECT ", "FROM ", "Traceback", "{db}", "File \"")


@pytest.fixture(scope="module")
def market_warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    """An empty, migrated database of its own for the market history."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    wh = open_warehouse(warehouse_url, database)
    yield wh
    wh.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse,
           market_warehouse: Warehouse) -> Flask:
    from app import create_app
    from backend.jobs.runtime import install_jobs
    from backend.market.board import BoardState
    from backend.market.service import EXTENSION_KEY, MarketService
    from backend.market.store import MarketStore
    from backend.stores import EXTENSION_KEY as STORES_KEY

    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("api-contract"),
        warehouse_dsn=warehouse_url,
        warehouse_database=loaded_warehouse.database,
        demo_rows=0,
    )
    server = create_app(settings, market=False).server
    # Jobs are queued, never run: the contract is the API's, not the runner's.
    install_jobs(server, server.extensions[STORES_KEY], start=False)
    server.extensions[EXTENSION_KEY] = MarketService(board=BoardState(), store=MarketStore(market_warehouse))
    return server


@pytest.fixture(scope="module")
def client(server: Flask):
    return server.test_client()


@pytest.fixture(scope="module")
def doc(client) -> dict:
    resp = client.get(SPEC_URL)
    assert resp.status_code == 200 and resp.is_json
    return resp.get_json()


def _api_rules(server: Flask) -> list[Rule]:
    """Every API route of the app: its URL map under /api/ and /health, minus the catch-all
    for unknown API paths and the document's own two pages."""
    skip = {"api_unknown", *DOC_ENDPOINTS}
    return [r for r in server.url_map.iter_rules()
            if (r.rule.startswith("/api/") or r.rule == "/health") and r.endpoint not in skip]


def _operations(server: Flask) -> list[tuple[Rule, str]]:
    return sorted(((r, m) for r in _api_rules(server) for m in r.methods - {"HEAD", "OPTIONS"}),
                  key=lambda rm: (rm[0].rule, rm[1]))


def _doc_path(rule: Rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def _view(server: Flask, rule: Rule):
    func = server.view_functions[rule.endpoint]
    return getattr(func, "__wrapped__", func)


def _hints(server: Flask, rule: Rule) -> dict[str, typing.Any]:
    return typing.get_type_hints(_view(server, rule))


def _url(rule: Rule, value: str = "1") -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", value, rule.rule)


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _check_against_doc(doc: dict, path: str, method: str, resp) -> None:
    """The answer's status is documented for the operation and its JSON body fits the schema."""
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(resp.status_code) in responses, (path, method, resp.status_code, resp.get_data(as_text=True)[:300])
    content = responses[str(resp.status_code)].get("content")
    if content is None:
        return
    schema = {**content["application/json"]["schema"], "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(resp.get_json())


def _assert_error(resp, *, allowed: tuple[int, ...] = (400,)) -> str:
    assert resp.status_code in allowed, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.is_json, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"].strip()
    for word in SECRET_WORDS:
        assert word not in body["error"], body["error"]
    return body["error"]


# -- the document covers the app -----------------------------------------------------------


def test_the_app_has_the_api_routes_it_should(server: Flask) -> None:
    # Guards the derivation below: an empty or tiny list would make every other check vacuous.
    ops = _operations(server)
    assert len(ops) >= 19
    assert {"/api/v1/jobs", "/api/v1/market/summary", "/api/v1/trades/page", "/health"} <= {r.rule for r, _ in ops}


def test_every_api_route_of_the_app_is_in_the_document_with_its_errors(server: Flask, doc: dict) -> None:
    for rule, method in _operations(server):
        path = _doc_path(rule)
        assert path in doc["paths"], f"{method} {rule.rule} is not in the document"
        op = doc["paths"][path].get(method.lower())
        assert op is not None, f"{method} {rule.rule} is not in the document"
        assert op["summary"] and op["tags"], path
        in_path = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert in_path == set(rule.arguments), path
        hints = _hints(server, rule)
        if "query" in hints and not issubclass(hints["query"], ViewQuery):
            names = {f.alias or n for n, f in hints["query"].model_fields.items()}
            assert {p["name"] for p in op["parameters"] if p["in"] == "query"} == names, path
        if "json" in hints:
            assert "application/json" in op["requestBody"]["content"], path
            assert "413" in op["responses"], path
        error_ref = {"$ref": "#/components/schemas/ErrorBody"}
        for status in ("400", "500"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == error_ref, (path, status)
        assert any(s.startswith("2") for s in op["responses"]), path


def test_the_document_describes_nothing_the_app_does_not_serve(server: Flask, doc: dict) -> None:
    served = {(_doc_path(r), m.lower()) for r, m in _operations(server)}
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented == served
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"]
    assert "ErrorBody" in doc["components"]["schemas"]
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)):
        assert ref in doc["components"]["schemas"], ref
    # Every schema is valid JSON Schema 2020-12 (OpenAPI 3.1's dialect) and uses its keywords,
    # not pydantic's (ge/le would be silently ignored by every client).
    params = [p["schema"] for ops in doc["paths"].values() for op in ops.values() for p in op["parameters"]]
    for schema in [*doc["components"]["schemas"].values(), *params]:
        jsonschema.Draft202012Validator.check_schema(schema)
    assert not re.search(r'"(?:ge|le|gt|lt|max_length|min_length)": ', json.dumps(doc))


def test_the_summary_endpoints_offer_only_the_dimensions_they_accept(client, doc: dict) -> None:
    for path in ("/api/v1/exposure", "/api/v1/pnl"):
        by = next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "by")
        assert "trade_date" not in by["schema"]["enum"] and "desk" in by["schema"]["enum"]
        message = _assert_error(client.get(f"{path}?by=trade_date"))
        assert message.startswith("by: ") and "trade_date" not in message and "desk" in message
        ok = client.get(f"{path}?by={by['schema']['enum'][-1]}&cache=false")
        assert ok.status_code == 200, ok.get_json()


# -- bad input on every route --------------------------------------------------------------


def _query_model(server: Flask, rule: Rule):
    return _hints(server, rule).get("query")


def test_unknown_hostile_repeated_and_oversized_query_parameters_are_refused(server: Flask, client, doc) -> None:
    for rule, method in _operations(server):
        call = getattr(client, method.lower())
        url = _url(rule)
        model = _query_model(server, rule)
        if model is not None and issubclass(model, ViewQuery):
            # The page's own lenient reading: ignored parameters are counted, nothing is lost.
            resp = client.get(url + "?zz_unknown=1&rows=desk")
            assert resp.status_code == 200 and resp.headers["X-Deskboard-Notices"] == "1"
            assert resp.get_data(as_text=True).startswith("trade_id,")  # read it: the stream holds its context
            _assert_error(client.get(url + "?rows=" + "d" * 40_000), allowed=(414,))
            for value in HOSTILE:
                resp = client.get(f"{url}?rows={quote(value)}&f.desk={quote(value)}&date={quote(value)}")
                # Bound, never executed: a printable value is a filter matching no trade (the header
                # line only); the page's parser drops a value with control characters, and says so.
                assert resp.status_code == 200 and int(resp.headers["X-Deskboard-Notices"]) >= 1, repr(value)
                lines = resp.get_data(as_text=True).count("\n")
                assert lines == 1 or not value.isprintable(), repr(value)
            continue
        # A route without a query model takes no query parameters.
        message = _assert_error(call(url + "?zz_unknown=1"))
        assert "zz_unknown" in message and "unknown query parameter" in message
        for key in HOSTILE:
            _assert_error(call(f"{url}?{quote(key)}=1"))
        if model is None:
            continue
        names = [p["name"] for p in doc["paths"][_doc_path(rule)][method.lower()]["parameters"] if p["in"] == "query"]
        for name in names:
            message = _assert_error(call(f"{url}?{name}=" + "9" * 5000))
            assert message.startswith(f"{name}: ") and "9999" not in message
            for value in HOSTILE:
                resp = call(f"{url}?{name}={quote(value)}")
                assert resp.status_code < 500, (rule.rule, name, value, resp.get_data(as_text=True)[:200])
                if resp.status_code >= 400:
                    assert value not in _assert_error(resp, allowed=(400, 404, 503))
            schema = next(p for p in doc["paths"][_doc_path(rule)][method.lower()]["parameters"] if p["name"] == name)
            if schema["schema"].get("type") != "array":
                assert _assert_error(call(f"{url}?{name}=a&{name}=b")).startswith(f"{name}: ")


def _bodies(doc: dict, path: str, method: str) -> Iterator[tuple[str, bytes, tuple[int, ...]]]:
    """Bad bodies for a route with a JSON body: what each is, its bytes, the statuses allowed."""
    op = doc["paths"][path][method]
    schema = _resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
    yield "not JSON", b"{not json", (400,)
    yield "a JSON list", b"[1, 2]", (400,)
    yield "a JSON string", b'"text"', (400,)
    yield "deeply nested", b"[" * 100_000, (400, 413)
    yield "too large", b'{"x": "' + b"a" * 2_000_000 + b'"}', (413,)
    yield "not UTF-8", b'{"\xff\xfe": 1}', (400,)
    yield "an unknown field", b'{"zz_unknown": 1}', (400,)
    yield "a hostile field name", json.dumps({"<script>": 1, "'; DROP": 2}).encode(), (400,)
    wrong = [{"$ne": 1}, [[[]]], 10**40, -1, True, None, "x" * 100_000, "", HOSTILE[0], ["a"] * 200_000]
    for name in schema.get("properties", {}):
        for value in wrong:
            body = {name: value}
            yield f"{name}={str(value)[:20]!r}", json.dumps(body).encode(), (400, 404, 413)


def test_bad_bodies_are_refused_with_the_error_body_on_every_route(server: Flask, client, doc) -> None:
    checked = 0
    for rule, method in _operations(server):
        if "json" not in _hints(server, rule):
            continue
        path, call = _doc_path(rule), getattr(client, method.lower())
        for what, raw, allowed in _bodies(doc, path, method.lower()):
            for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
                resp = call(_url(rule, "1"), data=raw, content_type=content_type)
                if resp.status_code < 300:
                    # An optional field may take a wrong-looking value that is still valid (``by`` = "x")
                    # only when it is a string field given a string: anything else must be refused.
                    assert what.split("=")[0] in {"by"} and isinstance(json.loads(raw)["by"], str) \
                        and json.loads(raw)["by"], (rule.rule, what)
                    continue
                message = _assert_error(resp, allowed=allowed)
                assert "<script>" not in message and "DROP" not in message and "xxxxxxxx" not in message, what
                checked += 1
    assert checked > 200


def test_bodies_without_a_length_are_read_only_up_to_the_limit(server: Flask, client) -> None:
    for rule, method in _operations(server):
        if "json" not in _hints(server, rule):
            continue
        limit = body_limit(_hints(server, rule)["json"])
        big = b'{"x": "' + b"a" * (limit + 10) + b'"}'
        resp = getattr(client, method.lower())(_url(rule), input_stream=io.BytesIO(big),
                                               headers={"Transfer-Encoding": "chunked"},
                                               environ_overrides={"wsgi.input_terminated": True})
        assert f"larger than {limit:,} bytes" in _assert_error(resp, allowed=(413,))


@pytest.mark.parametrize(
    "body",
    [
        {"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"symbol": ["A"] * 150_000}},
        {"dimensions": ["desk"] * 5_000, "metrics": ["pnl"]},
        {"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"desk": "x" * 300_000}},
        {"dimensions": ["desk"], "metrics": ["pnl"], "sort": {"field": "pnl", "column": ["x"] * 100_000}},
        {"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"trade_date": {"from": "2024-01-01", "x": 1}}},
    ],
)
def test_oversized_lists_and_strings_inside_a_pivot_request_are_refused(client, body: dict) -> None:
    for url, payload in [("/api/v1/pivot", body), ("/api/v1/trades/page", {"request": body})]:
        message = _assert_error(client.post(url, json=payload))
        assert "xxxxxxxx" not in message and "AAAA" not in message


def test_hostile_path_values_are_refused_on_every_route_with_a_path_parameter(server: Flask, client) -> None:
    routes = [(r, m) for r, m in _operations(server) if r.arguments]
    assert routes
    for rule, method in routes:
        for value in ["%3Cscript%3E", "x" * 5000, "%27%3B%20DROP", "%00", "-1", "0", "1e5", "%E2%80%AE"]:
            resp = getattr(client, method.lower())(_url(rule, value))
            _assert_error(resp, allowed=(400, 404, 503))


def test_wrong_methods_and_unknown_paths_get_json_errors(server: Flask, client) -> None:
    for rule, method in _operations(server):
        other = "PUT" if method != "PUT" else "PATCH"
        _assert_error(client.open(_url(rule), method=other), allowed=(405,))
    _assert_error(client.get("/api/v1/no-such-route"), allowed=(404,))
    _assert_error(client.get("/api/v2/pivot"), allowed=(404,))


# -- real answers fit the document ---------------------------------------------------------


def test_answers_fit_the_document(server: Flask, client, doc: dict, loaded_warehouse) -> None:
    pivot_body = {"dimensions": ["desk"], "metrics": ["pnl", "gross_exposure"], "cache": False}
    cases = [
        ("get", "/health", "/health", None),
        ("post", "/api/v1/pivot", "/api/v1/pivot", pivot_body),
        ("get", "/api/v1/exposure", "/api/v1/exposure?by=desk", None),
        ("get", "/api/v1/pnl", "/api/v1/pnl?from=2024-01-02&to=2024-02-20&stocks=average", None),
        ("get", "/api/v1/instruments", "/api/v1/instruments", None),
        ("get", "/api/v1/constituents", "/api/v1/constituents?parent=NOPE", None),
        ("post", "/api/v1/trades/page", "/api/v1/trades/page",
         {"request": pivot_body, "path": [], "limit": 5, "sort": [{"colId": "pnl", "sort": "desc"}]}),
        ("get", "/api/v1/market/board", "/api/v1/market/board", None),
        ("get", "/api/v1/market/status", "/api/v1/market/status", None),
        ("get", "/api/v1/market/summary", "/api/v1/market/summary", None),
        ("get", "/api/v1/market/alerts", "/api/v1/market/alerts?unacked=1", None),
        ("get", "/api/v1/market/history", "/api/v1/market/history?date=2024-01-02", None),
        ("post", "/api/v1/market/alerts/{alert_id}/ack", "/api/v1/market/alerts/r1:1/ack", None),
        ("get", "/api/v1/jobs", "/api/v1/jobs?state=QUEUED&state=RUNNING", None),
    ]
    for method, path, url, body in cases:
        resp = client.open(url, method=method.upper(), json=body)
        assert resp.status_code < 500, (url, resp.get_data(as_text=True)[:300])
        _check_against_doc(doc, path, method, resp)
    instruments = client.get("/api/v1/instruments").get_json()["instruments"]
    parent = next(i["symbol"] for i in instruments if i.get("asset_class") in ("ETF", "ETC"))
    resp = client.get(f"/api/v1/constituents?parent={parent}")
    assert resp.status_code == 200
    _check_against_doc(doc, "/api/v1/constituents", "get", resp)


def test_a_job_through_its_routes_fits_the_document(client, doc: dict) -> None:
    resp = client.post("/api/v1/jobs", json={"kind": "probe", "parameters": {}})
    assert resp.status_code == 202, resp.get_json()
    _check_against_doc(doc, "/api/v1/jobs", "post", resp)
    job = resp.get_json()
    assert resp.headers["Location"] == job["links"]["self"] and job["state"] == "QUEUED"
    for method, path, url in [("get", "/api/v1/jobs/{job_id}", job["links"]["self"]),
                              ("get", "/api/v1/jobs/{job_id}/result", job["links"]["self"] + "/result"),
                              ("post", "/api/v1/jobs/{job_id}/cancel", job["links"]["cancel"]),
                              ("post", "/api/v1/jobs/{job_id}/cancel", job["links"]["cancel"]),
                              ("get", "/api/v1/jobs/{job_id}/result", job["links"]["self"] + "/result"),
                              ("get", "/api/v1/jobs/{job_id}", "/api/v1/jobs/999999999")]:
        _check_against_doc(doc, path, method, client.open(url, method=method.upper()))
    assert client.get(job["links"]["self"]).get_json()["state"] == "CANCELLED"
    message = _assert_error(client.post("/api/v1/jobs", json={"kind": "nope"}))
    assert message.startswith("kind: unknown job kind")


# -- the docs page -------------------------------------------------------------------------


def test_the_docs_page_and_its_files_are_served_from_here(client) -> None:
    resp = client.get(DOCS_URL)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    # No asset from elsewhere: no src/href to another host, no CDN.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.IGNORECASE)
    for cdn in ("unpkg.com", "jsdelivr", "cdnjs", "googleapis", "cloudflare", "swagger-ui-dist@", "http"):
        assert cdn not in html, cdn
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len([a for a in assets if a.startswith(DOCS_URL + "/")]) == 3
    for url in assets:
        if url.startswith("data:"):
            continue
        asset = client.get(url)
        assert asset.status_code == 200 and asset.mimetype in ("text/javascript", "text/css"), url
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
        assert asset.cache_control.max_age and asset.cache_control.max_age >= 86_400, url
    init = client.get(DOCS_URL + "/init.js").get_data(as_text=True)
    assert "validatorUrl: null" in init and json.dumps(SPEC_URL) in init  # no online validator badge
    _assert_error(client.get(DOCS_URL + "/nope.js"), allowed=(404,))
    _assert_error(client.get(DOCS_URL + "/..%2F..%2Fetc%2Fpasswd"), allowed=(404,))
    _assert_error(client.get(DOCS_URL + "/"), allowed=(404,))  # the page has one address


def test_the_docs_page_renders_every_operation_without_the_network(server: Flask, doc: dict) -> None:
    """Swagger UI in Chromium, every request outside the server refused and recorded."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed")
    import threading

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    outside: list[str] = []
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
            page = browser.new_page()

            def route(r) -> None:
                if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + DOCS_URL)
            operations = sum(len(ops) for ops in doc["paths"].values())
            page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {operations}", timeout=30_000)
            shown = set(page.locator(".opblock-summary-path").evaluate_all(
                "els => els.map(e => e.getAttribute('data-path'))"))
            assert shown == set(doc["paths"])
            browser.close()
    finally:
        httpd.shutdown()
        thread.join(5)
    assert outside == []
    assert errors == []
