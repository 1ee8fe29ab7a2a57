"""The job runner of a web server: installed on its Flask app, reached from requests and callbacks.

``install_jobs(server, stores)`` opens the runner the settings ask for and starts it
(the embedded runner's dispatcher and, on first need, its worker processes; or the
Celery runner's reaper and web threads). API views and page callbacks, which run in
the web process, use ``current_jobs()``. A process forked from the server that
reaches the same runner object only reads and writes the records: dispatching
and stopping stay with the process that started it.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Final

from flask import Flask, current_app

from backend.jobs.runner import JobRunner, open_runner
from backend.jobs.settings import JobSettings
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.stores import Stores

EXTENSION_KEY: Final = "deskboard.jobs"
log = logging.getLogger(__name__)
_install_lock = threading.Lock()


def install_jobs(server: Flask, stores: Stores, job_settings: JobSettings | None = None, *,
                 start: bool = True, replace: bool = False) -> JobRunner:
    """Open this server's job runner and (by default) start running jobs in this process.

    A server has one runner: a second call returns it, unless ``replace`` stops it
    and installs one with the settings given (tools and tests that need other limits).
    """
    with _install_lock:
        existing = server.extensions.get(EXTENSION_KEY)
        if existing is not None and not replace:
            return existing
        if existing is not None:
            existing.stop(3.0)
        runner = open_runner(stores.settings, job_settings, meta=stores.meta)
        if start:
            runner.start()
            atexit.register(runner.stop, 3.0)
        server.extensions[EXTENSION_KEY] = runner
        log.info("job runner: %s (%d at once)", runner.name, runner.job_settings.concurrency)
        return runner


def jobs_of(server: Flask) -> JobRunner:
    """The server's runner; one is installed and started on first use if the app has none yet."""
    runner = server.extensions.get(EXTENSION_KEY)
    if runner is None:
        runner = install_jobs(server, server.extensions[STORES_KEY])
    return runner


def current_jobs() -> JobRunner:
    return jobs_of(current_app)
