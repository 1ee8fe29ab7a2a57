"""A web process whose ClickHouse server does not answer starts, and says so plainly: ``/health``,
the API and the pivot page name the unreachable warehouse at once (no traceback, no wait)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.conftest import free_port

PAGE_ROUTER = {"output": ".._pages_content.children..._pages_store.data..",
               "outputs": [{"id": "_pages_content", "property": "children"},
                           {"id": "_pages_store", "property": "data"}],
               "changedPropIds": ["_pages_location.pathname"], "state": []}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    from app import create_app
    from backend.config import load_settings

    settings = load_settings(data_dir=tmp_path_factory.mktemp("unreachable"), feed="off", demo_rows=0,
                             warehouse_dsn=f"http://127.0.0.1:{free_port()}/")
    started = time.monotonic()
    app = create_app(settings)
    assert time.monotonic() - started < 60  # no connect attempt waits out a long timeout
    yield app.server.test_client()


def _plain(text: str) -> bool:
    return "warehouse" in text and "unreachable" in text and "Traceback" not in text and "SELECT" not in text


def test_health_says_the_warehouse_is_unreachable_and_the_other_stores_are_fine(client: FlaskClient) -> None:
    started = time.monotonic()
    answer = client.get("/health")
    assert time.monotonic() - started < 5
    body = answer.get_json()
    assert answer.status_code == 503 and body["status"] == "degraded" and body["data_version"] is None
    assert body["stores"]["warehouse"]["ok"] is False and "Unreachable" in body["stores"]["warehouse"]["error"]
    assert _plain(body["stores"]["warehouse"]["reason"])  # which server, and why, in words
    assert body["stores"]["meta"]["ok"] is True and body["stores"]["cache"]["ok"] is True


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/v1/pivot", {"dimensions": ["symbol"], "metrics": ["pnl"], "filters": {"trade_date": "2024-01-15"}}),
    ("get", "/api/v1/instruments", None),
])
def test_the_api_answers_503_naming_the_unreachable_warehouse(client: FlaskClient, method: str, path: str,
                                                              body: dict | None) -> None:
    answer = client.post(path, json=body) if method == "post" else client.get(path)
    assert answer.status_code == 503 and _plain(answer.get_json()["error"]), answer.get_data(as_text=True)[:300]


def test_the_pivot_page_names_the_unreachable_warehouse(client: FlaskClient) -> None:
    inputs = [{"id": "_pages_location", "property": "pathname", "value": "/pivot"},
              {"id": "_pages_location", "property": "search", "value": ""}]
    answer = client.post("/_dash-update-component", json=PAGE_ROUTER | {"inputs": inputs})
    assert answer.status_code == 200
    assert _plain(answer.get_data(as_text=True)), answer.get_data(as_text=True)[:400]


def test_pages_that_need_no_warehouse_still_draw(tmp_path: Path, client: FlaskClient) -> None:
    assert client.get("/board").status_code == 200
    assert client.get("/api/v1/market/status").status_code == 503  # the feed is off in this process
