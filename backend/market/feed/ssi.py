"""SSI FastConnect Data streaming: access token, then the SignalR hub, with reconnects.

Protocol (as documented by SSI and implemented by their ``ssi-fc-data`` client):
1. ``POST {api}api/v2/Market/AccessToken`` with ``{"consumerID", "consumerSecret"}`` →
   ``{"status": 200, "data": {"accessToken": ...}}``;
2. ``GET {hub}v2.0/signalr/negotiate?connectionData=[{"name":"FcMarketDataV2Hub"}]&clientProtocol=1.5``
   with ``Authorization: Bearer <token>`` → ``{"ConnectionToken", "ProtocolVersion"}``;
3. a WebSocket to ``{hub}v2.0/signalr/connect?transport=webSockets&connectionToken=…``;
4. ``{"H": "FcMarketDataV2Hub", "M": "SwitchChannels", "A": ["X:ALL"], "I": 0}`` per channel;
5. frames ``{"C": cursor, "M": [{"H": hub, "M": "Broadcast", "A": ["<message>"]}]}`` where each
   message is ``{"DataType": "X", "Content": "<json>"}``; ``{}`` is a keep-alive.

The HTTP client and the WebSocket transport are injectable so that tests drive the feed
with recorded frames and dropped connections; nothing here connects anywhere by itself
until ``messages()`` is iterated. Credentials are never logged or shown in errors.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from pydantic import SecretStr

from backend.market.feed.base import ConnectionState, MarketFeed

log = logging.getLogger(__name__)

HUB = "FcMarketDataV2Hub"
TOKEN_PATH = "api/v2/Market/AccessToken"
SIGNALR_PATH = "v2.0/signalr"
CLIENT_PROTOCOL = "1.5"
MAX_FRAME_CHARS = 4 * 1024 * 1024


class ConnectionClosed(Exception):
    """The streaming connection dropped."""


class AuthError(Exception):
    """The provider rejected the credentials or the token."""


@dataclass(frozen=True)
class SsiCredentials:
    consumer_id: SecretStr
    consumer_secret: SecretStr = field(repr=False)


class HttpClient(Protocol):
    def __call__(self, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]: ...


class HubConnection(Protocol):
    def send(self, text: str) -> None: ...
    def recv(self) -> str: ...  # raises ConnectionClosed
    def close(self) -> None: ...


class HubTransport(Protocol):
    def connect(self, url: str, headers: dict[str, str]) -> HubConnection: ...


def urllib_http(method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]:
    """The default HTTP client (standard library, 15 s timeout)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # the URL comes from settings, https by default
            return response.status, json.loads(response.read(1_000_000) or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


@dataclass
class Backoff:
    """Exponential backoff with jitter: base·2^n seconds, capped, times a random 0.5–1 factor."""

    base: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2 ** min(attempt, 30)) * (0.5 + self.rng.random() / 2)


def broadcast_messages(frame: str) -> tuple[list[str], list[str]]:
    """(market messages, hub errors) carried by one SignalR frame."""
    if len(frame) > MAX_FRAME_CHARS:
        return [], ["oversized frame"]
    try:
        data = json.loads(frame)
    except ValueError:
        return [], ["frame is not JSON"]
    if not isinstance(data, dict):
        return [], []
    messages, errors = [], []
    if "E" in data:
        errors.append(str(data["E"])[:200])
    for item in data.get("M") or ():
        if not isinstance(item, dict):
            continue
        method, args = item.get("M"), item.get("A") or []
        if method == "Broadcast":
            messages.extend(a if isinstance(a, str) else json.dumps(a) for a in args)
        elif method == "Error":
            errors.extend(str(a)[:200] for a in args)
    return messages, errors


