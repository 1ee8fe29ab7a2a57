"""A signed link shows the one view it was made for: whatever a link's browser sends to the pivot's
callbacks (another grouping, another date, a drill-through, filter values) the answers are the link's
view, with the maker's scope, checked against DuckDB over the fixture files; the board keeps the
link's watchlist; a signed-in user's callbacks are not pinned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from backend.access.principal import DataScope
from backend.pivot.view_state import parse_view
from backend.warehouse import Warehouse
from tests.backend.access.guard_support import PASSWORD, build_app, own_client, post_callback, services, sign_in
from tests.backend.access.test_scopes_support import AS_HELD

DESK = "Commodities"
LINK_QUERY = "rows=desk&m=pnl&kiosk=1"


@pytest.fixture
def app(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse):
    app = build_app(tmp_path / "data", warehouse_url, loaded_warehouse.database)
    services(app).accounts.create_user("desk-ana", password=PASSWORD, roles=("analyst",),
                                       scope=DataScope(desks=frozenset({DESK})), actor="desk-ana")
    return app


def _link_client(app, path: str, query: str):
    access = services(app)
    maker = access.accounts.principal("desk-ana")
    url, _info = access.links.create(maker, path, query, days=1)
    client = own_client(app)
    assert client.get(url).status_code == 302
    return client


def _call(app, client, outputs: tuple[str, ...], values: dict[tuple[str, str], Any], first_input: str = "") -> Any:
    """Post the callback writing ``outputs`` (and whose first input is ``first_input``) with ``values``
    by (component, property); its JSON answer (None: the callback changed nothing)."""
    found = [k for k, e in app.callback_map.items() if all(o in k for o in outputs)
             and str(e["inputs"][0]["id"]).startswith(first_input)]
    assert len(found) == 1, found
    key, entry = found[0], app.callback_map[found[0]]

    def spec(s: dict[str, Any]) -> dict[str, Any]:
        return {"id": s["id"], "property": s["property"], "value": values.get((s["id"], s["property"]))}

    parts = key.strip(".").split("...")
    outs = [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True)) for part in parts]
    inputs = [spec(s) for s in entry["inputs"]]
    body = {"output": key, "outputs": outs if len(outs) > 1 else outs[0], "inputs": inputs,
            "state": [spec(s) for s in entry["state"]], "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    answer = post_callback(client, body, stop=False)
    if answer.status_code == 204:
        return None
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return answer.get_json()["response"]


def _state(query: str) -> dict[str, Any]:
    return parse_view(query, latest_date=None).state.model_dump(mode="json")


def test_the_pivots_kiosk_refresh_answers_the_links_view_whatever_the_browser_sends(
        app, trades_folder: Path) -> None:
    client = _link_client(app, "/pivot", LINK_QUERY)
    for asked in ("rows=book&m=pnl&kiosk=1", "rows=desk&m=pnl&date=2024-01-02&kiosk=1", LINK_QUERY):
        response = _call(app, client, ("pivot-result.data",), {("pivot-state", "data"): _state(asked)},
                         first_input="pivot-kiosk-tick")
        result = response["pivot-result"]["data"]
        duck = duckdb.connect()
        duck.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
        day = duck.execute("SELECT max(trade_date) FROM trades WHERE desk = ?", [DESK]).fetchone()[0]
        want = duck.execute(f"SELECT sum(pnl) FROM trades WHERE desk = ? AND trade_date = ? AND {AS_HELD}",
                            [DESK, day]).fetchone()[0]
        assert result["totals"]["pnl"] == pytest.approx(want, abs=1), asked
        assert result["dimensions"] == ["desk"], asked
        assert {tuple(r["_path"]) for r in result["tree"] if r.get("_kind") != "total"} == {(DESK,)}, (asked, result["tree"][:2])


def test_a_links_controls_change_nothing_and_drill_and_filter_values_answer_nothing(app) -> None:
    client = _link_client(app, "/pivot", LINK_QUERY)
    # the rows chooser: the link's view comes back, with a notice saying why
    changed = _call(app, client, ("pivot-state.data", "pivot-types-refused"),
                    {("pivot-rows", "value"): ["book"], ("pivot-state", "data"): _state(LINK_QUERY)})
    assert changed["pivot-rows"]["value"] == ["desk"]
    assert "one view" in json.dumps(changed["pivot-notices"])
    moved = _call(app, client, ("pivot-state.data", "pivot-types-refused"),
                  {("pivot-rows", "value"): ["book"], ("pivot-state", "data"): _state("rows=book&m=pnl&kiosk=1")})
    assert moved["pivot-state"]["data"]["rows"] == ["desk"]
    assert _call(app, client, ("pivot-drill-modal.opened",),
                 {("pivot-grid", "cellDoubleClicked"): {"colId": "pnl", "rowId": "x"},
                  ("pivot-state", "data"): _state(LINK_QUERY)}) is None
    values = _call(app, client, ("pivot-filter-values.data",), {("pivot-filter-dim", "value"): "desk",
                                                                ("pivot-state", "data"): _state(LINK_QUERY)})
    assert values["pivot-filter-values"]["data"] == []


def test_a_signed_in_users_controls_are_not_pinned(app) -> None:
    client = own_client(app)
    sign_in(client, "desk-ana")
    moved = _call(app, client, ("pivot-state.data", "pivot-types-refused"),
                  {("pivot-rows", "value"): ["book"], ("pivot-state", "data"): _state(LINK_QUERY)})
    assert moved["pivot-state"]["data"]["rows"] == ["book"]
    values = _call(app, client, ("pivot-filter-values.data",), {("pivot-filter-dim", "value"): "desk",
                                                                ("pivot-state", "data"): _state(LINK_QUERY)})
    assert values["pivot-filter-values"]["data"] == [DESK]  # the user's scope, not everything


def test_a_board_links_watchlist_chooser_changes_nothing(app) -> None:
    link = _link_client(app, "/board", "watchlist=vn30&kiosk=1")
    assert _call(app, link, ("board-symbols.data",), {("board-watchlist", "value"): "hose"}) is None
    user = own_client(app)
    sign_in(user, "desk-ana")
    chosen = _call(app, user, ("board-symbols.data",), {("board-watchlist", "value"): "vn30"})
    assert chosen["board-symbols"]["data"]["symbols"]
