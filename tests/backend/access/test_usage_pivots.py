"""Pivots are counted in usage by their dimensions and metrics, from the API and from the pivot
page alike; a kiosk's timer refreshing the view is not use."""

from __future__ import annotations

from pathlib import Path

from backend.access.usage import EXTENSION_KEY, UsageRecorder
from backend.config import load_settings
from backend.warehouse import Warehouse

PAGE_CONTENT = ".._pages_content.children..._pages_store.data.."


def _page(client, search: str, changed: str) -> int:
    body = {"output": PAGE_CONTENT,
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/pivot"},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": [changed], "state": []}
    return client.post("/_dash-update-component", json=body).status_code


def test_api_and_page_pivots_are_counted_by_dimension_and_a_timer_is_not(
        tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse, fresh_warehouse: Warehouse) -> None:
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "data", warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0)
    app = create_app(settings, market=False)
    app.server.extensions[EXTENSION_KEY].stop(2.0)
    recorder = app.server.extensions[EXTENSION_KEY] = UsageRecorder(fresh_warehouse, flush_seconds=60).start()
    client = app.server.test_client()
    client.get("/")  # Dash registers the pages' callbacks at the first request
    answer = client.post("/api/v1/pivot", json={"dimensions": ["book"], "metrics": ["pnl", "fees"]})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert _page(client, "?rows=desk,asset_class&m=pnl", "_pages_location.pathname") == 200
    assert _page(client, "?rows=strategy&m=pnl", "pivot-kiosk-tick.n_intervals") == 200
    recorder.stop(5.0)
    rows = fresh_warehouse.query_rows(
        "SELECT dimensions, metrics FROM {db}.usage_events WHERE kind = 'pivot' ORDER BY length(dimensions)")
    assert [list(d) for d, _ in rows] == [["book"], ["desk", "asset_class"]]
    assert list(rows[0][1]) == ["pnl", "fees"] and "pnl" in list(rows[1][1])