class SsiFeed(MarketFeed):
    source = "ssi"

    def __init__(
        self,
        credentials: SsiCredentials,
        *,
        api_url: str = "https://fc-data.ssi.com.vn/",
        hub_url: str = "https://fc-datahub.ssi.com.vn/",
        channels: tuple[str, ...] = ("X:ALL",),
        transport: HubTransport | None = None,
        http: HttpClient = urllib_http,
        backoff: Backoff | None = None,
        wait: Callable[[float], bool] | None = None,
        max_attempts: int | None = None,
    ) -> None:
        super().__init__()
        self.credentials = credentials
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.hub_url = hub_url if hub_url.endswith("/") else hub_url + "/"
        self.channels = channels
        self.transport = transport or WebSocketTransport()
        self.http = http
        self.backoff = backoff or Backoff()
        # wait(seconds) → True when closed meanwhile; the event makes close() interrupt a backoff.
        self.wait = wait or self._closed.wait
        self.max_attempts = max_attempts
        self._token: str | None = None
        self._connection: HubConnection | None = None

    def _access_token(self) -> str:
        if self._token is None:
            body = {
                "consumerID": self.credentials.consumer_id.get_secret_value(),
                "consumerSecret": self.credentials.consumer_secret.get_secret_value(),
            }
            status, data = self.http("POST", self.api_url + TOKEN_PATH, {}, body)
            token = (data or {}).get("data", {}).get("accessToken") if isinstance(data, dict) else None
            if status != 200 or not isinstance(data, dict) or data.get("status") not in (200, "200", "Success") or not token:
                raise AuthError(f"access token request refused (HTTP {status})")
            self._token = str(token)
        return self._token

    def _connect(self) -> HubConnection:
        headers = {"Authorization": f"Bearer {self._access_token()}"}
        connection_data = json.dumps([{"name": HUB}])
        query = urlencode({"connectionData": connection_data, "clientProtocol": CLIENT_PROTOCOL})
        status, data = self.http("GET", f"{self.hub_url}{SIGNALR_PATH}/negotiate?{query}", headers, None)
        if status == 401:
            self._token = None
            raise AuthError("streaming hub refused the token (HTTP 401)")
        if status != 200 or not isinstance(data, dict) or "ConnectionToken" not in data:
            raise ConnectionClosed(f"negotiate failed (HTTP {status})")
        parts = urlsplit(self.hub_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urlencode({
            "transport": "webSockets", "connectionToken": data["ConnectionToken"],
            "connectionData": connection_data, "clientProtocol": data.get("ProtocolVersion", CLIENT_PROTOCOL),
        })  # fmt: skip
        connection = self.transport.connect(f"{scheme}://{parts.netloc}{parts.path}{SIGNALR_PATH}/connect?{query}", headers)
        for i, channel in enumerate(self.channels):
            connection.send(json.dumps({"H": HUB, "M": "SwitchChannels", "A": [channel], "I": i}))
        return connection

    def messages(self) -> Iterator[str]:
        attempt = 0
        failures = 0
        while not self.closed:
            state = ConnectionState.CONNECTING if attempt == 0 and failures == 0 else ConnectionState.RECONNECTING
            self._set_state(state, next_retry_in=None)
            try:
                self._connection = self._connect()
                self._set_state(ConnectionState.CONNECTED, last_error=None)
                attempt = 0
                while not self.closed:
                    messages, errors = broadcast_messages(self._connection.recv())
                    if errors:
                        self._set_state(ConnectionState.CONNECTED, last_error="; ".join(errors))
                    if messages:
                        self._count(len(messages))
                        yield from messages
            except AuthError as exc:
                error = str(exc)
                self._token = None
            except (ConnectionClosed, OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                if self._connection is not None:
                    try:
                        self._connection.close()
                    except Exception:  # a broken socket may fail to close; we reconnect anyway
                        log.debug("closing a dropped hub connection failed", exc_info=True)
                    self._connection = None
            if self.closed:
                break
            failures += 1
            if self.max_attempts is not None and failures >= self.max_attempts:
                self._set_state(ConnectionState.FAILED, last_error=error)
                return
            delay = self.backoff.delay(attempt)
            attempt += 1
            log.warning("SSI stream disconnected (%s); retrying in %.1f s", error, delay)
            status = self.status
            self._set_state(
                ConnectionState.RECONNECTING, last_error=error, next_retry_in=delay, reconnects=status.reconnects + 1
            )
            if self.wait(delay):
                break

    def close(self) -> None:
        super().close()
        connection = self._connection
        if connection is not None:
            try:
                connection.close()
            except Exception:  # closing from another thread may race with the reader
                log.debug("closing the hub connection failed", exc_info=True)


class WebSocketTransport:
    """A small blocking WebSocket client over ``socket``/``ssl`` with the ``wsproto`` state machine."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout

    def connect(self, url: str, headers: dict[str, str]) -> HubConnection:
        try:
            import wsproto  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError("the SSI feed needs the 'wsproto' package: pip install wsproto") from exc
        return _WsConnection(url, headers, self.timeout)


class _WsConnection:
    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, RejectConnection, Request

        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        raw = socket.create_connection((parts.hostname, port), timeout=timeout)
        if parts.scheme == "wss":
            raw = ssl.create_default_context().wrap_socket(raw, server_hostname=parts.hostname)
        self.sock = raw
        self.ws = WSConnection(ConnectionType.CLIENT)
        target = parts.path + ("?" + parts.query if parts.query else "")
        extra = [(k.encode(), v.encode()) for k, v in headers.items()]
        self.sock.sendall(self.ws.send(Request(host=parts.netloc, target=target, extra_headers=extra)))
        self._text: list[str] = []
        self._ready: list[str] = []
        while True:
            for event in self._pump():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    raise ConnectionClosed(f"hub refused the WebSocket (HTTP {event.status_code})")

    def _pump(self) -> list[Any]:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionClosed("connection closed by the hub")
        self.ws.receive_data(data)
        return list(self.ws.events())

    def send(self, text: str) -> None:
        from wsproto.events import Message

        self.sock.sendall(self.ws.send(Message(data=text)))

    def recv(self) -> str:
        from wsproto.events import CloseConnection, Ping, TextMessage

        while not self._ready:
            for event in self._pump():
                if isinstance(event, TextMessage):
                    self._text.append(event.data)
                    if event.message_finished:
                        self._ready.append("".join(self._text))
                        self._text = []
                elif isinstance(event, Ping):
                    self.sock.sendall(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    raise ConnectionClosed(f"hub closed the connection ({event.code})")
        return self._ready.pop(0)

    def close(self) -> None:
        self.sock.close()
