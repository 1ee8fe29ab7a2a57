"""SSI FastConnect client driven by recorded frames: protocol, reconnect without double counting.

No test connects anywhere: HTTP and the WebSocket transport are replaced by in-memory fakes.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from backend.market.core import MarketCore
from backend.market.feed.base import ConnectionState
from backend.market.feed.ssi import HUB, Backoff, ConnectionClosed, SsiCredentials, SsiFeed, broadcast_messages

CREDS = SsiCredentials(SecretStr("consumer-42"), SecretStr("s3cr3t-value"))


def frames_of(messages: list[str], per_frame: int = 5) -> list[str]:
    frames = []
    for i in range(0, len(messages), per_frame):
        batch = messages[i : i + per_frame]
        frames.append(json.dumps({"C": f"d-{i}", "M": [{"H": HUB, "M": "Broadcast", "A": [m]} for m in batch]}))
        if i % 50 == 0:
            frames.append("{}")  # keep-alive
    return frames


class FakeConnection:
    def __init__(self, frames: list[str]) -> None:
        self.frames, self.sent, self.closed = list(frames), [], False

    def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    def recv(self) -> str:
        if not self.frames:
            raise ConnectionClosed("dropped")
        return self.frames.pop(0)

    def close(self) -> None:
        self.closed = True


class FakeTransport:
    def __init__(self, sessions: list[list[str]]) -> None:
        self.sessions, self.connections, self.urls = list(sessions), [], []

    def connect(self, url: str, headers: dict[str, str]) -> FakeConnection:
        self.urls.append((url, headers))
        if not self.sessions:
            raise ConnectionClosed("hub unreachable")
        conn = FakeConnection(self.sessions.pop(0))
        self.connections.append(conn)
        return conn


class FakeHttp:
    def __init__(self, token_status: int = 200) -> None:
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []
        self.token_status = token_status

    def __call__(self, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]:
        self.calls.append((method, url, body))
        if url.endswith("api/v2/Market/AccessToken"):
            if self.token_status != 200:
                return self.token_status, {"status": self.token_status, "message": "Invalid consumer"}
            return 200, {"status": 200, "data": {"accessToken": "tok"}}
        assert headers["Authorization"] == "Bearer tok"
        return 200, {"ConnectionToken": "ct/+=", "ProtocolVersion": "1.5"}


def make_feed(transport: FakeTransport, http: FakeHttp, waits: list[float], max_attempts: int = 3) -> SsiFeed:
    return SsiFeed(
        CREDS, channels=("X:ALL", "R:ALL"), transport=transport, http=http,
        backoff=Backoff(base=1.0, cap=8.0), wait=lambda s: waits.append(s) is not None, max_attempts=max_attempts,
    )  # fmt: skip


def test_protocol_token_negotiate_connect_and_subscribe(session_messages: list[str]) -> None:
    transport, http, waits = FakeTransport([frames_of(session_messages[:20])]), FakeHttp(), []
    feed = make_feed(transport, http, waits, max_attempts=1)
    assert list(feed.messages()) == session_messages[:20]
    method, url, body = http.calls[0]
    assert (method, url) == ("POST", "https://fc-data.ssi.com.vn/api/v2/Market/AccessToken")
    assert body == {"consumerID": "consumer-42", "consumerSecret": "s3cr3t-value"}
    assert "v2.0/signalr/negotiate" in http.calls[1][1] and "FcMarketDataV2Hub" in http.calls[1][1]
    url, headers = transport.urls[0]
    assert headers == {"Authorization": "Bearer tok"}
    assert url.startswith("wss://fc-datahub.ssi.com.vn/v2.0/signalr/connect?transport=webSockets&connectionToken=ct%2F%2B%3D")
    assert transport.connections[0].sent == [
        {"H": HUB, "M": "SwitchChannels", "A": ["X:ALL"], "I": 0},
        {"H": HUB, "M": "SwitchChannels", "A": ["R:ALL"], "I": 1},
    ]
    assert feed.status.state is ConnectionState.FAILED and feed.status.messages == 20


def test_reconnect_after_a_drop_does_not_double_count(session_messages: list[str]) -> None:
    frames = frames_of(session_messages)
    cut = len(frames) * 6 // 10
    # The second connection re-sends the last 40 frames before the drop (a provider snapshot replay).
    transport = FakeTransport([frames[:cut], frames[cut - 40 :]])
    waits: list[float] = []
    feed = make_feed(transport, FakeHttp(), waits)
    core = MarketCore()
    for message in feed.messages():
        core.process(message)
    clean = MarketCore()
    clean.process_many(session_messages)
    assert {s: r["total_vol"] for s, r in core.rows.items()} == {s: r["total_vol"] for s, r in clean.rows.items()}
    assert {s: (f.buy_vol, f.sell_vol, f.neutral_vol) for s, f in core.flows.items()} == {
        s: (f.buy_vol, f.sell_vol, f.neutral_vol) for s, f in clean.flows.items()
    }
    assert core.foreign.market.buy_val == clean.foreign.market.buy_val
    assert core.dropped.get("duplicate", 0) > 0
    # Two drops after good connections (backoff starts over each time), then an unreachable hub.
    assert len(waits) == 2 and all(0.5 <= w <= 1.0 for w in waits)
    status = feed.status
    assert status.state is ConnectionState.FAILED and status.reconnects == 2
    assert "hub unreachable" in (status.last_error or "")


def test_refused_credentials_fail_without_leaking_the_secret() -> None:
    waits: list[float] = []
    feed = make_feed(FakeTransport([]), FakeHttp(token_status=401), waits, max_attempts=2)
    assert list(feed.messages()) == []
    status = feed.status
    assert status.state is ConnectionState.FAILED and "refused" in (status.last_error or "")
    assert "s3cr3t" not in repr(feed.credentials) + repr(status) + str(status.last_error)


def test_close_interrupts_the_stream(session_messages: list[str]) -> None:
    feed = make_feed(FakeTransport([frames_of(session_messages[:100])]), FakeHttp(), [])
    got = []
    for message in feed.messages():
        got.append(message)
        if len(got) == 7:
            feed.close()
    assert len(got) <= 10 and feed.status.state is ConnectionState.CLOSED


def test_frames_with_errors_and_garbage_are_tolerated() -> None:
    assert broadcast_messages("not json") == ([], ["frame is not JSON"])
    assert broadcast_messages("[]") == ([], [])
    assert broadcast_messages('{"M": [{"H": "x", "M": "Error", "A": ["quota"]}, 5]}') == ([], ["quota"])
    assert broadcast_messages('{"E": "boom"}') == ([], ["boom"])
    assert broadcast_messages('{"M": [{"M": "Broadcast", "A": [{"DataType": "X"}]}]}')[0] == ['{"DataType": "X"}']


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    waits: list[float] = []
    feed = make_feed(FakeTransport([]), FakeHttp(), waits, max_attempts=6)
    assert list(feed.messages()) == []
    bounds = [(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8)]
    assert len(waits) == 5 and all(lo <= w <= hi for w, (lo, hi) in zip(waits, bounds, strict=True))
