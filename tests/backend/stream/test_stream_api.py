"""The event stream over HTTP, served by a real threaded server: a client that drops its connection
and comes back (as browsers' EventSource do, with Last-Event-ID) misses nothing and sees nothing
twice, on the in-process bus and on Redis Streams; another user's fills never reach it; a position
the bus no longer holds is a `reset`; a worker's stream slots are bounded and freed when clients
leave; hostile queries are refused naming the parameter."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from backend.access.current import current_principal
from backend.api import stream as stream_module
from backend.api.spec import SPEC_URL
from backend.config import load_settings
from backend.stream.bus import MemoryBus
from backend.stream.redis_bus import RedisBus
from backend.stream.runtime import EXTENSION_KEY
from tests.backend.access.guard_support import build_app, make_users, sign_in, user_of

URL = "/api/v1/stream"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse) -> Any:
    from app import create_app

    settings = load_settings(data_dir=tmp_path_factory.mktemp("stream"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, redis_url=None,
                             streams=3, stream_seconds=5)
    return create_app(settings, market=False)


@pytest.fixture(scope="module")
def server(app) -> Iterator[int]:
    httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()


@pytest.fixture(params=["memory", "redis"])
def bus(request: pytest.FixtureRequest, app) -> Iterator[Any]:
    if request.param == "memory":
        made: Any = MemoryBus()
    else:
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"), socket_timeout=10)
        made = RedisBus(client, key=f"test:events:{uuid.uuid4().hex}")
    before = app.server.extensions.get(EXTENSION_KEY)
    app.server.extensions[EXTENSION_KEY] = made
    yield made
    app.server.extensions[EXTENSION_KEY] = before
    if request.param == "redis":
        made.client.delete(made.key, made.key + ":trimmed")


@pytest.fixture
def me(app) -> str:
    with app.server.test_request_context("/"):
        return current_principal().id


class Stream:
    """A minimal server-sent-events client: the fields of each event, as a browser reads them."""

    def __init__(self, port: int, query: str, last_id: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        headers = {"Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        self.conn.request("GET", f"{URL}?{query}", headers=headers)
        self.response = self.conn.getresponse()
        self.last_id = last_id

    def events(self) -> Iterator[dict[str, str]]:
        """Each dispatched event until the server ends the stream; ``last_id`` follows every id line."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            if not line:
                return
            text = line.decode().rstrip("\n")
            if text == "":
                if "data" in fields:
                    yield fields
                fields = {}
            elif not text.startswith(":"):
                name, _, value = text.partition(":")
                fields[name] = value.removeprefix(" ")
                if name == "id":
                    self.last_id = fields["id"]

    def close(self) -> None:
        self.conn.close()


def test_a_client_that_drops_and_resumes_misses_nothing_and_sees_nothing_twice(server, bus, me) -> None:
    first = Stream(server, "channels=trades,fills")
    assert first.response.status == 200
    assert first.response.getheader("Content-Type").startswith("text/event-stream")
    assert first.response.readline() == b"retry: 2000\n"
    assert first.response.readline() == b"\n"
    line = first.response.readline()  # where this client starts: a reconnect resumes there
    assert line.startswith(b"id: ") and first.response.readline() == b"\n"
    first.last_id = line[4:].strip().decode()

    published: list[tuple[str, dict]] = []

    def publish() -> None:
        for i in range(400):
            bus.publish("trades", {"i": i})
            published.append(("trades", {"i": i}))
            if i % 4 == 0:
                bus.publish("fills", {"i": i}, owner=me)
                published.append(("fills", {"i": i}))
                bus.publish("fills", {"i": i, "theirs": True}, owner="somebody-else")
                bus.publish("market", {"i": i})
            time.sleep(0.002)

    writer = threading.Thread(target=publish)
    writer.start()
    got: list[tuple[str, dict]] = []
    ids: list[str] = []
    stream = first
    drops = 0
    while True:
        for event in stream.events():
            got.append((event["event"], json.loads(event["data"])))
            ids.append(event["id"])
            # Drop the connection three times at odd moments, as a train through a tunnel would.
            if drops < 3 and len(got) in (37, 150, 301):
                break
            if not writer.is_alive() and len(got) >= len(published):
                break
        stream.close()
        if not writer.is_alive() and len(got) >= len(published):
            break
        drops += 1
        time.sleep(0.05)
        stream = Stream(server, "channels=trades,fills", stream.last_id)
        assert stream.response.status == 200
    writer.join()
    assert drops >= 3
    assert got == published  # every event once, in order; nobody else's fills, no other channel
    assert len(set(ids)) == len(ids)


