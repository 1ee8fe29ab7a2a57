"""Per-request bookkeeping on the Flask server: request id, latency metrics, one access line.

Before a request: take the client's ``X-Request-ID`` when it is sane (``logs.accept_request_id``)
or make one, and bind it to the request's log context. After it: count the request under its
URL rule (``/api/v1/pivot``, Dash's ``/<path:path>``, never the raw path, so a scan of random
URLs cannot create series), time it, and, for a Dash callback request, time it again under
the callback's outputs — but only outputs the app registered, for the same reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container
from typing import Any

from flask import Flask, Response, g, request

from backend.access.usage import note_request as note_usage
from backend.observability import logs, metrics, window
from backend.server_timing import timing_header, timing_start

DASH_UPDATE_PATH = "/_dash-update-component"
UNMATCHED_ROUTE = "<unmatched>"
UNKNOWN_CALLBACK = "<unknown>"
_LABEL_MAX = 200
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_MEMORY_EVERY_SECONDS = 5.0
_STATIC_ROUTES = ("/assets/", "/_dash-component-suites/", "/_favicon")

log = logs.get_logger("deskboard.access")


def route_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def callback_label(body: Any, known: Container[str]) -> str:
    """A readable, bounded name for the callback a Dash update request runs.

    Dash names a callback by its outputs (``id.prop``, or ``..a.x...b.y..`` for several); only a
    name the app registered is used, anything else is ``<unknown>``.
    """
    output = body.get("output") if isinstance(body, dict) else None
    if not isinstance(output, str) or output not in known:
        return UNKNOWN_CALLBACK
    name = output.strip(".") if output.startswith("..") else output
    return name.replace("...", " + ")[:_LABEL_MAX]


def current_callback() -> str | None:
    """The callback label of the request being served (None outside a Dash update)."""
    return g.get("dash_callback")


def current_request_id() -> str | None:
    return g.get("request_id")


def install_request_hooks(server: Flask, *, known_callbacks: Callable[[], Container[str]] | None = None) -> None:
    last_memory = [0.0]

    @server.before_request
    def _begin() -> None:
        g.request_id = logs.accept_request_id(request.headers.get(logs.REQUEST_ID_HEADER))
        g.observed_from = timing_start()  # one clock reading serves the metrics and Server-Timing
        logs.bind_request(g.request_id)
        window.note_request()
        if request.path == DASH_UPDATE_PATH and request.method == "POST" and known_callbacks is not None:
            # Flask keeps the parsed body: Dash's dispatch reads the same object, not the stream again.
            body = request.get_json(silent=True)
            g.dash_callback = callback_label(body, known_callbacks())
            logs.bind_request(g.request_id, callback=g.dash_callback)

    @server.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is None:  # a request that failed before our before_request ran
            request_id = logs.accept_request_id(request.headers.get(logs.REQUEST_ID_HEADER))
        response.headers[logs.REQUEST_ID_HEADER] = request_id
        started = g.pop("observed_from", None)
        if started is None:
            return response
        seconds = time.perf_counter() - started[0]
        response.headers.add("Server-Timing", timing_header(started))
        route = route_label()
        method = request.method if request.method in _METHODS else "OTHER"
        metrics.HTTP_REQUESTS.labels(route=route, method=method, status=str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(route=route, method=method).observe(seconds)
        callback = g.get("dash_callback")
        if callback is not None:
            metrics.CALLBACK_LATENCY.labels(callback=callback).observe(seconds)
        note_usage(route, response.status_code, seconds)  # an append to the usage buffer; written by its thread
        now = time.monotonic()
        if now - last_memory[0] >= _MEMORY_EVERY_SECONDS:
            last_memory[0] = now
            metrics.update_process_gauges()
        # Static files and component bundles are logged at debug: a page load asks for dozens.
        write = log.debug if route.startswith(_STATIC_ROUTES) and response.status_code < 400 else log.info
        write("request", method=method, route=route, path=request.path[:200], status=response.status_code,
              ms=round(seconds * 1000, 1))
        return response

    @server.teardown_request
    def _end(_exc: BaseException | None) -> None:
        # The thread serves other requests next; lines it writes in between belong to none.
        logs.unbind_request()
