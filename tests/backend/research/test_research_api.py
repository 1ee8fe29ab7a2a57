"""The research datasets API on a real app: an upload becomes a dataset (answers checked against the
served OpenAPI document), its bars come back as JSON, CSV and Arrow equal to what pandas reads from the
same file, windows are start-inclusive and end-exclusive, and every hostile upload or query is refused
with the error body — nothing stored."""

from __future__ import annotations

import io
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from backend.api import research as research_module
from backend.api.spec import SPEC_URL
from backend.config import load_settings
from backend.research.runtime import EXTENSION_KEY
from backend.warehouse import Warehouse

CSV = "Date,Open,High,Low,Close,Volume\n" + "".join(
    f"2024-01-{d:02d},{10 + d},{12 + d},{9 + d},{11 + d if d % 4 else 'nan'},{100 * d}\n" for d in range(2, 20))


@pytest.fixture
def app(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse):
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "data", warehouse_dsn=warehouse_url,
                             warehouse_database=fresh_warehouse.database, demo_rows=0, research_upload_max_mb=1)
    return create_app(settings, market=False)


@pytest.fixture
def client(app):
    return app.server.test_client()


def _upload(client, data: bytes, name: str = "spx", filename: str = "spx.csv", tz: str | None = "America/New_York"):
    form = {"file": (io.BytesIO(data), filename), "name": name}
    if tz is not None:
        form["tz"] = tz
    return client.post("/api/v1/research/datasets", data=form, content_type="multipart/form-data")


def _fits(doc: dict, path: str, method: str, resp) -> None:
    responses = doc["paths"][path][method]["responses"]
    assert str(resp.status_code) in responses, (path, resp.status_code)
    content = responses[str(resp.status_code)].get("content")
    if content and "application/json" in content:
        schema = {**content["application/json"]["schema"], "components": doc["components"]}
        jsonschema.Draft202012Validator(schema).validate(resp.get_json())


def test_an_upload_becomes_a_dataset_whose_bars_come_back_in_every_format(client) -> None:
    doc = client.get(SPEC_URL).get_json()
    made = _upload(client, CSV.encode())
    assert made.status_code == 201, made.get_json()
    _fits(doc, "/api/v1/research/datasets", "post", made)
    info = made.get_json()
    want = pd.read_csv(io.StringIO(CSV))
    assert info["rows"] == len(want) and info["frequency"] == "1D" and info["time_zone"] == "America/New_York"
    assert info["missing"] == {"close": int(want["Close"].isna().sum())}
    listed = client.get("/api/v1/research/datasets")
    _fits(doc, "/api/v1/research/datasets", "get", listed)
    assert [d["name"] for d in listed.get_json()["datasets"]] == ["spx"]
    one = client.get("/api/v1/research/datasets/spx")
    _fits(doc, "/api/v1/research/datasets/{name}", "get", one)
    assert one.get_json() == info

    answer = client.get("/api/v1/research/datasets/spx/data").get_json()
    assert answer["rows"] == len(want)
    assert answer["columns"]["timestamp"][0] == "2024-01-02T05:00:00Z"  # midnight in New York, in UTC
    closes = answer["columns"]["close"]
    assert [c is None for c in closes] == want["Close"].isna().tolist()  # NaN is null in JSON
    np.testing.assert_array_equal([c for c in closes if c is not None], want["Close"].dropna().to_numpy())

    csv = pd.read_csv(io.BytesIO(client.get("/api/v1/research/datasets/spx/data?format=csv").data))
    np.testing.assert_array_equal(csv["open"].to_numpy(), want["Open"].to_numpy(float))
    arrow = client.get("/api/v1/research/datasets/spx/data?format=arrow&columns=close,volume")
    assert arrow.mimetype == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(arrow.data).read_all()
    assert table.column_names == ["timestamp", "close", "volume"]
    np.testing.assert_array_equal(table.column("volume").to_numpy(), want["Volume"].to_numpy(float))


def test_a_window_is_start_inclusive_and_end_exclusive(client) -> None:
    assert _upload(client, CSV.encode(), tz=None).status_code == 201  # naive dates read as UTC
    got = client.get("/api/v1/research/datasets/spx/data?start=2024-01-05&end=2024-01-09T00:00:00Z").get_json()
    assert got["columns"]["timestamp"] == [f"2024-01-0{d}T00:00:00Z" for d in (5, 6, 7, 8)]
    empty = client.get("/api/v1/research/datasets/spx/data?start=2030-01-01").get_json()
    assert empty["rows"] == 0 and set(empty["columns"]) == {"timestamp", "open", "high", "low", "close", "volume"}


@pytest.mark.parametrize(("data", "name", "filename", "status", "says"), [
    (CSV.encode(), "../etc", "spx.csv", 400, "name:"),
    (CSV.encode(), "spx_2", "spx.csv", 400, "name:"),
    (b"", "spx", "spx.csv", 400, "empty"),
    (b"Date,Open\n2024-01-02,1\n", "spx", "spx.csv", 400, "missing columns"),
    (CSV.replace("2024-01-05", "2024-01-04").encode(), "spx", "spx.csv", 400, "timestamp repeated on line 5"),
    (CSV.replace("2024-01-03,13,15", "2024-01-03,13,11").encode(), "spx", "spx.csv", 400, "high below"),
    ((CSV.strip() + "\n2024-02-01,1,2,1,1,=1+2\n").encode(), "spx", "spx.csv", 400, "formula"),
    (b"PAR1\x00\x01garbage", "spx", "spx.parquet", 400, "Parquet"),
    (b"x" * (2 * 1024 * 1024), "spx", "spx.csv", 413, "MB"),
])
def test_hostile_uploads_are_refused_and_nothing_is_stored(app, client, data, name, filename, status, says) -> None:
    resp = _upload(client, data, name=name, filename=filename)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert set(body) == {"error"} and says in body["error"], body
    assert client.get("/api/v1/research/datasets").get_json()["datasets"] == []
    datasets = app.server.extensions[EXTENSION_KEY]
    assert datasets.measurements.list() == [] and datasets.records.list() == []


