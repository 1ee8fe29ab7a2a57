"""Result cache for queries, keyed by the normalised request and the data version.

flask-caching picks the backend from settings: a file cache in the data dir by
default, Redis when ``DESKBOARD_REDIS_URL`` is set. Keys include the data version,
so a new load never serves stale answers and nothing has to be invalidated.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_caching import Cache

from backend.config import Settings
from backend.observability.metrics import observe_cache

KEY_PREFIX = "deskboard:"
log = logging.getLogger(__name__)


def init_cache(server: Flask, settings: Settings) -> Cache:
    config: dict[str, Any] = {
        "CACHE_DEFAULT_TIMEOUT": settings.cache_ttl_seconds,
        "CACHE_KEY_PREFIX": KEY_PREFIX,
    }
    if settings.redis_url:
        config |= {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings.redis_url}
    else:
        config |= {
            "CACHE_TYPE": "FileSystemCache",
            "CACHE_DIR": str(settings.data_dir / "cache"),
            "CACHE_THRESHOLD": 2000,
        }
    return Cache(server, config=config)


def request_key(kind: str, payload: dict[str, Any], data_version: str) -> str:
    """Stable key: same request (any key order, ``cache`` flag ignored) + same data."""
    body = {k: v for k, v in payload.items() if k != "cache"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{kind}|{data_version}|{text}".encode()).hexdigest()[:40]
    return f"{kind}:{digest}"


def cached_call(
    backend: Any,
    key: str,
    compute: Callable[[], dict[str, Any]],
    *,
    use_cache: bool = True,
    timeout: int | None = None,
) -> tuple[dict[str, Any], bool]:
    """Return (value, was_cached); a cache that fails is bypassed, never fatal."""
    if use_cache:
        try:
            hit = backend.get(key)
        except Exception as exc:  # noqa: BLE001 - a broken cache must not break answers
            log.warning("cache read failed: %s", type(exc).__name__)
            hit = None
        observe_cache(key, hit=hit is not None)
        if hit is not None:
            return hit, True
    value = compute()
    if use_cache:
        try:
            backend.set(key, value, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - answers still go out without the cache
            log.warning("cache write failed: %s", type(exc).__name__)
    return value, False
