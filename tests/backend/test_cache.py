from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from backend.cache import cached_call, init_cache, request_key
from backend.config import load_settings


def _cache_for(tmp_path: Path, redis_url: str | None = None):
    settings = load_settings(data_dir=tmp_path, redis_url=redis_url)
    return init_cache(Flask(__name__), settings).cache


def test_request_key_ignores_key_order_and_the_cache_flag() -> None:
    a = request_key("pivot", {"dimensions": ["desk"], "metrics": ["pnl"], "cache": True}, "v1")
    b = request_key("pivot", {"metrics": ["pnl"], "cache": False, "dimensions": ["desk"]}, "v1")
    assert a == b


def test_request_key_changes_with_the_data_version_and_the_request() -> None:
    base = {"dimensions": ["desk"], "metrics": ["pnl"]}
    assert request_key("pivot", base, "v1") != request_key("pivot", base, "v2")
    assert request_key("pivot", base, "v1") != request_key("pivot", {**base, "limit": 5}, "v1")


def _exercise(backend) -> None:
    calls: list[int] = []

    def compute() -> dict:
        calls.append(1)
        return {"rows": [{"desk": "Macro", "pnl": 1.5}], "n": len(calls)}

    key = request_key("pivot", {"x": len(str(backend))}, "v-test")
    first, cached_first = cached_call(backend, key, compute)
    second, cached_second = cached_call(backend, key, compute)
    assert (cached_first, cached_second) == (False, True)
    assert second == first and len(calls) == 1
    bypass, cached_bypass = cached_call(backend, key, compute, use_cache=False)
    assert cached_bypass is False and bypass["n"] == 2


def test_file_cache_in_the_data_dir_returns_cached_answers(tmp_path: Path) -> None:
    backend = _cache_for(tmp_path)
    _exercise(backend)
    assert any((tmp_path / "cache").iterdir())


def test_redis_cache_returns_cached_answers(tmp_path: Path, redis_url: str) -> None:
    backend = _cache_for(tmp_path, redis_url)
    backend.clear()
    _exercise(backend)
    assert not (tmp_path / "cache").exists()


def test_unreachable_redis_is_bypassed_not_fatal(tmp_path: Path) -> None:
    # Port 9 on loopback: nothing listens, so every cache call fails at once.
    backend = _cache_for(tmp_path, "redis://127.0.0.1:9/0")
    value, cached = cached_call(backend, "k", lambda: {"ok": 1})
    assert value == {"ok": 1} and cached is False


def test_cache_expires_entries_after_the_ttl(tmp_path: Path, redis_url: str) -> None:
    import time

    backend = _cache_for(tmp_path, redis_url)
    cached_call(backend, "ttl-key", lambda: {"v": 1}, timeout=1)
    assert backend.get("ttl-key") == {"v": 1}
    time.sleep(2.1)
    assert backend.get("ttl-key") is None


@pytest.mark.parametrize("ttl", [0, 300])
def test_ttl_comes_from_settings(tmp_path: Path, ttl: int) -> None:
    settings = load_settings(data_dir=tmp_path, cache_ttl_seconds=ttl)
    cache = init_cache(Flask(__name__), settings)
    assert cache.config["CACHE_DEFAULT_TIMEOUT"] == ttl
