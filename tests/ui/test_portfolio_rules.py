"""/portfolio's alert rules in Chromium, on the real live board and its one alert engine: a foreign-flow
rule and a price rule added from the form (a price off the tick grid refused with the nearest valid
prices), listed, the price rule's alert shown under "Raised today" once a trade crosses it, deleted
with its button; a kiosk shows the rules without the form or the Delete buttons."""

from __future__ import annotations

import json

from dash.testing.wait import until

from backend.market.pipeline import alert_record
from tests.backend.market_ui.feeds import trade_message
from tests.ui.test_portfolio import ROW, _type, paper_app  # noqa: F401 - paper_app is a fixture
from tests.ui.test_research import _choose


def _rows(dash_duo, css: str) -> list[str]:
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(r => r.innerText.replace(/\\s+/g, ' ').trim());",
        css)


def _shown(dash_duo, css: str) -> bool:
    found = dash_duo.driver.find_elements("css selector", css)
    return bool(found) and found[0].is_displayed()


def test_add_a_rule_of_each_kind_see_one_fire_and_delete_it(dash_duo, paper_app) -> None:  # noqa: F811
    app, market = paper_app
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/portfolio")
    dash_duo.wait_for_contains_text("#paper-rules", "No alert rules yet.", timeout=20)
    dash_duo.wait_for_contains_text("#paper-rule-alerts", "No rule has fired today.", timeout=10)

    # foreign selling accelerating on HPG: no price asked for
    _choose(dash_duo, "#paper-rule-symbol", "HPG")
    _choose(dash_duo, "#paper-rule-kind", "foreign selling accelerating")
    until(lambda: not _shown(dash_duo, "#paper-rule-price"), timeout=10)
    dash_duo.find_element("#paper-rule-add").click()
    dash_duo.wait_for_contains_text("#paper-rule-message", "Alert when HPG: foreign selling accelerating.", timeout=10)
    until(lambda: _rows(dash_duo, "#paper-rules .paper-rule") == ["HPG foreign selling accelerating Delete"]
          or _rows(dash_duo, "#paper-rules .paper-rule")[0].startswith("HPG foreign selling accelerating"),
          timeout=10)
    [flow] = market.rules()
    assert (flow.symbol, flow.kind, flow.op, flow.price) == ("HPG", "foreign", "sell", None)

    # FPT at or above a price: off the 100-đồng grid is refused with the nearest valid prices
    _choose(dash_duo, "#paper-rule-symbol", "FPT")
    _choose(dash_duo, "#paper-rule-kind", "trades at or above")
    until(lambda: _shown(dash_duo, "#paper-rule-price"), timeout=10)
    _type(dash_duo, "#paper-rule-price", "121050")
    dash_duo.find_element("#paper-rule-add").click()
    dash_duo.wait_for_contains_text(
        "#paper-rule-message", "Not added: 121,050 is not on FPT's price grid (tick 100 VND at this price); "
                               "the nearest valid prices are 121,000 or 121,100", timeout=10)
    assert len(market.rules()) == 1
    _type(dash_duo, "#paper-rule-price", "121000")
    dash_duo.find_element("#paper-rule-add").click()
    dash_duo.wait_for_contains_text("#paper-rule-message", "Alert when FPT: trades at or above 121,000 ₫.",
                                    timeout=10)
    until(lambda: len(_rows(dash_duo, "#paper-rules .paper-rule")) == 2, timeout=10)
    rows = _rows(dash_duo, "#paper-rules .paper-rule")
    assert rows[0].startswith("FPT trades at or above 121,000 ₫") and rows[1].startswith("HPG")
    price_rule = next(r for r in market.rules() if r.symbol == "FPT")
    assert (price_rule.kind, price_rule.op, price_rule.price) == ("price", "above", 121_000.0)

    # a trade at 121,000 crosses it: the engine's alert, kept by the service, is listed with its rule
    market.core.process(trade_message("FPT", ROW["ref"], ROW["ceiling"], ROW["floor"], 121_000, 100, 1_100))
    for alert in market.core.drain_alerts():
        market.record_alert(alert_record(alert))
    until(lambda: _rows(dash_duo, "#paper-rule-alerts .paper-rule-alert"), timeout=10)
    [raised] = _rows(dash_duo, "#paper-rule-alerts .paper-rule-alert")
    assert "FPT trades at or above 121,000 ₫ FPT reached 121,000.0" in raised
    assert [a["rule_id"] for a in market.rule_alerts()] == [price_rule.id]

    # deleted with its button: gone from the list, the store and the engine
    dash_duo.find_element(f"[data-rule-id='{price_rule.id}'] button").click()
    dash_duo.wait_for_contains_text("#paper-rule-message", "Rule deleted.", timeout=10)
    until(lambda: len(_rows(dash_duo, "#paper-rules .paper-rule")) == 1, timeout=10)
    assert [r.id for r in market.rules()] == [flow.id]
    assert {r.id for r in market.core.alerts.rules()} == {flow.id}
    assert json.dumps(dash_duo.get_logs()) == "[]"

    # a kiosk: the rules and what they raised, no form and no Delete buttons
    dash_duo.wait_for_page(dash_duo.server_url + "/portfolio?kiosk=1")
    dash_duo.wait_for_contains_text("#paper-rules", "HPG", timeout=20)
    dash_duo.wait_for_contains_text("#paper-rule-alerts", "FPT reached", timeout=10)
    assert not _shown(dash_duo, "#paper-rule-add") and not _shown(dash_duo, "#paper-rule-symbol")
    assert not _shown(dash_duo, "#paper-rules button")
    assert json.dumps(dash_duo.get_logs()) == "[]"
