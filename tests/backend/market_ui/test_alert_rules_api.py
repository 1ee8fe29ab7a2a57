"""/api/v1/alerts/rules on the real app, its records store and the live market's one alert engine:
rules of both kinds made, listed against the OpenAPI document, watched by the engine and deleted;
every hostile body refused with a 400 naming the field and nothing stored; 503 without a market."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from backend.api.alerts import alerts_api
from backend.api.spec import SPEC_URL
from backend.config import load_settings
from backend.market.runtime import install_market_service
from backend.market.service import MarketService
from backend.stores import EXTENSION_KEY as STORES_KEY
from tests.backend.market_ui.feeds import trade_message
from tests.backend.research.test_research_api import _fits

API = "/api/v1/alerts/rules"
FPT = {"symbol": "FPT", "kind": "stock", "vn30": True, "ref": 130_000, "ceiling": 139_100, "floor": 120_900,
       "last": 130_500, "session": "LO", "ts": 0}
HPG = {**FPT, "symbol": "HPG", "ref": 25_000, "ceiling": 26_750, "floor": 23_250, "last": 25_100}
FUTURE = {**FPT, "symbol": "VN30F2612", "kind": "future", "vn30": False, "ref": 1_300.0, "ceiling": 1_391.0,
          "floor": 1_209.0, "last": 1_301.0}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse) -> Iterator[Any]:
    from app import create_app

    settings = load_settings(data_dir=tmp_path_factory.mktemp("alert-rules-api"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, redis_url=None)
    app = create_app(settings, market=False)
    market = install_market_service(app.server, app.server.extensions[STORES_KEY], start=False)
    market.board.publish([FPT, HPG, FUTURE])
    yield app


@pytest.fixture(scope="module")
def market(app) -> MarketService:
    from backend.market.service import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY]


@pytest.fixture(scope="module")
def client(app) -> Any:
    return app.server.test_client()


@pytest.fixture(scope="module")
def doc(client) -> dict:
    return client.get(SPEC_URL).get_json()


@pytest.fixture(autouse=True)
def no_rules(market: MarketService) -> Iterator[None]:
    for rule in market.rules():
        market.delete_rule(rule.id)
    yield
    for rule in market.rules():
        market.delete_rule(rule.id)


def _watched(market: MarketService) -> set[str]:
    """The rules the alert engine watches (not only the stored ones)."""
    return {rule.id for rule in market.core.alerts.rules()}


def test_rules_of_both_kinds_are_made_listed_watched_and_deleted(client, doc, market) -> None:
    before = datetime.now(UTC)
    made = client.post(API, json={"symbol": "fpt", "kind": "price_above", "price": 131_000, "note": "breakout"})
    assert made.status_code == 201, made.get_json()
    _fits(doc, API, "post", made)
    price_rule = made.get_json()
    assert {k: v for k, v in price_rule.items() if k not in ("id", "created")} == {
        "symbol": "FPT", "kind": "price_above", "op": "above", "price": 131_000.0, "note": "breakout"}
    assert before <= datetime.fromisoformat(price_rule["created"]) <= datetime.now(UTC)

    flow = client.post(API, json={"symbol": "HPG", "kind": "foreign_sell_accelerating"})
    assert flow.status_code == 201, flow.get_json()
    flow_rule = flow.get_json()
    assert (flow_rule["kind"], flow_rule["op"], flow_rule["price"], flow_rule["note"]) == (
        "foreign_sell_accelerating", "sell", None, "")
    futures = client.post(API, json={"symbol": "VN30F2612", "kind": "price_below", "price": 1_290.5})
    assert futures.status_code == 201 and futures.get_json()["price"] == 1_290.5

    listed = client.get(API)
    _fits(doc, API, "get", listed)
    assert [(r["symbol"], r["kind"]) for r in listed.get_json()["rules"]] == [
        ("FPT", "price_above"), ("HPG", "foreign_sell_accelerating"), ("VN30F2612", "price_below")]
    assert listed.get_json()["rules"][0] == price_rule
    assert _watched(market) == {price_rule["id"], flow_rule["id"], futures.get_json()["id"]}

    # the one engine watches it: a trade at 131,000 raises the rule's alert
    market.core.process(trade_message("FPT", 130_000, 139_100, 120_900, 131_000, 100, 100))
    raised = [a for a in market.core.drain_alerts() if a.rule_id]
    assert [(a.rule_id, a.symbol, a.value) for a in raised] == [(price_rule["id"], "FPT", 131_000)]

    gone = client.delete(f"{API}/{price_rule['id']}")
    _fits(doc, f"{API}/{{rule_id}}", "delete", gone)
    assert gone.status_code == 200 and gone.get_json() == {"id": price_rule["id"], "deleted": True}
    assert client.delete(f"{API}/{price_rule['id']}").status_code == 404
    assert [r["id"] for r in client.get(API).get_json()["rules"]] == [flow_rule["id"], futures.get_json()["id"]]
    assert _watched(market) == {flow_rule["id"], futures.get_json()["id"]}


def test_a_note_with_quotes_and_markup_is_kept_as_text(client, market) -> None:
    note = "'; DROP TABLE price_rules; -- <img src=x onerror=alert(1)> ghi chú 📉"
    made = client.post(API, json={"symbol": "HPG", "kind": "foreign_buy_accelerating", "note": note})
    assert made.status_code == 201 and made.get_json()["note"] == note
    assert [r.note for r in market.rules()] == [note]  # the table is there, the text stored as it came


HOSTILE = [
    ({"symbol": "ZZZ", "kind": "price_above", "price": 10_000}, "symbol: no price band for ZZZ today"),
    ({"symbol": "ZZZ", "kind": "foreign_sell_accelerating"}, "symbol: ZZZ is not on today's board"),
    ({"symbol": "FPT", "kind": "price_above", "price": 131_250},
     ("price: 131,250 is not on FPT's price grid (tick 100 VND at this price); the nearest valid prices are "
      "131,200 or 131,300")),
    ({"symbol": "FPT", "kind": "price_above", "price": 131_234.5}, "price: 131,234.5 is not on FPT's price grid"),
    ({"symbol": "FPT", "kind": "price_below", "price": 150_000},
     "price: 150,000 is above FPT's ceiling: today's band is 120,900–139,100; the nearest valid price is 139,100"),
    ({"symbol": "FPT", "kind": "price_below", "price": 120_800}, "price: 120,800 is below FPT's floor"),
    ({"symbol": "VN30F2612", "kind": "price_above", "price": 1_301.25}, "price: 1,301.25 is not on VN30F2612's"),
    ({"symbol": "FPT", "kind": "price_above", "price": -131_000}, "price: "),
    ({"symbol": "FPT", "kind": "price_above", "price": 0}, "price: "),
    ({"symbol": "FPT", "kind": "price_above", "price": "131000"}, "price: "),
    ({"symbol": "FPT", "kind": "price_above", "price": "NaN"}, "price: "),
    ({"symbol": "FPT", "kind": "price_above", "price": True}, "price: "),
    ({"symbol": "FPT", "kind": "price_above", "price": [131_000]}, "price: "),
    ({"symbol": "FPT", "kind": "price_above", "price": 10**15}, "price: "),
    ({"symbol": "FPT", "kind": "price_above"}, "price: a price_above rule needs a price"),
    ({"symbol": "FPT", "kind": "price_above", "price": None}, "price: a price_above rule needs a price"),
    ({"symbol": "HPG", "kind": "foreign_buy_accelerating", "price": 25_000}, "price: a foreign-flow rule has no price"),
    ({"symbol": "FPT", "kind": "price_above", "price": 131_000, "note": "n" * 10_240}, "note: "),
    ({"symbol": "FPT", "kind": "price_above", "price": 131_000, "note": "two\nlines"}, "note: "),
    ({"symbol": "FPT", "kind": "price_above", "price": 131_000, "note": 5}, "note: "),
    ({"symbol": "FPT", "kind": "price_near", "price": 131_000}, "kind: "),
    ({"symbol": "FPT", "kind": "PRICE_ABOVE", "price": 131_000}, "kind: "),
    ({"symbol": "FPT", "kind": "price_above' OR '1'='1", "price": 131_000}, "kind: "),
    ({"symbol": "FPT", "price": 131_000}, "kind: "),
    ({"symbol": "FPT", "kind": "price_above", "price": 131_000, "extra": 1}, "extra: unknown field"),
    ({"symbol": "FPT", "kind": "price_above", "price": 131_000, "rule_id": "p-1"}, "rule_id: unknown field"),
    ({"symbol": "'; DROP TABLE price_rules; --", "kind": "price_above", "price": 131_000}, "symbol: "),
    ({"symbol": "<img src=x onerror=alert(1)>", "kind": "foreign_buy_accelerating"}, "symbol: "),
    ({"symbol": "F" * 10_240, "kind": "price_above", "price": 131_000}, "symbol: "),
    ({"symbol": 123, "kind": "price_above", "price": 131_000}, "symbol: "),
    ({"symbol": ["FPT"], "kind": "price_above", "price": 131_000}, "symbol: "),
    ({"symbol": "", "kind": "price_above", "price": 131_000}, "symbol: "),
    ({"symbol": "MARKET", "kind": "foreign_sell_accelerating"}, "symbol: MARKET is not on today's board"),
    ({"kind": "price_above", "price": 131_000}, "symbol: "),
]


@pytest.mark.parametrize(("body", "said"), HOSTILE, ids=[f"{i}-{h[1][:24]}" for i, h in enumerate(HOSTILE)])
def test_hostile_bodies_are_refused_naming_the_field_and_nothing_is_stored(client, market, body, said) -> None:
    refused = client.post(API, json=body)
    assert refused.status_code == 400, refused.get_data(as_text=True)[:300]
    error = refused.get_json()["error"]
    assert error.startswith(said) or said in error, error
    assert set(refused.get_json()) == {"error"} and len(error) < 400
    assert "<img" not in error and "DROP" not in error  # the caller's text is not echoed back
    assert client.get(API).get_json()["rules"] == [] and market.rules() == [] and _watched(market) == set()


@pytest.mark.parametrize(("raw", "status", "said"), [
    (b'{"symbol": "FPT", "kind": "price_above", "price": NaN}', 400, "not valid JSON"),
    (b'{"symbol": "FPT", "kind": "price_above", "price": 1e999}', 400, "not valid JSON"),
    (b'{"symbol": "FPT", "kind": "price_above", "price": 131000', 400, "not valid JSON"),
    (b'["FPT", "price_above", 131000]', 400, "must be a JSON object"),
    (b"", 400, "empty"),
    (b'{"note": "' + b"n" * 70_000 + b'"}', 413, "larger than"),
])
def test_bodies_that_are_not_a_rule_object_are_refused(client, market, raw, status, said) -> None:
    refused = client.post(API, data=raw, content_type="application/json")
    assert refused.status_code == status and said in refused.get_json()["error"]
    assert market.rules() == [] and _watched(market) == set()


def test_deleting_an_unknown_or_malformed_rule_changes_nothing(client, market) -> None:
    kept = client.post(API, json={"symbol": "HPG", "kind": "foreign_buy_accelerating"}).get_json()
    for rule_id, status in (("p-000000000000", 404), ("f-" + "0" * 62, 404), ("x" * 65, 400),
                            ("%00", 400), ("'%20OR%201=1", 404)):
        answer = client.delete(f"{API}/{rule_id}")
        assert answer.status_code == status, (rule_id, answer.get_data(as_text=True))
        assert set(answer.get_json()) == {"error"}
    assert client.delete(API).status_code == 405
    assert client.get(f"{API}?x=1").status_code == 400
    assert [r["id"] for r in client.get(API).get_json()["rules"]] == [kept["id"]]
    assert _watched(market) == {kept["id"]}


def test_without_a_running_market_the_rules_say_so() -> None:
    bare = Flask(__name__)
    bare.register_blueprint(alerts_api)
    client = bare.test_client()
    for answer in (client.get(API), client.post(API, json={"symbol": "HPG", "kind": "foreign_buy_accelerating"}),
                   client.delete(f"{API}/p-1")):
        assert answer.status_code == 503 and "not running" in answer.get_json()["error"]
