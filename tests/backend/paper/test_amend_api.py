"""PATCH /api/v1/portfolios/<id>/orders/<order_id> on a real app at the live board's prices: an
amend answered as the OpenAPI document says, a retried amend done once, a finished order refused
with 409, and hostile bodies and ids refused with the field named and nothing changed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from backend.api.spec import SPEC_URL
from backend.config import load_settings
from backend.paper.ledger import identities
from tests.backend.paper.test_portfolios_api import _install_board
from tests.backend.research.test_research_api import _fits

API = "/api/v1/portfolios"
ORDER = f"{API}/{{pid}}/orders/{{oid}}"
# FPT on the board: band 111,600 to 128,400, asks 120,500 × 500, 120,600 × 1,000, 120,700 × 4,000


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse) -> Iterator[Any]:
    from app import create_app

    settings = load_settings(data_dir=tmp_path_factory.mktemp("paper-amend-api"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, redis_url=None)
    app = create_app(settings, market=False)
    _install_board(app)
    yield app


@pytest.fixture(scope="module")
def client(app) -> Any:
    return app.server.test_client()


@pytest.fixture(scope="module")
def doc(client) -> dict:
    return client.get(SPEC_URL).get_json()


def _resting(client, cash: int = 500_000_000) -> tuple[int, dict]:
    pid = client.post(API, json={"name": f"amend {uuid.uuid4().hex[:8]}", "cash": cash}).get_json()["id"]
    placed = client.post(f"{API}/{pid}/orders", json={"symbol": "FPT", "side": "buy", "quantity": 1_000,
                                                       "limit_price": 119_000})
    assert placed.status_code == 201, placed.get_json()
    return pid, placed.get_json()["order"]


def _everything(client, pid: int) -> tuple[dict, list, list]:
    book = client.get(f"{API}/{pid}").get_json()
    assert identities(book) == (0, 0)
    return book, client.get(f"{API}/{pid}/orders").get_json()["orders"], client.get(
        f"{API}/{pid}/history").get_json()["fills"]


def test_an_amend_over_the_api_replaces_the_order_and_fits_the_document(client, doc) -> None:
    assert "patch" in doc["paths"][ORDER]
    pid, resting = _resting(client)
    url = f"{API}/{pid}/orders/{resting['id']}"
    change = {"limit_price": 120_600, "quantity": 2_000, "idempotency_key": "am-1"}
    amended = client.patch(url, json=change)
    assert amended.status_code == 200, amended.get_json()
    _fits(doc, ORDER, "patch", amended)
    body = amended.get_json()
    assert (body["order"]["replaces"], body["order"]["quantity"], body["repeated"]) == (resting["id"], 2_000, False)
    assert (body["replaced"]["id"], body["replaced"]["status"]) == (resting["id"], "cancelled")
    # 2,000 at up to 120,600: 500 at 120,500 and 1,000 at 120,600 fill, 500 rest at 120,600
    assert [(f["price"], f["quantity"]) for f in body["fills"]] == [(120_500, 500), (120_600, 1_000)]
    assert body["order"]["status"] == "partially_filled"
    before = _everything(client, pid)
    again = client.patch(url, json=change)
    assert again.status_code == 200 and again.get_json()["repeated"]
    assert again.get_json()["order"]["id"] == body["order"]["id"]
    assert _everything(client, pid) == before
    # the amended order is cancelled now: without the key, nothing is left of it to amend
    refused = client.patch(url, json={"limit_price": 120_000})
    assert refused.status_code == 409 and refused.get_json() == {
        "error": f"order {resting['id']} is cancelled: only a working order can be amended"}
    _fits(doc, ORDER, "patch", refused)
    assert _everything(client, pid) == before


def test_an_amend_that_would_overspend_is_a_400_and_nothing_changes(client) -> None:
    # 130,000,000 đồng: 1,000 at 119,000 holds 119,178,500; 2,000 would need 238,357,000
    pid, resting = _resting(client, cash=130_000_000)
    before = _everything(client, pid)
    refused = client.patch(f"{API}/{pid}/orders/{resting['id']}", json={"quantity": 2_000})
    assert refused.status_code == 400
    assert refused.get_json()["error"].startswith("cash: this order needs up to 238,357,000 đồng")
    assert _everything(client, pid) == before


@pytest.mark.parametrize(("body", "status", "said"), [
    ({}, 400, "amend: change at least one of quantity, limit_price and stop_price"),
    ({"quantity": 150}, 400, "quantity: whole lots of 100"),
    ({"quantity": -100}, 400, "quantity"),
    ({"quantity": 1e3}, 400, "quantity"),
    ({"quantity": 10**30}, 400, "quantity"),
    ({"limit_price": 120_550}, 400, "limit_price: 120,550 is off the tick"),
    ({"limit_price": 130_000}, 400, "outside today's band"),
    ({"limit_price": "120000"}, 400, "limit_price"),
    ({"stop_price": 121_000}, 400, "stop_price: not taken by a limit order"),
    ({"limit_price": 119_000, "side": "sell"}, 400, "side"),
    ({"limit_price": 119_000, "idempotency_key": "<img src=x>"}, 400, "idempotency_key"),
    (b"{nope", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"", 400, "empty"),
    (b"x" * 5_000, 413, "larger than"),
    (b'{"limit_price": 119000, "pad": "' + b"x" * 5_000 + b'"}', 413, "larger than"),
])
def test_hostile_amends_are_refused_with_the_field_and_nothing_changes(client, body, status, said) -> None:
    pid, resting = _resting(client)
    before = _everything(client, pid)
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, bytes) else {"json": body}
    refused = client.patch(f"{API}/{pid}/orders/{resting['id']}", **kwargs)
    assert refused.status_code == status, refused.get_json()
    assert set(refused.get_json()) == {"error"} and said in refused.get_json()["error"]
    assert "<img" not in refused.get_json()["error"]
    assert _everything(client, pid) == before


def test_an_amend_of_an_order_that_is_not_there_is_a_404(client) -> None:
    pid, resting = _resting(client)
    other, theirs = _resting(client)
    for url in (f"{API}/{pid}/orders/{resting['id'] + 10_000}", f"{API}/{other}/orders/{resting['id']}",
                f"{API}/{pid}/orders/{theirs['id']}", f"{API}/999999/orders/{resting['id']}",
                f"{API}/{pid}/orders/{10**30}", f"{API}/{10**30}/orders/1", f"{API}/{pid}/orders/-1",
                f"{API}/{pid}/orders/abc"):
        answer = client.patch(url, json={"limit_price": 119_000})
        assert answer.status_code == 404, (url, answer.get_data(as_text=True)[:200])
        assert set(answer.get_json()) == {"error"}
    assert [o["status"] for o in client.get(f"{API}/{pid}/orders").get_json()["orders"]] == ["open"]
