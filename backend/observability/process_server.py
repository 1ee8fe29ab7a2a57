"""``/health`` and ``/metrics`` for processes that serve no web pages: the feed process, job workers.

Kubernetes probes them and Prometheus scrapes them like the web server::

    start_from_env(health=lambda: (ok, {"state": ...}), collectors=[MarketCollector(service)])

serves on ``DESKBOARD_PROCESS_HTTP_PORT`` (set in the Kubernetes config; unset: no server).

The server runs on a daemon thread and answers nothing else (404). ``health`` is called
on every probe; anything it raises is an unhealthy answer, not a crash.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from backend.observability import metrics

PORT_ENV = "DESKBOARD_PROCESS_HTTP_PORT"
DEFAULT_PORT = 9150
Health = Callable[[], tuple[bool, dict[str, Any]]]
log = logging.getLogger(__name__)


def _handler(health: Health, collectors: Sequence[Collector]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "deskboard"
        sys_version = ""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.exposition(collectors), CONTENT_TYPE_PLAIN_0_0_4)
            elif path == "/health":
                try:
                    ok, detail = health()
                except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy answer
                    ok, detail = False, {"error": type(exc).__name__}
                body = json.dumps({"status": "ok" if ok else "unhealthy", **detail}, default=str).encode()
                self._send(200 if ok else 503, body, "application/json")
            else:
                self._send(404, b'{"error": "not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("process server: " + format, *args)

    return Handler


def start_process_server(port: int, *, health: Health, collectors: Sequence[Collector] = (),
                         host: str = "0.0.0.0") -> ThreadingHTTPServer:  # probes come from outside the pod
    """Serve ``/health`` and ``/metrics`` on ``host:port`` (``port=0``: any free port) until ``shutdown()``."""
    server = ThreadingHTTPServer((host, port), _handler(health, tuple(collectors)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="process-http", daemon=True).start()
    log.info("health and metrics on port %d", server.server_address[1])
    return server


def start_from_env(*, health: Health, collectors: Sequence[Collector] = ()) -> ThreadingHTTPServer | None:
    """``start_process_server`` on the port ``DESKBOARD_PROCESS_HTTP_PORT`` names; None when it is unset."""
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(f"{PORT_ENV} must be a port number (1-65535), not {raw[:20]!r}")
    # Where the web server listens too: 127.0.0.1 unless the deployment opens it (0.0.0.0 in a pod).
    host = os.environ.get("DESKBOARD_HOST", "").strip() or "127.0.0.1"
    return start_process_server(int(raw), health=health, collectors=collectors, host=host)
