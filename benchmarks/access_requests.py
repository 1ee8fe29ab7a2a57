"""What the access check costs one request: the real app with sign-in on against the same app with it off.

Both apps (``create_app`` with ``auth="on"`` and ``auth="off"``) run side by side in this process,
each behind a real werkzeug server on 127.0.0.1, over the same warehouse. A ``requests`` session
sends each kind of request to one then the other, alternately, so both sides see the same machine
load. The figure is the app's whole wall time for the request, from the WSGI call to its answer's
headers (every hook, the access check, the view, the session cookie saved); beside it the
difference in the app's own ``Server-Timing: app;dur=`` (which ends before the session cookie
is saved) and in the client's round trip (which adds the client's cookie handling). The
difference of the medians is what access control adds to a request.

The signed-in user and the token's owner see every row, as the local user does with sign-in off,
so both sides compute the same answer: the scope filter's own cost is timed by the pivot section.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from backend.access.current import current_scope
from backend.access.install import EXTENSION_KEY, Access
from backend.access.principal import EVERYTHING, DataScope
from backend.access.usage import EXTENSION_KEY as USAGE_KEY
from backend.config import load_settings

BUDGET_MS = 1.0
PASSWORD = "a benchmark passphrase of some length 42"
_DUR = re.compile(r"\bapp;dur=([0-9.]+)")
WSGI_HEADER = "X-Bench-Wsgi-Ms"
# The pivot page's own update: a person changes the rows, the page answers with the pivot.
CALLBACK_START = "..pivot-state.data"
VIEW = "rows=desk,portfolio_manager_id&m=pnl,gross_exposure"
API_BODY = {"dimensions": ["desk"], "metrics": ["pnl", "notional"]}


@dataclass
class Side:
    """One app behind its own server, and a client session for it."""

    name: str
    app: Any
    server: BaseWSGIServer
    http: requests.Session = field(default_factory=requests.Session)
    # An API script's client: the bearer token only, no session cookie.
    api: requests.Session = field(default_factory=requests.Session)
    headers: dict[str, str] = field(default_factory=dict)
    api_headers: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def access(self) -> Access:
        return self.app.server.extensions[EXTENSION_KEY]


def build_app(data_dir: Path, warehouse_url: str, database: str, auth: str) -> Any:
    from app import create_app

    settings = load_settings(data_dir=data_dir, warehouse_dsn=warehouse_url, warehouse_database=database,
                             demo_rows=0, auth=auth)
    # The first start prints the first administrator's sign-in link and logs its set-up (schema
    # upgrades, job runner): not part of the figures.
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            app = create_app(settings, market=False)
            # Dash hands the pages' callbacks to the first app that serves a request: set this one
            # up now, before the next app imports the pages again.
            app.server.test_client().get("/_dash-layout")
    finally:
        logging.disable(logging.NOTSET)
    logging.getLogger().setLevel(logging.WARNING)  # the apps log every request at info
    return app


class WholeRequestTimer:
    """WSGI middleware: the app's whole time for a request — every hook, the view, and the session
    cookie saved after the last hook (which ``Server-Timing`` cannot see) — as a response header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()

        def stamped(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            headers.append((WSGI_HEADER, f"{(time.perf_counter() - started) * 1000:.3f}"))
            return start_response(status, headers, *args)

        return self.app(environ, stamped)


@contextlib.contextmanager
def serving(apps: Mapping[str, Any]) -> Iterator[dict[str, Side]]:
    sides: dict[str, Side] = {}
    threads = []
    try:
        for name, app in apps.items():
            server = make_server("127.0.0.1", 0, WholeRequestTimer(app.server.wsgi_app), threaded=True)
            thread = threading.Thread(target=server.serve_forever, name=f"bench-{name}", daemon=True)
            thread.start()
            threads.append(thread)
            sides[name] = Side(name, app, server)
        yield sides
    finally:
        for side in sides.values():
            side.server.shutdown()
            side.http.close()
            side.api.close()
            recorder = side.app.server.extensions.get(USAGE_KEY)
            if recorder is not None:  # written now, while the warehouse is still open
                recorder.stop()
        for thread in threads:
            thread.join(timeout=5)


def add_user(side: Side, user_id: str, scope: DataScope = EVERYTHING) -> str:
    """An analyst who chose their own password (nothing to change first) and has an API token."""
    accounts = side.access.accounts
    assert accounts is not None and side.access.tokens is not None
    accounts.create_user(user_id, password=PASSWORD, roles=("analyst",), scope=scope, actor=user_id)
    raw, _info = side.access.tokens.create(user_id, "benchmark")
    return raw


def sign_in(side: Side, user_id: str, token: str) -> None:
    page = side.http.get(f"{side.base}/signin", timeout=30)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no sign-in form: {page.status_code}"
    answer = side.http.post(f"{side.base}/signin", data={"user": user_id, "password": PASSWORD,
                                                         "csrf_token": match.group(1), "next": "/pivot"},
                            allow_redirects=False, timeout=30)
    csrf = side.http.cookies.get("_csrf_token")
    assert answer.status_code in (302, 303) and csrf, f"sign-in failed: {answer.status_code}"
    side.headers = {"X-CSRFToken": csrf}
    side.api_headers = {"Authorization": f"Bearer {token}"}


def callback_body(app: Any) -> dict[str, Any]:
    """The pivot page's update as the renderer sends it (inputs and states from the callback map)."""
    from backend.pivot.view_state import parse_view

    key = next(k for k in app.callback_map if k.startswith(CALLBACK_START))
    entry = app.callback_map[key]
    state = parse_view(VIEW).state.model_dump(mode="json")
    values = {"pivot-rows.value": state["rows"], "pivot-metrics.value": state["metrics"], "pivot-state.data": state}

    def item(spec: Mapping[str, Any]) -> Any:
        if isinstance(spec["id"], str) and spec["id"].startswith("{"):
            return []  # pattern-matching inputs (row moves, filter chips): none on the page yet
        return {"id": spec["id"], "property": spec["property"], "value": values.get(f"{spec['id']}.{spec['property']}")}

    outputs = []
    for part in key.strip(".").split("..."):
        ident, _, prop = part.rpartition(".")
        outputs.append({"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop.split("@")[0]})
    return {"output": key, "outputs": outputs, "inputs": [item(s) for s in entry["inputs"]],
            "state": [item(s) for s in entry.get("state", [])], "changedPropIds": ["pivot-rows.value"]}


Send = Callable[[Side], requests.Response]


def kinds(body: dict[str, Any]) -> dict[str, Send]:
    return {
        "pivot page callback (session + CSRF)": lambda s: s.http.post(
            f"{s.base}/_dash-update-component", json=body, headers=s.headers, timeout=60),
        "POST /api/v1/pivot (bearer token)": lambda s: s.api.post(
            f"{s.base}/api/v1/pivot", json=API_BODY, headers=s.api_headers, timeout=60),
        "GET /pivot page HTML (session)": lambda s: s.http.get(f"{s.base}/pivot", timeout=60),
    }


def timings(response: requests.Response) -> tuple[float, float]:
    """(the app's whole time, its ``Server-Timing`` app;dur) in ms."""
    match = _DUR.search(response.headers.get("Server-Timing", ""))
    assert match and WSGI_HEADER in response.headers, f"no timing on {response.request.method} {response.url}"
    return float(response.headers[WSGI_HEADER]), float(match.group(1))


def measure(send: Send, off: Side, on: Side, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Whole, Server-Timing and round-trip ms of each side, the sides taking turns (which goes first alternates)."""
    out: dict[str, dict[str, list[float]]] = {s.name: {"whole": [], "timing": [], "trip": []} for s in (off, on)}
    for side in (off, on):  # warm: first-request set-up, caches, connection
        for _ in range(3):
            answer = send(side)
            assert answer.status_code == 200, f"{side.name}: {answer.status_code} {answer.text[:200]}"
    for i in range(rounds):
        for side in ((off, on) if i % 2 == 0 else (on, off)):
            started = time.perf_counter()
            answer = send(side)
            elapsed = (time.perf_counter() - started) * 1000
            assert answer.status_code == 200, f"{side.name}: {answer.status_code} {answer.text[:200]}"
            whole, timing = timings(answer)
            out[side.name]["whole"].append(whole)
            out[side.name]["timing"].append(timing)
            out[side.name]["trip"].append(elapsed)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def request_section(sides: Mapping[str, Side], rounds: int) -> list[bool]:
    """Print the per-request table; one verdict per kind (difference of the whole-time medians <= budget)."""
    off, on = sides["off"], sides["on"]
    header = (f"{'request':<38} | {'off p50':>7} {'p95':>6} | {'on p50':>7} {'p95':>6} | {'diff p50':>8} {'p95':>6} | "
              f"{'app;dur diff':>12} {'round trip diff':>15} | budget diff p50 <= {BUDGET_MS:g} ms")
    print(header)
    print("-" * len(header))
    verdicts = []
    for name, send in kinds(callback_body(on.app)).items():
        got = measure(send, off, on, rounds)
        o, n = got["off"]["whole"], got["on"]["whole"]
        d50, d95 = statistics.median(n) - statistics.median(o), pct(n, 0.95) - pct(o, 0.95)
        timing = statistics.median(got["on"]["timing"]) - statistics.median(got["off"]["timing"])
        trip = statistics.median(got["on"]["trip"]) - statistics.median(got["off"]["trip"])
        met = d50 <= BUDGET_MS
        verdicts.append(met)
        print(f"{name:<38} | {statistics.median(o):>7.2f} {pct(o, 0.95):>6.2f} | {statistics.median(n):>7.2f} "
              f"{pct(n, 0.95):>6.2f} | {d50:>+8.2f} {d95:>+6.2f} | {timing:>+12.2f} {trip:>+15.2f} | "
              f"{'met' if met else 'missed'}", flush=True)
    return verdicts


def records_reads(side: Side) -> dict[str, int]:
    """Statements the records store runs for one request of each kind (the access check's reads among them)."""
    from sqlalchemy import event

    engine = side.access.accounts.meta.engine  # type: ignore[union-attr]
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The request's own thread only: the job queue's poller reads the store on its own clock.
        if "process_request_thread" in threading.current_thread().name:
            seen.append(statement)

    out = {}
    for name, send in kinds(callback_body(side.app)).items():
        send(side)  # warm: a first request may set things up (a token's first use stamps it)
        send(side)
        seen.clear()
        event.listen(engine, "before_cursor_execute", note)
        try:
            send(side)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        out[name] = len(seen)
    return out


def guarded_checks(on: Side, token: str) -> Callable[[], DataScope]:
    """The real access check of an API pivot request with ``token``, and the scope it leaves for the query."""
    guard = on.access.guard
    assert guard is not None
    server = on.app.server

    def check() -> DataScope:
        with server.test_request_context("/api/v1/pivot", method="POST", json=API_BODY,
                                         headers={"Authorization": f"Bearer {token}"}):
            refused = guard.check()
            assert refused is None, refused
            return current_scope()

    return check
