"""A ``Server-Timing`` header on every response: the server's own time for the request.

Browsers expose it to the page (``PerformanceResourceTiming.serverTiming``), so a
measurement taken in the browser can tell the server's part of an update from the
network and from the browser's own drawing. ``app`` is wall time inside the server
(waiting for other threads included); ``cpu`` is the CPU time of the request's thread.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g


def timing_start() -> tuple[float, float]:
    """Wall and thread-CPU clocks at the start of a request."""
    return time.perf_counter(), time.thread_time()


def timing_header(started: tuple[float, float]) -> str:
    """The ``Server-Timing`` value for a request that started at ``started`` (``timing_start()``)."""
    wall = (time.perf_counter() - started[0]) * 1000
    cpu = (time.thread_time() - started[1]) * 1000
    return f"app;dur={wall:.1f}, cpu;dur={cpu:.1f}"


def install_server_timing(server: Flask) -> None:
    """The header on its own; the app's request hooks (``backend.observability``) stamp it as they time."""

    @server.before_request
    def _start() -> None:
        g.timing_started = timing_start()

    @server.after_request
    def _stamp(response: Response) -> Response:
        started = g.pop("timing_started", None)
        if started is not None:
            response.headers.add("Server-Timing", timing_header(started))
        return response
