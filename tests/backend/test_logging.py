"""JSON log lines carry the request id the response header shows; callback failures are logged with it."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator

import pytest
from dash import Dash, Input, Output, html, set_props
from flask import Flask

from backend.market.board_state import FeedUnavailableError
from backend.observability import logs
from backend.observability.callback_errors import NOTICE_TARGET, NOTICE_TITLE
from backend.observability.install import install_observability
from backend.observability.requests import install_request_hooks
from tests.backend.observability_support import dash_update

HEX_ID = r"[0-9a-f]{32}"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The app's structured handler writing into a buffer; the root logger restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure_logging(stream=stream, level="INFO", fmt="json")
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _flask_app() -> Flask:
    app = Flask("logging-probe")
    install_request_hooks(app)
    work_log = logging.getLogger("deskboard.test.work")

    @app.get("/work")
    def work():
        work_log.info("working on %s", "it")
        logs.get_logger("deskboard.test.struct").warning("structured", rows=3)
        return "done"

    @app.get("/slow/<int:n>")
    def slow(n: int):
        time.sleep(0.05)
        work_log.info("slow %d", n)
        return str(n)

    @app.get("/boom")
    def boom():
        raise RuntimeError("route failed")

    return app


def test_every_line_of_a_request_carries_the_id_in_its_response_header(log_stream) -> None:
    client = _flask_app().test_client()
    response = client.get("/work")
    request_id = response.headers["X-Request-ID"]
    assert request_id
    written = lines(log_stream)
    assert {line["event"] for line in written} >= {"working on it", "structured", "request"}
    assert all(line["request_id"] == request_id for line in written), written
    assert all(line["pid"] == os.getpid() for line in written)
    structured = next(line for line in written if line["event"] == "structured")
    assert structured["rows"] == 3 and structured["level"] == "warning"
    access = next(line for line in written if line["event"] == "request")
    assert access["route"] == "/work" and access["status"] == 200 and access["ms"] >= 0


def test_a_sane_incoming_request_id_is_kept(log_stream) -> None:
    client = _flask_app().test_client()
    given = "edge-7f3a.2026:req_0001"
    response = client.get("/work", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given
    assert {line["request_id"] for line in lines(log_stream)} == {given}


@pytest.mark.parametrize(
    "hostile",
    [
        "x" * 129,
        "a" * 100_000,
        "abc",  # too short to find again in a log search
        "id with spaces 1234",
        'quote"injection-1234',
        "line\r\nbreak-12345678",
        "{\"json\": 1}-12345",
        "../../etc/passwd",
        "ünïcödé-12345678",
        "-leading-dash-123",
        "",
    ],
)
def test_a_hostile_or_oversized_request_id_is_replaced(log_stream, hostile: str) -> None:
    client = _flask_app().test_client()
    # Werkzeug's test client refuses header values with newlines, as a real server would; send the rest.
    headers = {"X-Request-ID": hostile} if "\n" not in hostile else {}
    response = client.get("/work", headers=headers)
    request_id = response.headers["X-Request-ID"]
    assert request_id != hostile
    assert __import__("re").fullmatch(HEX_ID, request_id)
    assert {line["request_id"] for line in lines(log_stream)} == {request_id}
    assert hostile[:20] not in log_stream.getvalue() or hostile == ""


def test_accept_request_id_directly_refuses_control_characters() -> None:
    for bad in ("line\nbreak-12345678", "tab\tinside-12345", "nul\x00byte-12345"):
        assert logs.accept_request_id(bad) != bad


def test_concurrent_requests_keep_their_own_ids(log_stream) -> None:
    app = _flask_app()
    results: dict[int, str] = {}

    def call(n: int) -> None:
        results[n] = app.test_client().get(f"/slow/{n}").headers["X-Request-ID"]

    threads = [threading.Thread(target=call, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results.values())) == 6
    for line in lines(log_stream):
        if line["event"].startswith("slow "):
            assert line["request_id"] == results[int(line["event"].split()[1])]


def test_lines_written_after_a_request_carry_no_stale_id(log_stream) -> None:
    client = _flask_app().test_client()
    client.get("/work")
    logging.getLogger("deskboard.test.after").info("between requests")
    after = [line for line in lines(log_stream) if line["event"] == "between requests"]
    assert after and "request_id" not in after[0]


def test_a_failing_route_logs_its_traceback_with_the_id(log_stream) -> None:
    app = _flask_app()
    client = app.test_client()
    response = client.get("/boom")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    errors = [line for line in lines(log_stream) if line["level"] == "error"]
    assert errors and all(line["request_id"] == request_id for line in errors)
    assert "route failed" in json.dumps(errors[0]["exception"])


def test_development_server_access_lines_are_dropped_but_its_other_lines_stay(log_stream) -> None:
    werkzeug = logging.getLogger("werkzeug")
    # As werkzeug writes it: address and date in the format string, the line end stripped.
    werkzeug.info('127.0.0.1 - - [02/Dec/2026 02:16:11] "%s" %s %s', "GET / HTTP/1.1", "200", "-")
    werkzeug.info("Running on %s", "http://127.0.0.1:9999")
    events = [line["event"] for line in lines(log_stream)]
    assert events == ["Running on http://127.0.0.1:9999"]


def _failing_dash_app() -> Dash:
    app = Dash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="ok"), html.Div(id="ok2"), html.Div(id="bad"), html.Div(id="feed")])

    @app.callback(Output("ok", "children"), Output("ok2", "children"), Input("go", "n_clicks"))
    def fine(n):
        logging.getLogger("deskboard.test.cb").info("fine callback ran")
        return n, n

    @app.callback(Output("bad", "children"), Input("go", "n_clicks"))
    def broken(n):
        return {"total": 1 / 0}

    @app.callback(Output("feed", "children"), Input("go", "n_clicks"))
    def feed_down(n):
        raise FeedUnavailableError("the live market feed process did not answer in time; try again")

    install_observability(app, notify=set_props, configure_logs=False)
    return app


def test_a_failing_callback_logs_with_the_request_id_and_the_user_gets_a_notice(log_stream) -> None:
    app = _failing_dash_app()
    client = app.server.test_client()
    client.get("/")
    response = dash_update(client, "bad.children", {"id": "bad", "property": "children"},
                           request_id="trace-0042-abcdef")
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-0042-abcdef"
    body = response.get_json()
    # The outputs are left as they were; the shell's notification container shows the notice.
    assert "bad" not in body.get("response", {})
    notices = body["sideUpdate"][NOTICE_TARGET]["sendNotifications"]
    assert notices[0]["title"] == NOTICE_TITLE and "trace-0042-abcdef" in notices[0]["message"]
    assert "Traceback" not in response.get_data(as_text=True) and "ZeroDivision" not in response.get_data(as_text=True)

    failed = [line for line in lines(log_stream) if line["event"] == "callback failed"]
    assert len(failed) == 1
    line = failed[0]
    assert line["request_id"] == "trace-0042-abcdef" and line["level"] == "error"
    assert line["callback"] == "bad.children" and line["error"] == "ZeroDivisionError"
    assert "ZeroDivisionError" in json.dumps(line["exception"])
    access = [x for x in lines(log_stream) if x["event"] == "request" and x["request_id"] == "trace-0042-abcdef"]
    assert access and access[0]["callback"] == "bad.children"


def test_a_working_callback_logs_under_its_request_id(log_stream) -> None:
    app = _failing_dash_app()
    client = app.server.test_client()
    client.get("/")
    outputs = [{"id": "ok", "property": "children"}, {"id": "ok2", "property": "children"}]
    response = dash_update(client, "..ok.children...ok2.children..", outputs, 3)
    assert response.status_code == 200 and "sideUpdate" not in response.get_json()
    ran = [line for line in lines(log_stream) if line["event"] == "fine callback ran"]
    assert ran and ran[0]["request_id"] == response.headers["X-Request-ID"]
    assert ran[0]["callback"] == "ok.children + ok2.children"


def test_the_notice_goes_to_the_shells_notification_container() -> None:
    from components.shell import shell_layout

    found = []

    def walk(node) -> None:
        if getattr(node, "id", None) == NOTICE_TARGET:
            found.append(type(node).__name__)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if hasattr(child, "to_plotly_json"):
                walk(child)

    walk(shell_layout())
    assert found == ["NotificationContainer"]


def test_static_files_are_logged_at_debug_and_their_failures_at_info(log_stream) -> None:
    app = _flask_app()

    @app.get("/assets/<path:filename>")
    def asset(filename: str):
        return ("", 404) if filename == "missing.css" else "body{}"

    client = app.test_client()
    client.get("/assets/base.css")
    client.get("/assets/missing.css")
    client.get("/work")
    access = [line for line in lines(log_stream) if line["event"] == "request"]
    assert [(line["path"], line["status"]) for line in access] == [("/assets/missing.css", 404), ("/work", 200)]


def test_a_failure_the_user_can_act_on_is_named_in_the_notice(log_stream) -> None:
    app = _failing_dash_app()
    client = app.server.test_client()
    client.get("/")
    response = dash_update(client, "feed.children", {"id": "feed", "property": "children"},
                           request_id="trace-0043-abcdef")
    notices = response.get_json()["sideUpdate"][NOTICE_TARGET]["sendNotifications"]
    assert notices[0]["message"] == ("the live market feed process did not answer in time; try again. "
                                     "Reference: trace-0043-abcdef")
