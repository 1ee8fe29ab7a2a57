"""The event stream over server-sent events (blueprint ``stream_api``).

    GET /api/v1/stream?channels=market,trades,fills&after=POSITION

One connection carries the channels asked for (``market`` — the board rows that changed,
``foreign``, ``indices`` — each at most once a second or two —, ``trades``, ``alerts``, and the
caller's own ``signals`` and ``fills``). Every event has an ``id:`` line, its position on the
bus; a client that reconnects sends the last one it saw (browsers' ``EventSource`` send it as
``Last-Event-ID``; ``after=`` does the same) and receives every event after it, for 24 hours.
A position the bus no longer holds (older than that, or from another run) is answered with one
``reset`` event naming the position the stream now continues from, never with a silent gap.

Each open connection holds a thread of its web worker, so a worker keeps at most
``DESKBOARD_STREAMS`` of them (the next gets 503 with ``Retry-After``) and ends each after
``DESKBOARD_STREAM_SECONDS``; the client reconnects from its position and misses nothing.
An idle connection gets a comment line every ``KEEPALIVE_SECONDS`` (which is also how a
closed one is noticed and its thread freed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Final

import orjson
from flask import Blueprint, Response, request
from pydantic import AfterValidator, Field
from spectree import Response as Responses
from spectree.models import Tag

from backend.access.current import current_principal
from backend.access.permissions import PAPER_TRADE
from backend.api import errors
from backend.api.errors import ApiError
from backend.api.spec import ErrorBody, Query, spec
from backend.stores import current_stores
from backend.stream.bus import CHANNELS, PRIVATE, EventBus, PositionGone, parse_position
from backend.stream.runtime import current_bus

stream_api = Blueprint("stream_api", __name__, url_prefix="/api/v1")
errors.install(stream_api)

TAG = Tag(name="stream", description="Trades, market, signals, alerts and fills pushed as server-sent events")
KEEPALIVE_SECONDS: Final = 10.0
RETRY_MS: Final = 2000
_open: dict[int, int] = {}  # streams open per worker process (keyed by the app, for tests that build several)
_open_lock = threading.Lock()


def _channels(raw: str) -> frozenset[str]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise ValueError(f"name at least one channel: {', '.join(CHANNELS)}")
    bad = next((i for i, name in enumerate(names) if name not in CHANNELS), None)
    if bad is not None:  # the value is not repeated back: it is the caller's text
        raise ValueError(f"item {bad + 1} is not a channel: one of {', '.join(CHANNELS)}")
    return frozenset(names)


def _position(raw: str | None) -> str | None:
    if raw is None:
        return None
    parse_position(raw)
    return raw


class StreamQuery(Query):
    echo_unknown: ClassVar[bool] = True

    channels: Annotated[str, AfterValidator(_channels)] = Field(
        description=f"comma-separated channels: {', '.join(CHANNELS)}")
    after: Annotated[str | None, AfterValidator(_position)] = Field(
        None, description="resume after this position (an event's id); the Last-Event-ID header wins")


def _event(event_id: str, channel: str, data: Any) -> bytes:
    return b"id: " + event_id.encode() + b"\nevent: " + channel.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _events(bus: EventBus, after: str | None, channels: frozenset[str], owner: str, *,
            seconds: float) -> Iterator[bytes]:
    # Where this client starts is fixed before its first line goes out: an event published once
    # the client has its answer is one it receives.
    opening = [f"retry: {RETRY_MS}\n\n".encode()]
    position = after
    try:
        bus.read(position, channels, owner=owner, timeout=0, limit=1)
    except PositionGone as exc:
        position = bus.last()
        opening.append(_event(position, "reset", {"reason": str(exc), "position": position}))
    if position is None:
        position = bus.last()
        opening.append(b"id: " + position.encode() + b"\n\n")  # so a reconnect resumes from here
    yield b"".join(opening)
    ends = time.monotonic() + seconds
    while (left := ends - time.monotonic()) > 0:
        try:
            batch = bus.read(position, channels, owner=owner, timeout=min(KEEPALIVE_SECONDS, left))
        except PositionGone as exc:  # fell behind the bus's retention while connected
            position = bus.last()
            yield _event(position, "reset", {"reason": str(exc), "position": position})
            continue
        for event in batch.events:
            yield _event(event.id, event.channel, event.data)
        if batch.through != position and not batch.events:
            yield b"id: " + batch.through.encode() + b"\n\n"  # read past others' events: move on
        elif not batch.events:
            yield b": keep-alive\n\n"
        position = batch.through


@stream_api.get("/stream")
@spec.validate(query=StreamQuery, resp=Responses(
    HTTP_200=None, HTTP_400=ErrorBody, HTTP_403=(ErrorBody, "a private channel without the permission for it"),
    HTTP_503=(ErrorBody, "this worker holds as many streams as it may; retry")), tags=[TAG])
def stream(query: StreamQuery) -> Response:
    """Events of the asked channels as ``text/event-stream``, from ``after`` (or Last-Event-ID) on."""
    principal = current_principal()
    private = sorted(query.channels & PRIVATE)
    if private and not principal.can(PAPER_TRADE):
        raise ApiError(f"channels: {', '.join(private)} need the permission to paper trade", 403)
    header = request.headers.get("Last-Event-ID")
    after = query.after
    if header:
        try:
            after = _position(header.strip())
        except ValueError as exc:
            raise ApiError(f"Last-Event-ID: {exc}") from None
    bus = current_bus()
    if bus is None:
        raise ApiError("the event stream is not running on this server", 503)
    settings = current_stores().settings.server
    key = id(bus)
    with _open_lock:
        if _open.get(key, 0) >= settings.streams:
            response, _status = errors.error_response(
                f"this server holds {settings.streams} open streams, as many as it may; retry shortly", 503)
            response.status_code = 503
            response.headers["Retry-After"] = "5"
            return response
        _open[key] = _open.get(key, 0) + 1
    released = threading.Event()

    def release() -> None:  # when the response closes, whether or not its body was ever read
        if not released.is_set():
            released.set()
            with _open_lock:
                _open[key] -= 1

    body = _events(bus, after, query.channels, principal.id, seconds=settings.stream_seconds)
    response = Response(body, mimetype="text/event-stream")
    response.call_on_close(release)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not hold events back
    return response


__all__ = ["KEEPALIVE_SECONDS", "stream_api"]
