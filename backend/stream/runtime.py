"""The event bus of this process: Redis Streams in server mode (``DESKBOARD_FEED=process``, where
the feed, the paper worker and the web workers are separate processes), one in-process bus
otherwise. ``current_bus()`` is the bus of the app serving the request."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from backend.config import Settings
from backend.stream.bus import EventBus, MemoryBus

EXTENSION_KEY = "deskboard.stream"
_memory: MemoryBus | None = None
_memory_lock = threading.Lock()


def process_bus() -> MemoryBus:
    """The in-process bus: one per process, whoever asks (the feed thread, the matcher, requests)."""
    global _memory
    with _memory_lock:
        if _memory is None:
            _memory = MemoryBus()
        return _memory


def open_bus(settings: Settings) -> EventBus:
    if settings.feed == "process" and settings.redis_url:
        from backend.market.board_state import redis_client
        from backend.stream.redis_bus import MAX_BLOCK_SECONDS, RedisBus

        return RedisBus(redis_client(settings.redis_url, blocking_seconds=MAX_BLOCK_SECONDS))
    return process_bus()


def install_bus(server: Flask, settings: Settings) -> EventBus:
    bus = open_bus(settings)
    server.extensions[EXTENSION_KEY] = bus
    return bus


def current_bus() -> EventBus | None:
    return current_app.extensions.get(EXTENSION_KEY)


__all__ = ["EXTENSION_KEY", "current_bus", "install_bus", "open_bus", "process_bus"]