def test_a_taken_name_a_missing_file_and_bad_queries_are_refused(monkeypatch: pytest.MonkeyPatch, client) -> None:
    assert _upload(client, CSV.encode()).status_code == 201
    taken = _upload(client, CSV.encode())
    assert taken.status_code == 409 and "already" in taken.get_json()["error"]
    no_file = client.post("/api/v1/research/datasets", data={"name": "x"}, content_type="multipart/form-data")
    assert no_file.status_code == 400 and "file" in no_file.get_json()["error"]
    for url, status, says in (
        ("/api/v1/research/datasets/nope", 404, "no dataset"),
        ("/api/v1/research/datasets/nope/data", 404, "no dataset"),
        ("/api/v1/research/datasets/spx/data?columns=close,nope", 400, "no column"),
        ("/api/v1/research/datasets/spx/data?columns=,", 400, "columns"),
        ("/api/v1/research/datasets/spx/data?start=soon", 400, "start"),
        ("/api/v1/research/datasets/spx/data?format=xlsx", 400, "format"),
    ):
        resp = client.get(url)
        assert resp.status_code == status and says in resp.get_json()["error"], (url, resp.get_json())
    monkeypatch.setattr(research_module, "JSON_ROWS_MAX", 5)
    big = client.get("/api/v1/research/datasets/spx/data")
    assert big.status_code == 413 and "format=arrow" in big.get_json()["error"]
    assert client.get("/api/v1/research/datasets/spx/data?format=arrow").status_code == 200


def test_indicators_make_a_version_once_and_it_reads_like_a_dataset(client) -> None:
    doc = client.get(SPEC_URL).get_json()
    assert _upload(client, CSV.encode()).status_code == 201
    functions = client.get("/api/v1/research/indicators")
    _fits(doc, "/api/v1/research/indicators", "get", functions)
    by_name = {f["name"]: f for f in functions.get_json()["functions"]}
    assert by_name["RSI"]["parameters"] == {"timeperiod": 14} and by_name["FORWARD_RETURNS"]["group"] == "Targets"
    body = {"indicators": [{"function": "SMA", "params": {"timeperiod": 3}}, {"function": "FORWARD_RETURNS"}]}
    made = client.post("/api/v1/research/datasets/spx/indicators", json=body)
    assert made.status_code == 201, made.get_json()
    _fits(doc, "/api/v1/research/datasets/{name}/indicators", "post", made)
    assert made.get_json()["name"] == "spx_1" and set(made.get_json()["columns"]) == {"sma_3", "fwd_ret_1"}
    again = client.post("/api/v1/research/datasets/spx/indicators", json=body)
    assert again.status_code == 200 and again.get_json()["reused"] and again.get_json()["name"] == "spx_1"
    info = client.get("/api/v1/research/datasets/spx_1").get_json()
    assert info["columns"][-2:] == ["sma_3", "fwd_ret_1"] and info["source"] == "indicators on spx"
    data = client.get("/api/v1/research/datasets/spx_1/data?columns=close,sma_3").get_json()["columns"]
    want = pd.read_csv(io.StringIO(CSV))["Close"].rolling(3).mean()
    got = [np.nan if v is None else v for v in data["sma_3"]]
    np.testing.assert_allclose(got, want.to_numpy(), equal_nan=True)
    for bad, says in (({"indicators": [{"function": "NOPE"}]}, "not a TA-Lib function"),
                      ({"indicators": [{"function": "SMA", "params": {"timeperiod": 0}}]}, "timeperiod"),
                      ({"indicators": []}, "indicators")):
        resp = client.post("/api/v1/research/datasets/spx/indicators", json=bad)
        assert resp.status_code == 400 and says in resp.get_json()["error"], resp.get_json()
    assert client.post("/api/v1/research/datasets/nope/indicators", json=body).status_code == 404
    assert [d["name"] for d in client.get("/api/v1/research/datasets").get_json()["datasets"]] == ["spx"]


@pytest.mark.slow
def test_a_200_mb_file_is_refused_before_it_is_read_and_nothing_is_stored(tmp_path: Path, warehouse_url: str,
                                                                         fresh_warehouse: Warehouse) -> None:
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "data", warehouse_dsn=warehouse_url,
                             warehouse_database=fresh_warehouse.database, demo_rows=0)  # the default 100 MB limit
    app = create_app(settings, market=False)
    client = app.server.test_client()
    row = b"2024-01-02 09:15:00,10,11,9,10.5,100\n"
    body = b"timestamp,open,high,low,close,volume\n" + row * (200 * 1024 * 1024 // len(row))
    resp = _upload(client, body, name="huge")
    assert resp.status_code == 413 and "100 MB" in resp.get_json()["error"]
    datasets = app.server.extensions[EXTENSION_KEY]
    assert datasets.names() == [] and datasets.measurements.list() == []
