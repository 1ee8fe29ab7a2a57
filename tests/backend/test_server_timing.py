"""Every response says how long the server spent on it, split into wall and CPU time."""

from __future__ import annotations

import re
import time

from flask import Flask

from backend.server_timing import install_server_timing

_ENTRY = re.compile(r"^(app|cpu);dur=(\d+\.\d)$")


def _timings(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(","):
        match = _ENTRY.match(part.strip())
        assert match, f"malformed Server-Timing entry {part!r}"
        out[match.group(1)] = float(match.group(2))
    return out


def _app() -> Flask:
    app = Flask(__name__)

    @app.get("/sleep")
    def sleep():
        time.sleep(0.05)
        return "slept"

    @app.get("/fail")
    def fail():
        return "no", 404

    install_server_timing(app)
    return app


def test_waiting_counts_as_wall_time_not_cpu_time() -> None:
    response = _app().test_client().get("/sleep")
    timings = _timings(response.headers["Server-Timing"])
    assert timings["app"] >= 50.0
    assert timings["cpu"] < timings["app"]


def test_error_answers_are_timed_too() -> None:
    response = _app().test_client().get("/fail")
    assert response.status_code == 404
    assert set(_timings(response.headers["Server-Timing"])) == {"app", "cpu"}


def test_unknown_paths_get_one_header() -> None:
    response = _app().test_client().get("/nowhere")
    assert response.status_code == 404
    assert len(response.headers.getlist("Server-Timing")) == 1


def test_the_apps_request_hooks_stamp_one_header_from_the_clock_the_metrics_read() -> None:
    from backend.observability.requests import install_request_hooks

    app = Flask(__name__)

    @app.get("/sleep")
    def sleep():
        time.sleep(0.05)
        return "slept"

    install_request_hooks(app)
    response = app.test_client().get("/sleep")
    assert len(response.headers.getlist("Server-Timing")) == 1
    timings = _timings(response.headers["Server-Timing"])
    assert timings["app"] >= 50.0 and timings["cpu"] < timings["app"]
