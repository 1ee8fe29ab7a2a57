"""The data-source registry: each source's status from what the process has, a feed's message rate
from two readings, broken stores reported as down with their reason, never raised."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from backend.config import load_settings
from backend.jobs.runtime import EXTENSION_KEY as JOBS_KEY
from backend.sources import Sample, data_sources, feed_sample
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.warehouse import Warehouse


class FakeFeed:
    def __init__(self, **status: Any) -> None:
        self._status = {"state": "live", "age_seconds": 0.4, "messages": 1000, "rejected": 2, "error": None,
                        "catching_up": False, **status}
        self.history: dict[str, Any] | None = {"pending": 3, "dropped": 0, "refused": 0, "flushes": 9,
                                               "error": None}

    def status(self) -> dict[str, Any]:
        return dict(self._status)

    def history_status(self) -> dict[str, Any] | None:
        return self.history


class BrokenWarehouse:
    embedded = False

    def ping(self) -> bool:
        error = ConnectionError("refused")
        error.user_message = "the warehouse server at db:8123 does not answer"  # type: ignore[attr-defined]
        raise error


@pytest.fixture
def app(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse):
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "d", warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, auth="off")
    return create_app(settings, market=False)


def _by_kind(sources) -> dict[str, Any]:
    return {s.kind: s for s in sources}


def test_every_store_is_listed_ok_with_its_backend(app) -> None:
    stores = app.server.extensions[STORES_KEY]
    with app.server.test_request_context():
        found = _by_kind(data_sources(stores, jobs=app.server.extensions[JOBS_KEY]))
    assert set(found) == {"feed", "warehouse", "records", "cache", "jobs"}
    assert found["warehouse"].status == "ok" and found["warehouse"].detail.startswith("chdb")
    assert "data version" in found["warehouse"].detail
    assert found["records"].status == "ok" and found["records"].detail.startswith("sqlite")
    assert found["cache"].status == "ok" and found["cache"].detail.startswith("file")
    assert found["jobs"].status == "ok" and "0 queued, 0 running" in found["jobs"].detail
    # no market service in this process: the feed is off, saying why, and no rate is invented
    assert found["feed"].status == "off" and found["feed"].message_rate is None
    assert "not running" in found["feed"].detail


def test_feed_rate_comes_from_two_readings_and_lag_from_the_last_message(app) -> None:
    stores = app.server.extensions[STORES_KEY]
    feed = FakeFeed(messages=1000)
    first = feed_sample(feed, now=100.0)
    assert first == Sample(100.0, 1000)
    feed._status["messages"] = 1750
    sources = data_sources(stores, market=feed, previous=first, now=102.5)
    by = _by_kind(sources)
    assert by["feed"].message_rate == pytest.approx(300.0)
    assert by["feed"].lag_seconds == 0.4 and by["feed"].status == "ok"
    assert by["feed"].name == "Market feed (simulator)"
    assert by["history"].status == "ok" and "3 rows waiting" in by["history"].detail
    # without a previous reading, or with a counter that went back (a restart): no rate
    assert _by_kind(data_sources(stores, market=feed, now=103.0))["feed"].message_rate is None
    restarted = Sample(101.0, 5000)
    assert _by_kind(data_sources(stores, market=feed, previous=restarted, now=103.0))["feed"].message_rate is None


@pytest.mark.parametrize("state, expected", [("live", "ok"), ("stale", "degraded"), ("starting", "degraded"),
                                             ("disconnected", "down"), ("stopped", "off"), ("garbled", "degraded")])
def test_feed_states_map_to_statuses(app, state: str, expected: str) -> None:
    stores = app.server.extensions[STORES_KEY]
    feed = FakeFeed(state=state, error="socket closed" if state == "disconnected" else None)
    got = _by_kind(data_sources(stores, market=feed))["feed"]
    assert got.status == expected
    if state == "disconnected":
        assert got.last_error == "socket closed"


def test_history_errors_and_dropped_rows_degrade_the_history_source(app) -> None:
    stores = app.server.extensions[STORES_KEY]
    feed = FakeFeed()
    feed.history = {"pending": 10, "dropped": 5, "refused": 0, "flushes": 1, "error": "x" * 1000}
    got = _by_kind(data_sources(stores, market=feed))["history"]
    assert got.status == "degraded" and len(got.last_error) == 300


def test_a_broken_store_is_down_with_its_reason_and_the_others_still_answer(app) -> None:
    stores = replace(app.server.extensions[STORES_KEY], warehouse=BrokenWarehouse())
    by = _by_kind(data_sources(stores))
    assert by["warehouse"].status == "down"
    assert by["warehouse"].last_error == "the warehouse server at db:8123 does not answer"
    assert by["records"].status == "ok"


def test_a_feed_whose_status_raises_is_down_not_an_error(app) -> None:
    class Exploding:
        def status(self) -> dict[str, Any]:
            raise RuntimeError("boom")

    stores = app.server.extensions[STORES_KEY]
    got = _by_kind(data_sources(stores, market=Exploding()))["feed"]
    assert got.status == "down" and got.last_error == "RuntimeError"
    assert feed_sample(Exploding()) is None


@pytest.mark.parametrize("raw", [None, "x", [], {"at": "1", "messages": 3}, {"at": 1.0, "messages": -1},
                                 {"at": True, "messages": 1}, {"at": 1.0, "messages": 1.5}, {"at": 1.0}])
def test_a_malformed_sample_from_the_browser_counts_as_no_reading(raw: Any) -> None:
    assert Sample.from_dict(raw) is None


def test_a_good_sample_round_trips() -> None:
    assert Sample.from_dict({"at": 3.5, "messages": 7}) == Sample(3.5, 7)
