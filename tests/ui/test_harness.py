"""Browser tests serve their app on a port the kernel chose, never on Dash's counted default ports
(a taken default port makes Dash's runner retry and stop every app thread started meanwhile)."""

from __future__ import annotations

from dash import Dash, html
from dash.testing.application_runners import BaseDashRunner

from tests.conftest import AppServer


def test_the_test_server_is_ours_and_serves_on_a_kernel_chosen_port(dash_duo) -> None:
    app = Dash(__name__)
    app.layout = html.Div("ready", id="ready")
    counted_from = BaseDashRunner._next_port
    dash_duo.start_server(app)
    assert isinstance(dash_duo.server, AppServer)
    assert dash_duo.server.port not in (8050, counted_from)
    assert BaseDashRunner._next_port == counted_from  # Dash's own port counter was not used
    dash_duo.wait_for_text_to_equal("#ready", "ready", timeout=20)
    assert dash_duo.get_logs() == []