def test_a_position_the_bus_no_longer_holds_is_a_reset_then_the_stream_goes_on(server, bus) -> None:
    # A position from another run of the bus (a restarted server, a flushed Redis): the stream
    # cannot say what came after it, so it says so and goes on from now.
    stream = Stream(server, "channels=alerts", "99999999999999-0")
    events = stream.events()
    reset = next(events)
    assert reset["event"] == "reset" and "another run" in json.loads(reset["data"])["reason"]
    assert reset["id"] == json.loads(reset["data"])["position"]
    bus.publish("alerts", {"text": "VCB reached 95,000"})
    after = next(events)
    assert after["event"] == "alerts" and json.loads(after["data"]) == {"text": "VCB reached 95,000"}
    stream.close()


def test_a_stream_ends_after_its_time_and_the_client_resumes_where_it_was(server, bus) -> None:
    stream = Stream(server, "channels=trades")
    started = time.monotonic()
    bus.publish("trades", {"n": 1})
    seen = [json.loads(e["data"])["n"] for e in stream.events()]  # the server ends it after 5 s
    assert seen == [1] and 4.5 < time.monotonic() - started < 20
    bus.publish("trades", {"n": 2})
    again = Stream(server, "channels=trades", stream.last_id)
    assert json.loads(next(again.events())["data"]) == {"n": 2}
    again.close()


def test_a_worker_holds_a_bounded_number_of_streams_and_frees_a_slot_when_a_client_leaves(
        server, bus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "KEEPALIVE_SECONDS", 0.2)  # a closed client is noticed at the next line
    held = [Stream(server, "channels=market") for _ in range(3)]
    assert all(s.response.status == 200 for s in held)
    refused = Stream(server, "channels=market")
    assert refused.response.status == 503 and refused.response.getheader("Retry-After") == "5"
    assert "3 open streams" in json.loads(refused.response.read())["error"]
    refused.close()
    held.pop().close()
    deadline = time.monotonic() + 10
    while True:
        again = Stream(server, "channels=market")
        if again.response.status == 200 or time.monotonic() > deadline:
            break
        again.close()
        time.sleep(0.2)
    assert again.response.status == 200
    for s in [*held, again]:
        s.close()


@pytest.mark.parametrize(("query", "headers", "said"), [
    ("", {}, "channels"),
    ("channels=", {}, "channels"),
    ("channels=trades,orders", {}, "item 2 is not a channel"),
    ("channels=trades%27%3B%20DROP%20TABLE%20x", {}, "item 1 is not a channel"),
    ("channels=" + "trades," * 2_000, {}, "channels"),
    ("channels=trades&channels=fills", {}, "channels"),
    ("channels=trades&after=yesterday", {}, "milliseconds-sequence"),
    ("channels=trades&after=1-2-3", {}, "milliseconds-sequence"),
    ("channels=trades&after=" + "9" * 40 + "-0", {}, "milliseconds-sequence"),
    ("channels=trades", {"Last-Event-ID": "<script>alert(1)</script>"}, "Last-Event-ID"),
    ("channels=trades&format=xml", {}, "format"),
])
def test_hostile_queries_are_refused_naming_the_parameter(app, query, headers, said) -> None:
    answer = app.server.test_client().get(f"{URL}?{query}", headers=headers)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:200]
    assert said in answer.get_json()["error"]
    assert "<script>" not in answer.get_data(as_text=True)


def test_the_stream_is_in_the_openapi_document(app) -> None:
    doc = app.server.test_client().get(SPEC_URL).get_json()
    operation = doc["paths"][URL]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"channels", "after"} <= names and "503" in operation["responses"]


def test_fills_and_signals_need_the_permission_to_paper_trade(tmp_path, warehouse_url: str, loaded_warehouse) -> None:
    app = build_app(tmp_path / "data", warehouse_url, loaded_warehouse.database)
    app.server.test_client().get("/health")
    make_users(app)
    viewer = app.server.test_client()
    assert sign_in(viewer, user_of("viewer")).status_code == 302
    refused = viewer.get(f"{URL}?channels=trades,fills")
    assert refused.status_code == 403 and "fills" in refused.get_json()["error"]
    trader = app.server.test_client()
    assert sign_in(trader, user_of("trader")).status_code == 302
    allowed = trader.get(f"{URL}?channels=trades,fills", buffered=False)
    assert allowed.status_code == 200
    allowed.close()
    assert app.server.test_client().get(f"{URL}?channels=trades").status_code in (302, 401)
