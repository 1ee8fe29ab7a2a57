"""Server-side callbacks with five or more outputs name them: ``output=dict(...)`` and a dict returned.

A long positional tuple is one misplaced value away from a wrong number drawn in the wrong
place, and nothing fails; a dict by name cannot be out of order. The check walks what the app
really registers: for each callback Dash keeps the grouping of its outputs
(``app.callback_map[id]["outputs_indices"]``: a dict for named outputs, a list for positional
ones, an int for a single ``Output``), and a server-side callback is the one with a Python
``"callback"`` (clientside ones run in the browser and have none).
"""

from __future__ import annotations

from typing import Any

import pytest
from dash import Dash, Input, Output, no_update

from backend.config import load_settings

MOST_POSITIONAL = 4  # five or more outputs must be named

# Callbacks of other areas still returning positional tuples, each to be converted; once one is
# named, the test below asks for its line here to go, so the list only shrinks.
NOT_YET_NAMED: set[str] = set()


def callback_label(entry: dict[str, Any]) -> str:
    """``module.function`` of a registered callback (Dash wraps the function with ``functools.wraps``)."""
    func = entry["callback"]
    func = getattr(func, "__wrapped__", func)
    return f"{func.__module__}.{func.__qualname__}"


def output_count(entry: dict[str, Any]) -> int:
    outputs = entry["output"]
    return len(outputs) if isinstance(outputs, list) else 1


def server_callbacks(callback_map: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {callback_label(e): e for e in callback_map.values() if e.get("callback") is not None}


def positional_wide(callback_map: dict[str, dict[str, Any]]) -> list[str]:
    """Labels of the server-side callbacks declaring more than MOST_POSITIONAL outputs positionally."""
    return sorted(label for label, e in server_callbacks(callback_map).items()
                  if not isinstance(e["outputs_indices"], dict) and output_count(e) > MOST_POSITIONAL)


@pytest.fixture(scope="module")
def callback_map(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    from app import create_app

    app = create_app(load_settings(data_dir=tmp_path_factory.mktemp("callback-outputs"), warehouse_dsn=warehouse_url,
                                   warehouse_database=loaded_warehouse.database, demo_rows=0), market=False)
    # Dash moves the pages' callbacks into the app on its first request.
    assert app.server.test_client().get("/_dash-dependencies").status_code == 200
    return app.callback_map


def test_no_server_callback_declares_five_or_more_outputs_positionally(callback_map) -> None:
    found = positional_wide(callback_map)
    offending = [label for label in found if label not in NOT_YET_NAMED]
    assert offending == [], (
        f"{offending}: a server-side callback with {MOST_POSITIONAL + 1} or more outputs declares them "
        "positionally; declare output={name: Output(...)} and return a dict by those names (see pages/pivot.py)")
    converted = sorted(NOT_YET_NAMED - set(found))
    assert converted == [], f"{converted} now name their outputs (or are gone): remove them from NOT_YET_NAMED"


def test_the_walk_sees_every_page_and_the_named_callbacks(callback_map) -> None:
    """The check above is only as good as the walk: it must reach the pages' and components' callbacks."""
    callbacks = server_callbacks(callback_map)
    modules = {label.rsplit(".", 1)[0] for label in callbacks}
    assert {"pages.market", "pages.board", "pages.pivot", "pages.admin_system", "components.saved_views",
            "components.job_progress"} <= modules
    named = {label: output_count(e) for label, e in callbacks.items() if isinstance(e["outputs_indices"], dict)}
    assert named.items() >= {"pages.market.answer": 17, "pages.board.refresh_board": 6, "pages.board.refresh_status": 5,
                             "pages.board.show_detail": 8, "pages.pivot.update_view": 29, "pages.pivot.refresh": 9,
                             "components.job_progress._show": 14, "components.saved_views._act": 7}.items()


def test_the_check_tells_named_from_positional_outputs() -> None:
    """On a throwaway app: a positional callback of five outputs is caught; named, clientside or short ones are not."""
    app = Dash(__name__)

    def outs(prefix: str, count: int = 5) -> list[Output]:
        return [Output(f"{prefix}-{n}", "children") for n in range(count)]

    @app.callback(*outs("positional"), Input("go", "n_clicks"), prevent_initial_call=True)
    def positional(_n: int | None) -> tuple[Any, ...]:
        return (no_update,) * 5

    @app.callback(output={f"o{n}": o for n, o in enumerate(outs("named"))}, inputs=[Input("go", "n_clicks")],
                  prevent_initial_call=True)
    def named(_n: int | None) -> dict[str, Any]:
        return dict.fromkeys((f"o{n}" for n in range(5)), no_update)

    @app.callback(*outs("short", MOST_POSITIONAL), Input("go", "n_clicks"), prevent_initial_call=True)
    def short(_n: int | None) -> tuple[Any, ...]:
        return (no_update,) * MOST_POSITIONAL

    app.clientside_callback("function(n) { return [n, n, n, n, n]; }", *outs("browser"), Input("go", "n_clicks"))
    mine = [label for label in positional_wide(app.callback_map) if label.startswith(f"{__name__}.")]
    assert mine == [f"{__name__}.{positional.__qualname__}"]
    assert {f"{__name__}.{f.__qualname__}" for f in (named, short)} <= set(server_callbacks(app.callback_map))
    (browser,) = [e for k, e in app.callback_map.items() if "browser-0.children" in k]
    assert output_count(browser) == 5 and "callback" not in browser  # walked past: it runs in the page
