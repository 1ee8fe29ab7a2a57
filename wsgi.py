"""WSGI entry for production servers: ``gunicorn -c deploy/gunicorn.conf.py wsgi:server``.

Each gunicorn worker imports this module and builds its own app (the config does not
preload it: threads and connections must belong to the process that uses them).
"""

from __future__ import annotations

from app import create_app
from backend.server_mode import install_worker_header

app = create_app()
server = app.server
install_worker_header(server)

# Dash finishes setting itself up on the first request, and requests that arrive while it
# does (a fresh worker taking its share of a busy site) can find it half done and fail.
# Do it now, before this worker accepts any request.
with server.test_request_context("/"):
    app._setup_server()
