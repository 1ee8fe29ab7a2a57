"""The walk-forward runs API on a real app and real stores: a run asked over HTTP is checked, queued
as a job that reports every fold and ends with a record (folds, thresholds, metrics, importances,
audit, request) and predictions in every format; the list sorts by any key, filters and pages over
hundreds of runs; research jobs are listed, cancelled and resumed; every hostile request is refused
naming the field, with nothing queued or recorded."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from backend.api.spec import SPEC_URL
from backend.config import load_settings
from backend.jobs import JobSettings
from backend.jobs.runtime import install_jobs
from backend.measurements.frames import as_table
from backend.research.datasets import Bars
from backend.research.runtime import EXTENSION_KEY
from backend.research.walkforward.service import Runs
from backend.stores import EXTENSION_KEY as STORES_KEY
from tests.backend.access.guard_support import build_app, make_users, sign_in, user_of
from tests.backend.jobs.conftest import HEARTBEAT_SECONDS, wait_for
from tests.backend.research.test_research_api import _fits
from tests.backend.research.walkforward.conftest import FAST_LGBM, HORIZON, market

API = "/api/v1/research/runs"
JOBS = "/api/v1/research/jobs"
REQUEST = {"dataset": "walk", "features": ["ret1", "ret5"], "target": {"kind": "return", "horizon": HORIZON},
           "model": FAST_LGBM, "folds": {"train": 250, "validation": 100, "test": 100, "embargo": 5}, "seed": 3}
SEEDED = 300


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse) -> Iterator[Any]:
    from app import create_app

    settings = load_settings(data_dir=tmp_path_factory.mktemp("runs-api"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, redis_url=None)
    app = create_app(settings, market=False)
    runner = install_jobs(app.server, app.server.extensions[STORES_KEY],
                          JobSettings(runner="embedded", concurrency=1, heartbeat_seconds=HEARTBEAT_SECONDS),
                          replace=True)
    app.server.extensions[EXTENSION_KEY].add("walk", Bars(as_table(market()), "UTC"), created_by="test")
    yield app
    runner.stop(5.0)


@pytest.fixture(scope="module")
def client(app) -> Any:
    return app.server.test_client()


@pytest.fixture(scope="module")
def doc(client) -> dict:
    return client.get(SPEC_URL).get_json()


def _records(app) -> list[str]:
    return sorted(r.name for r in app.server.extensions[EXTENSION_KEY].records.list(include_deleted=True))


def _jobs(client) -> int:
    return len(client.get("/api/v1/jobs?limit=500").get_json()["jobs"])


def _strict_json(resp) -> Any:
    def refuse(value: str) -> None:
        raise AssertionError(f"{value} in a JSON answer")

    return json.loads(resp.get_data(as_text=True), parse_constant=refuse)


def _watch(client, url: str, timeout: float = 120) -> dict:
    def finished() -> dict | None:
        job = client.get(url).get_json()
        return job if job["state"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    return wait_for(finished, timeout, f"{url} to finish")  # type: ignore[return-value]


def test_a_run_round_trip_gives_its_record_request_and_predictions(app, client, doc) -> None:
    queued = client.post(API, json=REQUEST)
    assert queued.status_code == 202, queued.get_json()
    _fits(doc, API, "post", queued)
    job = queued.get_json()
    assert job["kind"] == "walkforward" and queued.headers["Location"] == f"{JOBS}/{job['id']}"
    done = _watch(client, queued.headers["Location"])
    assert done["state"] == "COMPLETED", done["error"]
    assert done["progress"] == 1.0 and done["result"]["folds"] == 6
    name = done["result"]["run"]

    one = client.get(f"{API}/{name}")
    _fits(doc, f"{API}/{{name}}", "get", one)
    record = _strict_json(one)
    assert record["created_by"] == job["owner"] and record["audit"]["passed"]
    fold = record["folds"][0]
    assert fold["test"] == [360, 460] and {"long", "short", "rule"} <= set(fold["thresholds"])
    assert {"ic", "hit_rate", "rmse", "sharpe", "return_pct"} <= set(fold["metrics"])
    assert set(fold["importances"]) == {"ret1", "ret5"}

    asked = client.get(record["links"]["request"])
    _fits(doc, f"{API}/{{name}}/request", "get", asked)
    again = asked.get_json()["request"]
    assert again == record["request"] and again["model"]["n_estimators"] == 20 and again["seed"] == 3

    want = Runs(app.server.extensions[EXTENSION_KEY]).predictions(name)
    rows = client.get(record["links"]["predictions"])
    _fits(doc, f"{API}/{{name}}/predictions", "get", rows)
    got = pd.DataFrame(_strict_json(rows)["rows"])
    assert len(got) == len(want) and got["prediction"].tolist() == want["prediction"].tolist()
    readers = {"csv": pd.read_csv, "parquet": pd.read_parquet,
               "arrow": lambda f: pa.ipc.open_stream(f).read_all().to_pandas()}
    for fmt, read in readers.items():
        answer = client.get(f"{record['links']['predictions']}?format={fmt}")
        assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]
        frame = read(io.BytesIO(answer.data))
        assert frame["prediction"].to_numpy() == pytest.approx(want["prediction"].to_numpy())

    jobs = client.get(JOBS)
    _fits(doc, JOBS, "get", jobs)
    mine = [j for j in jobs.get_json()["jobs"] if j["id"] == job["id"]]
    assert mine and mine[0]["state"] == "COMPLETED" and mine[0]["message"].startswith(name)
    refused = client.post(f"{JOBS}/{job['id']}/resume")
    assert refused.status_code == 409 and "only a failed or cancelled" in refused.get_json()["error"]
    finished = client.post(f"{JOBS}/{job['id']}/cancel")
    assert finished.status_code == 409


def test_a_combinatorial_run_over_the_api_gives_each_fold_its_split_and_path(client, doc) -> None:
    body = {**REQUEST, "folds": {"validation": 60, "embargo": 5, "mode": "combinatorial", "groups": 4,
                                 "test_groups": 2}}
    queued = client.post(API, json=body)
    assert queued.status_code == 202, queued.get_json()
    done = _watch(client, queued.headers["Location"])
    assert done["state"] == "COMPLETED", done["error"] and done["result"]["folds"] == 12
    one = client.get(f"{API}/{done['result']['run']}")
    _fits(doc, f"{API}/{{name}}", "get", one)
    record = _strict_json(one)
    assert len({f["split"] for f in record["folds"]}) == 6  # C(4, 2) splits, each testing two groups
    for path in range(3):  # each path tests every bar once, fold after fold
        tests = [f["test"] for f in record["folds"] if f["path"] == path]
        assert tests == sorted(tests) and sum(b - a for a, b in tests) == record["bars"] == tests[-1][1]
    assert [p["path"] for p in record["summary"]["paths"]] == [0, 1, 2] and record["audit"]["passed"]
    assert record["request"]["folds"]["mode"] == "combinatorial"


def test_a_cancelled_run_is_resumed_over_the_api(app, client) -> None:
    slow = {**REQUEST, "model": {**FAST_LGBM, "n_estimators": 400}, "seed": 5}
    job = client.post(API, json=slow).get_json()
    wait_for(lambda: client.get(f"{JOBS}/{job['id']}").get_json()["progress"] >= 1 / 6, 120, "a fold to finish")
    assert client.post(f"{JOBS}/{job['id']}/cancel").status_code == 200
    cancelled = _watch(client, f"{JOBS}/{job['id']}")
    if cancelled["state"] == "COMPLETED":
        pytest.skip("the run finished before the cancel reached it")
    assert cancelled["state"] == "CANCELLED" and "resume" in cancelled["links"]
    before = _records(app)
    resumed = client.post(cancelled["links"]["resume"])
    assert resumed.status_code == 202, resumed.get_json()
    done = _watch(client, resumed.headers["Location"])
    assert done["state"] == "COMPLETED", done["error"]
    assert done["parameters"]["resume_from"] == job["id"] and done["result"]["resumed_folds"] >= 1
    assert len(_records(app)) == len(before) + 1


def _seed(app) -> None:
    """Hundreds of runs recorded directly (no fitting), over two datasets and three models."""
    records = app.server.extensions[EXTENSION_KEY].records
    records.register_dataset("calm", store="parquet")
    models = ("lightgbm_regressor", "ridge", "xgboost_regressor")
    for k in range(SEEDED):
        base = "walk" if k % 2 else "calm"
        summary = {"dataset": base, "symbol": None, "model": models[k % 3], "target": "return 5", "folds": 6,
                   "seed": k, "param.n_estimators": 10 + k % 7, "audit": "flagged" if k % 10 == 0 else "passed",
                   "metric.sharpe": None if k % 5 == 0 else (k * 37 % 101) / 10 - 5, "metric.ic": k / 1000}
        records.allocate(base, "run", store="parquet", created_by=f"user{k % 4}", inputs={}, summary=summary)


def test_the_list_sorts_by_any_key_filters_and_pages(app, client, doc) -> None:
    _seed(app)
    listed = client.get(f"{API}?limit=1000")
    _fits(doc, API, "get", listed)
    everything = _strict_json(listed)
    assert everything["total"] >= SEEDED and len(everything["runs"]) == everything["total"]
    assert all("inputs" not in row and "folds" in row for row in everything["runs"])

    by_sharpe = client.get(f"{API}?sort=metric.sharpe&order=desc&limit=1000").get_json()["runs"]
    values = [r.get("metric.sharpe") for r in by_sharpe]
    known = [v for v in values if v is not None]
    assert known == sorted(known, reverse=True) and values[:len(known)] == known  # no value: last
    ascending = [r.get("metric.sharpe") for r in client.get(f"{API}?sort=metric.sharpe&order=asc&limit=1000")
                 .get_json()["runs"]]
    assert [v for v in ascending if v is not None] == sorted(known) and ascending[-1] is None

    calm = client.get(f"{API}?dataset=calm&model=ridge&limit=1000").get_json()
    want = [k for k in range(SEEDED) if k % 2 == 0 and k % 3 == 1]
    assert calm["total"] == len(want) and {(r["dataset"], r["model"]) for r in calm["runs"]} == {("calm", "ridge")}
    flagged = client.get(f"{API}?q=FLAG&limit=1000").get_json()
    assert flagged["total"] == SEEDED // 10 and {r["audit"] for r in flagged["runs"]} == {"flagged"}
    assert client.get(f"{API}?q=user3&limit=1").get_json()["total"] == SEEDED // 4

    pages = [client.get(f"{API}?sort=param.n_estimators&order=asc&limit=50&offset={k}").get_json()
             for k in range(0, everything["total"], 50)]
    names = [r["name"] for p in pages for r in p["runs"]]
    assert sorted(names) == sorted(r["name"] for r in everything["runs"]) and len(set(names)) == len(names)
    params = [r.get("param.n_estimators") for p in pages for r in p["runs"]]
    assert [v for v in params if v is not None] == sorted(v for v in params if v is not None)
    assert client.get(f"{API}?dataset=nope").get_json() == {"runs": [], "total": 0, "offset": 0, "limit": 100}


HUGE = "x" * 10_000
HOSTILE_BODIES = [
    ("not json", b"{nope", 400, "not valid JSON"),
    ("NaN", json.dumps(REQUEST).replace('"seed": 3', '"seed": NaN').encode(), 400, "not valid JSON"),
    ("NaN quantile", json.dumps({**REQUEST, "threshold_rule": {"long_quantile": 0.7}}).replace("0.7", "NaN").encode(),
     400, "not valid JSON"),
    ("unknown model", {**REQUEST, "model": {"kind": "random_forest"}}, 400, "model"),
    ("unknown hyperparameter", {**REQUEST, "model": {**FAST_LGBM, "n_trees": 9}}, 400, "n_trees"),
    ("folds that do not fit", {**REQUEST, "folds": {"train": 900, "validation": 100, "test": 100}}, 400,
     "folds: n: 930 bars hold no fold"),
    ("negative train", {**REQUEST, "folds": {"train": -1, "validation": 100, "test": 100}}, 400, "folds.train"),
    ("purge below the horizon", {**REQUEST, "folds": {"train": 250, "validation": 100, "test": 100, "purge": 1}},
     400, "folds.purge: 1 bars is below the label horizon"),
    ("combinatorial without groups", {**REQUEST, "folds": {"validation": 60, "mode": "combinatorial"}}, 400,
     "folds.groups: needed for combinatorial folds"),
    ("too many splits", {**REQUEST, "folds": {"validation": 60, "mode": "combinatorial", "groups": 30,
                                              "test_groups": 15}}, 400, "folds.test_groups"),
    ("groups on rolling folds", {**REQUEST, "folds": {"train": 250, "validation": 100, "test": 100, "groups": 4}},
     400, "folds.groups: only for combinatorial folds"),
    ("unknown feature", {**REQUEST, "features": ["ret1", "volume"]}, 400, "features: there is no column 'volume'"),
    ("empty feature", {**REQUEST, "features": ["empty"]}, 400, "features: column 'empty' has no values"),
    ("no features", {**REQUEST, "features": []}, 400, "features"),
    ("classifier on returns", {**REQUEST, "model": {"kind": "logistic"}}, 400, "target: model logistic needs"),
    ("negative seed", {**REQUEST, "seed": -1}, 400, "seed"),
    ("no threads", {**REQUEST, "threads": 0}, 400, "threads"),
    ("unknown dataset", {**REQUEST, "dataset": "nowhere"}, 400, "dataset: there is no dataset 'nowhere'"),
    ("a run as dataset", {**REQUEST, "dataset": "walk_run1"}, 400, "dataset:"),
    ("script in dataset", {**REQUEST, "dataset": "<script>"}, 400, "dataset:"),
    ("huge dataset", {**REQUEST, "dataset": HUGE}, 400, "dataset"),
    ("huge feature", {**REQUEST, "features": [HUGE]}, 400, "features"),
    ("symbol of one series", {**REQUEST, "symbol": "AAA"}, 400, "symbol:"),
    ("unknown field", {**REQUEST, "surprise": 1}, 400, "surprise: unknown field"),
    ("oversized body", {**REQUEST, "features": ["f" * 60] * 2_000}, 413, "larger than 65,536 bytes"),
]


@pytest.mark.parametrize(("what", "body", "status", "says"), HOSTILE_BODIES, ids=[h[0] for h in HOSTILE_BODIES])
def test_hostile_bodies_are_refused_naming_the_field_with_nothing_queued(app, client, what, body, status,
                                                                        says) -> None:
    before, jobs_before = _records(app), _jobs(client)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = client.post(API, data=raw, content_type="application/json")
    assert resp.status_code == status, (what, resp.get_data(as_text=True)[:300])
    error = resp.get_json()
    assert set(error) == {"error"} and says in error["error"], error
    assert "<script>" not in error["error"] and "xxxxxxxx" not in error["error"]
    assert _records(app) == before and _jobs(client) == jobs_before


@pytest.mark.parametrize(("method", "url", "status", "says"), [
    ("get", f"{API}/walk_run999999", 404, "no run 'walk_run999999'"),
    ("get", f"{API}/walk", 404, "no run 'walk'"),
    ("get", f"{API}/..%2F..%2Fetc", 404, ""),
    ("get", f"{API}/{HUGE}", 404, "no run"),
    ("get", f"{API}/%3Cscript%3E/predictions", 404, "no run"),
    ("get", f"{API}/walk_run999999/request", 404, "no run"),
    ("get", f"{API}?sort=%3Cscript%3E", 400, "sort:"),
    ("get", f"{API}?sort=a&sort=b", 400, "sort: give the parameter once"),
    ("get", f"{API}?limit=0", 400, "limit:"),
    ("get", f"{API}?offset=-1", 400, "offset:"),
    ("get", f"{API}?order=up", 400, "order:"),
    ("get", f"{API}?q={HUGE}", 400, "q:"),
    ("get", f"{API}?zz=1", 400, "zz: unknown query parameter"),
    ("get", f"{JOBS}?kind=probe", 400, "kind:"),
    ("get", f"{JOBS}/abc", 400, "id:"),
    ("get", f"{JOBS}/0", 400, "id:"),
    ("get", f"{JOBS}/{HUGE}", 400, "id:"),
    ("get", f"{JOBS}/999999", 404, ""),
    ("post", f"{JOBS}/999999/cancel", 404, ""),
    ("post", f"{JOBS}/999999/resume", 404, ""),
    ("post", f"{JOBS}/-1/resume", 400, "id:"),
])
def test_hostile_queries_names_and_ids_are_refused(app, client, method, url, status, says) -> None:
    before, jobs_before = _records(app), _jobs(client)
    resp = getattr(client, method)(url)
    assert resp.status_code == status, (url, resp.get_data(as_text=True)[:300])
    error = resp.get_json()
    assert set(error) == {"error"} and says in error["error"], error
    assert "<script>" not in error["error"] and "xxxxxxxx" not in error["error"]
    assert _records(app) == before and _jobs(client) == jobs_before


def test_a_predictions_format_that_does_not_exist_is_refused(client) -> None:
    name = client.get(f"{API}?limit=1").get_json()["runs"]
    url = f"{API}/{name[0]['name'] if name else 'walk_run1'}/predictions?format=xlsx"
    resp = client.get(url)
    assert resp.status_code == 400 and resp.get_json()["error"].startswith("format:")


@pytest.fixture
def signed_in(tmp_path, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path / "data", warehouse_url, loaded_warehouse.database)
    app.server.test_client().get("/health")
    install_jobs(app.server, app.server.extensions[STORES_KEY], start=False)
    app.server.extensions[EXTENSION_KEY].add("walk", Bars(as_table(market()), "UTC"), created_by="test")
    make_users(app)
    from tests.backend.access.guard_support import services

    access = services(app)
    access.roles.create("research_reader", ["research.view", "account.self"], "reads research", actor="test")
    access.accounts.create_user("reader", password="correct horse battery staple 9", roles=("research_reader",),
                                actor="reader")

    def client_of(user: str, password: str | None = None) -> Any:
        client = app.server.test_client()
        answer = sign_in(client, user, password) if password else sign_in(client, user)
        assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
        return client

    return app, client_of


def _csrf(client) -> dict[str, str]:
    cookie = client.get_cookie("_csrf_token")
    return {"X-CSRFToken": cookie.value if cookie is not None else ""}


def test_a_reader_may_look_but_not_run_cancel_or_resume(signed_in) -> None:
    app, client_of = signed_in
    analyst = client_of(user_of("analyst"))
    queued = analyst.post(API, json=REQUEST, headers=_csrf(analyst))
    assert queued.status_code == 202, queued.get_data(as_text=True)[:300]
    job_id = queued.get_json()["id"]
    reader = client_of("reader", "correct horse battery staple 9")
    for url in (API, JOBS):
        assert reader.get(url).status_code == 200, url
    assert reader.get(f"{JOBS}/{job_id}").status_code == 404  # another's job is not shown
    for url in (API, f"{JOBS}/{job_id}/cancel", f"{JOBS}/{job_id}/resume"):
        refused = reader.post(url, json=REQUEST if url == API else None, headers=_csrf(reader))
        assert refused.status_code == 403, (url, refused.get_data(as_text=True)[:300])
    viewer = client_of(user_of("viewer"))
    assert viewer.get(API).status_code == 403 and viewer.get(JOBS).status_code == 403
    assert app.server.test_client().get(API).status_code == 401
