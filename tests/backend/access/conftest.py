"""Fixtures the access tests share: the records store (SQLite, or a throwaway PostgreSQL
database through ``meta_url``) and a clock the test moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.meta import open_meta
from backend.meta.store import MetaStore
from tests.backend.access.flag_link_support import Clock


@pytest.fixture
def meta(meta_url: str) -> MetaStore:
    return open_meta(meta_url)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
