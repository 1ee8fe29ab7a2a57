"""A local stand-in for SSI's FastConnect Data servers, for the SSI client's tests.

One HTTP server on 127.0.0.1 (a free port) serves what the client talks to:

- ``POST /api/v2/Market/AccessToken``: checks the consumer id and secret, issues a JWT-shaped
  token with an ``exp`` claim (a new one per request);
- ``GET /v2.0/signalr/negotiate``: checks the bearer token, answers SignalR's negotiate JSON
  with a fresh connection token and sets two affinity cookies (one per negotiation);
- ``GET /v2.0/signalr/connect`` with ``Upgrade: websocket``: checks the token, the query and
  that the cookies of *that* negotiation came back (refusing with 400 otherwise, as a load
  balancer sending the socket to the wrong server would), then speaks WebSocket: waits for
  the client's invocation, streams a scripted session and ends it the scripted way.

Everything the client sends is recorded for the tests to check. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

HUB = "FcMarketDataV2Hub"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True)
class Raw:
    """Bytes written to the socket as they are (e.g. a frame header announcing a huge payload)."""

    data: bytes


@dataclass
class Session:
    """What the hub does on one WebSocket connection after the client's SwitchChannels call.

    ``frames``: text frames (str), binary frames (bytes) or Raw bytes, sent in order.
    ``end``: "drop" (TCP closed without a close frame), "close" (a close frame),
    "hold" (stay open, answer pings) or "silent" (stay open, ignore pings).
    """

    frames: list[str | bytes | Raw] = field(default_factory=list)
    end: str = "close"


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, n])
    elif n < 65536:
        header = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return header + payload


def broadcast_frame(messages: list[str], cursor: str = "d-1") -> str:
    """SignalR 2 persistent-connection frame carrying hub Broadcast calls, one per message."""
    return json.dumps({"C": cursor, "M": [{"H": HUB, "M": "Broadcast", "A": [m]} for m in messages]})


def fake_jwt(claims: dict[str, Any]) -> str:
    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class _Closed(Exception):
    pass


class LocalHub:
    def __init__(
        self,
        *,
        consumer_id: str,
        consumer_secret: str,
        sessions: list[Session] | None = None,
        token_ttl: float = 8 * 3600.0,
        negotiate_statuses: list[int] | None = None,
        hostile_tokens: list[object] | None = None,
        hostile_negotiations: list[dict[str, Any]] | None = None,
    ) -> None:
        self.consumer_id, self.consumer_secret = consumer_id, consumer_secret
        self.sessions = list(sessions or [])
        self.token_ttl = token_ttl
        # Statuses answered to the next negotiations instead of a success (e.g. [503, 503, 401]).
        self.negotiate_statuses = list(negotiate_statuses or [])
        # Answered instead of a real token / negotiate body, one per request, while any are left.
        self.hostile_tokens = list(hostile_tokens or [])
        self.hostile_negotiations = list(hostile_negotiations or [])
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []  # every HTTP request: method, path, query, headers, body
        self.tokens: list[str] = []
        self.negotiations: list[dict[str, Any]] = []  # connection token → cookies issued
        self.connections: list[dict[str, Any]] = []  # accepted sockets: query, headers, invocations, pings
        self.refused: list[tuple[str, int]] = []
        self._open: list[socket.socket] = []
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler, bind_and_activate=True)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> LocalHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=5)

    def wait_for(self, condition: Any, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if condition():
                    return True
            time.sleep(0.01)
        return False

    # --- routes -----------------------------------------------------------------------
    def issue_token(self) -> str:
        with self.lock:
            token = fake_jwt({"sub": "consumer", "n": len(self.tokens), "exp": int(time.time() + self.token_ttl)})
            self.tokens.append(token)
        return token

    def negotiate(self) -> tuple[dict[str, Any], list[str]]:
        with self.lock:
            n = len(self.negotiations)
            connection_token = f"ct{n}/AQAAANCMnd8BFdERjHoAwE+/Cl+sBAAAAA=="
            cookies = {"ARRAffinity": f"{n:04d}aff1n1ty", "AWSALB": f"lb{n}/x+y=="}
            self.negotiations.append({"token": connection_token, "cookies": cookies})
        body = {
            "Url": "/v2.0/signalr", "ConnectionToken": connection_token, "ConnectionId": f"c-{n}",
            "KeepAliveTimeout": 20.0, "DisconnectTimeout": 30.0, "ConnectionTimeout": 110.0, "TryWebSockets": True,
            "ProtocolVersion": "1.5", "TransportConnectTimeout": 5.0, "LongPollDelay": 0.0,
        }  # fmt: skip
        set_cookies = [
            f"ARRAffinity={cookies['ARRAffinity']}; Path=/; HttpOnly",
            f"AWSALB={cookies['AWSALB']}; Expires=Tue, 01 Jan 2036 00:00:00 GMT; Path=/",
        ]
        return body, set_cookies


class _Handler(socketserver.StreamRequestHandler):
    hub: LocalHub

    def handle(self) -> None:
        self.hub = self.server.hub  # type: ignore[attr-defined]
        self.request.settimeout(10)
        try:
            method, target, headers, body = self._read_request()
        except (_Closed, OSError, ValueError):
            return
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        record = {"method": method, "path": parts.path, "query": query, "headers": headers, "body": body}
        with self.hub.lock:
            self.hub.requests.append(record)
        if parts.path == "/api/v2/Market/AccessToken" and method == "POST":
            self._token(body)
        elif parts.path == "/v2.0/signalr/negotiate" and method == "GET":
            self._negotiate(headers, query)
        elif parts.path == "/v2.0/signalr/connect" and headers.get("upgrade", "").lower() == "websocket":
            self._connect(headers, query)
        else:
            self._respond(404, {"message": "not found"})

    # --- HTTP -------------------------------------------------------------------------
    def _read_request(self) -> tuple[str, str, dict[str, str], Any]:
        line = self.rfile.readline(8192).decode("latin-1").strip()
        if not line:
            raise _Closed
        method, target, _ = line.split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(8192).decode("latin-1")
            if raw in ("\r\n", "\n", ""):
                break
            name, _, value = raw.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        length = int(headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        return method, target, headers, body

    def _respond(self, status: int, body: Any, extra: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(body).encode()
        lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", f"Content-Length: {len(data)}"]
        lines += [f"{k}: {v}" for k, v in extra] + ["Connection: close", "", ""]
        self.wfile.write("\r\n".join(lines).encode() + data)

    def _bearer_ok(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        with self.hub.lock:
            return auth.startswith("Bearer ") and auth[7:] in self.hub.tokens

    def _token(self, body: Any) -> None:
        hub = self.hub
        if body == {"consumerID": hub.consumer_id, "consumerSecret": hub.consumer_secret}:
            with hub.lock:
                hostile = hub.hostile_tokens.pop(0) if hub.hostile_tokens else None
            token = hostile if hostile is not None else hub.issue_token()
            self._respond(200, {"message": "Success", "status": 200, "data": {"accessToken": token}})
        else:
            self._respond(200, {"message": "Invalid consumer", "status": 400, "data": None})

    def _negotiate(self, headers: dict[str, str], query: dict[str, str]) -> None:
        with self.hub.lock:
            forced = self.hub.negotiate_statuses.pop(0) if self.hub.negotiate_statuses else None
            exhausted = not self.hub.sessions
        bearer_ok = self._bearer_ok(headers)
        if forced is not None or not bearer_ok or exhausted:
            self._respond(forced or (401 if not bearer_ok else 503), {"message": "refused"})
            return
        if query != {"connectionData": json.dumps([{"name": HUB}]), "clientProtocol": "1.5"}:
            self._respond(400, {"message": f"bad negotiate query {query}"})
            return
        body, cookies = self.hub.negotiate()
        with self.hub.lock:
            if self.hub.hostile_negotiations:
                body = self.hub.hostile_negotiations.pop(0)
        self._respond(200, body, tuple(("Set-Cookie", c) for c in cookies))

    def _connect(self, headers: dict[str, str], query: dict[str, str]) -> None:
        hub = self.hub
        with hub.lock:
            negotiation = next((n for n in hub.negotiations if n["token"] == query.get("connectionToken")), None)
        sent = dict(c.strip().partition("=")[::2] for c in headers.get("cookie", "").split(";") if "=" in c)
        problem = None
        if not self._bearer_ok(headers):
            problem = 401
        elif negotiation is None or query != {
            "transport": "webSockets", "connectionToken": negotiation["token"],
            "connectionData": json.dumps([{"name": HUB}]), "clientProtocol": "1.5",
        }:  # fmt: skip
            problem = 400
        elif any(sent.get(k) != v for k, v in negotiation["cookies"].items()):
            problem = 400  # the affinity cookie did not come back: the wrong server got the socket
        if problem is not None:
            with hub.lock:
                hub.refused.append(("connect", problem))
            self._respond(problem, {"message": "refused"})
            return
        with hub.lock:
            session = hub.sessions.pop(0)
            conn: dict[str, Any] = {"query": query, "headers": headers, "cookies": sent, "invocations": [], "pings": 0}
            hub.connections.append(conn)
            hub._open.append(self.request)
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest()).decode()
        self.wfile.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        self.request.settimeout(60)
        self._stream(conn, session)

    # --- WebSocket --------------------------------------------------------------------
    def _read_frame(self) -> tuple[int, bytes]:
        head = self.rfile.read(2)
        if len(head) < 2:
            raise _Closed
        opcode, n = head[0] & 0x0F, head[1] & 0x7F
        if n == 126:
            n = int.from_bytes(self.rfile.read(2), "big")
        elif n == 127:
            n = int.from_bytes(self.rfile.read(8), "big")
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
        return opcode, data

    def _stream(self, conn: dict[str, Any], session: Session) -> None:
        send_lock = threading.Lock()

        def send(data: bytes) -> None:
            with send_lock:
                self.wfile.write(data)

        subscribed = threading.Event()
        finished = threading.Event()

        def reader() -> None:
            try:
                while True:
                    opcode, data = self._read_frame()
                    if opcode == 1:
                        message = json.loads(data)
                        with self.hub.lock:
                            conn["invocations"].append(message)
                        send(ws_frame(json.dumps({"I": str(message.get("I"))}).encode()))
                        subscribed.set()
                    elif opcode == 9:
                        with self.hub.lock:
                            conn["pings"] += 1
                        if session.end != "silent":
                            send(ws_frame(data, opcode=10))
                    elif opcode == 8:
                        break
            except (_Closed, OSError, ValueError):
                pass
            finally:
                finished.set()

        threading.Thread(target=reader, daemon=True).start()
        try:
            send(ws_frame(json.dumps({"C": "s-0,1", "S": 1, "M": []}).encode()))
            if not subscribed.wait(10):
                return
            for item in session.frames:
                if isinstance(item, Raw):
                    send(item.data)
                elif isinstance(item, bytes):
                    send(ws_frame(item, opcode=2))
                else:
                    send(ws_frame(item.encode()))
            if session.end == "close":
                send(ws_frame((1000).to_bytes(2, "big"), opcode=8))
                finished.wait(5)
            elif session.end in ("hold", "silent"):
                finished.wait(60)
        except OSError:
            pass
        finally:
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
