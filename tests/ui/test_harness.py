"""Browser tests serve their app on a port the kernel chose, never on Dash's counted default ports
(a taken default port makes Dash's runner retry and stop every app thread started meanwhile)."""

from __future__ import annotations

from dash.testing.application_runners import BaseDashRunner

from tests.conftest import AppServer


def test_the_test_server_is_ours_and_serves_on_a_kernel_chosen_port(dash_duo, deskboard_app) -> None:
    counted_from = BaseDashRunner._next_port
    dash_duo.start_server(deskboard_app)
    assert isinstance(dash_duo.server, AppServer)
    assert dash_duo.server.port not in (8050, counted_from)
    assert BaseDashRunner._next_port == counted_from  # Dash's own port counter was not used
    dash_duo.wait_for_element(".shell-brand", timeout=20)
    assert dash_duo.get_logs() == []
