"""SSI FastConnect Data streaming: access token, then the SignalR hub, with reconnects.

The protocol is the one SSI's own Python client (``ssi-fc-data`` 2.2.2) speaks, over the
same WebSocket library (``websocket-client``):

1. ``POST {api}api/v2/Market/AccessToken`` with ``{"consumerID", "consumerSecret"}`` →
   ``{"status": 200, "data": {"accessToken": <JWT>}}``; the token is kept until an hour
   before the expiry it carries, as SSI's client does;
2. ``GET {hub}v2.0/signalr/negotiate?connectionData=[{"name": "FcMarketDataV2Hub"}]&clientProtocol=1.5``
   with ``Authorization: Bearer <token>`` → ``{"ConnectionToken", "ProtocolVersion", ...}``.
   The cookies it sets (a load balancer's affinity cookie) go with the WebSocket request,
   so the socket reaches the server that holds the negotiated connection;
3. a WebSocket to ``{hub as ws(s)}v2.0/signalr/connect?transport=webSockets&connectionToken=…
   &connectionData=…&clientProtocol=<ProtocolVersion>`` with the same Authorization header;
4. one ``{"H": "FcMarketDataV2Hub", "M": "SwitchChannels", "A": ["X:ALL,R:ALL,MI:VN30-VNINDEX"], "I": 0}``:
   the hub keeps one subscription per connection and each call replaces the previous one,
   so every channel goes in one comma-separated argument (as SSI's Java sample does), with
   the symbols of a channel joined by ``-``;
5. frames ``{"C": cursor, "M": [{"H": hub, "M": "Broadcast", "A": ["<message>"]}]}`` where each
   message is ``{"DataType": "X", "Content": "<json>"}``; ``{}`` is a keep-alive.

Where this client differs from ``ssi-fc-data``, on purpose: TLS certificates are verified
(SSI's client turns verification off), redirects are not followed (they would carry the
token to another host), nothing about the token or the cookies is logged or printed, a
frame larger than ``MAX_FRAME_BYTES`` closes the connection before it is read, and a
connection that stays silent past the negotiated keep-alive and does not answer a ping is
dropped and reopened with exponential backoff.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import math
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import websocket
from pydantic import SecretStr
from websocket._abnf import ABNF, continuous_frame, frame_buffer

from backend.market.feed.base import ConnectionState, MarketFeed

log = logging.getLogger(__name__)

HUB = "FcMarketDataV2Hub"
TOKEN_PATH = "api/v2/Market/AccessToken"
SIGNALR_PATH = "v2.0/signalr"
CLIENT_PROTOCOL = "1.5"
CHANNELS = frozenset({"F", "X-QUOTE", "X-TRADE", "X", "R", "MI", "B", "OL"})
MAX_FRAME_BYTES = 4 * 1024 * 1024
MAX_HTTP_BYTES = 1024 * 1024
TOKEN_MARGIN_SECONDS = 3600.0  # SSI's client renews a token with less than an hour left


class ConnectionClosed(Exception):
    """The streaming connection dropped or cannot be used."""


class AuthError(Exception):
    """The provider rejected the credentials or the token."""


@dataclass(frozen=True)
class SsiCredentials:
    consumer_id: SecretStr
    consumer_secret: SecretStr = field(repr=False)


@dataclass
class Backoff:
    """Exponential backoff with jitter: base·2^n seconds, capped, times a random 0.5–1 factor."""

    base: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2 ** min(attempt, 30)) * (0.5 + self.rng.random() / 2)


def subscription(channels: Iterable[str]) -> str:
    """The one SwitchChannels argument for all channels: ``("MI:VN30", "MI:VNINDEX", "X:ALL")`` → ``"MI:VN30-VNINDEX,X:ALL"``.

    Symbols of one channel are merged (``ALL`` wins) because a later entry for the same
    channel could replace an earlier one on the hub. Codes and symbols are checked so that
    nothing can smuggle a separator into the hub call.
    """
    merged: dict[str, list[str]] = {}
    for item in channels:
        code, _, symbols = item.strip().partition(":")
        code = code.strip().upper()
        if code not in CHANNELS:
            raise ValueError(f"unknown channel {code[:20]!r}")
        names = [s.strip().upper() for s in symbols.split("-")]
        if not names or not all(0 < len(s) <= 20 and s.isascii() and s.isalnum() for s in names):
            raise ValueError(f"channel {code} needs symbols separated by '-' (or ALL)")
        known = merged.setdefault(code, [])
        known.extend(s for s in names if s not in known)
    if not merged:
        raise ValueError("no channel to subscribe")
    return ",".join(f"{code}:{'ALL' if 'ALL' in names else '-'.join(names)}" for code, names in merged.items())


def _clean(text: object, limit: int = 200) -> str:
    """Provider text safe for a log line or a status field: printable, one line, bounded."""
    return "".join(c if c.isprintable() else " " for c in str(text)[:limit])


def broadcast_messages(frame: str | bytes) -> tuple[list[str], list[str]]:
    """(market messages, hub errors) carried by one SignalR frame."""
    if len(frame) > MAX_FRAME_BYTES:
        return [], ["oversized frame"]
    try:
        data = orjson.loads(frame)  # bounded nesting depth, unlike json.loads
    except orjson.JSONDecodeError:
        return [], ["frame is not JSON"]
    if not isinstance(data, dict):
        return [], []
    messages: list[str] = []
    errors: list[str] = []
    if "E" in data:
        errors.append(_clean(data["E"]))
    items = data.get("M")
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        method, args = item.get("M"), item.get("A")
        args = args if isinstance(args, list) else []
        if method == "Broadcast":
            for arg in args:
                if isinstance(arg, str):
                    messages.append(arg)
                elif isinstance(arg, dict):
                    messages.append(orjson.dumps(arg).decode())
        elif method == "Error":
            errors.extend(_clean(a) for a in args)
    return messages, errors


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (epoch seconds), read without verifying it; None when absent."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, TypeError, KeyError):
        return None


@dataclass(frozen=True)
class _HttpResponse:
    status: int
    body: Any
    cookies: tuple[tuple[str, str], ...]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect would carry the Authorization header to another host


_opener = urllib.request.build_opener(_NoRedirect())


def _set_cookies(headers: Any) -> tuple[tuple[str, str], ...]:
    """name=value of every Set-Cookie header (attributes dropped), as a browser would send them back."""
    out: list[tuple[str, str]] = []
    for header in headers.get_all("Set-Cookie") or ():
        name, sep, value = header.split(";", 1)[0].partition("=")
        if sep and name.strip():
            out.append((name.strip(), value.strip()))
    return tuple(out)


def _http(method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None, timeout: float) -> _HttpResponse:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json", **headers})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _opener.open(request, timeout=timeout) as response:  # the URL comes from settings
            raw, status, response_headers = response.read(MAX_HTTP_BYTES + 1), response.status, response.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return _HttpResponse(exc.code, None, ())
    if len(raw) > MAX_HTTP_BYTES:
        return _HttpResponse(status, None, ())
    try:
        parsed = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError:
        parsed = None
    return _HttpResponse(status, parsed, _set_cookies(response_headers))


class _BoundedFrames(frame_buffer):
    """Refuses a frame whose header announces more than MAX_FRAME_BYTES, before reading its payload."""

    def recv_length(self) -> None:
        super().recv_length()
        if self.length is not None and self.length > MAX_FRAME_BYTES:
            raise ConnectionClosed(f"oversized frame ({self.length} bytes)")


class _BoundedMessages(continuous_frame):
    """Refuses a message split over continuation frames once it grows past MAX_FRAME_BYTES."""

    def add(self, frame: ABNF) -> None:
        super().add(frame)
        if self.cont_data and len(self.cont_data[1]) > MAX_FRAME_BYTES:
            raise ConnectionClosed("oversized message")


class _HubSocket(websocket.WebSocket):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        skip = options.get("skip_utf8_validation", False)
        self.frame_buffer = _BoundedFrames(self._recv, skip)
        self.cont_frame = _BoundedMessages(False, skip)


def _header_safe(value: object, limit: int = 8192) -> bool:
    """A token that can go into a header as it is: visible ASCII, no spaces, bounded."""
    return isinstance(value, str) and 0 < len(value) <= limit and value.isascii() and value.isprintable() and " " not in value


def _describe(exc: BaseException) -> str:
    """A short error for logs and the status, with no header, cookie or URL in it."""
    if isinstance(exc, websocket.WebSocketBadStatusException):
        return f"hub refused the WebSocket (HTTP {exc.status_code})"
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return "connection closed by the hub"
    if isinstance(exc, (socket.timeout, websocket.WebSocketTimeoutException)):
        return "timed out"
    if isinstance(exc, (AuthError, ConnectionClosed)):
        return _clean(exc, 300)
    if isinstance(exc, OSError) and exc.strerror:
        return _clean(f"{type(exc).__name__}: {exc.strerror}", 300)
    return _clean(f"{type(exc).__name__}: {exc}", 300)


class SsiFeed(MarketFeed):
    source = "ssi"

    def __init__(
        self,
        credentials: SsiCredentials,
        *,
        api_url: str = "https://fc-data.ssi.com.vn/",
        hub_url: str = "https://fc-datahub.ssi.com.vn/",
        channels: Iterable[str] = ("X:ALL",),
        backoff: Backoff | None = None,
        wait: Callable[[float], bool] | None = None,
        max_attempts: int | None = None,
        http_timeout: float = 15.0,
        silence_timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.credentials = credentials
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.hub_url = hub_url if hub_url.endswith("/") else hub_url + "/"
        self.channels = tuple(channels)
        self.subscription = subscription(self.channels)  # fails here, at start, on a bad channel
        self.backoff = backoff or Backoff()
        # wait(seconds) → True when closed meanwhile; the event makes close() interrupt a backoff.
        self.wait = wait or self._closed.wait
        self.max_attempts = max_attempts
        self.http_timeout = http_timeout
        # Seconds without a frame before a ping; None follows the hub's negotiated KeepAliveTimeout.
        self.silence_timeout = silence_timeout
        self.rejected: dict[str, int] = {}  # frames refused, by reason
        self._token: SecretStr | None = None
        self._token_expires: float | None = None
        self._socket: websocket.WebSocket | None = None

    # --- connection -------------------------------------------------------------------
    def _access_token(self) -> SecretStr:
        if self._token is not None and (
            self._token_expires is None or self._token_expires - time.time() > TOKEN_MARGIN_SECONDS
        ):
            return self._token
        body = {
            "consumerID": self.credentials.consumer_id.get_secret_value(),
            "consumerSecret": self.credentials.consumer_secret.get_secret_value(),
        }
        response = _http("POST", self.api_url + TOKEN_PATH, {}, body, self.http_timeout)
        data = response.body if isinstance(response.body, dict) else {}
        inner = data.get("data")
        token = inner.get("accessToken") if isinstance(inner, dict) else None
        if response.status != 200 or data.get("status") not in (200, "200") or not _header_safe(token):
            raise AuthError(f"access token request refused (HTTP {response.status}, status {_clean(data.get('status'), 20)})")
        self._token = SecretStr(token)
        self._token_expires = token_expiry(token)
        return self._token

    def _negotiate(self, bearer: dict[str, str], connection_data: str) -> tuple[dict[str, Any], str]:
        query = urlencode({"connectionData": connection_data, "clientProtocol": CLIENT_PROTOCOL})
        response = _http("GET", f"{self.hub_url}{SIGNALR_PATH}/negotiate?{query}", bearer, None, self.http_timeout)
        if response.status in (401, 403):
            raise AuthError(f"streaming hub refused the token (HTTP {response.status})")
        data = response.body
        if response.status != 200 or not isinstance(data, dict):
            raise ConnectionClosed(f"negotiate failed (HTTP {response.status})")
        if not _header_safe(data.get("ConnectionToken"), 4096):
            raise ConnectionClosed("negotiate answered without a usable connection token")
        if data.get("TryWebSockets") is False:
            raise ConnectionClosed("the hub does not offer WebSockets")
        cookie = "; ".join(f"{name}={value}" for name, value in response.cookies)
        return data, cookie

    def _connect(self) -> websocket.WebSocket:
        bearer = {"Authorization": f"Bearer {self._access_token().get_secret_value()}"}
        connection_data = json.dumps([{"name": HUB}])
        negotiated, cookie = self._negotiate(bearer, connection_data)
        version = negotiated.get("ProtocolVersion")
        version = version if isinstance(version, str) and 0 < len(version) <= 8 else CLIENT_PROTOCOL
        parts = urlsplit(self.hub_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urlencode({
            "transport": "webSockets", "connectionToken": negotiated["ConnectionToken"],
            "connectionData": connection_data, "clientProtocol": version,
        })  # fmt: skip
        url = f"{scheme}://{parts.netloc}{parts.path}{SIGNALR_PATH}/connect?{query}"
        try:
            ws = websocket.create_connection(
                url, timeout=self.http_timeout, class_=_HubSocket, header=bearer, cookie=cookie or None,
                redirect_limit=0, enable_multithread=True,
            )  # fmt: skip
        except websocket.WebSocketBadStatusException as exc:
            if exc.status_code in (401, 403):
                raise AuthError(f"streaming hub refused the token (HTTP {exc.status_code})") from None
            raise
        keep_alive = negotiated.get("KeepAliveTimeout")
        silence = self.silence_timeout
        if silence is None:
            known = isinstance(keep_alive, (int, float)) and math.isfinite(keep_alive)
            silence = min(max(float(keep_alive), 5.0), 120.0) if known else 30.0
        ws.settimeout(silence)
        ws.send(json.dumps({"H": HUB, "M": "SwitchChannels", "A": [self.subscription], "I": 0}))
        return ws

    def _receive(self, ws: websocket.WebSocket) -> str:
        """The next text frame. Silence gets one ping; silence after it means the connection is dead."""
        pinged = False
        while True:
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                if pinged:
                    raise ConnectionClosed("no frame and no answer to a ping from the hub") from None
                ws.ping()
                pinged = True
                continue
            pinged = False
            if opcode == ABNF.OPCODE_TEXT:
                return data.decode("utf-8") if isinstance(data, bytes) else data
            if opcode == ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                raise ConnectionClosed(f"hub closed the connection (code {code})")
            if opcode == ABNF.OPCODE_BINARY:
                self._reject("binary frame")

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    # --- stream -----------------------------------------------------------------------
    def messages(self) -> Iterator[str]:
        attempt = 0
        failures = 0
        while not self.closed:
            state = ConnectionState.CONNECTING if attempt == 0 and failures == 0 else ConnectionState.RECONNECTING
            self._set_state(state, next_retry_in=None)
            try:
                self._socket = ws = self._connect()
                if self.closed:
                    break
                self._set_state(ConnectionState.CONNECTED, last_error=None)
                attempt = 0
                while not self.closed:
                    messages, errors = broadcast_messages(self._receive(ws))
                    if errors:
                        for error in errors:
                            self._reject("hub error" if error not in ("frame is not JSON", "oversized frame") else error)
                        self._set_state(ConnectionState.CONNECTED, last_error="; ".join(errors)[:300])
                    if messages:
                        self._count(len(messages))
                        yield from messages
            except AuthError as exc:
                error = _describe(exc)
                self._token = None
            except (ConnectionClosed, OSError, http.client.HTTPException, websocket.WebSocketException, ValueError) as exc:
                error = _describe(exc)
                if "oversized" in error:
                    self._reject("oversized frame")
            finally:
                self._drop_socket()
            if self.closed:
                break
            failures += 1
            if self.max_attempts is not None and failures >= self.max_attempts:
                self._set_state(ConnectionState.FAILED, last_error=error)
                return
            delay = self.backoff.delay(attempt)
            attempt += 1
            log.warning("SSI stream disconnected (%s); retrying in %.1f s", error, delay)
            self._set_state(
                ConnectionState.RECONNECTING, last_error=error, next_retry_in=delay, reconnects=self.status.reconnects + 1
            )
            if self.wait(delay):
                break

    def _drop_socket(self) -> None:
        ws, self._socket = self._socket, None
        if ws is not None:
            try:
                ws.close(timeout=1)
            except (OSError, websocket.WebSocketException):  # a broken socket may fail to close
                ws.shutdown()

    def close(self) -> None:
        super().close()
        ws = self._socket
        if ws is not None:
            ws.abort()  # wakes the reader blocked in recv on another thread
