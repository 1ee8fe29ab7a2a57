"""Shared fixtures.

chDB lets one process open one warehouse folder at a time, so the whole pytest run
shares one session folder; tests isolate themselves with their own databases.
Server-backed tests (Redis, PostgreSQL) read the URLs that the test command
exports after starting the servers on 127.0.0.1; under CI a missing server is a
failure, never a silent skip.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from dash.testing.application_runners import ThreadedRunner

from backend.warehouse import Warehouse, open_warehouse

# Tests of features other than access control meet the app as its single local user; the
# access tests switch sign-in on for the apps they build (load_settings(auth="on")).
os.environ.setdefault("DESKBOARD_AUTH", "off")

# A small generated data set shared by the integration tests: big enough to make
# every dimension and exposure type appear, small enough to build in seconds.
FIXTURE_ROWS = 60_000
FIXTURE_START = date(2024, 1, 2)
FIXTURE_END = date(2024, 2, 29)
FIXTURE_SEED = 11


def pytest_setup_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    return options


def free_port() -> int:
    """A port no one listens on now (the kernel picks it), on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer(ThreadedRunner):
    """The app under test, served by werkzeug in a thread on a port the kernel chose, and stopped
    by asking the server to shut down.

    Dash's own threaded runner stops a server by raising ``SystemExit`` inside every thread
    started since — request threads, the job runner, a live feed. A thread interrupted while it
    holds a logging handler's lock keeps it for ever, and the next log line anywhere (another
    test's teardown, the interpreter's exit) waits on it. This runner interrupts no thread: the
    server stops between requests, then the app's own job runner and market service are stopped.
    """

    def start(self, app, start_timeout: float = 30, **kwargs):  # type: ignore[override]
        from dash.testing import wait
        from werkzeug.serving import make_server

        app.scripts.config.serve_locally = True
        app.css.config.serve_locally = True
        app.enable_dev_tools(debug=False, dev_tools_disable_version_check=True)
        self._app = app
        self.port = kwargs.get("port") or free_port()
        self._server = make_server("127.0.0.1", self.port, app.server, threaded=True)
        self.thread = threading.Thread(target=self._server.serve_forever, name=f"app-server-{self.port}",
                                       daemon=True)
        self.thread.start()
        wait.until(lambda: self.accessible(self.url), timeout=start_timeout)
        self.started = True

    def stop(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
            self.thread.join(timeout=10)
            self._server = None
        if self._app is not None:
            stop_app_services(self._app.server)
        self._app = None
        self.started = False


def stop_app_services(server) -> None:
    """Stop what an app started beside its web server: the job runner, the live market, the usage writer."""
    from backend.access.usage import EXTENSION_KEY as USAGE_KEY
    from backend.jobs.runtime import EXTENSION_KEY as JOBS_KEY
    from backend.market.service import EXTENSION_KEY as MARKET_KEY

    for key in (MARKET_KEY, JOBS_KEY, USAGE_KEY):
        service = server.extensions.pop(key, None)
        if service is not None:
            service.stop(5.0)


@pytest.fixture(autouse=True)
def _stop_usage_writers_started_by_the_test() -> Iterator[None]:
    """Every app a test builds starts a usage writer; one left running would keep writing (and
    logging) for an app and a database that are gone."""
    from backend.access.usage import running_recorders

    before = set(map(id, running_recorders()))
    yield
    for recorder in running_recorders():
        if id(recorder) not in before:
            recorder.stop(2.0)


@pytest.fixture
def dash_thread_server() -> Iterator[ThreadedRunner]:
    with AppServer() as runner:
        yield runner


def _server_url(variable: str, what: str) -> str:
    url = os.environ.get(variable)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{variable} is not set: the test command must start {what} for CI")
    pytest.skip(f"{variable} not set: run the README's test command to start {what}")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deskboard-data")


@pytest.fixture(scope="session")
def warehouse_url(data_dir: Path) -> str:
    return f"chdb://{data_dir / 'warehouse'}"


@pytest.fixture
def fresh_warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    """An empty, migrated database of its own in the session warehouse."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    wh = open_warehouse(warehouse_url, database)
    yield wh
    wh.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")


@pytest.fixture(scope="session")
def trades_folder(data_dir: Path) -> Path:
    """Parquet files for the fixture data set, written once by the generator."""
    from backend.datagen import generate_to_folder

    out = data_dir / "fixture-trades"
    generate_to_folder(
        out, rows=FIXTURE_ROWS, start=FIXTURE_START, end=FIXTURE_END, seed=FIXTURE_SEED
    )
    return out


@pytest.fixture(scope="session")
def loaded_warehouse(warehouse_url: str, trades_folder: Path) -> Warehouse:
    """The fixture data set loaded into database ``fixture`` (read-only for tests)."""
    from backend.warehouse.loader import load_folder

    wh = open_warehouse(warehouse_url, "fixture")
    load_folder(wh, trades_folder)
    return wh


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _server_url("DESKBOARD_TEST_REDIS_URL", "a Redis server")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _server_url("DESKBOARD_TEST_POSTGRES_URL", "a PostgreSQL server")


def pytest_unconfigure(config: pytest.Config) -> None:
    # Apps built by the tests stop their usage writers at interpreter exit, after pytest has
    # closed the streams their last warnings (a test warehouse already dropped) would go to:
    # those lines are dropped instead of printing "--- Logging error ---" tracebacks.
    import logging

    logging.raiseExceptions = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (the test command runs two workers, ``--dist loadscope``) a worker takes a
    whole module at a time, so a module's fixtures (an app, a backup, a warehouse) are built once and
    its tests run in their order. The queue (the test command keeps this order) hands out the
    longest modules first so that both workers end together: modules with a slow scenario, then the
    browser modules, then the rest, each by its number of tests."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(module: str) -> tuple[int, int]:
        slow = any(item.get_closest_marker("slow") for item in modules[module])
        tier = 0 if slow else 1 if module.startswith("tests/ui/") else 2
        return tier, -len(modules[module])

    order = {module: rank for rank, module in enumerate(sorted(modules, key=weight))}
    items.sort(key=lambda item: order[item.nodeid.split("::", 1)[0]])
