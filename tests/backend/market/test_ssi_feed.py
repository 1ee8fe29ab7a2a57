"""The SSI FastConnect client against a local SignalR-like hub on 127.0.0.1 (see ssi_hub.py).

The hub checks what SSI's servers would: credentials, bearer token, negotiate and connect
queries, and that the negotiation's affinity cookies come back on the WebSocket. Frames
carry SSI's published message examples (tests/fixtures/market/ssi). Nothing connects
beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr

from backend.market.core import MarketCore
from backend.market.feed.base import ConnectionState
from backend.market.feed.ssi import (
    HUB,
    MAX_FRAME_BYTES,
    Backoff,
    SsiCredentials,
    SsiFeed,
    broadcast_messages,
    subscription,
    token_expiry,
)
from tests.backend.market.ssi_hub import LocalHub, Raw, Session, broadcast_frame, fake_jwt
from tests.fixtures.market.ssi import NAMES, wire

CONSUMER_ID, SECRET = "consumer-7f3a", "s3cr3t-91d2"
CREDS = SsiCredentials(SecretStr(CONSUMER_ID), SecretStr(SECRET))
CHANNELS = ("X:ALL", "R:ALL", "MI:VN30", "MI:VNINDEX", "F:ALL")
MESSAGES = [wire(name) for name in NAMES]


MakeHub = Callable[..., LocalHub]


@pytest.fixture
def make_hub() -> Iterator[MakeHub]:
    hubs: list[LocalHub] = []

    def start(**kwargs: object) -> LocalHub:
        hub = LocalHub(consumer_id=CONSUMER_ID, consumer_secret=SECRET, **kwargs).start()  # type: ignore[arg-type]
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()


def make_feed(hub: LocalHub, waits: list[float], **kwargs: object) -> SsiFeed:
    options: dict[str, object] = {
        "channels": CHANNELS, "backoff": Backoff(base=1.0, cap=8.0), "max_attempts": 4,
        "wait": lambda s: waits.append(s) is not None, "http_timeout": 5.0,
    }  # fmt: skip
    options.update(kwargs)
    return SsiFeed(CREDS, api_url=hub.url, hub_url=hub.url, **options)  # type: ignore[arg-type]


class Reader:
    """Iterates a feed on a thread, as the market service does."""

    def __init__(self, feed: SsiFeed) -> None:
        self.feed, self.got = feed, []
        self.thread = threading.Thread(target=lambda: self.got.extend(feed.messages()), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.feed.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def test_speaks_the_ssi_protocol_forwards_cookies_and_subscribes_once(make_hub: MakeHub) -> None:
    frames = [broadcast_frame(MESSAGES[:4], "d-1"), "{}", broadcast_frame(MESSAGES[4:], "d-2")]
    hub = make_hub(sessions=[Session(frames, end="close")])
    feed = make_feed(hub, [], max_attempts=1)
    assert list(feed.messages()) == MESSAGES
    token_request, negotiate, connect = hub.requests
    assert (token_request["method"], token_request["path"]) == ("POST", "/api/v2/Market/AccessToken")
    assert token_request["body"] == {"consumerID": CONSUMER_ID, "consumerSecret": SECRET}
    assert token_request["headers"]["content-type"] == "application/json"
    bearer = f"Bearer {hub.tokens[0]}"
    assert (negotiate["method"], negotiate["path"]) == ("GET", "/v2.0/signalr/negotiate")
    assert negotiate["query"] == {"connectionData": '[{"name": "FcMarketDataV2Hub"}]', "clientProtocol": "1.5"}
    assert negotiate["headers"]["authorization"] == bearer
    assert connect["path"] == "/v2.0/signalr/connect" and connect["headers"]["authorization"] == bearer
    assert connect["query"] == {
        "transport": "webSockets", "connectionToken": hub.negotiations[0]["token"],
        "connectionData": '[{"name": "FcMarketDataV2Hub"}]', "clientProtocol": "1.5",
    }  # fmt: skip
    # Both cookies the negotiate response set, name=value only, on the WebSocket request.
    assert connect["headers"]["cookie"] == "ARRAffinity=0000aff1n1ty; AWSALB=lb0/x+y=="
    assert hub.connections[0]["invocations"] == [
        {"H": HUB, "M": "SwitchChannels", "A": ["X:ALL,R:ALL,MI:VN30-VNINDEX,F:ALL"], "I": 0}
    ]
    status = feed.status
    assert status.state is ConnectionState.FAILED and status.messages == len(MESSAGES)
    assert "hub closed the connection (code 1000)" in (status.last_error or "")


def test_survives_dropped_connections_and_resubscribes_on_each(make_hub: MakeHub) -> None:
    a, b, c = MESSAGES[:3], MESSAGES[3:6], MESSAGES[6:]
    sessions = [
        Session([broadcast_frame(a)], end="drop"),  # TCP gone, no close frame
        Session([broadcast_frame(b)], end="close"),  # the hub closes
        Session([broadcast_frame(c)], end="hold"),
    ]
    hub = make_hub(sessions=sessions)
    waits: list[float] = []
    reader = Reader(make_feed(hub, waits))
    assert hub.wait_for(lambda: len(reader.got) == len(MESSAGES))
    reader.stop()
    assert reader.got == MESSAGES
    # A fresh negotiation per connection, each socket carrying that negotiation's cookies.
    assert len(hub.negotiations) == 3 and hub.refused == []
    assert [c["cookies"] for c in hub.connections] == [n["cookies"] for n in hub.negotiations]
    assert all(len(c["invocations"]) == 1 for c in hub.connections)
    assert len(hub.tokens) == 1  # the token (8 h left) is reused
    # Each drop came after a good connection, so backoff starts over: base × 0.5–1.
    assert len(waits) == 2 and all(0.5 <= w <= 1.0 for w in waits)
    status = reader.feed.status
    assert status.reconnects == 2 and status.messages == len(MESSAGES) and status.state is ConnectionState.CLOSED


def test_backoff_grows_while_the_hub_refuses(make_hub: MakeHub) -> None:
    hub = make_hub(sessions=[Session([broadcast_frame(MESSAGES)], end="close")], negotiate_statuses=[503, 502, 503, 500])
    waits: list[float] = []
    feed = make_feed(hub, waits, max_attempts=6)
    assert list(feed.messages()) == MESSAGES
    bounds = [(0.5, 1), (1, 2), (2, 4), (4, 8), (0.5, 1)]  # the fifth follows a good connection
    assert len(waits) == 5 and all(lo <= w <= hi for w, (lo, hi) in zip(waits, bounds, strict=True))
    assert feed.status.reconnects == 5


def test_a_refused_token_is_renewed_and_an_expiring_one_is_not_reused(make_hub: MakeHub) -> None:
    # 401 on negotiate: the next attempt asks for a new token before negotiating again.
    hub = make_hub(sessions=[Session([broadcast_frame(MESSAGES[:1])])], negotiate_statuses=[401])
    feed = make_feed(hub, [], max_attempts=2)
    assert list(feed.messages()) == MESSAGES[:1]
    assert len(hub.tokens) == 2 and hub.requests[-1]["headers"]["authorization"] == f"Bearer {hub.tokens[1]}"
    # A token with less than an hour left (SSI's client's rule) is renewed for every connection.
    hub = make_hub(sessions=[Session([broadcast_frame(MESSAGES[:1])]), Session([])], token_ttl=1800)
    feed = make_feed(hub, [], max_attempts=2)
    assert list(feed.messages()) == MESSAGES[:1]
    assert len(hub.tokens) == 2


def test_hostile_token_and_negotiate_answers_are_refused(make_hub: MakeHub) -> None:
    tokens: list[object] = ["abc\r\nX-Injected: 1", "a b", "x" * 9000, 42, ""]
    hub = make_hub(sessions=[Session([])], hostile_tokens=tokens)
    feed = make_feed(hub, [], max_attempts=len(tokens))
    assert list(feed.messages()) == []
    assert [r["path"] for r in hub.requests] == ["/api/v2/Market/AccessToken"] * len(tokens)  # never sent on
    assert "access token request refused" in (feed.status.last_error or "")
    answers = [
        {"ConnectionToken": "ct", "TryWebSockets": False, "ProtocolVersion": "1.5"},
        {"ConnectionToken": 5},
        {"ConnectionToken": "ct\r\nX-Injected: 1"},
        {"Url": "/signalr"},
    ]
    hub = make_hub(sessions=[Session([])], hostile_negotiations=answers)
    errors: list[str] = []
    feed = make_feed(hub, [], max_attempts=len(answers), wait=lambda s: errors.append(feed.status.last_error or "") is not None)
    assert list(feed.messages()) == [] and not any(r["path"].endswith("/connect") for r in hub.requests)
    errors.append(feed.status.last_error or "")
    assert errors == [
        "the hub does not offer WebSockets", *["negotiate answered without a usable connection token"] * 3
    ]


def test_secrets_are_never_logged_or_shown(make_hub: MakeHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, websocket-client's and urllib's included
    hub = make_hub(sessions=[Session([broadcast_frame(MESSAGES[:2])], end="drop"), Session([], end="close")])
    feed = make_feed(hub, [], max_attempts=3)
    assert list(feed.messages()) == MESSAGES[:2]
    bad = make_feed(make_hub(sessions=[Session([])]), [], max_attempts=2)
    bad.credentials = SsiCredentials(SecretStr(CONSUMER_ID), SecretStr("wrong-" + SECRET))
    assert list(bad.messages()) == []
    assert bad.status.state is ConnectionState.FAILED and "access token request refused" in (bad.status.last_error or "")
    secrets = [CONSUMER_ID, SECRET, *hub.tokens, *(n["token"] for n in hub.negotiations)]
    secrets += [v for n in hub.negotiations for v in n["cookies"].values()]
    shown = caplog.text + repr(feed.status) + repr(bad.status) + repr(feed.credentials) + repr(feed.__dict__)
    assert "SSI stream disconnected" in caplog.text  # the log was captured at all
    assert [s for s in secrets if s in shown] == []


def test_a_silent_connection_is_pinged_then_dropped_but_a_quiet_live_one_is_kept(make_hub: MakeHub) -> None:
    sessions = [Session([], end="silent"), Session([broadcast_frame(MESSAGES[:1])], end="hold")]
    hub = make_hub(sessions=sessions)
    reader = Reader(make_feed(hub, [], silence_timeout=0.4))
    # The live connection answers pings: several pings, no new connection.
    assert hub.wait_for(lambda: len(hub.connections) == 2 and hub.connections[1]["pings"] >= 2)
    assert len(hub.connections) == 2 and hub.connections[0]["pings"] == 1
    reader.stop()
    assert reader.got == MESSAGES[:1]
    assert reader.feed.status.reconnects == 1


def test_close_interrupts_a_blocked_receive(make_hub: MakeHub) -> None:
    hub = make_hub(sessions=[Session([broadcast_frame(MESSAGES[:1])], end="hold")])
    reader = Reader(make_feed(hub, []))  # 20 s keep-alive: the reader blocks in recv
    assert hub.wait_for(lambda: len(reader.got) == 1)
    reader.stop()  # joins within 10 s or fails
    assert reader.feed.status.state is ConnectionState.CLOSED


def test_garbage_hostile_and_oversized_frames_are_counted_and_the_stream_goes_on(make_hub: MakeHub) -> None:
    hostile = [
        "not json",
        "[" * 100_000,  # nesting deeper than any parser stack
        json.dumps({"I": "0", "E": "channel denied\r\nforged log line"}),
        json.dumps({"M": [{"H": HUB, "M": "Error", "A": ["quota"]}, 5, {"M": "Broadcast", "A": 7}]}),
        b"\x00\x01binary",
        broadcast_frame(MESSAGES[:2]),
        # A frame header announcing 100 MB: the client must give up without reading it.
        Raw(bytes([0x81, 127]) + (100 * 1024 * 1024).to_bytes(8, "big") + b"x" * 64),
    ]
    hub = make_hub(sessions=[Session(hostile, end="hold"), Session([broadcast_frame(MESSAGES[2:3])], end="hold")])
    reader = Reader(make_feed(hub, []))
    assert hub.wait_for(lambda: len(reader.got) == 3)
    reader.stop()
    assert reader.got == MESSAGES[:3]
    assert reader.feed.rejected == {"frame is not JSON": 2, "hub error": 2, "binary frame": 1, "oversized frame": 1}
    assert reader.feed.status.reconnects == 1


def test_reconnect_replaying_frames_does_not_double_count(make_hub: MakeHub, session_messages: list[str]) -> None:
    # Volume test: a whole recorded session; the second connection re-sends the last 200 messages.
    frames = [broadcast_frame(session_messages[i : i + 5], f"d-{i}") for i in range(0, len(session_messages), 5)]
    cut = len(frames) * 6 // 10
    hub = make_hub(sessions=[Session(frames[:cut], end="drop"), Session(frames[cut - 40 :], end="close")])
    core = MarketCore()
    for message in make_feed(hub, [], max_attempts=3).messages():
        core.process(message)
    clean = MarketCore()
    clean.process_many(session_messages)
    assert {s: r["total_vol"] for s, r in core.rows.items()} == {s: r["total_vol"] for s, r in clean.rows.items()}
    flows = lambda c: {s: (f.buy_vol, f.sell_vol, f.neutral_vol) for s, f in c.flows.items()}
    assert flows(core) == flows(clean)
    assert core.foreign.market.buy_val == clean.foreign.market.buy_val
    assert core.dropped.get("duplicate", 0) > 0


def test_subscription_is_one_argument_with_every_channel() -> None:
    assert subscription(CHANNELS) == "X:ALL,R:ALL,MI:VN30-VNINDEX,F:ALL"
    assert subscription(["x-quote:acb-vnm", "X-QUOTE:VNM-SSI", "B:ALL", "b:SSI"]) == "X-QUOTE:ACB-VNM-SSI,B:ALL"
    for bad in (["X:ALL,R:ALL"], ["ZZ:ALL"], ["X:"], ["X"], ["X:A B"], ["X:" + "A" * 21], ["MI:VN30;DROP"], []):
        with pytest.raises(ValueError):
            subscription(bad)
    with pytest.raises(ValueError):
        SsiFeed(CREDS, channels=("X:ALL,B:ALL",))  # refused when the feed is built, not when it connects


def test_frames_and_tokens_are_read_defensively() -> None:
    assert broadcast_messages("{}") == ([], [])
    assert broadcast_messages("[]") == ([], [])
    assert broadcast_messages('{"M": "x"}') == ([], [])
    assert broadcast_messages('{"M": [{"M": "Broadcast", "A": [{"DataType": "X"}]}]}')[0] == ['{"DataType":"X"}']
    assert broadcast_messages(" " * (MAX_FRAME_BYTES + 1)) == ([], ["oversized frame"])
    # Provider text reaches logs and the status page as one bounded, printable line.
    assert broadcast_messages(json.dumps({"E": "denied\r\nINFO forged " + "x" * 500})) == ([], ["denied  INFO forged " + "x" * 180])
    assert token_expiry(fake_jwt({"exp": 1_900_000_000})) == 1_900_000_000
    for token in ("", "abc", "a.!!!.c", fake_jwt({"sub": "x"}), fake_jwt({"exp": "soon"})):
        assert token_expiry(token) is None
